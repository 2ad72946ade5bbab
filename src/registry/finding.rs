//! A finding is one thing validation noticed. Findings, not exceptions: the outcome (AA/AE/AR)
//! is computed from them in one place, and the same list feeds the ACK and the message log.

use crate::hl7::{cdc_0533_text, AckCode, AppCode, ErrEntry, ErrLocation, Severity};

/// HL7 table 0357 codes used by the registry.
pub mod hl7_code {
    pub const SEGMENT_SEQUENCE: u16 = 100;
    pub const REQUIRED_FIELD_MISSING: u16 = 101;
    pub const DATA_TYPE: u16 = 102;
    pub const TABLE_VALUE_NOT_FOUND: u16 = 103;
    pub const UNSUPPORTED_MESSAGE_TYPE: u16 = 200;
    pub const UNSUPPORTED_EVENT: u16 = 201;
    pub const UNSUPPORTED_PROCESSING_ID: u16 = 202;
    pub const UNSUPPORTED_VERSION: u16 = 203;
    /// `0`: used for information-only ERR segments (e.g. "N more findings were not listed").
    pub const MESSAGE_ACCEPTED: u16 = 0;
}

/// CDC table 0533 codes (application error codes).
pub mod cdc_code {
    pub const ILLOGICAL_DATE: &str = "1";
    pub const INVALID_DATE: &str = "2";
    pub const INVALID_VALUE: &str = "4";
    pub const ILLOGICAL_VALUE: &str = "3";
    pub const TABLE_VALUE_NOT_FOUND: &str = "5";
    pub const REQUIRED_OBSERVATION_MISSING: &str = "6";
}

/// Where a finding's consequence lands: the envelope (AR), the patient (the whole message is
/// rejected), one dose (only that dose is dropped), or nothing (a warning or note).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Envelope,
    Patient,
    Dose,
    Note,
}

#[derive(Clone, Debug)]
pub struct Finding {
    /// Stable identifier, e.g. `PID-7-missing`; operators refer to rules by it.
    pub rule: &'static str,
    pub severity: Severity,
    pub scope: Scope,
    pub location: Option<ErrLocation>,
    pub hl7_code: u16,
    pub cdc_code: Option<&'static str>,
    pub message: String,
    /// For a finding about one immunization: the 1-based ordinal of its RXA segment in the
    /// message. Every [`Scope::Dose`] finding of the validator has it; [`rejected_doses`] reads it.
    pub dose: Option<u32>,
}

impl Finding {
    /// Any finding; `location` is ERR-2 (omitted when `None`).
    pub fn new(
        rule: &'static str,
        severity: Severity,
        scope: Scope,
        location: Option<ErrLocation>,
        hl7_code: u16,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule,
            severity,
            scope,
            location,
            hl7_code,
            cdc_code: None,
            message: message.into(),
            dose: None,
        }
    }

    pub fn error(
        rule: &'static str,
        scope: Scope,
        location: ErrLocation,
        hl7_code: u16,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule,
            severity: Severity::Error,
            scope,
            location: Some(location),
            hl7_code,
            cdc_code: None,
            message: message.into(),
            dose: None,
        }
    }

    pub fn warning(
        rule: &'static str,
        location: ErrLocation,
        hl7_code: u16,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule,
            severity: Severity::Warning,
            scope: Scope::Note,
            location: Some(location),
            hl7_code,
            cdc_code: None,
            message: message.into(),
            dose: None,
        }
    }

    /// Severity `I`, scope [`Scope::Note`].
    pub fn info(
        rule: &'static str,
        location: ErrLocation,
        hl7_code: u16,
        message: impl Into<String>,
    ) -> Finding {
        Finding::new(
            rule,
            Severity::Info,
            Scope::Note,
            Some(location),
            hl7_code,
            message,
        )
    }

    /// Marks the finding as being about the `ordinal`-th RXA (1-based).
    pub fn with_dose(mut self, ordinal: u32) -> Finding {
        self.dose = Some(ordinal);
        self
    }

    pub fn with_scope(mut self, scope: Scope) -> Finding {
        self.scope = scope;
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }

    pub fn with_cdc(mut self, code: &'static str) -> Finding {
        self.cdc_code = Some(code);
        self
    }

    pub fn to_err(&self) -> ErrEntry {
        ErrEntry {
            location: self.location.clone(),
            hl7_code: self.hl7_code,
            severity: self.severity,
            app_code: self.cdc_code.map(|code| AppCode {
                code: code.to_string(),
                text: cdc_0533_text(code).unwrap_or_default().to_string(),
                system: "HL70533".to_string(),
            }),
            message: self.message.clone(),
        }
    }

    /// Severity `E`: the finding rejects whatever its scope covers.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// MSA-1 from the findings: AR when the envelope was refused, AE when any error rejected data,
