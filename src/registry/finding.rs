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
}

/// CDC table 0533 codes (application error codes).
pub mod cdc_code {
    pub const ILLOGICAL_DATE: &str = "1";
    pub const INVALID_DATE: &str = "2";
    pub const INVALID_VALUE: &str = "4";
    pub const TABLE_VALUE_NOT_FOUND: &str = "5";
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
}

impl Finding {
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
        }
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

    fn is_error(&self) -> bool {
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
        assert!(!patient_rejected(&[warn, dose]));
        assert!(patient_rejected(&[env]));
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
