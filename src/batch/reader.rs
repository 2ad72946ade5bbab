//! Reading HL7 batch files: `[FHS] { [BHS] { MSH … } [BTS] } [FTS]`, or bare message sequences.
//!
//! The reader is a streaming splitter: bytes go in a chunk at a time (a file can be larger than
//! memory), complete messages and envelope segments come out. Segments may end in CR, LF or CRLF,
//! even mixed; blank lines are skipped; a UTF-8 byte-order mark at the start is dropped. Each MSH
//! starts a message, which runs to the next MSH or envelope segment. Memory is bounded: a message
//! larger than the limit is reported as such (its header kept for the acknowledgement) instead of
//! being held. [`Scanner`] reads a whole file's structure (counts, control ids, problems) before
//! processing.

use std::borrow::Cow;

/// An envelope segment kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    Fhs,
    Bhs,
    Bts,
    Fts,
}

/// One thing the splitter found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// FHS, BHS, BTS or FTS, as written (without its line end).
    Envelope {
        kind: Envelope,
        text: String,
        offset: u64,
    },
    /// One message: its 0-based index in the file, the byte offset of its MSH, and its segments
    /// joined by CR (with a final CR). `oversize` means only its MSH was kept.
    Message {
        index: u64,
        offset: u64,
        text: Vec<u8>,
        oversize: bool,
    },
    /// A segment outside any message (before the first MSH, or after a BTS/FTS).
    Stray { segment: String, offset: u64 },
}

struct Pending {
    index: u64,
    offset: u64,
    text: Vec<u8>,
    oversize: bool,
}

/// The UTF-8 byte-order mark, dropped at the start of a file.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// The streaming splitter.
pub struct Splitter {
    /// Offset of the next byte fed.
    offset: u64,
    line: Vec<u8>,
    line_start: u64,
    line_truncated: bool,
    last_was_cr: bool,
    at_file_start: bool,
    /// The file's first bytes while they may still be a byte-order mark split across chunks.
    head: Vec<u8>,
    current: Option<Pending>,
    next_index: u64,
    max_message_bytes: usize,
}

impl Splitter {
    /// A splitter at the start of a file.
    pub fn new(max_message_bytes: usize) -> Self {
        Splitter {
            offset: 0,
            line: Vec::new(),
            line_start: 0,
            line_truncated: false,
            last_was_cr: false,
            at_file_start: true,
            head: Vec::new(),
            current: None,
            next_index: 0,
            max_message_bytes: max_message_bytes.max(64),
        }
    }

    /// Feeds the next bytes of the file; complete items are appended to `out`. How the file is
    /// cut into chunks does not change the items.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Item>) {
        if self.at_file_start {
            // The first bytes are held until they are known to be a byte-order mark or not,
            // even when the first chunks are shorter than one.
            let take = (BOM.len() - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.head.len() < BOM.len() && BOM.starts_with(&self.head) {
                return;
            }
            self.end_head(out);
        }
        self.scan(chunk, out);
    }

    /// The first bytes are known: a byte-order mark is dropped, anything else is data.
    fn end_head(&mut self, out: &mut Vec<Item>) {
        self.at_file_start = false;
        let head = std::mem::take(&mut self.head);
        if head == BOM {
            self.offset += BOM.len() as u64;
            self.line_start = self.offset;
        } else {
            self.scan(&head, out);
        }
    }

