//! What a data-quality report needs to know about one message, read once when the message is
//! processed and stored with it (`batch_messages.facts`, JSON). Only facts about the data's
//! quality: which fields were present, how many doses of each kind, the latest administration
//! date of an administered dose, the findings' rule ids and severities, how the patient was
//! placed. Never a name, birth date, identifier, address or any other field value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::hl7::{parse_dtm, AckCode, Message, Severity};
use crate::registry::Response;

/// How important a completeness field is; the tier gives the field its weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Required,
    Expected,
    Recommended,
}

/// Which reports of a message a completeness field is looked for in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    /// Once per VXU with a PID segment.
    Patient,
    /// Every RXA.
    EveryDose,
    /// RXA whose information source (RXA-9) is `00` and that is neither a refusal nor "not
    /// administered" (RXA-20 `RE`, `NA`).
    AdministeredDose,
}

/// One completeness field.
#[derive(Clone, Copy, Debug)]
pub struct FieldCheck {
    /// Stable id, the HL7 location (`PID-11`, `RXA-15`, `OBX-64994-7`).
    pub id: &'static str,
    pub label: &'static str,
    pub tier: Tier,
    pub over: Over,
}

/// The fields completeness measures, in report order.
pub const FIELD_CHECKS: &[FieldCheck] = &[
    FieldCheck {
        id: "PID-5",
        label: "Patient name",
        tier: Tier::Required,
        over: Over::Patient,
    },
    FieldCheck {
        id: "PID-7",
        label: "Birth date",
        tier: Tier::Required,
        over: Over::Patient,
    },
    FieldCheck {
        id: "PID-8",
        label: "Sex",
        tier: Tier::Expected,
        over: Over::Patient,
    },
    FieldCheck {
        id: "PID-10",
        label: "Race",
        tier: Tier::Expected,
        over: Over::Patient,
    },
    FieldCheck {
        id: "PID-11",
        label: "Address",
        tier: Tier::Expected,
        over: Over::Patient,
    },
    FieldCheck {
        id: "PID-22",
        label: "Ethnicity",
        tier: Tier::Expected,
        over: Over::Patient,
    },
    FieldCheck {
        id: "PID-13",
        label: "Phone",
        tier: Tier::Recommended,
        over: Over::Patient,
    },
    FieldCheck {
        id: "PID-6",
        label: "Mother's maiden name",
        tier: Tier::Recommended,
        over: Over::Patient,
    },
    FieldCheck {
        id: "RXA-3",
        label: "Administration date",
        tier: Tier::Required,
        over: Over::EveryDose,
    },
    FieldCheck {
        id: "RXA-5",
        label: "Vaccine code",
        tier: Tier::Required,
        over: Over::EveryDose,
    },
    FieldCheck {
        id: "RXA-9",
        label: "Information source",
        tier: Tier::Required,
        over: Over::EveryDose,
    },
    FieldCheck {
        id: "RXA-15",
        label: "Lot number",
        tier: Tier::Expected,
        over: Over::AdministeredDose,
    },
    FieldCheck {
        id: "RXA-17",
        label: "Manufacturer",
        tier: Tier::Expected,
        over: Over::AdministeredDose,
    },
    FieldCheck {
        id: "OBX-64994-7",
        label: "VFC eligibility",
        tier: Tier::Expected,
        over: Over::AdministeredDose,
    },
    FieldCheck {
        id: "RXA-10",
        label: "Administering provider",
        tier: Tier::Recommended,
        over: Over::AdministeredDose,
    },
];

/// What kind of message it was (MSH-9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Vxu,
    Query,
    Other,
}

/// How a VXU's patient was placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placed {
    /// A new record.
    New,
    /// Linked to an existing record.
    Matched,
    /// A new record with possible matches put on the review list.
    Review,
    /// Nothing kept (the message or patient was rejected, or consent forbade it).
    NotKept,
}

/// One finding, as the report counts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingFact {
    pub rule: String,
    /// `E`, `W` or `I`.
    pub severity: String,
}

/// The part of a message's recorded facts a consent notification file reads: its kind and the
/// rules that fired. Reading only these skips building the field map of [`MessageFacts`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct KindAndRules {
    pub kind: Option<Kind>,
    #[serde(default)]
    pub findings: Vec<RuleFired>,
}

