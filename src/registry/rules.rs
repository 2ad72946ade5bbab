//! The rule catalogue: every finding the registry can report — the VXU validator's, the query
//! reader's, and the registry's own decisions while applying a message (resends, production
//! approval, consent, storage) — with its stable id, what it applies to, default severity, scope,
//! location, HL7 table 0357 code, CDC table 0533 code and description. `izport rules` lists it;
//! `izport org rule` sets an organization's level for any rule that is not [`RuleInfo::locked`].
//!
//! Code refers to rules through [`R`], whose discriminant is the rule's index in [`RULES`], so a
//! finding costs no lookup by name; [`finding`] builds one at the organization's level. Operators
//! refer to rules by [`RuleInfo::id`].

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::hl7::{ErrLocation, Severity};
use crate::registry::finding::{Finding, Scope};

/// Which messages a rule is checked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Applies {
    /// VXU submissions (the validation engine).
    Vxu,
    /// QBP history queries (the query reader).
    Query,
    /// Both: the header checks they share.
    Both,
    /// The registry's own decisions while applying a message (see the description for which).
    Registry,
}

impl Applies {
    /// `VXU`, `QBP`, `VXU+QBP` or `registry`.
    pub fn as_str(self) -> &'static str {
        match self {
            Applies::Vxu => "VXU",
            Applies::Query => "QBP",
            Applies::Both => "VXU+QBP",
            Applies::Registry => "registry",
        }
    }
}

/// One rule, as `izport rules` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// Stable identifier, e.g. `RXA-5-unknown-cvx`; overrides and the message log use it.
    pub id: &'static str,
    pub applies: Applies,
    /// Severity unless the organization overrides it.
    pub severity: Severity,
    /// What an error of this rule rejects: the message (`Envelope`, AR), the patient and so the
    /// whole message (`Patient`; for a query: the query is not run, AE), one immunization
    /// (`Dose`), or only the segment it names (`Note`).
    pub scope: Scope,
    /// Where it is reported (ERR-2 points at this field, or the segment).
    pub location: &'static str,
    /// ERR-3, HL7 table 0357.
    pub hl7_code: u16,
    /// ERR-5, CDC table 0533, where one applies.
    pub cdc_code: Option<&'static str>,
    /// An error the registry cannot store the data without (or cannot process the message
    /// without): an organization may raise other rules or turn them off, but not these.
    pub locked: bool,
    pub description: &'static str,
}

macro_rules! catalogue {
    ($( $var:ident = $id:literal, $applies:ident, $sev:ident, $scope:ident, $loc:literal, $hl7:literal, $cdc:expr, $locked:literal, $desc:literal; )*) => {
        /// The rules, by position in [`RULES`].
        #[allow(non_camel_case_types, clippy::upper_case_acronyms, clippy::enum_variant_names)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum R { $( $var ),* }

        /// Every rule, in the order `izport rules` lists them.
        pub(crate) static RULES: &[RuleInfo] = &[
            $( RuleInfo {
                id: $id,
                applies: Applies::$applies,
                severity: sev!($sev),
                scope: Scope::$scope,
                location: $loc,
                hl7_code: $hl7,
                cdc_code: $cdc,
                locked: $locked,
                description: $desc,
            } ),*
        ];
    };
}

macro_rules! sev {
    (E) => {
        Severity::Error
    };
    (W) => {
        Severity::Warning
    };
    (I) => {
        Severity::Info
    };
}

// CDC table 0533 codes.
const ILLOGICAL_DATE: Option<&str> = Some("1");
const INVALID_DATE: Option<&str> = Some("2");
const ILLOGICAL_VALUE: Option<&str> = Some("3");
const INVALID_VALUE: Option<&str> = Some("4");
const NOT_IN_TABLE: Option<&str> = Some("5");
const OBSERVATION_MISSING: Option<&str> = Some("6");
const NONE: Option<&str> = None;