    fn scan(&mut self, chunk: &[u8], out: &mut Vec<Item>) {
        let mut start = 0;
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\r' || b == b'\n' {
                if b == b'\n' && self.last_was_cr && i == start && self.line.is_empty() {
                    // The LF of a CRLF: nothing to end.
                    start = i + 1;
                    self.line_start = self.offset + (i as u64) + 1;
                    self.last_was_cr = false;
                    continue;
                }
                self.push_bytes(&chunk[start..i]);
                self.end_line(out);
                start = i + 1;
                self.line_start = self.offset + (i as u64) + 1;
                self.last_was_cr = b == b'\r';
            } else {
                self.last_was_cr = false;
            }
        }
        self.push_bytes(&chunk[start..]);
        self.offset += chunk.len() as u64;
    }

    /// The end of the file: the last line and message are complete.
    pub fn finish(&mut self, out: &mut Vec<Item>) {
        if self.at_file_start {
            // A file shorter than a byte-order mark, or only part of one: data.
            self.end_head(out);
        }
        self.end_line(out);
        self.close_message(out);
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        let room = self.max_message_bytes.saturating_sub(self.line.len());
        if bytes.len() > room {
            self.line.extend_from_slice(&bytes[..room]);
            self.line_truncated = true;
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, out: &mut Vec<Item>) {
        let mut line = std::mem::take(&mut self.line);
        let truncated = std::mem::replace(&mut self.line_truncated, false);
        let offset = self.line_start;
        let lead = line
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        if line[lead..].iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        if lead > 0 {
            line.drain(..lead);
        }
        let id = segment_id(&line);
        match id {
            "MSH" => {
                self.close_message(out);
                let index = self.next_index;
                self.next_index += 1;
                line.push(b'\r');
                self.current = Some(Pending {
                    index,
                    offset: offset + lead as u64,
                    text: line,
                    oversize: truncated,
                });
            }
            "FHS" | "BHS" | "BTS" | "FTS" => {
                self.close_message(out);
                let kind = match id {
                    "FHS" => Envelope::Fhs,
                    "BHS" => Envelope::Bhs,
                    "BTS" => Envelope::Bts,
                    _ => Envelope::Fts,
                };
                out.push(Item::Envelope {
                    kind,
                    text: String::from_utf8_lossy(&line).into_owned(),
                    offset,
                });
            }
            _ => match &mut self.current {
                Some(pending) => {
                    if pending.oversize
                        || truncated
                        || pending.text.len() + line.len() + 1 > self.max_message_bytes
                    {
                        pending.oversize = true;
                    } else {
                        pending.text.extend_from_slice(&line);
                        pending.text.push(b'\r');
                    }
                }
                None => out.push(Item::Stray {
                    segment: String::from_utf8_lossy(&line[..line.len().min(3)]).into_owned(),
                    offset,
                }),
            },
        }
    }

    fn close_message(&mut self, out: &mut Vec<Item>) {
        if let Some(p) = self.current.take() {
            let text = if p.oversize {
                // Keep the MSH only: enough to acknowledge the message by its control id.
                let end = p
                    .text
                    .iter()
                    .position(|&b| b == b'\r')
                    .map_or(p.text.len(), |i| i + 1);
                p.text[..end].to_vec()
            } else {
                p.text
            };
            out.push(Item::Message {
                index: p.index,
                offset: p.offset,
                text,
                oversize: p.oversize,
            });
        }
    }
}

fn segment_id(line: &[u8]) -> &str {
    line.get(..3)
        .and_then(|id| std::str::from_utf8(id).ok())
        .unwrap_or("")
}

/// A message's text as a string: UTF-8 when it is valid UTF-8, otherwise read as Windows-1252
/// (what older EHRs write for accented names); the flag says which.
pub fn decode(bytes: &[u8]) -> (Cow<'_, str>, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), false),
        Err(_) => (Cow::Owned(bytes.iter().map(|&b| cp1252(b)).collect()), true),
    }
}

/// One Windows-1252 byte as a character (0x80–0x9F differ from Latin-1; undefined bytes map to
/// the replacement character).
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{FFFD}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{FFFD}', 'Ž',
        '\u{FFFD}', '\u{FFFD}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ',
        '\u{FFFD}', 'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// Field `n` (HL7 numbering) of an envelope segment, whose field separator is the byte after
/// the segment id. For FHS and BHS, field 1 is the separator itself (as for MSH).
pub fn envelope_field(text: &str, n: usize) -> Option<&str> {
    let sep = text.chars().nth(3)?;
    let header = text.starts_with("FHS") || text.starts_with("BHS");
    let index = if header { n.checked_sub(1)? } else { n };
    if header && n == 1 {
        return None;
    }
    text.split(sep)
        .nth(index)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// How bad a problem with a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProblemLevel {
    /// Reported; the file is processed.
    Warning,
    /// The file cannot be processed.
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    pub level: ProblemLevel,
    pub text: String,
}

