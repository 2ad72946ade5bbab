//! Consent notification files: for each processed file, `Receive/<name>.cnf` lists every patient
//! the file reported, once, with the registry's consent status for the record and what happened
//! to each message's data. The format is izport's own (no registry has published one); the
//! README and docs/dqa.md describe it:
//!
//! ```text
//! submitter_id|assigning_authority|registry_id|consent_status|consent_date|outcomes
//! MRN1|EHR|1042|consented|2024-05-10|C1=kept C4=kept
//! MRN2|EHR||not-on-file||C2=not-kept-no-consent
//! ```
//!
//! UTF-8, lines end in CRLF, `|` between fields, the first line names the fields. Values are
//! written as sent, except that `%`, `|`, `=`, space, CR and LF are written `%25`, `%7C`,
//! `%3D`, `%20`, `%0D`, `%0A`. A patient is the pair (PID-3.1, PID-3.4) of the first PID-3
//! repetition; lines follow the order of each patient's first message.
//!
//! It carries the sender's own patient identifiers, so it goes only to the sender's `Receive`
//! folder, and never into a log.

use super::facts::{Kind, KindAndRules};
use crate::hl7::Message;
use crate::store::RunPatientRow;

pub const HEADER: &str =
    "submitter_id|assigning_authority|registry_id|consent_status|consent_date|outcomes";

/// The patient a VXU names: PID-3.1 and PID-3.4 of the first repetition, decoded.
pub fn submitter_of(text: &str) -> Option<(String, Option<String>)> {
    submitter_in(&Message::parse(text).ok()?)
}

/// [`submitter_of`] a message already parsed.
pub fn submitter_in(msg: &Message<'_>) -> Option<(String, Option<String>)> {
    if msg.get("MSH-9").as_deref() != Some("VXU") {
        return None;
    }
    let pid = msg.segment("PID")?;
    let id = pid.get_sub(3, 1, 1, 1)?.into_owned();
    let authority = pid.get_sub(3, 1, 4, 1).map(|a| a.into_owned());
    Some((id, authority))
}

/// What happened to one message's data.
pub fn outcome(ack: &str, facts: &KindAndRules, kept: bool) -> &'static str {
    let fired = |rule: &str| facts.fired(rule);
    if fired("CONSENT-missing") {
        "not-kept-no-consent"
    } else if fired("CONSENT-disaster-only") {
        "disaster-doses-only"
    } else if !kept || ack == "AR" {
        "rejected"
    } else if ack == "AE" {
        "kept-some-rejected"
    } else {
        "kept"
    }
}