catalogue! {
    // ---- The message as a whole -------------------------------------------------------------
    MSG_MULTIPLE = "MSG-multiple", Vxu, E, Envelope, "MSH", 100, NONE, true,
        "More than one MSH segment: one request carries exactly one message.";
    MSH_1_INVALID = "MSH-1-invalid", Vxu, W, Envelope, "MSH-1", 102, INVALID_VALUE, false,
        "MSH-1 (field separator) is not '|' (IZ-12).";
    MSH_2_INVALID = "MSH-2-invalid", Vxu, W, Envelope, "MSH-2", 102, INVALID_VALUE, false,
        "MSH-2 (encoding characters) is not '^~\\&' (IZ-13).";
    MSH_HD_OID = "MSH-HD-oid", Vxu, W, Envelope, "MSH-3..6", 102, INVALID_VALUE, false,
        "An application or facility (MSH-3 to MSH-6) gives a universal ID (HD.2) that is not an OID, or one whose type (HD.3) is not ISO (IZ-5, IZ-6).";
    MSH_7_MISSING = "MSH-7-missing", Vxu, W, Envelope, "MSH-7", 101, NONE, false,
        "MSH-7 (date/time of message) is missing.";
    MSH_7_INVALID = "MSH-7-invalid", Vxu, W, Envelope, "MSH-7", 102, INVALID_DATE, false,
        "MSH-7 is not a valid HL7 date/time.";
    MSH_7_PRECISION = "MSH-7-precision", Vxu, W, Envelope, "MSH-7", 102, INVALID_DATE, false,
        "MSH-7 is less precise than the minute (IZ-14).";
    MSH_7_TIMEZONE = "MSH-7-timezone", Vxu, W, Envelope, "MSH-7", 102, INVALID_DATE, false,
        "MSH-7 has no time zone offset.";
    MSH_7_FUTURE = "MSH-7-future", Vxu, W, Envelope, "MSH-7", 102, ILLOGICAL_DATE, false,
        "MSH-7 is after today (one day of clock and time zone difference is allowed).";
    MSH_9_MISSING = "MSH-9-missing", Both, E, Envelope, "MSH-9", 101, NONE, true,
        "MSH-9 (message type) is missing.";
    MSH_9_TYPE = "MSH-9-type", Both, E, Envelope, "MSH-9", 200, NONE, true,
        "The message type is neither VXU (a submission) nor QBP (a query).";
    MSH_9_EVENT = "MSH-9-event", Both, E, Envelope, "MSH-9.2", 201, NONE, true,
        "The trigger event does not fit the message type: a VXU must be V04, a QBP Q11.";
    MSH_9_STRUCTURE = "MSH-9-structure", Vxu, W, Envelope, "MSH-9.3", 102, INVALID_VALUE, false,
        "MSH-9.3 (message structure) is not VXU_V04 (IZ-17).";
    MSH_10_MISSING = "MSH-10-missing", Vxu, E, Envelope, "MSH-10", 101, NONE, false,
        "MSH-10 (message control ID) is missing: the acknowledgement cannot be matched to the message, and resends cannot be recognized.";
    MSH_11_INVALID = "MSH-11-invalid", Both, E, Envelope, "MSH-11", 202, NONE, true,
        "MSH-11 (processing ID) is missing or not P, T or D.";
    MSH_12_VERSION = "MSH-12-version", Both, E, Envelope, "MSH-12", 203, NONE, false,
        "MSH-12 (version ID) is not 2.5.1 (IZ-15).";
    MSH_15_MISSING = "MSH-15-missing", Vxu, W, Envelope, "MSH-15", 101, NONE, false,
        "MSH-15 (accept acknowledgment type) is missing.";
    MSH_15_INVALID = "MSH-15-invalid", Vxu, W, Envelope, "MSH-15", 103, NOT_IN_TABLE, false,
        "MSH-15 is not one of AL, NE, ER, SU (HL7 table 0155).";
    MSH_16_MISSING = "MSH-16-missing", Vxu, W, Envelope, "MSH-16", 101, NONE, false,
        "MSH-16 (application acknowledgment type) is missing.";
    MSH_16_INVALID = "MSH-16-invalid", Vxu, W, Envelope, "MSH-16", 103, NOT_IN_TABLE, false,
        "MSH-16 is not one of AL, NE, ER, SU (IZ-16).";
    MSH_21_MISSING = "MSH-21-missing", Both, W, Envelope, "MSH-21", 101, NONE, false,
        "MSH-21 (message profile identifier) is missing.";
    MSH_21_PROFILE = "MSH-21-profile", Vxu, W, Envelope, "MSH-21", 103, NOT_IN_TABLE, false,
        "MSH-21 does not name the VXU profile Z22^CDCPHINVS.";
    SEG_UNEXPECTED = "SEG-unexpected", Vxu, W, Note, "any segment", 100, NONE, false,
        "A segment that has no place in a VXU^V04 message; it is ignored.";
    TEXT_CONTROL = "TEXT-control", Vxu, W, Note, "any field", 102, INVALID_VALUE, false,
        "A field other than a patient name or identifier contains control characters; they are removed before the value is stored.";
    SEG_ORDER = "SEG-order", Vxu, W, Note, "any segment", 100, NONE, false,
        "A VXU segment out of its place (e.g. NK1 after the first ORC, OBX before any RXA, a second RXR); RXR, OBX, TQ1, TQ2 and NTE out of place are ignored, patient segments are still read.";

    // ---- Patient ------------------------------------------------------------------------------
    PID_MISSING = "PID-missing", Vxu, E, Patient, "PID", 100, NONE, true,
        "The message has no PID segment.";
    PID_REPEATED = "PID-repeated", Vxu, E, Patient, "PID", 100, NONE, true,
        "The message has more than one PID segment (one patient per message).";
    PID_1_INVALID = "PID-1-invalid", Vxu, W, Patient, "PID-1", 102, INVALID_VALUE, false,
        "PID-1 (set ID) is not 1.";
    PID_3_MISSING = "PID-3-missing", Vxu, E, Patient, "PID-3", 101, NONE, true,
        "No patient identifier in PID-3.";
    PID_3_TYPE_MISSING = "PID-3-type-missing", Vxu, W, Patient, "PID-3.5", 101, NONE, false,
        "A patient identifier without its identifier type (CX.5, e.g. MR).";
    PID_3_TYPE_UNKNOWN = "PID-3-type-unknown", Vxu, W, Patient, "PID-3.5", 103, NOT_IN_TABLE, false,
        "A patient identifier type (CX.5) not in HL7 table 0203.";
    PID_3_CONTROL = "PID-3-control", Vxu, E, Patient, "PID-3", 102, INVALID_VALUE, true,
        "A patient identifier contains control characters (sent raw or decoded from an escape such as \\X00\\).";
    PID_5_FAMILY_MISSING = "PID-5-family-missing", Vxu, E, Patient, "PID-5.1", 101, NONE, true,
        "The patient's last name is missing.";
    PID_5_GIVEN_MISSING = "PID-5-given-missing", Vxu, E, Patient, "PID-5.2", 101, NONE, true,
        "The patient's first name is missing.";
    PID_5_TYPE = "PID-5-type", Vxu, W, Patient, "PID-5.7", 101, NONE, false,
        "No name in PID-5 is marked as the legal name (name type L).";
    PID_5_INVALID = "PID-5-invalid", Vxu, W, Patient, "PID-5", 102, INVALID_VALUE, false,
        "A name contains digits or characters that do not occur in names.";
    PID_5_JUNK = "PID-5-junk", Vxu, W, Patient, "PID-5", 102, INVALID_VALUE, false,
        "A name is a placeholder such as UNKNOWN, NONE or XXX.";
    PID_5_TEST = "PID-5-test", Vxu, I, Patient, "PID-5", 102, ILLOGICAL_VALUE, false,
        "A name looks like a test patient (TEST) or a newborn placeholder (BABY BOY, INFANT).";
    PID_5_CONTROL = "PID-5-control", Vxu, E, Patient, "PID-5", 102, INVALID_VALUE, true,
        "A patient name contains control characters (sent raw or decoded from an escape such as \\X0D\\).";
    PID_6_CONTROL = "PID-6-control", Vxu, E, Patient, "PID-6", 102, INVALID_VALUE, true,
        "The mother's maiden name contains control characters.";
    PID_7_MISSING = "PID-7-missing", Vxu, E, Patient, "PID-7", 101, NONE, true,
        "The patient's birth date is missing.";
    PID_7_INVALID = "PID-7-invalid", Vxu, E, Patient, "PID-7", 102, INVALID_DATE, true,
        "The patient's birth date is not a valid date.";
    PID_7_PRECISION = "PID-7-precision", Vxu, E, Patient, "PID-7", 102, INVALID_DATE, true,
        "The patient's birth date lacks the month or day (IZ-26: at least YYYYMMDD).";
    PID_7_FUTURE = "PID-7-future", Vxu, E, Patient, "PID-7", 102, ILLOGICAL_DATE, false,
        "The patient's birth date is in the future.";
    PID_7_TOO_OLD = "PID-7-too-old", Vxu, E, Patient, "PID-7", 102, ILLOGICAL_DATE, false,
        "The patient's birth date is more than 120 years ago.";
    PID_8_MISSING = "PID-8-missing", Vxu, W, Patient, "PID-8", 101, NONE, false,
        "The patient's sex is missing.";
    PID_8_INVALID = "PID-8-invalid", Vxu, W, Patient, "PID-8", 103, NOT_IN_TABLE, false,
        "The patient's sex is not F, M, U or X.";
    PID_10_UNKNOWN = "PID-10-unknown", Vxu, W, Patient, "PID-10", 103, NOT_IN_TABLE, false,
        "A race code that is not in CDC's race and ethnicity code set (CDCREC).";
    PID_10_DEPRECATED = "PID-10-deprecated", Vxu, I, Patient, "PID-10", 103, NONE, false,
        "A race code that is recognized but deprecated (HL7 0005 letters, or an ethnicity code sent as a race).";
    PID_11_ZIP = "PID-11-zip", Vxu, W, Patient, "PID-11.5", 102, INVALID_VALUE, false,
        "A US address whose ZIP code is not 5 or 9 digits.";
    PID_11_STATE = "PID-11-state", Vxu, W, Patient, "PID-11.4", 103, NOT_IN_TABLE, false,
        "A US address whose state is not a USPS state or territory code.";
    PID_13_INVALID = "PID-13-invalid", Vxu, W, Patient, "PID-13", 102, INVALID_VALUE, false,
        "A phone number or e-mail address not in the guide's format (^PRN^PH^^^area^number, ^NET^Internet^address).";
    PID_22_UNKNOWN = "PID-22-unknown", Vxu, W, Patient, "PID-22", 103, NOT_IN_TABLE, false,
        "An ethnicity code that is not in CDCREC.";
    PID_22_DEPRECATED = "PID-22-deprecated", Vxu, I, Patient, "PID-22", 103, NONE, false,
        "An ethnicity code that is recognized but deprecated (HL7 0189 letters).";
    PID_24_INVALID = "PID-24-invalid", Vxu, W, Patient, "PID-24", 103, NOT_IN_TABLE, false,
        "PID-24 (multiple birth indicator) is not Y or N.";
    PID_25_MISSING = "PID-25-missing", Vxu, W, Patient, "PID-25", 101, NONE, false,
        "PID-24 says multiple birth but PID-25 (birth order) is missing.";
    PID_25_INVALID = "PID-25-invalid", Vxu, W, Patient, "PID-25", 102, ILLOGICAL_VALUE, false,
        "PID-25 (birth order) is not a number from 1 to 9, or is above 1 for a single birth.";
    PID_29_INVALID = "PID-29-invalid", Vxu, W, Patient, "PID-29", 102, INVALID_DATE, false,
        "The patient's death date is not a valid date.";
    PID_29_ILLOGICAL = "PID-29-illogical", Vxu, W, Patient, "PID-29", 102, ILLOGICAL_DATE, false,
        "The patient's death date is in the future or before the birth date.";
    PID_30_INVALID = "PID-30-invalid", Vxu, W, Patient, "PID-30", 103, NOT_IN_TABLE, false,
        "PID-30 (death indicator) is not Y or N.";
    PID_30_INCONSISTENT = "PID-30-inconsistent", Vxu, W, Patient, "PID-30", 102, ILLOGICAL_VALUE, false,
        "A death date is given but PID-30 does not say Y.";
    PD1_REPEATED = "PD1-repeated", Vxu, W, Patient, "PD1", 100, NONE, false,
        "More than one PD1 segment; only the first is read.";
    PD1_11_UNKNOWN = "PD1-11-unknown", Vxu, W, Patient, "PD1-11", 103, NOT_IN_TABLE, false,
        "PD1-11 (publicity code) is not in HL7 table 0215.";
    PD1_12_INVALID = "PD1-12-invalid", Vxu, W, Patient, "PD1-12", 103, NOT_IN_TABLE, false,
        "PD1-12 (protection indicator) is not Y or N.";
    PD1_13_MISSING = "PD1-13-missing", Vxu, W, Patient, "PD1-13", 101, NONE, false,
        "PD1-12 is valued but PD1-13 (its effective date) is missing.";
    PD1_13_INVALID = "PD1-13-invalid", Vxu, W, Patient, "PD1-13", 102, INVALID_DATE, false,
        "PD1-13 is not a valid date.";
    PD1_16_UNKNOWN = "PD1-16-unknown", Vxu, W, Patient, "PD1-16", 103, NOT_IN_TABLE, false,
        "PD1-16 (immunization registry status) is not in HL7 table 0441, or is the disallowed O.";
    PD1_17_MISSING = "PD1-17-missing", Vxu, W, Patient, "PD1-17", 101, NONE, false,
        "PD1-16 is valued but PD1-17 (its effective date) is missing.";
    PD1_17_INVALID = "PD1-17-invalid", Vxu, W, Patient, "PD1-17", 102, INVALID_DATE, false,
        "PD1-17 is not a valid date.";
    PD1_18_MISSING = "PD1-18-missing", Vxu, W, Patient, "PD1-18", 101, NONE, false,
        "PD1-11 is valued but PD1-18 (its effective date) is missing.";
    PD1_18_INVALID = "PD1-18-invalid", Vxu, W, Patient, "PD1-18", 102, INVALID_DATE, false,
        "PD1-18 is not a valid date.";
    NK1_1_INVALID = "NK1-1-invalid", Vxu, W, Patient, "NK1-1", 102, INVALID_VALUE, false,
        "NK1-1 (set ID) is not the segment's position among the NK1 segments (1, 2, ...).";
    NK1_2_MISSING = "NK1-2-missing", Vxu, W, Patient, "NK1-2", 101, NONE, false,
        "The responsible person's last or first name (NK1-2) is missing.";
    NK1_3_MISSING = "NK1-3-missing", Vxu, W, Patient, "NK1-3", 101, NONE, false,
        "NK1-3 (relationship to the patient) is missing.";
    NK1_3_UNKNOWN = "NK1-3-unknown", Vxu, W, Patient, "NK1-3", 103, NOT_IN_TABLE, false,
        "NK1-3 is not in HL7 table 0063.";
    NK1_3_NOT_GUARDIAN = "NK1-3-not-guardian", Vxu, I, Patient, "NK1-3", 103, NONE, false,
        "NK1-3 is a relationship the registry does not use for a responsible party (e.g. employer, friend).";
    NK1_5_INVALID = "NK1-5-invalid", Vxu, W, Patient, "NK1-5", 102, INVALID_VALUE, false,
        "A responsible person's phone number or e-mail address not in the guide's format.";
    NK1_MINOR_MISSING = "NK1-minor-missing", Vxu, W, Patient, "NK1", 101, NONE, false,
        "A patient under 18 without a responsible person (an NK1 with a name and a parent, guardian or care giver relationship).";

    // ---- Immunizations --------------------------------------------------------------------------
    ORC_NO_RXA = "ORC-no-RXA", Vxu, W, Note, "ORC", 100, NONE, false,
        "An ORC segment not followed by its RXA; the order is ignored.";
    RXA_NO_ORC = "RXA-no-ORC", Vxu, E, Dose, "RXA", 100, NONE, true,
        "An RXA segment not preceded by its own ORC, so the immunization has no filler order number.";
    ORC_1_INVALID = "ORC-1-invalid", Vxu, W, Dose, "ORC-1", 102, INVALID_VALUE, false,
        "ORC-1 (order control) is not RE (IZ-25).";
    ORC_3_MISSING = "ORC-3-missing", Vxu, E, Dose, "ORC-3", 101, NONE, true,
        "ORC-3 (filler order number), the sender's own ID for the immunization, is missing.";
    ORC_3_PLACEHOLDER = "ORC-3-placeholder", Vxu, E, Dose, "ORC-3", 102, INVALID_VALUE, false,
        "ORC-3 is the placeholder 9999 on an immunization that is neither CVX 998, a refusal nor not administered.";
    ORC_3_DUPLICATE = "ORC-3-duplicate", Vxu, E, Dose, "ORC-3", 102, ILLOGICAL_VALUE, false,
        "Two immunizations in one message share the same ORC-3; the later one is rejected.";
    RXA_1_INVALID = "RXA-1-invalid", Vxu, W, Dose, "RXA-1", 102, INVALID_VALUE, false,
        "RXA-1 (give sub-ID counter) is not 0 (IZ-28).";
    RXA_2_INVALID = "RXA-2-invalid", Vxu, W, Dose, "RXA-2", 102, INVALID_VALUE, false,
        "RXA-2 (administration sub-ID counter) is not 1 (IZ-29).";
    RXA_3_MISSING = "RXA-3-missing", Vxu, E, Dose, "RXA-3", 101, NONE, true,
        "The administration date is missing.";
    RXA_3_INVALID = "RXA-3-invalid", Vxu, E, Dose, "RXA-3", 102, INVALID_DATE, true,
        "The administration date is not a valid date of at least day precision.";
    RXA_3_FUTURE = "RXA-3-future", Vxu, E, Dose, "RXA-3", 102, ILLOGICAL_DATE, false,
        "The administration date is in the future (one day of time zone difference is allowed).";
    RXA_3_BEFORE_BIRTH = "RXA-3-before-birth", Vxu, E, Dose, "RXA-3", 102, ILLOGICAL_DATE, false,
        "The administration date is before the patient's birth date.";
    RXA_3_AFTER_DEATH = "RXA-3-after-death", Vxu, E, Dose, "RXA-3", 102, ILLOGICAL_DATE, false,
        "The administration date is after the patient's death date.";
    RXA_3_AFTER_MESSAGE = "RXA-3-after-message", Vxu, W, Dose, "RXA-3", 102, ILLOGICAL_DATE, false,
        "The administration date is after the message date (MSH-7).";
    RXA_4_MISMATCH = "RXA-4-mismatch", Vxu, W, Dose, "RXA-4", 102, ILLOGICAL_VALUE, false,
        "RXA-4 (end of administration) is valued with a date other than RXA-3.";
    RXA_5_MISSING = "RXA-5-missing", Vxu, E, Dose, "RXA-5", 101, NONE, true,
        "The vaccine code is missing.";
    RXA_5_UNKNOWN_CVX = "RXA-5-unknown-cvx", Vxu, E, Dose, "RXA-5", 103, NOT_IN_TABLE, true,
        "The vaccine code is not a CVX code the registry knows.";
    RXA_5_UNKNOWN_NDC = "RXA-5-unknown-ndc", Vxu, E, Dose, "RXA-5", 103, NOT_IN_TABLE, true,
        "The vaccine NDC is not one the registry knows (CDC's unit-of-use and unit-of-sale lists).";
    RXA_5_UNKNOWN_CPT = "RXA-5-unknown-cpt", Vxu, E, Dose, "RXA-5", 103, NOT_IN_TABLE, true,
        "The vaccine CPT code is not one CDC maps to a CVX code.";
    RXA_5_CODE_SYSTEM = "RXA-5-code-system", Vxu, E, Dose, "RXA-5.3", 103, NOT_IN_TABLE, true,
        "The vaccine is coded in a system other than CVX, NDC or CPT (and no usable code is given beside it).";
    RXA_5_SYSTEM_MISSING = "RXA-5-system-missing", Vxu, W, Dose, "RXA-5.3", 101, NONE, false,
        "The vaccine code's coding system (CE.3) is blank; the code was read by its shape.";
    RXA_5_CONFLICT = "RXA-5-conflict", Vxu, W, Dose, "RXA-5.4", 103, ILLOGICAL_VALUE, false,
        "The two codes in RXA-5 name different vaccines; the CVX code (else the first) is used.";
    RXA_5_ALTERNATE_UNKNOWN = "RXA-5-alternate-unknown", Vxu, W, Dose, "RXA-5", 103, NOT_IN_TABLE, false,
        "One of the two codes in RXA-5 is an unknown CVX, NDC or CPT code; the other one is used.";
    RXA_5_NDC_AMBIGUOUS = "RXA-5-ndc-ambiguous", Vxu, W, Dose, "RXA-5", 102, ILLOGICAL_VALUE, false,
        "The NDC or CPT code maps to several CVX codes and no CVX code tells which; the lowest is used.";
    RXA_5_CVX_NOT_USABLE = "RXA-5-cvx-not-usable", Vxu, E, Dose, "RXA-5", 103, INVALID_VALUE, false,
        "The CVX code exists but was never used for a vaccine (status Never Active).";
    RXA_5_CVX_INACTIVE = "RXA-5-cvx-inactive", Vxu, W, Dose, "RXA-5", 102, ILLOGICAL_DATE, false,
        "The CVX code was already inactive on the administration date (its record last changed before that date).";
    RXA_5_NON_SPECIFIC = "RXA-5-non-specific", Vxu, W, Dose, "RXA-5", 102, ILLOGICAL_VALUE, false,
        "An 'unspecified formulation' CVX code on an administered (RXA-9 = 00) immunization.";
    RXA_5_NON_US = "RXA-5-non-us", Vxu, W, Dose, "RXA-5", 102, ILLOGICAL_VALUE, false,
        "A vaccine not licensed in the US on an administered (RXA-9 = 00) immunization.";
    RXA_6_MISSING = "RXA-6-missing", Vxu, W, Dose, "RXA-6", 101, NONE, false,
        "RXA-6 (administered amount) is missing (999 means unknown).";
    RXA_6_INVALID = "RXA-6-invalid", Vxu, W, Dose, "RXA-6", 102, INVALID_VALUE, false,
        "RXA-6 is not a number of zero or more.";
    RXA_7_MISSING = "RXA-7-missing", Vxu, W, Dose, "RXA-7", 101, NONE, false,
        "An amount is given (not 999) without its units (RXA-7).";
    RXA_9_MISSING = "RXA-9-missing", Vxu, W, Dose, "RXA-9", 101, NONE, false,
        "RXA-9 (information source: 00 administered, 01-08 historical) is missing on a completed or partial immunization (IZ-31).";
    RXA_9_UNKNOWN = "RXA-9-unknown", Vxu, W, Dose, "RXA-9", 103, NOT_IN_TABLE, false,
        "RXA-9 is not in table NIP001.";
    RXA_15_MISSING = "RXA-15-missing", Vxu, W, Dose, "RXA-15", 101, NONE, false,
        "The lot number is missing on an administered immunization.";
    RXA_15_INVALID = "RXA-15-invalid", Vxu, W, Dose, "RXA-15", 102, INVALID_VALUE, false,
        "The lot number is a placeholder (UNK, N/A, ...) or has characters lot numbers do not have.";
    RXA_16_INVALID = "RXA-16-invalid", Vxu, W, Dose, "RXA-16", 102, INVALID_DATE, false,
        "The lot expiration date is not a valid date.";
    RXA_16_EXPIRED = "RXA-16-expired", Vxu, W, Dose, "RXA-16", 102, ILLOGICAL_DATE, false,
        "The lot had expired on the administration date.";
    RXA_17_MISSING = "RXA-17-missing", Vxu, W, Dose, "RXA-17", 101, NONE, false,
        "The manufacturer (MVX) is missing on an administered immunization.";
    RXA_17_UNKNOWN = "RXA-17-unknown", Vxu, W, Dose, "RXA-17", 103, NOT_IN_TABLE, false,
        "The manufacturer code is not an MVX code the registry knows.";
    RXA_17_INACTIVE = "RXA-17-inactive", Vxu, W, Dose, "RXA-17", 102, ILLOGICAL_DATE, false,
        "The MVX code was already inactive on the administration date.";
    RXA_17_NDC_MISMATCH = "RXA-17-ndc-mismatch", Vxu, W, Dose, "RXA-17", 102, ILLOGICAL_VALUE, false,
        "The manufacturer is not the one CDC lists for the NDC in RXA-5.";
    RXA_17_VACCINE_MISMATCH = "RXA-17-vaccine-mismatch", Vxu, W, Dose, "RXA-17", 102, ILLOGICAL_VALUE, false,
        "The manufacturer is not one CDC's NDC lists name for the vaccine (CVX) given; checked when no NDC is sent.";
    RXA_18_MISSING = "RXA-18-missing", Vxu, W, Dose, "RXA-18", 101, NONE, false,
        "A refusal (RXA-20 = RE) without its reason in RXA-18 (IZ-32).";
    RXA_18_NOT_ALLOWED = "RXA-18-not-allowed", Vxu, W, Dose, "RXA-18", 102, ILLOGICAL_VALUE, false,
        "A refusal reason (RXA-18) on an immunization that is not a refusal (IZ-32).";
    RXA_18_UNKNOWN = "RXA-18-unknown", Vxu, W, Dose, "RXA-18", 103, NOT_IN_TABLE, false,
        "The refusal reason is not in table NIP002.";
    RXA_20_UNKNOWN = "RXA-20-unknown", Vxu, E, Dose, "RXA-20", 103, NOT_IN_TABLE, false,
        "RXA-20 (completion status) is not CP, PA, NA or RE, so it is not known whether the vaccine was given.";
    RXA_20_998_NOT_NA = "RXA-20-998-not-na", Vxu, W, Dose, "RXA-20", 102, ILLOGICAL_VALUE, false,
        "CVX 998 (no vaccine administered) without RXA-20 = NA (IZ-34).";
    RXA_21_INVALID = "RXA-21-invalid", Vxu, E, Dose, "RXA-21", 103, NOT_IN_TABLE, false,
        "RXA-21 (action code) is not A, U or D, so it is not known whether to record or delete the immunization.";
    RXR_1_MISSING = "RXR-1-missing", Vxu, W, Dose, "RXR-1", 101, NONE, false,
        "An RXR segment without the route (RXR-1).";
    RXR_1_UNKNOWN = "RXR-1-unknown", Vxu, W, Dose, "RXR-1", 103, NOT_IN_TABLE, false,
        "The route is not an NCIT (or legacy HL7 0162) route code.";
    RXR_1_DEPRECATED = "RXR-1-deprecated", Vxu, I, Dose, "RXR-1", 103, NONE, false,
        "The route code is deprecated (e.g. IN); send the NCIT code.";
    RXR_1_VACCINE = "RXR-1-vaccine", Vxu, W, Dose, "RXR-1", 102, ILLOGICAL_VALUE, false,
        "The route does not fit the vaccine (an oral or nasal vaccine injected, or an injectable one given by mouth or nose).";
    RXR_2_UNKNOWN = "RXR-2-unknown", Vxu, W, Dose, "RXR-2", 103, NOT_IN_TABLE, false,
        "The administration site is not in HL7 table 0163.";
    RXR_2_ROUTE = "RXR-2-route", Vxu, W, Dose, "RXR-2", 102, ILLOGICAL_VALUE, false,
        "The site does not fit the route (e.g. a thigh for a nasal spray, a naris for an injection).";
    OBX_1_SEQUENCE = "OBX-1-sequence", Vxu, W, Dose, "OBX-1", 102, INVALID_VALUE, false,
        "OBX-1 (set ID) does not number the observations 1, 2, 3, ... (IZ-20).";
    OBX_2_MISSING = "OBX-2-missing", Vxu, W, Dose, "OBX-2", 101, NONE, false,
        "OBX-2 (value type) is missing.";
    OBX_2_INVALID = "OBX-2-invalid", Vxu, W, Dose, "OBX-2", 103, NOT_IN_TABLE, false,
        "OBX-2 is not an HL7 value type (table 0125).";
    OBX_2_MISMATCH = "OBX-2-mismatch", Vxu, W, Dose, "OBX-2", 102, INVALID_VALUE, false,
        "OBX-2 is not the value type the guide gives for the observation in OBX-3 (e.g. CE for 64994-7, DT or TS for 29769-7).";
    OBX_3_MISSING = "OBX-3-missing", Vxu, W, Dose, "OBX-3", 101, NONE, false,
        "OBX-3 (observation identifier) is missing.";
    OBX_3_UNKNOWN = "OBX-3-unknown", Vxu, W, Dose, "OBX-3", 103, NOT_IN_TABLE, false,
        "OBX-3 is not one of the guide's LOINC observation codes; the observation is not used.";
    OBX_4_MISSING = "OBX-4-missing", Vxu, W, Dose, "OBX-4", 101, NONE, false,
        "OBX-4 (observation sub-ID, which groups related observations) is missing.";
    OBX_5_MISSING = "OBX-5-missing", Vxu, W, Dose, "OBX-5", 101, NONE, false,
        "OBX-5 (observation value) is missing.";
    OBX_5_INVALID = "OBX-5-invalid", Vxu, W, Dose, "OBX-5", 102, INVALID_VALUE, false,
        "OBX-5 is not a valid value of its type (a date for DT/TS, a number for NM).";
    OBX_5_VFC_UNKNOWN = "OBX-5-vfc-unknown", Vxu, W, Dose, "OBX-5", 103, NOT_IN_TABLE, false,
        "The VFC eligibility (64994-7) is not in HL7 table 0064 or the CDC/state extensions, or is the disallowed V00.";
    OBX_5_FUNDING_UNKNOWN = "OBX-5-funding-unknown", Vxu, W, Dose, "OBX-5", 103, NOT_IN_TABLE, false,
        "The vaccine funding source (30963-3) is not in CDC's funding source value set.";
    OBX_5_VIS_UNKNOWN = "OBX-5-vis-unknown", Vxu, W, Dose, "OBX-5", 103, NOT_IN_TABLE, false,
        "The VIS document barcode (69764-9) is not a known VIS edition, or the VIS vaccine type (30956-7) is not a known CVX code.";
    OBX_5_CODE_UNKNOWN = "OBX-5-code-unknown", Vxu, W, Dose, "OBX-5", 103, NOT_IN_TABLE, false,
        "An evidence of immunity (59784-9, 75505-8) or contraindication (30945-0) code that is not in the guide's value set.";
    OBX_11_INVALID = "OBX-11-invalid", Vxu, W, Dose, "OBX-11", 102, INVALID_VALUE, false,
        "OBX-11 (observation result status) is not F.";
    OBX_14_INVALID = "OBX-14-invalid", Vxu, W, Dose, "OBX-14", 102, INVALID_DATE, false,
        "OBX-14 (date of the observation) is not a valid date.";
    OBX_17_MISSING = "OBX-17-missing", Vxu, W, Dose, "OBX-17", 101, NONE, false,
        "A VFC eligibility observation (64994-7) without OBX-17 (how eligibility was captured: VXC40 or VXC41).";
    OBX_17_UNKNOWN = "OBX-17-unknown", Vxu, W, Dose, "OBX-17", 103, NOT_IN_TABLE, false,
        "OBX-17 of a VFC eligibility observation is not VXC40 or VXC41.";
    OBX_VFC_MISSING = "OBX-vfc-missing", Vxu, W, Dose, "RXA", 101, OBSERVATION_MISSING, false,
        "An administered immunization without its VFC eligibility observation (OBX 64994-7, IZ-23).";
    OBX_VIS_INCOMPLETE = "OBX-vis-incomplete", Vxu, W, Dose, "OBX", 101, OBSERVATION_MISSING, false,
        "A VIS group (rows sharing one OBX-4) lacks a row the guide requires: 69764-9 needs 29769-7; 30956-7 needs 29768-9 and 29769-7 (IZ-24).";
    OBX_VIS_MISSING = "OBX-vis-missing", Vxu, I, Dose, "RXA", 101, OBSERVATION_MISSING, false,
        "An administered immunization with no VIS observation.";
    OBX_VIS_VACCINE = "OBX-vis-vaccine", Vxu, I, Dose, "OBX-5", 102, ILLOGICAL_VALUE, false,
        "None of the VIS documents given is one CDC lists for the vaccine.";
    OBX_VIS_LATE = "OBX-vis-late", Vxu, I, Dose, "OBX-5", 102, ILLOGICAL_DATE, false,
        "The VIS was presented (29769-7) after the administration date.";

    // ---- History queries (QBP^Q11, Z34 and Z44); the header rules shared with VXU are above ----
    QPD_MISSING = "QPD-missing", Query, E, Envelope, "QPD", 100, NONE, true,
        "A query without a QPD segment: there is no query to run.";
    QPD_NAMED_QBP = "QPD-named-QBP", Query, E, Envelope, "QPD", 100, NONE, true,
        "The query parameters are in a segment named QBP (the message type) instead of QPD.";
    QPD_1_MISSING = "QPD-1-missing", Query, E, Envelope, "QPD-1", 101, NONE, true,
        "QPD-1 (the query name: Z34 or Z44) is missing.";
    QPD_1_UNKNOWN = "QPD-1-unknown", Query, E, Envelope, "QPD-1", 103, NOT_IN_TABLE, true,
        "QPD-1 names a query other than Z34 (immunization history) or Z44 (evaluated history and forecast).";
    QPD_1_SYSTEM = "QPD-1-system", Query, W, Note, "QPD-1.3", 103, NOT_IN_TABLE, false,
        "The query name's coding system (QPD-1.3) is not CDCPHINVS (or HL70471); the code decides.";
    MSH_21_UNKNOWN = "MSH-21-unknown", Query, W, Note, "MSH-21", 103, NONE, false,
        "A query's MSH-21 names no query profile (Z34 or Z44); QPD-1 decides.";
    MSH_21_MISMATCH = "MSH-21-mismatch", Query, W, Note, "MSH-21", 103, NONE, false,
        "A query's MSH-21 names one profile and QPD-1 the other; QPD-1 decides.";
    MSH_21_SYSTEM = "MSH-21-system", Query, W, Note, "MSH-21.2", 103, NOT_IN_TABLE, false,
        "A query's MSH-21 namespace (MSH-21.2) is not CDCPHINVS.";
    QPD_2_MISSING = "QPD-2-missing", Query, E, Patient, "QPD-2", 101, NONE, true,
        "QPD-2 (the query tag the answer echoes in QAK-1) is missing; the query is not run.";
    QPD_4_FAMILY_MISSING = "QPD-4-family-missing", Query, E, Patient, "QPD-4.1", 101, NONE, true,
        "The patient's last name (QPD-4.1) is missing; the query is not run.";
    QPD_4_FAMILY_INVALID = "QPD-4-family-invalid", Query, E, Patient, "QPD-4.1", 102, INVALID_VALUE, true,
        "The patient's last name (QPD-4.1) has no letters; the query is not run.";
    QPD_4_GIVEN_MISSING = "QPD-4-given-missing", Query, E, Patient, "QPD-4.2", 101, NONE, true,
        "The patient's first name (QPD-4.2) is missing; the query is not run.";
    QPD_4_GIVEN_INVALID = "QPD-4-given-invalid", Query, E, Patient, "QPD-4.2", 102, INVALID_VALUE, true,
        "The patient's first name (QPD-4.2) has no letters; the query is not run.";
    QPD_6_MISSING = "QPD-6-missing", Query, E, Patient, "QPD-6", 101, NONE, true,
        "The patient's birth date (QPD-6) is missing; the query is not run.";
    QPD_6_INVALID = "QPD-6-invalid", Query, E, Patient, "QPD-6", 102, INVALID_DATE, true,
        "The patient's birth date (QPD-6) is not a valid date of at least day precision; the query is not run.";
    QPD_6_FUTURE = "QPD-6-future", Query, E, Patient, "QPD-6", 102, ILLOGICAL_DATE, true,
        "The patient's birth date (QPD-6) is after the day the query was received; the query is not run.";
    QPD_7_INVALID = "QPD-7-invalid", Query, W, Note, "QPD-7", 103, NOT_IN_TABLE, false,
        "The patient's sex (QPD-7) is not F, M, U or X; it is not used for matching.";
    QPD_10_INVALID = "QPD-10-invalid", Query, W, Note, "QPD-10", 103, NOT_IN_TABLE, false,
        "The multiple birth indicator (QPD-10) is not Y or N; it is not used for matching.";
    QPD_11_INVALID = "QPD-11-invalid", Query, W, Note, "QPD-11", 102, INVALID_VALUE, false,
        "The birth order (QPD-11) is not a number from 1 to 255; it is not used for matching.";
    RCP_MISSING = "RCP-missing", Query, W, Note, "RCP", 100, NONE, false,
        "A query without an RCP segment; it is answered immediately with the registry's default number of candidates.";
    RCP_1_MISSING = "RCP-1-missing", Query, W, Note, "RCP-1", 101, NONE, false,
        "The query priority (RCP-1) is missing; the query is answered immediately (I).";
    RCP_1_UNSUPPORTED = "RCP-1-unsupported", Query, W, Note, "RCP-1", 103, NOT_IN_TABLE, false,
        "The query priority (RCP-1) is not I (immediate), the only one the registry answers; it answers immediately.";
    RCP_2_MISSING = "RCP-2-missing", Query, W, Note, "RCP-2", 101, NONE, false,
        "The most candidates to list (RCP-2) is missing; the registry's default is used.";
    RCP_2_UNITS = "RCP-2-units", Query, W, Note, "RCP-2.2", 103, NOT_IN_TABLE, false,
        "The unit of RCP-2 is not RD (records); the quantity is read as a number of records.";
    RCP_2_INVALID = "RCP-2-invalid", Query, W, Note, "RCP-2", 102, INVALID_VALUE, false,
        "RCP-2 is not a positive whole number; the registry's default is used.";
    RCP_2_CAPPED = "RCP-2-capped", Query, I, Note, "RCP-2", 0, NONE, false,
        "RCP-2 asks for more candidates than the registry lists at most; it lists its maximum.";

    // ---- The registry's decisions while applying a message ------------------------------------
    HL7_UNREADABLE = "HL7-unreadable", Registry, E, Envelope, "MSH", 100, NONE, true,
        "The text cannot be read as an HL7 v2 message (it does not start with a well-formed MSH segment); nothing of it is processed.";
    ORG_NOT_IN_PRODUCTION = "ORG-not-in-production", Registry, E, Envelope, "MSH-11", 202, NONE, true,
        "A production message (MSH-11 = P), VXU or QBP, from an organization still onboarding (izport org promote approves it for production).";
    MSH_10_REUSED = "MSH-10-reused", Registry, W, Envelope, "MSH-10", 205, NONE, false,
        "A VXU whose MSH-10 this organization used before for a different message; it is processed normally (set to E to refuse such messages).";
    CONSENT_MISSING = "CONSENT-missing", Registry, E, Patient, "PD1-12", 101, NONE, true,
        "Opt-in consent policy: a VXU for a patient without consent on file and none affirmed in the message (PD1-12 = N); nothing identifiable is kept.";
    CONSENT_DISASTER_ONLY = "CONSENT-disaster-only", Registry, E, Dose, "PD1-12", 101, NONE, true,
        "Opt-in consent policy without consent: a VXU's immunizations that are not disaster-related are not kept (the disaster-related ones are).";
    STORE_PATIENT_UNREADABLE = "STORE-patient-unreadable", Registry, E, Patient, "PID", 102, NONE, true,
        "A VXU whose patient passed validation but cannot be read for storage (name, birth date or identifier); nothing is kept.";
    STORE_DOSE_UNREADABLE = "STORE-dose-unreadable", Registry, E, Dose, "RXA", 102, NONE, true,
        "A VXU immunization that passed validation but cannot be read for storage (date, vaccine code or ORC-3); it is not kept.";
}

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

