//! The VXU^V04 validation rule engine.
//!
//! [`validate`] reads one parsed message in a single pass and returns its [`Finding`]s in message
//! order, one per problem. Every finding comes from a rule of the catalogue ([`rules`]): a stable
//! id (`RXA-5-unknown-cvx`), a default severity, the scope an error rejects, its ERR-2 location,
//! its HL7 table 0357 code and, where one applies, its CDC table 0533 code. ERR-8 is a plain
//! sentence for the clinic; it may quote the offending code or date, but never an identifier,
//! address or phone number, and a name only as the placeholder word it matched (UNKNOWN, TEST).
//!
//! What the rules cover:
//! * the CDC implementation guide 1.5 VXU profile (Z22) as NIST publishes it: the usage of MSH,
//!   PID, PD1, NK1, ORC, RXA, RXR and OBX fields and the IZ-nn conformance statements (see
//!   [`FIELD_COVERAGE`] for every required and conditional field);
//! * data-quality checks in the manner of MQE: dates in the future or before birth, implausible
//!   birth dates, inactive or non-specific vaccine codes, NDC/CPT mapping and conflicts,
//!   manufacturer, lot, route and site plausibility, junk names, phone and ZIP formats.
//!
//! Severity is per organization: [`Context::overrides`] maps a rule id to E, W, I or off. The
//! scope stays with the rule; only an `E` rejects. Rules marked [`RuleInfo::locked`] guard what
//! the registry cannot store without (an identifier, a birth date, a dose key, a vaccine code):
//! their overrides are ignored, and [`check_override`] refuses them.
//!
//! Outcome: [`crate::registry::finding::ack_code`] (AA with no error; AE when an error rejected a
//! dose or the patient; AR when an envelope error stopped processing),
//! [`crate::registry::finding::rejected_doses`] for the planner, and [`ack_errors`] for the ERR
//! segments (capped, with a closing count of what was left out).
//!
//! ```
//! use izport::hl7::{AckCode, Message};
//! use izport::registry::codes::CodeSets;
//! use izport::registry::finding::{ack_code, rejected_doses};
//! use izport::registry::validate::{ack_errors, validate, Context, DEFAULT_ERR_LIMIT};
//!
//! let text = "MSH|^~\\&|EHR|CLINIC|IZPORT|IZPORT|202405141015-0500||VXU^V04^VXU_V04|42|P|2.5.1\r\
//!             PID|1||A1^^^CLINIC^MR||Doe^Jane^^^^^L||20230302|F\r\
//!             ORC|RE||D-1^CLINIC\r\
//!             RXA|0|1|20240514||9876^Nope^CVX|999|||01^Historical^NIP001||||||||||CP|A\r";
//! let msg = Message::parse(text).expect("HL7");
//! let ctx = Context::new(jiff::civil::date(2024, 6, 1), CodeSets::builtin());
//! let findings = validate(&msg, &ctx);
//! assert_eq!(ack_code(&findings), AckCode::AE); // the dose is rejected, the patient is kept
//! assert_eq!(rejected_doses(&findings), vec![1]);
//! let errs = ack_errors(&findings, DEFAULT_ERR_LIMIT);
//! assert!(errs.iter().any(|e| e.hl7_code == 103));
//! ```

mod ack;
mod docs;
mod engine;
mod rules;
mod text;
mod vaccine;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use crate::date::Date;
use crate::hl7::{Message, Severity};
use crate::registry::codes::CodeSets;
use crate::registry::finding::Finding;

pub use ack::{ack_errors, DEFAULT_ERR_LIMIT};
pub use docs::{render_rules, Coverage, FieldCoverage, RulesFormat, FIELD_COVERAGE};
pub use rules::{rule_info, rules, RuleInfo};
pub use vaccine::{resolve_vaccine, ResolvedVaccine, SetAside, VaccineError, VaccineSource};

/// What an organization makes of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    Error,
    Warning,
    Info,
    /// The rule is not checked.
    Off,
}

impl Level {
    /// The severity findings get, `None` when off.
    pub fn severity(self) -> Option<Severity> {
        match self {
            Level::Error => Some(Severity::Error),
            Level::Warning => Some(Severity::Warning),
            Level::Info => Some(Severity::Info),
            Level::Off => None,
        }
    }

    /// `E`, `W`, `I` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "E",
            Level::Warning => "W",
            Level::Info => "I",
            Level::Off => "off",
        }
    }
}

impl From<Severity> for Level {
    fn from(s: Severity) -> Level {
        match s {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warning,
            Severity::Info => Level::Info,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level that is not E, W, I or off.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a rule level; use E, W, I or off")]
pub struct ParseLevelError(pub String);

impl FromStr for Level {
    type Err = ParseLevelError;

    /// `E`/`error`, `W`/`warning`, `I`/`info`, `off`; any case.
    fn from_str(s: &str) -> Result<Level, ParseLevelError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "e" | "error" => Ok(Level::Error),
            "w" | "warning" | "warn" => Ok(Level::Warning),
            "i" | "info" => Ok(Level::Info),
            "off" | "none" => Ok(Level::Off),
            _ => Err(ParseLevelError(s.to_string())),
        }
    }
}

/// Why an override cannot be stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("there is no rule '{0}' (izport rules lists them)")]
    UnknownRule(String),
    #[error(
        "rule '{0}' guards data the registry cannot store without; it always rejects (E) and cannot be changed"
    )]
    Locked(&'static str),
}

/// Checks an organization's override before it is stored: the rule must exist, and a locked rule
/// can only be set to E (its default).
pub fn check_override(rule_id: &str, level: Level) -> Result<&'static RuleInfo, OverrideError> {
    let info = rule_info(rule_id).ok_or_else(|| OverrideError::UnknownRule(rule_id.to_string()))?;
    if info.locked && level != Level::Error {
        return Err(OverrideError::Locked(info.id));
    }
    Ok(info)
}

static NO_OVERRIDES: LazyLock<HashMap<String, Level>> = LazyLock::new(HashMap::new);

/// What validation needs besides the message.
#[derive(Clone, Copy, Debug)]
pub struct Context<'c> {
    /// Today's date where the registry runs (UTC). Dates up to one day after it are accepted, for
    /// senders whose local date is ahead.
    pub today: Date,
    pub codes: &'c CodeSets,
    /// The organization's rule levels by rule id; rules not named keep their default.
    pub overrides: &'c HashMap<String, Level>,
}

impl<'c> Context<'c> {
    /// Default severities.
    pub fn new(today: Date, codes: &'c CodeSets) -> Context<'c> {
        Context {
            today,
            codes,
            overrides: &NO_OVERRIDES,
        }
    }

    pub fn with_overrides(mut self, overrides: &'c HashMap<String, Level>) -> Context<'c> {
        self.overrides = overrides;
        self
    }

    /// The severity a rule has for this organization; `None` when it is off.
    pub fn severity_of(&self, rule: &RuleInfo) -> Option<Severity> {
        if rule.locked || self.overrides.is_empty() {
            return Some(rule.severity);
        }
        match self.overrides.get(rule.id) {
            Some(level) => level.severity(),
            None => Some(rule.severity),
        }
    }
}

/// Validates one VXU and returns its findings in message order. When the envelope is refused
/// (an E finding of scope envelope, e.g. MSH-9 not VXU^V04), only the header findings are
/// returned: nothing else of the message is processed.
pub fn validate(msg: &Message<'_>, ctx: &Context<'_>) -> Vec<Finding> {
    engine::Engine::new(msg, ctx).run()
}