/// AA otherwise (warnings and notes do not turn an accepted message into an error).
pub fn ack_code(findings: &[Finding]) -> AckCode {
    if findings
        .iter()
        .any(|f| f.is_error() && f.scope == Scope::Envelope)
    {
        AckCode::AR
    } else if findings.iter().any(Finding::is_error) {
        AckCode::AE
    } else {
        AckCode::AA
    }
}

/// Whether the patient (and so the whole message's data) was rejected.
pub fn patient_rejected(findings: &[Finding]) -> bool {
    findings
        .iter()
        .any(|f| f.is_error() && matches!(f.scope, Scope::Envelope | Scope::Patient))
}

/// The RXA ordinals (1-based, ascending, each once) of the immunizations an error rejected.
/// A rejected dose does not reject the rest of the message; use [`patient_rejected`] for that.
pub fn rejected_doses(findings: &[Finding]) -> Vec<u32> {
    let mut doses: Vec<u32> = findings
        .iter()
        .filter(|f| f.is_error() && f.scope == Scope::Dose)
        .filter_map(|f| f.dose)
        .collect();
    doses.sort_unstable();
    doses.dedup();
    doses
}

/// Whether the `ordinal`-th RXA (1-based) was rejected, by its own errors or with the patient.
pub fn dose_rejected(findings: &[Finding], ordinal: u32) -> bool {
    patient_rejected(findings)
        || findings
            .iter()
            .any(|f| f.is_error() && f.scope == Scope::Dose && f.dose == Some(ordinal))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> ErrLocation {
        ErrLocation::field("PID", 1, 7)
    }

    #[test]
    fn outcome_follows_the_worst_scope() {
        let warn = Finding::warning("w", loc(), 0, "w");
        let dose = Finding::error("d", Scope::Dose, loc(), 101, "d");
        let env = Finding::error("e", Scope::Envelope, loc(), 203, "e");
        assert_eq!(ack_code(&[]), AckCode::AA);
        assert_eq!(ack_code(std::slice::from_ref(&warn)), AckCode::AA);
        assert_eq!(ack_code(&[warn.clone(), dose.clone()]), AckCode::AE);
        assert_eq!(ack_code(&[dose.clone(), env.clone()]), AckCode::AR);
        assert!(!patient_rejected(&[warn.clone(), dose.clone()]));
        assert!(patient_rejected(&[env]));
        assert!(
            rejected_doses(&[warn, dose]).is_empty(),
            "no ordinal, nothing to name"
        );
    }

    #[test]
    fn dose_ordinals() {
        let d2 = Finding::error("d", Scope::Dose, loc(), 101, "d").with_dose(2);
        let d1 = Finding::error("d", Scope::Dose, loc(), 103, "d").with_dose(1);
        let w3 = Finding::warning("w", loc(), 0, "w").with_dose(3);
        let all = [d2.clone(), w3.clone(), d1, d2];
        assert_eq!(rejected_doses(&all), vec![1, 2]);
        assert!(dose_rejected(&all, 2));
        assert!(!dose_rejected(&all, 3));
        let patient = Finding::error("p", Scope::Patient, loc(), 101, "p");
        assert!(dose_rejected(&[patient, w3], 3));
        let info = Finding::info("i", loc(), 0, "i");
        assert_eq!((info.severity, info.scope), (Severity::Info, Scope::Note));
        let raised = Finding::warning("w", loc(), 0, "w")
            .with_severity(Severity::Error)
            .with_scope(Scope::Dose)
            .with_dose(4);
        assert_eq!(rejected_doses(&[raised]), vec![4]);
    }

    #[test]
    fn cdc_code_becomes_err5() {
        let f = Finding::error("r", Scope::Patient, loc(), 102, "bad date")
            .with_cdc(cdc_code::INVALID_DATE);
        let err = f.to_err();
        let app = err.app_code.expect("ERR-5");
        assert_eq!(app.code, "2");
        assert_eq!(app.system, "HL70533");
        assert_eq!(app.text, "Invalid Date");
    }
}