/// The severity `rule` has for an organization with these overrides; `None` when it is off.
/// Locked rules keep their default.
pub fn severity(rule: &RuleInfo, overrides: &HashMap<String, Level>) -> Option<Severity> {
    if rule.locked || overrides.is_empty() {
        return Some(rule.severity);
    }
    match overrides.get(rule.id) {
        Some(level) => level.severity(),
        None => Some(rule.severity),
    }
}

/// A finding of `rule` as the catalogue describes it (severity, scope, codes), at the level the
/// organization's `overrides` give it; `None` when the organization turned the rule off. A rule
/// raised to an error says so in its sentence.
pub(crate) fn finding(
    rule: R,
    overrides: &HashMap<String, Level>,
    location: ErrLocation,
    message: impl Into<String>,
) -> Option<Finding> {
    let info = rule.info();
    let severity = severity(info, overrides)?;
    let mut message = message.into();
    if severity == Severity::Error && info.severity != Severity::Error {
        message.push_str(" Your organization's settings make this an error.");
    }
    Some(Finding {
        rule: info.id,
        severity,
        scope: info.scope,
        location: Some(location),
        hl7_code: info.hl7_code,
        cdc_code: info.cdc_code,
        message,
        dose: None,
    })
}

/// A finding of `rule` at its default severity (rules no organization can change, or code with
/// no organization at hand).
pub(crate) fn default_finding(
    rule: R,
    location: ErrLocation,
    message: impl Into<String>,
) -> Finding {
    let info = rule.info();
    Finding {
        rule: info.id,
        severity: info.severity,
        scope: info.scope,
        location: Some(location),
        hl7_code: info.hl7_code,
        cdc_code: info.cdc_code,
        message: message.into(),
        dose: None,
    }
}

/// Every rule, in catalogue order.
pub fn rules() -> &'static [RuleInfo] {
    RULES
}

/// The rule with this id (exact match).
pub fn rule_info(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.id == id)
}

impl R {
    pub(crate) fn info(self) -> &'static RuleInfo {
        &RULES[self as usize]
    }
}
