//! The acknowledgement file written for each processed batch file: one ACK (or RSP) per input
//! message, in the input's order, inside `FHS { BHS … BTS } FTS` with correct counts. FHS-12
//! carries the input's FHS-11 and each BHS-12 the input batch's BHS-11, so a sender can match
//! the answer to what it sent. Pure: the worker gives it the stored responses.

use crate::hl7::escape;
use crate::hl7::Delimiters;

/// How lines end in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnding {
    Crlf,
    Cr,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Crlf => "\r\n",
            LineEnding::Cr => "\r",
        }
    }
}

/// One output batch: the input batch's control id (BHS-11) and the responses it holds.
pub struct AckBatch<'a> {
    pub input_control_id: Option<&'a str>,
    pub responses: Vec<&'a str>,
}

/// The file-level values.
pub struct AckFileHeader<'a> {
    /// FHS-3/4 and BHS-3/4: how the registry names itself.
    pub application: &'a str,
    pub facility: &'a str,
    /// FHS-5/6: the sender, as its FHS-3/4 named it (empty when it sent no FHS).
    pub receiving_application: &'a str,
    pub receiving_facility: &'a str,
    /// FHS-7, an HL7 timestamp.
    pub timestamp: &'a str,
    /// FHS-9: the acknowledgement file's own name.
    pub file_name: &'a str,
    /// FHS-11: a new control id for this file; batches get `<this>.<n>`.
    pub control_id: &'a str,
    /// FHS-12: the input's FHS-11.
    pub input_control_id: Option<&'a str>,
}

/// Writes an acknowledgement file a piece at a time (a file of a hundred thousand messages is
/// not held in memory): [`AckFileWriter::start`], then for each batch `begin_batch`, `response`
/// for each of its responses, `end_batch`; then `finish`. Each call returns the text to append.
pub struct AckFileWriter<'a> {
    header: AckFileHeader<'a>,
    ending: LineEnding,
    batches: usize,
    in_batch: usize,
}

impl<'a> AckFileWriter<'a> {
    /// The writer and the FHS line.
    pub fn start(header: AckFileHeader<'a>, ending: LineEnding) -> (Self, String) {
        let mut w = AckFileWriter {
            header,
            ending,
            batches: 0,
            in_batch: 0,
        };
        let line = w.head(
            "FHS",
            w.header.control_id.to_string(),
            w.header.input_control_id,
        );
        (w, line)
    }

    fn head(&mut self, id: &str, control: String, reference: Option<&str>) -> String {
        let d = Delimiters::DEFAULT;
        let e = |v: &str| escape(v, &d).into_owned();
        let h = &self.header;
        format!(
            "{id}|^~\\&|{}|{}|{}|{}|{}||{}||{}|{}{}",
            e(h.application),
            e(h.facility),
            e(h.receiving_application),
            e(h.receiving_facility),
            h.timestamp,
            if id == "FHS" {
                e(h.file_name)
            } else {
                String::new()
            },
            e(&control),
            reference.map(e).unwrap_or_default(),
            self.ending.as_str()
        )
    }

    /// The BHS of the next batch; `input_control_id` is the input batch's BHS-11.
    pub fn begin_batch(&mut self, input_control_id: Option<&str>) -> String {
        self.batches += 1;
        self.in_batch = 0;
        let control = format!("{}.{}", self.header.control_id, self.batches);
        self.head("BHS", control, input_control_id)
    }

    /// One response (CR-separated segments, as the registry stores them).
    pub fn response(&mut self, hl7: &str) -> String {
        self.in_batch += 1;
        let nl = self.ending.as_str();
        let mut out = String::with_capacity(hl7.len() + 16);
        for segment in hl7.split('\r').filter(|s| !s.is_empty()) {
            out.push_str(segment);
            out.push_str(nl);
        }
        out
    }

    /// The BTS of the current batch, with the number of responses it holds.
    pub fn end_batch(&mut self) -> String {
        format!("BTS|{}{}", self.in_batch, self.ending.as_str())
    }

    /// The FTS, with the number of batches.
    pub fn finish(self) -> String {
        format!("FTS|{}{}", self.batches, self.ending.as_str())
    }
}

/// Renders a whole acknowledgement file in memory (small files and tests).
pub fn render(header: AckFileHeader<'_>, batches: &[AckBatch<'_>], ending: LineEnding) -> String {
    let (mut w, mut out) = AckFileWriter::start(header, ending);
    for batch in batches {
        out.push_str(&w.begin_batch(batch.input_control_id));
        for r in &batch.responses {
            out.push_str(&w.response(r));
        }
        out.push_str(&w.end_batch());
    }
    out.push_str(&w.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::reader::{Scanner, Structure};

    fn header<'a>() -> AckFileHeader<'a> {
        AckFileHeader {
            application: "IZPORT",
            facility: "IZPORT",
            receiving_application: "EHR",
            receiving_facility: "CLINIC",
            timestamp: "20240601120000+0000",
            file_name: "CLINIC124153.hl7.ack",
            control_id: "IZF1",
            input_control_id: Some("F-11"),
        }
    }

    #[test]
    fn envelope_counts_and_references() {
        let acks = [
            "MSH|^~\\&|A\rMSA|AA|1\r",
            "MSH|^~\\&|A\rMSA|AE|2\rERR|||101|E\r",
        ];
        let file = render(
            header(),
            &[AckBatch {
                input_control_id: Some("B-7"),
                responses: acks.to_vec(),
            }],
            LineEnding::Crlf,
        );
        let lines: Vec<&str> = file.split("\r\n").collect();
        assert_eq!(lines.last(), Some(&""), "every line ends in CRLF");
        assert!(!file.replace("\r\n", "").contains('\r'), "no bare CR");
        assert_eq!(lines[0], "FHS|^~\\&|IZPORT|IZPORT|EHR|CLINIC|20240601120000+0000||CLINIC124153.hl7.ack||IZF1|F-11");
        assert_eq!(
            lines[1],
            "BHS|^~\\&|IZPORT|IZPORT|EHR|CLINIC|20240601120000+0000||||IZF1.1|B-7"
        );
        assert_eq!(lines[lines.len() - 3], "BTS|2");
        assert_eq!(lines[lines.len() - 2], "FTS|1");
        // Read back by our own reader: the counts it declares are the counts it holds.
        let mut scanner = Scanner::new(1 << 20);
        scanner.feed(file.as_bytes());
        let s: Structure = scanner.finish();
        assert_eq!(s.messages, 2);
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(s.fhs_control_id.as_deref(), Some("IZF1"));
    }

    #[test]
    fn an_empty_batch_is_still_well_formed() {
        let file = render(
            header(),
            &[AckBatch {
                input_control_id: None,
                responses: vec![],
            }],
            LineEnding::Cr,
        );
        assert_eq!(file.matches('\r').count(), 4);
        assert!(file.contains("\rBTS|0\rFTS|1\r"));
    }
}