/// One batch of the input (BHS … BTS, or the whole file when there is no BHS).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchInfo {
    /// BHS-11.
    pub control_id: Option<String>,
    /// Index of its first message and how many it holds.
    pub first: u64,
    pub count: u64,
    /// BTS-1 as written.
    pub declared: Option<String>,
}

/// What a file holds, read before processing.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Structure {
    pub messages: u64,
    /// FHS-3, FHS-4 (the sender), FHS-9 (file name) and FHS-11 (file control id).
    pub fhs_sender: Option<(String, String)>,
    pub fhs_name: Option<String>,
    pub fhs_control_id: Option<String>,
    pub has_fhs: bool,
    pub has_fts: bool,
    pub batches: Vec<BatchInfo>,
    pub oversize: Vec<u64>,
    pub not_utf8: u64,
    pub problems: Vec<Problem>,
}

impl Structure {
    /// The batch message `index` belongs to.
    pub fn batch_of(&self, index: u64) -> usize {
        // Batches are in file order: the last one starting at or before the message.
        let n = self.batches.partition_point(|b| b.first <= index);
        match n.checked_sub(1) {
            Some(b) if index < self.batches[b].first + self.batches[b].count => b,
            _ => self
                .batches
                .iter()
                .position(|b| index >= b.first && index < b.first + b.count)
                .unwrap_or(0),
        }
    }

    pub fn unreadable(&self) -> bool {
        self.problems.iter().any(|p| p.level == ProblemLevel::Error)
    }
}

/// Reads a whole file's structure, a chunk at a time.
/// Batches (BHS segments) a file's structure tracks one by one; the rest count into the last.
pub const MAX_BATCHES: usize = 10_000;
/// Warnings about the file's envelope kept one by one; the rest are counted in one line.
const MAX_WARNINGS: usize = 100;

pub struct Scanner {
    splitter: Splitter,
    /// More BHS segments than [`MAX_BATCHES`] came.
    batches_capped: bool,
    /// Warnings beyond [`MAX_WARNINGS`], counted only.
    warnings_dropped: u64,
    items: Vec<Item>,
    s: Structure,
    in_batch: bool,
    fts_declared: Option<String>,
    batch_count_in_fhs: u64,
    strays: u64,
    first_stray: Option<String>,
    nul_bytes: bool,
    bytes: u64,
}

