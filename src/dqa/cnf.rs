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

use std::collections::HashMap;

use super::facts::{Kind, MessageFacts};
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
pub fn outcome(ack: &str, facts: &MessageFacts, kept: bool) -> &'static str {
    let fired = |rule: &str| facts.findings.iter().any(|f| f.rule == rule);
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
    outcomes: Vec<String>,
}

/// Builds a file from a run's messages, taken in order.
#[derive(Default)]
pub struct CnfBuilder {
    lines: Vec<Line>,
    index: HashMap<(String, String), usize>,
}

impl CnfBuilder {
    pub fn add(&mut self, row: &RunPatientRow) {
        let Some(id) = row.submitter_id.clone() else {
            return;
        };
        let facts = MessageFacts::from_json(row.facts.as_deref());
        if facts.kind.is_some_and(|k| k != Kind::Vxu) {
            return;
        }
        let authority = row.submitter_authority.clone().unwrap_or_default();
        let key = (id.clone(), authority.clone());
        let at = *self.index.entry(key).or_insert_with(|| {
            self.lines.push(Line {
                id,
                authority,
                registry_id: None,
                status: None,
                date: None,
                outcomes: Vec::new(),
            });
            self.lines.len() - 1
        });
        let line = &mut self.lines[at];
        if row.registry_id.is_some() {
            line.registry_id = row.registry_id;
            line.status = row.consent_status.clone();
            line.date = row.consent_date.clone();
        }
        let what = outcome(&row.ack_code, &facts, row.registry_id.is_some());
        line.outcomes.push(format!(
            "{}={what}",
            field(row.control_id.as_deref().unwrap_or(""))
        ));
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::from(HEADER);
        out.push_str("\r\n");
        for l in &self.lines {
            let status = match (l.registry_id, l.status.as_deref()) {
                (None, _) => "not-on-file",
                (Some(_), Some("consented")) => "consented",
                (Some(_), Some("withdrawn")) => "withdrawn",
                (Some(_), Some("protected")) => "protected",
                (Some(_), _) => "not-on-file",
            };
            let date = match status {
                "not-on-file" => "",
                _ => l.date.as_deref().unwrap_or(""),
            };
            out.push_str(&format!(
                "{}|{}|{}|{status}|{date}|{}\r\n",
                field(&l.id),
                field(&l.authority),
                l.registry_id.map(|i| i.to_string()).unwrap_or_default(),
                l.outcomes.join(" ")
            ));
        }
        out
    }

    pub fn patients(&self) -> usize {
        self.lines.len()
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
}