/// A finding's rule, without the rest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RuleFired {
    pub rule: String,
}

impl KindAndRules {
    /// Reads recorded facts (JSON); missing or unreadable facts give nothing.
    pub fn from_json(text: Option<&str>) -> KindAndRules {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }

    pub fn fired(&self, rule: &str) -> bool {
        self.findings.iter().any(|f| f.rule == rule)
    }
}

/// Everything the report reads about one message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFacts {
    pub kind: Option<Kind>,
    /// MSH-11 was `T`.
    #[serde(default)]
    pub test: bool,
    #[serde(default)]
    pub placed: Option<Placed>,
    #[serde(default)]
    pub administered: u32,
    #[serde(default)]
    pub historical: u32,
    #[serde(default)]
    pub refusals: u32,
    #[serde(default)]
    pub not_administered: u32,
    /// The latest RXA-3 of an administered dose (timeliness measures from it), `YYYY-MM-DD`.
    #[serde(default)]
    pub latest_administered: Option<String>,
    /// Completeness: field id → (reports where present, reports where looked for).
    #[serde(default)]
    pub fields: BTreeMap<String, (u32, u32)>,
    #[serde(default)]
    pub findings: Vec<FindingFact>,
}

impl MessageFacts {
    /// Reads the message's content (before the registry's transaction). A message that does not
    /// parse gives empty facts.
    pub fn of_text(text: &str) -> MessageFacts {
        match Message::parse(text) {
            Ok(msg) => MessageFacts::of_message(&msg),
            Err(_) => MessageFacts::default(),
        }
    }

    /// [`MessageFacts::of_text`] of a message already parsed.
    pub fn of_message(msg: &Message<'_>) -> MessageFacts {
        let mut facts = MessageFacts {
            kind: Some(match msg.get("MSH-9").as_deref() {
                Some("VXU") => Kind::Vxu,
                Some("QBP") => Kind::Query,
                _ => Kind::Other,
            }),
            test: msg.get("MSH-11").as_deref() == Some("T"),
            ..MessageFacts::default()
        };
        if facts.kind != Some(Kind::Vxu) {
            return facts;
        }
        let mut count = |id: &str, present: bool| {
            let e = facts.fields.entry(id.to_string()).or_insert((0, 0));
            e.0 += u32::from(present);
            e.1 += 1;
        };
        if let Some(pid) = msg.segment("PID") {
            for c in FIELD_CHECKS.iter().filter(|c| c.over == Over::Patient) {
                let n: usize = c.id[4..].parse().unwrap_or(0);
                count(c.id, present(&pid, n));
            }
        }
        // Doses, in order; an OBX 64994-7 belongs to the RXA before it.
        struct Dose {
            administered: bool,
            vfc: bool,
        }
        let mut doses: Vec<Dose> = Vec::new();
        let mut latest: Option<Date> = None;
        let (mut administered, mut historical, mut refusals, mut not_given) = (0, 0, 0, 0);
        for seg in msg.segments() {
            match seg.id() {
                "RXA" => {
                    for c in FIELD_CHECKS.iter().filter(|c| c.over == Over::EveryDose) {
                        let n: usize = c.id[4..].parse().unwrap_or(0);
                        count(c.id, present(&seg, n));
                    }
                    let completion = seg.get(20, 1).map(|v| v.to_ascii_uppercase());
                    let source = seg.get(9, 1);
                    let is_administered = match completion.as_deref() {
                        Some("RE") => {
                            refusals += 1;
                            false
                        }
                        Some("NA") => {
                            not_given += 1;
                            false
                        }
                        _ if source.as_deref() == Some("00") => {
                            administered += 1;
                            true
                        }
                        _ => {
                            historical += 1;
                            false
                        }
                    };
                    if is_administered {
                        let date = seg
                            .get(3, 1)
                            .and_then(|t| parse_dtm(&t).ok())
                            .and_then(|d| d.date());
                        if let Some(d) = date {
                            latest = Some(latest.map_or(d, |l: Date| l.max(d)));
                        }
                        for (id, n) in [("RXA-15", 15), ("RXA-17", 17), ("RXA-10", 10)] {
                            count(id, present(&seg, n));
                        }
                    }
                    doses.push(Dose {
                        administered: is_administered,
                        vfc: false,
                    });
                }
                "OBX" if seg.get(3, 1).as_deref() == Some("64994-7") && seg.get(5, 1).is_some() => {
                    if let Some(d) = doses.last_mut() {
                        d.vfc = true;
                    }
                }
                _ => {}
            }
        }
        for d in doses.iter().filter(|d| d.administered) {
            count("OBX-64994-7", d.vfc);
        }
        facts.administered = administered;
        facts.historical = historical;
        facts.refusals = refusals;
        facts.not_administered = not_given;
        facts.latest_administered = latest.map(|d| d.to_string());
        facts
    }