impl Scanner {
    pub fn new(max_message_bytes: usize) -> Self {
        Scanner {
            splitter: Splitter::new(max_message_bytes),
            batches_capped: false,
            warnings_dropped: 0,
            items: Vec::new(),
            s: Structure::default(),
            in_batch: false,
            fts_declared: None,
            batch_count_in_fhs: 0,
            strays: 0,
            first_stray: None,
            nul_bytes: false,
            bytes: 0,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        if chunk.contains(&0) {
            self.nul_bytes = true;
        }
        self.splitter.feed(chunk, &mut self.items);
        self.drain();
    }

    fn drain(&mut self) {
        for item in std::mem::take(&mut self.items) {
            match item {
                Item::Envelope { kind, text, .. } => self.envelope(kind, &text),
                Item::Message {
                    index,
                    text,
                    oversize,
                    ..
                } => {
                    self.s.messages = index + 1;
                    // Messages outside any BHS … BTS form an implicit batch.
                    let closed = self.s.batches.last().is_none_or(|b| b.declared.is_some());
                    if !self.in_batch && closed && !self.at_batch_limit() {
                        self.s.batches.push(BatchInfo {
                            first: index,
                            ..BatchInfo::default()
                        });
                    }
                    if let Some(b) = self.s.batches.last_mut() {
                        b.count += 1;
                    }
                    if oversize {
                        self.s.oversize.push(index);
                    }
                    if std::str::from_utf8(&text).is_err() {
                        self.s.not_utf8 += 1;
                    }
                }
                Item::Stray { segment, .. } => {
                    self.strays += 1;
                    if self.first_stray.is_none() {
                        self.first_stray = Some(segment);
                    }
                }
            }
        }
    }

    fn envelope(&mut self, kind: Envelope, text: &str) {
        match kind {
            Envelope::Fhs => {
                if self.s.has_fhs {
                    self.warn("a second FHS segment; files hold one (it was ignored)".into());
                    return;
                }
                self.s.has_fhs = true;
                let field = |n| envelope_field(text, n).map(str::to_string);
                self.s.fhs_sender =
                    Some((field(3).unwrap_or_default(), field(4).unwrap_or_default()));
                self.s.fhs_name = field(9);
                self.s.fhs_control_id = field(11);
            }
            Envelope::Bhs => {
                if self.in_batch {
                    self.warn("a BHS segment before the previous batch's BTS".into());
                }
                self.in_batch = true;
                self.batch_count_in_fhs += 1;
                if self.at_batch_limit() {
                    return;
                }
                self.s.batches.push(BatchInfo {
                    control_id: envelope_field(text, 11).map(str::to_string),
                    first: self.s.messages,
                    ..BatchInfo::default()
                });
            }
            Envelope::Bts => {
                if !self.in_batch {
                    self.warn("a BTS segment without its BHS".into());
                }
                self.in_batch = false;
                let declared = envelope_field(text, 1).map(str::to_string);
                if self.batches_capped {
                    // The last batch holds many; its count is not checked.
                    return;
                }
                if let Some(b) = self.s.batches.last_mut() {
                    b.declared = declared.or_else(|| Some(String::new()));
                }
            }
            Envelope::Fts => {
                if self.s.has_fts {
                    self.warn("a second FTS segment".into());
                }
                self.s.has_fts = true;
                self.fts_declared = envelope_field(text, 1).map(str::to_string);
            }
        }
    }

    /// Whether no further batch is tracked on its own (see [`MAX_BATCHES`]); the first time,
    /// the last batch stops being checked against its BTS count.
    fn at_batch_limit(&mut self) -> bool {
        if self.s.batches.len() < MAX_BATCHES {
            return false;
        }
        if !self.batches_capped {
            self.batches_capped = true;
            if let Some(b) = self.s.batches.last_mut() {
                b.declared = Some(String::new());
            }
        }
        true
    }

    fn warn(&mut self, text: String) {
        let warnings = self
            .s
            .problems
            .iter()
            .filter(|p| p.level == ProblemLevel::Warning)
            .count();
        if warnings >= MAX_WARNINGS {
            self.warnings_dropped += 1;
            return;
        }
        self.s.problems.push(Problem {
            level: ProblemLevel::Warning,
            text,
        });
    }

    fn error(&mut self, text: String) {
        self.s.problems.push(Problem {
            level: ProblemLevel::Error,
            text,
        });
    }

    /// The end of the file: the structure, with every problem found.
    pub fn finish(mut self) -> Structure {
        self.splitter.finish(&mut self.items);
        self.drain();
        if self.bytes == 0 {
            self.error("The file is empty.".into());
            return self.s;
        }
        if self.nul_bytes {
            self.error("The file holds NUL bytes: it is a binary file, not HL7 text.".into());
            return self.s;
        }
        if self.s.messages == 0 {
            self.error("The file holds no HL7 message (no segment starts with MSH).".into());
            return self.s;
        }
        if self.strays > 0 {
            let first = self.first_stray.clone().unwrap_or_default();
            self.error(format!(
                "{} segment(s) stand outside any message (the first is '{}'): each message must \
                 start with MSH, and only FHS/BHS may come before it.",
                self.strays,
                first
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect::<String>()
            ));
        }
        if self.s.has_fhs && !self.s.has_fts {
            self.warn("The file has an FHS but no FTS: it may be incomplete.".into());
        }
        if self.s.has_fts && !self.s.has_fhs {
            self.warn("The file has an FTS but no FHS.".into());
        }
        if self.in_batch {
            self.warn("The last batch has a BHS but no BTS.".into());
        }
        if self.batches_capped {
            self.s.problems.push(Problem {
                level: ProblemLevel::Warning,
                text: format!(
                "The file holds {} batches (BHS segments): the acknowledgement file groups those \
                 after the first {MAX_BATCHES} into the last one, whose count was not checked.",
                    self.batch_count_in_fhs
                ),
            });
        }
        let mut mismatches = Vec::new();
        for (n, b) in self.s.batches.iter().enumerate() {
            if let Some(declared) = &b.declared {
                match declared.parse::<u64>() {
                    Ok(d) if d == b.count => {}
                    _ if declared.is_empty() => {}
                    _ => mismatches.push(format!(
                        "batch {} declares {} message(s) in BTS-1 but holds {}",
                        n + 1,
                        declared,
                        b.count
                    )),
                }
            }
        }
        for m in mismatches {
            self.warn(format!("The counts do not match: {m}."));
        }
        if let Some(declared) = self.fts_declared.clone() {
            let batches = self
                .batch_count_in_fhs
                .max(u64::from(!self.s.batches.is_empty()));
            if declared.parse::<u64>() != Ok(batches) {
                self.warn(format!(
                    "The counts do not match: FTS-1 declares {declared} batch(es) but the file \
                     holds {batches}."
                ));
            }
        }
        if self.s.not_utf8 > 0 {
            self.warn(format!(
                "{} message(s) are not UTF-8 and were read as Windows-1252.",
                self.s.not_utf8
            ));
        }
        if !self.s.oversize.is_empty() {
            self.warn(format!(
                "{} message(s) exceed the size limit and were rejected.",
                self.s.oversize.len()
            ));
        }
        if self.warnings_dropped > 0 {
            self.s.problems.push(Problem {
                level: ProblemLevel::Warning,
                text: format!(
                    "… and {} more warning(s) of the kinds above, not listed one by one.",
                    self.warnings_dropped
                ),
            });
        }
        self.s
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_file_of_endless_envelopes_keeps_a_bounded_structure() {
        // 50,000 batches and 50,000 stray FTS lines around one message each: memory and the
        // warnings stay bounded, and every message still finds its batch.
        let mut text = String::from("FHS|^~\\&\r");
        for n in 0..50_000 {
            text.push_str(&format!(
                "BHS|^~\\&\rMSH|^~\\&|A|B|C|D|||VXU^V04|M{n}|P|2.5.1\rBTS|1\rFTS|1\r"
            ));
        }
        let mut scanner = Scanner::new(1 << 20);
        for chunk in text.as_bytes().chunks(4096) {
            scanner.feed(chunk);
        }
        let s = scanner.finish();
        assert_eq!(s.messages, 50_000);
        assert_eq!(s.batches.len(), MAX_BATCHES);
        assert!(
            s.problems.len() <= MAX_WARNINGS + 3,
            "{} problems",
            s.problems.len()
        );
        assert!(s.problems.iter().any(|p| p.text.contains("50000 batches")));
        assert!(s
            .problems
            .iter()
            .any(|p| p.text.contains("more warning(s)")));
        assert_eq!(s.batch_of(0), 0);
        assert_eq!(s.batch_of(9_998), 9_998);
        assert_eq!(s.batch_of(49_999), MAX_BATCHES - 1);
        let last = &s.batches[MAX_BATCHES - 1];
        assert_eq!(last.first + last.count, 50_000);
    }
    use super::*;

    fn split(input: &[u8], chunk: usize) -> Vec<Item> {
        let mut s = Splitter::new(1 << 20);
        let mut out = Vec::new();
        for c in input.chunks(chunk.max(1)) {
            s.feed(c, &mut out);
        }
        s.finish(&mut out);
        out
    }

    fn messages(items: &[Item]) -> Vec<(u64, u64, String)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Message {
                    index,
                    offset,
                    text,
                    ..
                } => Some((*index, *offset, String::from_utf8_lossy(text).into_owned())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_line_ending_and_chunking_gives_the_same_messages() {
        let body = ["MSH|^~\\&|A|1", "PID|1", "", "  ", "MSH|^~\\&|A|2", "PID|2"];
        for sep in ["\r", "\n", "\r\n"] {
            let text = body.join(sep);
            for chunk in [1, 2, 3, 7, 1000] {
                let got = messages(&split(text.as_bytes(), chunk));
                let texts: Vec<&str> = got.iter().map(|m| m.2.as_str()).collect();
                assert_eq!(
                    texts,
                    ["MSH|^~\\&|A|1\rPID|1\r", "MSH|^~\\&|A|2\rPID|2\r"],
                    "sep {sep:?} chunk {chunk}"
                );
                let second = text.find("MSH|^~\\&|A|2").expect("second") as u64;
                assert_eq!(got[1].1, second, "offsets point at the MSH");
            }
        }
    }

    #[test]
    fn a_bom_split_across_the_first_chunks_is_still_dropped() {
        let text = b"\xEF\xBB\xBFMSH|^~\\&|A|1\rPID|1\r";
        let whole = split(text, text.len());
        for chunk in [1, 2, 3, 4] {
            assert_eq!(split(text, chunk), whole, "chunk {chunk}");
        }
        assert!(
            matches!(&whole[0], Item::Message { offset: 3, .. }),
            "{whole:?}"
        );
        // Less than a BOM, or a BOM's first bytes followed by something else, is data.
        for short in [&b"\xEF\xBB"[..], b"\xEFMSH|1\r", b"\xEF\xBBMSH|1\r"] {
            let whole = split(short, short.len());
            assert_eq!(split(short, 1), whole, "{short:?}");
            assert!(
                matches!(&whole[0], Item::Stray { offset: 0, .. }),
                "{whole:?}"
            );
        }
    }

    #[test]
    fn bom_and_envelopes() {
        let text = "\u{FEFF}FHS|^~\\&|EHR|CLINIC||||||F1|F11\rBHS|^~\\&|||||||||B11\rMSH|1\rPID|1\rMSH|2\rBTS|2\rFTS|1\r";
        let items = split(text.as_bytes(), 5);
        assert!(matches!(
            &items[0],
            Item::Envelope {
                kind: Envelope::Fhs,
                offset: 3,
                ..
            }
        ));
        let msgs = messages(&items);
        assert_eq!(msgs.len(), 2);
    }

    #[test]
    fn oversize_messages_keep_their_header_only() {
        let big = format!("MSH|^~\\&|A\rPID|{}\rMSH|^~\\&|B\r", "x".repeat(500));
        let mut s = Splitter::new(100);
        let mut out = Vec::new();
        s.feed(big.as_bytes(), &mut out);
        s.finish(&mut out);
        assert!(
            matches!(&out[0], Item::Message { oversize: true, text, .. } if text == b"MSH|^~\\&|A\r")
        );
        assert!(matches!(
            &out[1],
            Item::Message {
                oversize: false,
                ..
            }
        ));
    }

    fn scan(text: &[u8]) -> Structure {
        let mut sc = Scanner::new(1 << 20);
        sc.feed(text);
        sc.finish()
    }

    #[test]
    fn structure_counts_and_problems() {
        let s = scan(b"FHS|^~\\&|EHR|CLINIC|||||X.hl7||F11\rBHS|^~\\&|||||||||B11\rMSH|1\rMSH|2\rBTS|3\rFTS|1\r");
        assert_eq!(s.messages, 2);
        assert_eq!(s.fhs_control_id.as_deref(), Some("F11"));
        assert_eq!(s.fhs_name.as_deref(), Some("X.hl7"));
        assert_eq!(s.fhs_sender, Some(("EHR".into(), "CLINIC".into())));
        assert_eq!(s.batches.len(), 1);
        assert_eq!(s.batches[0].control_id.as_deref(), Some("B11"));
        assert!(!s.unreadable());
        assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
        assert!(s.problems[0]
            .text
            .contains("declares 3 message(s) in BTS-1 but holds 2"));

        let bare = scan(b"MSH|1\nPID|1\nMSH|2\n");
        assert_eq!((bare.messages, bare.batches.len()), (2, 1));
        assert!(bare.problems.is_empty(), "{:?}", bare.problems);

        for junk in [
            &b""[..],
            b"\x00\x01\x02binary",
            b"name,dob\nJANE,2020\n",
            b"PID|1\rMSH|1\r",
        ] {
            assert!(scan(junk).unreadable(), "{junk:?}");
        }
        let no_fts = scan(b"FHS|^~\\&\rMSH|1\r");
        assert!(!no_fts.unreadable());
        assert!(no_fts.problems.iter().any(|p| p.text.contains("no FTS")));
    }

    #[test]
    fn windows_1252_names_are_read() {
        let (text, fallback) = decode(b"PID|1||||Pe\xf1a^Jos\xe9\x92s");
        assert!(fallback);
        assert_eq!(text, "PID|1||||Peña^José’s");
        assert_eq!(decode("Peña".as_bytes()), (Cow::Borrowed("Peña"), false));
    }
}