fn field(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '%' => out.push_str("%25"),
            '|' => out.push_str("%7C"),
            '=' => out.push_str("%3D"),
            ' ' => out.push_str("%20"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out
}

struct Line {
    id: String,
    authority: String,
    registry_id: Option<i64>,
    status: Option<String>,
    date: Option<String>,
    outcomes: String,
}

impl Line {
    fn render(&self) -> String {
        let status = match (self.registry_id, self.status.as_deref()) {
            (None, _) => "not-on-file",
            (Some(_), Some("consented")) => "consented",
            (Some(_), Some("withdrawn")) => "withdrawn",
            (Some(_), Some("protected")) => "protected",
            (Some(_), _) => "not-on-file",
        };
        let date = match status {
            "not-on-file" => "",
            _ => self.date.as_deref().unwrap_or(""),
        };
        format!(
            "{}|{}|{}|{status}|{date}|{}\r\n",
            field(&self.id),
            field(&self.authority),
            self.registry_id.map(|i| i.to_string()).unwrap_or_default(),
            self.outcomes
        )
    }
}

/// Writes a file line by line from messages taken patient by patient: each patient's messages
/// together and in order, patients in the order of their first message (what
/// `Db::run_patients_by_patient` and `Db::period_patients` return). Only the current patient
/// is held, so a file of any size takes the same memory.
#[derive(Default)]
pub struct CnfLines {
    current: Option<Line>,
    patients: usize,
}

impl CnfLines {
    /// The first line of every file.
    pub fn header() -> String {
        format!("{HEADER}\r\n")
    }

    /// Takes the next message; returns the previous patient's line when this message names
    /// another patient.
    pub fn add(&mut self, row: &RunPatientRow) -> Option<String> {
        let id = row.submitter_id.as_deref()?;
        let facts = KindAndRules::from_json(row.facts.as_deref());
        if facts.kind.is_some_and(|k| k != Kind::Vxu) {
            return None;
        }
        let authority = row.submitter_authority.as_deref().unwrap_or_default();
        let same = self
            .current
            .as_ref()
            .is_some_and(|l| l.id == id && l.authority == authority);
        let done = if same {
            None
        } else {
            self.patients += 1;
            self.current
                .replace(Line {
                    id: id.to_string(),
                    authority: authority.to_string(),
                    registry_id: None,
                    status: None,
                    date: None,
                    outcomes: String::new(),
                })
                .map(|l| l.render())
        };
        let line = self.current.as_mut()?;
        if row.registry_id.is_some() {
            line.registry_id = row.registry_id;
            line.status = row.consent_status.clone();
            line.date = row.consent_date.clone();
        }
        let what = outcome(&row.ack_code, &facts, row.registry_id.is_some());
        if !line.outcomes.is_empty() {
            line.outcomes.push(' ');
        }
        line.outcomes
            .push_str(&field(row.control_id.as_deref().unwrap_or("")));
        line.outcomes.push('=');
        line.outcomes.push_str(what);
        done
    }

    /// The last patient's line, if any.
    pub fn finish(&mut self) -> Option<String> {
        self.current.take().map(|l| l.render())
    }

    /// The patients seen so far.
    pub fn patients(&self) -> usize {
        self.patients
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_would_break_a_line_are_encoded() {
        assert_eq!(field("A|B C=D%\r\n"), "A%7CB%20C%3DD%25%0D%0A");
        let text = "MSH|^~\\&|A|B|C|D|20240101||VXU^V04^VXU_V04|X|P|2.5.1\r\
                    PID|1||M\\F\\1^^^AUTH^MR~SSN^^^SSA^SS||DOE^JANE";
        assert_eq!(
            submitter_of(text),
            Some(("M|1".to_string(), Some("AUTH".to_string())))
        );
    }

    fn row(index: u64, id: &str, authority: Option<&str>, control: &str) -> RunPatientRow {
        RunPatientRow {
            index,
            control_id: Some(control.to_string()),
            ack_code: "AA".to_string(),
            facts: None,
            submitter_id: Some(id.to_string()),
            submitter_authority: authority.map(str::to_string),
            registry_id: (id == "KEPT").then_some(7),
            consent_status: (id == "KEPT").then(|| "consented".to_string()),
            consent_date: (id == "KEPT").then(|| "2024-05-10".to_string()),
        }
    }

    /// A line is written when the next patient starts: no authority and an empty one are the
    /// same patient, another authority is another; messages without a patient are passed over.
    #[test]
    fn a_line_is_written_when_the_next_patient_starts() {
        let mut lines = CnfLines::default();
        assert_eq!(lines.add(&row(0, "KEPT", None, "C1")), None);
        assert_eq!(lines.add(&row(1, "KEPT", Some(""), "C 2")), None);
        let mut none = row(2, "X", None, "Q1");
        none.submitter_id = None;
        assert_eq!(lines.add(&none), None);
        assert_eq!(
            lines.add(&row(3, "KEPT", Some("B"), "C3")).as_deref(),
            Some("KEPT||7|consented|2024-05-10|C1=kept C%202=kept\r\n")
        );
        assert_eq!(
            lines.finish().as_deref(),
            Some("KEPT|B|7|consented|2024-05-10|C3=kept\r\n")
        );
        assert_eq!(lines.finish(), None);
        assert_eq!(lines.patients(), 2);
    }
}