    /// Adds what the registry decided (inside the transaction, from its response).
    pub fn with_response(mut self, r: &Response) -> MessageFacts {
        self.findings = r
            .findings
            .iter()
            .map(|f| FindingFact {
                rule: f.rule.to_string(),
                severity: severity_code(f.severity).to_string(),
            })
            .collect();
        if self.kind == Some(Kind::Vxu) && !r.resent {
            self.placed = Some(match r.patient {
                Some(p) if p.matched.is_some() => Placed::Matched,
                Some(p) if p.reviews > 0 => Placed::Review,
                Some(_) => Placed::New,
                None => Placed::NotKept,
            });
        }
        if r.ack == AckCode::AR && self.placed.is_some() {
            self.placed = Some(Placed::NotKept);
        }
        self
    }

    /// [`MessageFacts::latest_administered`] as a date.
    pub fn administered_on(&self) -> Option<Date> {
        self.latest_administered
            .as_deref()
            .and_then(crate::date::parse_iso)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// Facts stored earlier; unreadable text (or none, for messages recorded before facts
    /// were kept) gives empty facts.
    pub fn from_json(text: Option<&str>) -> MessageFacts {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}

/// A field is present when it holds anything but nothing or the null `""` (a phone number
/// may well leave its first component empty).
fn present(seg: &crate::hl7::Segment<'_, '_>, n: usize) -> bool {
    let f = seg.field(n);
    !f.is_empty() && !f.is_null()
}

pub fn severity_code(s: Severity) -> &'static str {
    match s {
        Severity::Error => "E",
        Severity::Warning => "W",
        Severity::Info => "I",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vxus_fields_and_doses_are_counted_without_values() {
        let text = [
            "MSH|^~\\&|EHR|FAC|IZ|IZ|20240601||VXU^V04^VXU_V04|C1|T|2.5.1",
            "PID|1||MRN1^^^EHR^MR||Doe^Jane||20200101|F|||1 Main St^^Austin^TX",
            "ORC|RE||D1",
            "RXA|0|1|20240528||08^HepB^CVX|0.5|mL||00^New^NIP001||||||LOT1||MSD^Merck^MVX",
            "OBX|1|CE|64994-7^Eligibility^LN|1|V02^VFC^HL70064||||||F",
            "ORC|RE||D2",
            "RXA|0|1|20240530||03^MMR^CVX|0.5|mL||00^New^NIP001",
            "ORC|RE||D3",
            "RXA|0|1|20200101||20^DTaP^CVX|999|||01^Historical^NIP001",
            "ORC|RE||D4",
            "RXA|0|1|20240530||21^VAR^CVX|999||||||||||||00^Parental decision^NIP002||RE",
        ]
        .join("\r");
        let f = MessageFacts::of_text(&text);
        assert_eq!(f.kind, Some(Kind::Vxu));
        assert!(f.test);
        assert_eq!(
            (f.administered, f.historical, f.refusals, f.not_administered),
            (2, 1, 1, 0)
        );
        assert_eq!(f.administered_on(), crate::date::ymd(2024, 5, 30));
        assert_eq!(f.fields["PID-11"], (1, 1));
        assert_eq!(f.fields["PID-13"], (0, 1));
        assert_eq!(f.fields["RXA-15"], (1, 2));
        assert_eq!(f.fields["RXA-17"], (1, 2));
        assert_eq!(f.fields["OBX-64994-7"], (1, 2));
        assert_eq!(f.fields["RXA-9"], (3, 4));
        let json = f.to_json();
        for value in ["Doe", "Jane", "MRN1", "20200101", "Main St", "LOT1"] {
            assert!(!json.contains(value), "{value} in {json}");
        }
        assert_eq!(MessageFacts::from_json(Some(&json)), f);
    }
}
