//! The rule catalogue: every rule the validator can report, with its stable id, default severity,
//! scope, location, HL7 table 0357 code, CDC table 0533 code and description.
//!
//! The engine refers to rules through [`R`], whose discriminant is the rule's index in [`RULES`],
//! so a finding costs no lookup by name. Operators refer to rules by [`RuleInfo::id`].

use crate::hl7::Severity;
use crate::registry::finding::Scope;

/// One rule of the validator, as `izport rules` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// Stable identifier, e.g. `RXA-5-unknown-cvx`; overrides and the message log use it.
    pub id: &'static str,
    /// Severity unless the organization overrides it.
    pub severity: Severity,
    /// What an error of this rule rejects: the message (`Envelope`, AR), the patient and so the
    /// whole message (`Patient`), one immunization (`Dose`), or only the segment it names (`Note`).
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
    ($( $var:ident = $id:literal, $sev:ident, $scope:ident, $loc:literal, $hl7:literal, $cdc:expr, $locked:literal, $desc:literal; )*) => {
        /// The rules, by position in [`RULES`].
        #[allow(non_camel_case_types, clippy::upper_case_acronyms, clippy::enum_variant_names)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum R { $( $var ),* }

        /// Every rule, in the order `izport rules` lists them.
        pub(crate) static RULES: &[RuleInfo] = &[
            $( RuleInfo {
                id: $id,
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
    MSG_MULTIPLE = "MSG-multiple", E, Envelope, "MSH", 100, NONE, true,
        "More than one MSH segment: one request carries exactly one message.";
    MSH_1_INVALID = "MSH-1-invalid", W, Envelope, "MSH-1", 102, INVALID_VALUE, false,
        "MSH-1 (field separator) is not '|' (IZ-12).";
    MSH_2_INVALID = "MSH-2-invalid", W, Envelope, "MSH-2", 102, INVALID_VALUE, false,
        "MSH-2 (encoding characters) is not '^~\\&' (IZ-13).";
    MSH_HD_OID = "MSH-HD-oid", W, Envelope, "MSH-3..6", 102, INVALID_VALUE, false,
        "An application or facility (MSH-3 to MSH-6) gives a universal ID (HD.2) that is not an OID, or one whose type (HD.3) is not ISO (IZ-5, IZ-6).";
    MSH_7_MISSING = "MSH-7-missing", W, Envelope, "MSH-7", 101, NONE, false,
        "MSH-7 (date/time of message) is missing.";
    MSH_7_INVALID = "MSH-7-invalid", W, Envelope, "MSH-7", 102, INVALID_DATE, false,
        "MSH-7 is not a valid HL7 date/time.";
    MSH_7_PRECISION = "MSH-7-precision", W, Envelope, "MSH-7", 102, INVALID_DATE, false,
        "MSH-7 is less precise than the minute (IZ-14).";
    MSH_7_TIMEZONE = "MSH-7-timezone", W, Envelope, "MSH-7", 102, INVALID_DATE, false,
        "MSH-7 has no time zone offset.";
    MSH_7_FUTURE = "MSH-7-future", W, Envelope, "MSH-7", 102, ILLOGICAL_DATE, false,
        "MSH-7 is after today (one day of clock and time zone difference is allowed).";
    MSH_9_MISSING = "MSH-9-missing", E, Envelope, "MSH-9", 101, NONE, true,
        "MSH-9 (message type) is missing.";
    MSH_9_TYPE = "MSH-9-type", E, Envelope, "MSH-9", 200, NONE, true,
        "The message type is not VXU (a QBP query is answered by the query service, not here).";
    MSH_9_EVENT = "MSH-9-event", E, Envelope, "MSH-9.2", 201, NONE, true,
        "A VXU whose trigger event is not V04.";
    MSH_9_STRUCTURE = "MSH-9-structure", W, Envelope, "MSH-9.3", 102, INVALID_VALUE, false,
        "MSH-9.3 (message structure) is not VXU_V04 (IZ-17).";
    MSH_10_MISSING = "MSH-10-missing", E, Envelope, "MSH-10", 101, NONE, false,
        "MSH-10 (message control ID) is missing: the acknowledgement cannot be matched to the message, and resends cannot be recognized.";
    MSH_11_INVALID = "MSH-11-invalid", E, Envelope, "MSH-11", 202, NONE, true,
        "MSH-11 (processing ID) is missing or not P, T or D.";
    MSH_12_VERSION = "MSH-12-version", E, Envelope, "MSH-12", 203, NONE, false,
        "MSH-12 (version ID) is not 2.5.1 (IZ-15).";
    MSH_15_MISSING = "MSH-15-missing", W, Envelope, "MSH-15", 101, NONE, false,
        "MSH-15 (accept acknowledgment type) is missing.";
    MSH_15_INVALID = "MSH-15-invalid", W, Envelope, "MSH-15", 103, NOT_IN_TABLE, false,
        "MSH-15 is not one of AL, NE, ER, SU (HL7 table 0155).";
    MSH_16_MISSING = "MSH-16-missing", W, Envelope, "MSH-16", 101, NONE, false,
        "MSH-16 (application acknowledgment type) is missing.";
    MSH_16_INVALID = "MSH-16-invalid", W, Envelope, "MSH-16", 103, NOT_IN_TABLE, false,
        "MSH-16 is not one of AL, NE, ER, SU (IZ-16).";
    MSH_21_MISSING = "MSH-21-missing", W, Envelope, "MSH-21", 101, NONE, false,
        "MSH-21 (message profile identifier) is missing.";
    MSH_21_PROFILE = "MSH-21-profile", W, Envelope, "MSH-21", 103, NOT_IN_TABLE, false,
        "MSH-21 does not name the VXU profile Z22^CDCPHINVS.";
    SEG_UNEXPECTED = "SEG-unexpected", W, Note, "any segment", 100, NONE, false,
        "A segment that has no place in a VXU^V04 message; it is ignored.";
    SEG_ORDER = "SEG-order", W, Note, "any segment", 100, NONE, false,
        "A VXU segment out of its place (e.g. NK1 after the first ORC, OBX before any RXA, a second RXR); RXR, OBX, TQ1, TQ2 and NTE out of place are ignored, patient segments are still read.";

    // ---- Patient ------------------------------------------------------------------------------
    PID_MISSING = "PID-missing", E, Patient, "PID", 100, NONE, true,
        "The message has no PID segment.";
    PID_REPEATED = "PID-repeated", E, Patient, "PID", 100, NONE, true,
        "The message has more than one PID segment (one patient per message).";
    PID_1_INVALID = "PID-1-invalid", W, Patient, "PID-1", 102, INVALID_VALUE, false,
        "PID-1 (set ID) is not 1.";
    PID_3_MISSING = "PID-3-missing", E, Patient, "PID-3", 101, NONE, true,
        "No patient identifier in PID-3.";
    PID_3_TYPE_MISSING = "PID-3-type-missing", W, Patient, "PID-3.5", 101, NONE, false,
        "A patient identifier without its identifier type (CX.5, e.g. MR).";
    PID_3_TYPE_UNKNOWN = "PID-3-type-unknown", W, Patient, "PID-3.5", 103, NOT_IN_TABLE, false,
        "A patient identifier type (CX.5) not in HL7 table 0203.";
    PID_5_FAMILY_MISSING = "PID-5-family-missing", E, Patient, "PID-5.1", 101, NONE, true,
        "The patient's last name is missing.";
    PID_5_GIVEN_MISSING = "PID-5-given-missing", E, Patient, "PID-5.2", 101, NONE, true,
        "The patient's first name is missing.";
    PID_5_TYPE = "PID-5-type", W, Patient, "PID-5.7", 101, NONE, false,
        "No name in PID-5 is marked as the legal name (name type L).";
    PID_5_INVALID = "PID-5-invalid", W, Patient, "PID-5", 102, INVALID_VALUE, false,
        "A name contains digits or characters that do not occur in names.";
    PID_5_JUNK = "PID-5-junk", W, Patient, "PID-5", 102, INVALID_VALUE, false,
        "A name is a placeholder such as UNKNOWN, NONE or XXX.";
    PID_5_TEST = "PID-5-test", I, Patient, "PID-5", 102, ILLOGICAL_VALUE, false,
        "A name looks like a test patient (TEST) or a newborn placeholder (BABY BOY, INFANT).";
    PID_7_MISSING = "PID-7-missing", E, Patient, "PID-7", 101, NONE, true,
        "The patient's birth date is missing.";
    PID_7_INVALID = "PID-7-invalid", E, Patient, "PID-7", 102, INVALID_DATE, true,
        "The patient's birth date is not a valid date.";
    PID_7_PRECISION = "PID-7-precision", E, Patient, "PID-7", 102, INVALID_DATE, true,
        "The patient's birth date lacks the month or day (IZ-26: at least YYYYMMDD).";
    PID_7_FUTURE = "PID-7-future", E, Patient, "PID-7", 102, ILLOGICAL_DATE, false,
        "The patient's birth date is in the future.";
    PID_7_TOO_OLD = "PID-7-too-old", E, Patient, "PID-7", 102, ILLOGICAL_DATE, false,
        "The patient's birth date is more than 120 years ago.";
    PID_8_MISSING = "PID-8-missing", W, Patient, "PID-8", 101, NONE, false,
        "The patient's sex is missing.";
    PID_8_INVALID = "PID-8-invalid", W, Patient, "PID-8", 103, NOT_IN_TABLE, false,
        "The patient's sex is not F, M, U or X.";
    PID_10_UNKNOWN = "PID-10-unknown", W, Patient, "PID-10", 103, NOT_IN_TABLE, false,
        "A race code that is not in CDC's race and ethnicity code set (CDCREC).";
    PID_10_DEPRECATED = "PID-10-deprecated", I, Patient, "PID-10", 103, NONE, false,
        "A race code that is recognized but deprecated (HL7 0005 letters, or an ethnicity code sent as a race).";
    PID_11_ZIP = "PID-11-zip", W, Patient, "PID-11.5", 102, INVALID_VALUE, false,
        "A US address whose ZIP code is not 5 or 9 digits.";
    PID_11_STATE = "PID-11-state", W, Patient, "PID-11.4", 103, NOT_IN_TABLE, false,
        "A US address whose state is not a USPS state or territory code.";
    PID_13_INVALID = "PID-13-invalid", W, Patient, "PID-13", 102, INVALID_VALUE, false,
        "A phone number or e-mail address not in the guide's format (^PRN^PH^^^area^number, ^NET^Internet^address).";
    PID_22_UNKNOWN = "PID-22-unknown", W, Patient, "PID-22", 103, NOT_IN_TABLE, false,
        "An ethnicity code that is not in CDCREC.";
    PID_22_DEPRECATED = "PID-22-deprecated", I, Patient, "PID-22", 103, NONE, false,
        "An ethnicity code that is recognized but deprecated (HL7 0189 letters).";
    PID_24_INVALID = "PID-24-invalid", W, Patient, "PID-24", 103, NOT_IN_TABLE, false,
        "PID-24 (multiple birth indicator) is not Y or N.";
    PID_25_MISSING = "PID-25-missing", W, Patient, "PID-25", 101, NONE, false,
        "PID-24 says multiple birth but PID-25 (birth order) is missing.";
    PID_25_INVALID = "PID-25-invalid", W, Patient, "PID-25", 102, ILLOGICAL_VALUE, false,
        "PID-25 (birth order) is not a number from 1 to 9, or is above 1 for a single birth.";
    PID_29_INVALID = "PID-29-invalid", W, Patient, "PID-29", 102, INVALID_DATE, false,
        "The patient's death date is not a valid date.";
    PID_29_ILLOGICAL = "PID-29-illogical", W, Patient, "PID-29", 102, ILLOGICAL_DATE, false,
        "The patient's death date is in the future or before the birth date.";
    PID_30_INVALID = "PID-30-invalid", W, Patient, "PID-30", 103, NOT_IN_TABLE, false,
        "PID-30 (death indicator) is not Y or N.";
    PID_30_INCONSISTENT = "PID-30-inconsistent", W, Patient, "PID-30", 102, ILLOGICAL_VALUE, false,
        "A death date is given but PID-30 does not say Y.";
    PD1_REPEATED = "PD1-repeated", W, Patient, "PD1", 100, NONE, false,
        "More than one PD1 segment; only the first is read.";
    PD1_11_UNKNOWN = "PD1-11-unknown", W, Patient, "PD1-11", 103, NOT_IN_TABLE, false,
        "PD1-11 (publicity code) is not in HL7 table 0215.";
    PD1_12_INVALID = "PD1-12-invalid", W, Patient, "PD1-12", 103, NOT_IN_TABLE, false,
        "PD1-12 (protection indicator) is not Y or N.";
    PD1_13_MISSING = "PD1-13-missing", W, Patient, "PD1-13", 101, NONE, false,
        "PD1-12 is valued but PD1-13 (its effective date) is missing.";
    PD1_13_INVALID = "PD1-13-invalid", W, Patient, "PD1-13", 102, INVALID_DATE, false,
        "PD1-13 is not a valid date.";
    PD1_16_UNKNOWN = "PD1-16-unknown", W, Patient, "PD1-16", 103, NOT_IN_TABLE, false,
        "PD1-16 (immunization registry status) is not in HL7 table 0441, or is the disallowed O.";
    PD1_17_MISSING = "PD1-17-missing", W, Patient, "PD1-17", 101, NONE, false,
        "PD1-16 is valued but PD1-17 (its effective date) is missing.";
    PD1_17_INVALID = "PD1-17-invalid", W, Patient, "PD1-17", 102, INVALID_DATE, false,
        "PD1-17 is not a valid date.";
    PD1_18_MISSING = "PD1-18-missing", W, Patient, "PD1-18", 101, NONE, false,
        "PD1-11 is valued but PD1-18 (its effective date) is missing.";
    PD1_18_INVALID = "PD1-18-invalid", W, Patient, "PD1-18", 102, INVALID_DATE, false,
        "PD1-18 is not a valid date.";
    NK1_1_INVALID = "NK1-1-invalid", W, Patient, "NK1-1", 102, INVALID_VALUE, false,
        "NK1-1 (set ID) is not the segment's position among the NK1 segments (1, 2, ...).";
    NK1_2_MISSING = "NK1-2-missing", W, Patient, "NK1-2", 101, NONE, false,
        "The responsible person's last or first name (NK1-2) is missing.";
    NK1_3_MISSING = "NK1-3-missing", W, Patient, "NK1-3", 101, NONE, false,
        "NK1-3 (relationship to the patient) is missing.";
    NK1_3_UNKNOWN = "NK1-3-unknown", W, Patient, "NK1-3", 103, NOT_IN_TABLE, false,
        "NK1-3 is not in HL7 table 0063.";
    NK1_3_NOT_GUARDIAN = "NK1-3-not-guardian", I, Patient, "NK1-3", 103, NONE, false,
        "NK1-3 is a relationship the registry does not use for a responsible party (e.g. employer, friend).";
    NK1_5_INVALID = "NK1-5-invalid", W, Patient, "NK1-5", 102, INVALID_VALUE, false,
        "A responsible person's phone number or e-mail address not in the guide's format.";
    NK1_MINOR_MISSING = "NK1-minor-missing", W, Patient, "NK1", 101, NONE, false,
        "A patient under 18 without a responsible person (an NK1 with a name and a parent, guardian or care giver relationship).";

    // ---- Immunizations --------------------------------------------------------------------------
    ORC_NO_RXA = "ORC-no-RXA", W, Note, "ORC", 100, NONE, false,
        "An ORC segment not followed by its RXA; the order is ignored.";
    RXA_NO_ORC = "RXA-no-ORC", E, Dose, "RXA", 100, NONE, true,
        "An RXA segment not preceded by its own ORC, so the immunization has no filler order number.";
    ORC_1_INVALID = "ORC-1-invalid", W, Dose, "ORC-1", 102, INVALID_VALUE, false,
        "ORC-1 (order control) is not RE (IZ-25).";
    ORC_3_MISSING = "ORC-3-missing", E, Dose, "ORC-3", 101, NONE, true,
        "ORC-3 (filler order number), the sender's own ID for the immunization, is missing.";
    ORC_3_PLACEHOLDER = "ORC-3-placeholder", E, Dose, "ORC-3", 102, INVALID_VALUE, false,
        "ORC-3 is the placeholder 9999 on an immunization that is neither CVX 998, a refusal nor not administered.";
    ORC_3_DUPLICATE = "ORC-3-duplicate", E, Dose, "ORC-3", 102, ILLOGICAL_VALUE, false,
        "Two immunizations in one message share the same ORC-3; the later one is rejected.";
    RXA_1_INVALID = "RXA-1-invalid", W, Dose, "RXA-1", 102, INVALID_VALUE, false,
        "RXA-1 (give sub-ID counter) is not 0 (IZ-28).";
    RXA_2_INVALID = "RXA-2-invalid", W, Dose, "RXA-2", 102, INVALID_VALUE, false,
        "RXA-2 (administration sub-ID counter) is not 1 (IZ-29).";
    RXA_3_MISSING = "RXA-3-missing", E, Dose, "RXA-3", 101, NONE, true,
        "The administration date is missing.";
    RXA_3_INVALID = "RXA-3-invalid", E, Dose, "RXA-3", 102, INVALID_DATE, true,
        "The administration date is not a valid date of at least day precision.";
    RXA_3_FUTURE = "RXA-3-future", E, Dose, "RXA-3", 102, ILLOGICAL_DATE, false,
        "The administration date is in the future (one day of time zone difference is allowed).";
    RXA_3_BEFORE_BIRTH = "RXA-3-before-birth", E, Dose, "RXA-3", 102, ILLOGICAL_DATE, false,
        "The administration date is before the patient's birth date.";
    RXA_3_AFTER_DEATH = "RXA-3-after-death", E, Dose, "RXA-3", 102, ILLOGICAL_DATE, false,
        "The administration date is after the patient's death date.";
    RXA_3_AFTER_MESSAGE = "RXA-3-after-message", W, Dose, "RXA-3", 102, ILLOGICAL_DATE, false,
        "The administration date is after the message date (MSH-7).";
    RXA_4_MISMATCH = "RXA-4-mismatch", W, Dose, "RXA-4", 102, ILLOGICAL_VALUE, false,
        "RXA-4 (end of administration) is valued with a date other than RXA-3.";
    RXA_5_MISSING = "RXA-5-missing", E, Dose, "RXA-5", 101, NONE, true,
        "The vaccine code is missing.";
    RXA_5_UNKNOWN_CVX = "RXA-5-unknown-cvx", E, Dose, "RXA-5", 103, NOT_IN_TABLE, true,
        "The vaccine code is not a CVX code the registry knows.";
    RXA_5_UNKNOWN_NDC = "RXA-5-unknown-ndc", E, Dose, "RXA-5", 103, NOT_IN_TABLE, true,
        "The vaccine NDC is not one the registry knows (CDC's unit-of-use and unit-of-sale lists).";
    RXA_5_UNKNOWN_CPT = "RXA-5-unknown-cpt", E, Dose, "RXA-5", 103, NOT_IN_TABLE, true,
        "The vaccine CPT code is not one CDC maps to a CVX code.";
    RXA_5_CODE_SYSTEM = "RXA-5-code-system", E, Dose, "RXA-5.3", 103, NOT_IN_TABLE, true,
        "The vaccine is coded in a system other than CVX, NDC or CPT (and no usable code is given beside it).";
    RXA_5_SYSTEM_MISSING = "RXA-5-system-missing", W, Dose, "RXA-5.3", 101, NONE, false,
        "The vaccine code's coding system (CE.3) is blank; the code was read by its shape.";
    RXA_5_CONFLICT = "RXA-5-conflict", W, Dose, "RXA-5.4", 103, ILLOGICAL_VALUE, false,
        "The two codes in RXA-5 name different vaccines; the CVX code (else the first) is used.";
    RXA_5_ALTERNATE_UNKNOWN = "RXA-5-alternate-unknown", W, Dose, "RXA-5", 103, NOT_IN_TABLE, false,
        "One of the two codes in RXA-5 is an unknown CVX, NDC or CPT code; the other one is used.";
    RXA_5_NDC_AMBIGUOUS = "RXA-5-ndc-ambiguous", W, Dose, "RXA-5", 102, ILLOGICAL_VALUE, false,
        "The NDC or CPT code maps to several CVX codes and no CVX code tells which; the lowest is used.";
    RXA_5_CVX_NOT_USABLE = "RXA-5-cvx-not-usable", E, Dose, "RXA-5", 103, INVALID_VALUE, false,
        "The CVX code exists but was never used for a vaccine (status Never Active).";
    RXA_5_CVX_INACTIVE = "RXA-5-cvx-inactive", W, Dose, "RXA-5", 102, ILLOGICAL_DATE, false,
        "The CVX code was already inactive on the administration date (its record last changed before that date).";
    RXA_5_NON_SPECIFIC = "RXA-5-non-specific", W, Dose, "RXA-5", 102, ILLOGICAL_VALUE, false,
        "An 'unspecified formulation' CVX code on an administered (RXA-9 = 00) immunization.";
    RXA_5_NON_US = "RXA-5-non-us", W, Dose, "RXA-5", 102, ILLOGICAL_VALUE, false,
        "A vaccine not licensed in the US on an administered (RXA-9 = 00) immunization.";
    RXA_6_MISSING = "RXA-6-missing", W, Dose, "RXA-6", 101, NONE, false,
        "RXA-6 (administered amount) is missing (999 means unknown).";
    RXA_6_INVALID = "RXA-6-invalid", W, Dose, "RXA-6", 102, INVALID_VALUE, false,
        "RXA-6 is not a number of zero or more.";
    RXA_7_MISSING = "RXA-7-missing", W, Dose, "RXA-7", 101, NONE, false,
        "An amount is given (not 999) without its units (RXA-7).";
    RXA_9_MISSING = "RXA-9-missing", W, Dose, "RXA-9", 101, NONE, false,
        "RXA-9 (information source: 00 administered, 01-08 historical) is missing on a completed or partial immunization (IZ-31).";
    RXA_9_UNKNOWN = "RXA-9-unknown", W, Dose, "RXA-9", 103, NOT_IN_TABLE, false,
        "RXA-9 is not in table NIP001.";
    RXA_15_MISSING = "RXA-15-missing", W, Dose, "RXA-15", 101, NONE, false,
        "The lot number is missing on an administered immunization.";
    RXA_15_INVALID = "RXA-15-invalid", W, Dose, "RXA-15", 102, INVALID_VALUE, false,
        "The lot number is a placeholder (UNK, N/A, ...) or has characters lot numbers do not have.";
    RXA_16_INVALID = "RXA-16-invalid", W, Dose, "RXA-16", 102, INVALID_DATE, false,
        "The lot expiration date is not a valid date.";
    RXA_16_EXPIRED = "RXA-16-expired", W, Dose, "RXA-16", 102, ILLOGICAL_DATE, false,
        "The lot had expired on the administration date.";
    RXA_17_MISSING = "RXA-17-missing", W, Dose, "RXA-17", 101, NONE, false,
        "The manufacturer (MVX) is missing on an administered immunization.";
    RXA_17_UNKNOWN = "RXA-17-unknown", W, Dose, "RXA-17", 103, NOT_IN_TABLE, false,
        "The manufacturer code is not an MVX code the registry knows.";
    RXA_17_INACTIVE = "RXA-17-inactive", W, Dose, "RXA-17", 102, ILLOGICAL_DATE, false,
        "The MVX code was already inactive on the administration date.";
    RXA_17_NDC_MISMATCH = "RXA-17-ndc-mismatch", W, Dose, "RXA-17", 102, ILLOGICAL_VALUE, false,
        "The manufacturer is not the one CDC lists for the NDC in RXA-5.";
    RXA_17_VACCINE_MISMATCH = "RXA-17-vaccine-mismatch", W, Dose, "RXA-17", 102, ILLOGICAL_VALUE, false,
        "The manufacturer is not one CDC's NDC lists name for the vaccine (CVX) given; checked when no NDC is sent.";
    RXA_18_MISSING = "RXA-18-missing", W, Dose, "RXA-18", 101, NONE, false,
        "A refusal (RXA-20 = RE) without its reason in RXA-18 (IZ-32).";
    RXA_18_NOT_ALLOWED = "RXA-18-not-allowed", W, Dose, "RXA-18", 102, ILLOGICAL_VALUE, false,
        "A refusal reason (RXA-18) on an immunization that is not a refusal (IZ-32).";
    RXA_18_UNKNOWN = "RXA-18-unknown", W, Dose, "RXA-18", 103, NOT_IN_TABLE, false,
        "The refusal reason is not in table NIP002.";
    RXA_20_UNKNOWN = "RXA-20-unknown", E, Dose, "RXA-20", 103, NOT_IN_TABLE, false,
        "RXA-20 (completion status) is not CP, PA, NA or RE, so it is not known whether the vaccine was given.";
    RXA_20_998_NOT_NA = "RXA-20-998-not-na", W, Dose, "RXA-20", 102, ILLOGICAL_VALUE, false,
        "CVX 998 (no vaccine administered) without RXA-20 = NA (IZ-34).";
    RXA_21_INVALID = "RXA-21-invalid", E, Dose, "RXA-21", 103, NOT_IN_TABLE, false,
        "RXA-21 (action code) is not A, U or D, so it is not known whether to record or delete the immunization.";
    RXR_1_MISSING = "RXR-1-missing", W, Dose, "RXR-1", 101, NONE, false,
        "An RXR segment without the route (RXR-1).";
    RXR_1_UNKNOWN = "RXR-1-unknown", W, Dose, "RXR-1", 103, NOT_IN_TABLE, false,
        "The route is not an NCIT (or legacy HL7 0162) route code.";
    RXR_1_DEPRECATED = "RXR-1-deprecated", I, Dose, "RXR-1", 103, NONE, false,
        "The route code is deprecated (e.g. IN); send the NCIT code.";
    RXR_1_VACCINE = "RXR-1-vaccine", W, Dose, "RXR-1", 102, ILLOGICAL_VALUE, false,
        "The route does not fit the vaccine (an oral or nasal vaccine injected, or an injectable one given by mouth or nose).";
    RXR_2_UNKNOWN = "RXR-2-unknown", W, Dose, "RXR-2", 103, NOT_IN_TABLE, false,
        "The administration site is not in HL7 table 0163.";
    RXR_2_ROUTE = "RXR-2-route", W, Dose, "RXR-2", 102, ILLOGICAL_VALUE, false,
        "The site does not fit the route (e.g. a thigh for a nasal spray, a naris for an injection).";
    OBX_1_SEQUENCE = "OBX-1-sequence", W, Dose, "OBX-1", 102, INVALID_VALUE, false,
        "OBX-1 (set ID) does not number the observations 1, 2, 3, ... (IZ-20).";
    OBX_2_MISSING = "OBX-2-missing", W, Dose, "OBX-2", 101, NONE, false,
        "OBX-2 (value type) is missing.";
    OBX_2_INVALID = "OBX-2-invalid", W, Dose, "OBX-2", 103, NOT_IN_TABLE, false,
        "OBX-2 is not an HL7 value type (table 0125).";
    OBX_2_MISMATCH = "OBX-2-mismatch", W, Dose, "OBX-2", 102, INVALID_VALUE, false,
        "OBX-2 is not the value type the guide gives for the observation in OBX-3 (e.g. CE for 64994-7, DT or TS for 29769-7).";
    OBX_3_MISSING = "OBX-3-missing", W, Dose, "OBX-3", 101, NONE, false,
        "OBX-3 (observation identifier) is missing.";
    OBX_3_UNKNOWN = "OBX-3-unknown", W, Dose, "OBX-3", 103, NOT_IN_TABLE, false,
        "OBX-3 is not one of the guide's LOINC observation codes; the observation is not used.";
    OBX_4_MISSING = "OBX-4-missing", W, Dose, "OBX-4", 101, NONE, false,
        "OBX-4 (observation sub-ID, which groups related observations) is missing.";
    OBX_5_MISSING = "OBX-5-missing", W, Dose, "OBX-5", 101, NONE, false,
        "OBX-5 (observation value) is missing.";
    OBX_5_INVALID = "OBX-5-invalid", W, Dose, "OBX-5", 102, INVALID_VALUE, false,
        "OBX-5 is not a valid value of its type (a date for DT/TS, a number for NM).";
    OBX_5_VFC_UNKNOWN = "OBX-5-vfc-unknown", W, Dose, "OBX-5", 103, NOT_IN_TABLE, false,
        "The VFC eligibility (64994-7) is not in HL7 table 0064 or the CDC/state extensions, or is the disallowed V00.";
    OBX_5_FUNDING_UNKNOWN = "OBX-5-funding-unknown", W, Dose, "OBX-5", 103, NOT_IN_TABLE, false,
        "The vaccine funding source (30963-3) is not in CDC's funding source value set.";
    OBX_5_VIS_UNKNOWN = "OBX-5-vis-unknown", W, Dose, "OBX-5", 103, NOT_IN_TABLE, false,
        "The VIS document barcode (69764-9) is not a known VIS edition, or the VIS vaccine type (30956-7) is not a known CVX code.";
    OBX_5_CODE_UNKNOWN = "OBX-5-code-unknown", W, Dose, "OBX-5", 103, NOT_IN_TABLE, false,
        "An evidence of immunity (59784-9, 75505-8) or contraindication (30945-0) code that is not in the guide's value set.";
    OBX_11_INVALID = "OBX-11-invalid", W, Dose, "OBX-11", 102, INVALID_VALUE, false,
        "OBX-11 (observation result status) is not F.";
    OBX_14_INVALID = "OBX-14-invalid", W, Dose, "OBX-14", 102, INVALID_DATE, false,
        "OBX-14 (date of the observation) is not a valid date.";
    OBX_17_MISSING = "OBX-17-missing", W, Dose, "OBX-17", 101, NONE, false,
        "A VFC eligibility observation (64994-7) without OBX-17 (how eligibility was captured: VXC40 or VXC41).";
    OBX_17_UNKNOWN = "OBX-17-unknown", W, Dose, "OBX-17", 103, NOT_IN_TABLE, false,
        "OBX-17 of a VFC eligibility observation is not VXC40 or VXC41.";
    OBX_VFC_MISSING = "OBX-vfc-missing", W, Dose, "RXA", 101, OBSERVATION_MISSING, false,
        "An administered immunization without its VFC eligibility observation (OBX 64994-7, IZ-23).";
    OBX_VIS_INCOMPLETE = "OBX-vis-incomplete", W, Dose, "OBX", 101, OBSERVATION_MISSING, false,
        "A VIS group (rows sharing one OBX-4) lacks a row the guide requires: 69764-9 needs 29769-7; 30956-7 needs 29768-9 and 29769-7 (IZ-24).";
    OBX_VIS_MISSING = "OBX-vis-missing", I, Dose, "RXA", 101, OBSERVATION_MISSING, false,
        "An administered immunization with no VIS observation.";
    OBX_VIS_VACCINE = "OBX-vis-vaccine", I, Dose, "OBX-5", 102, ILLOGICAL_VALUE, false,
        "None of the VIS documents given is one CDC lists for the vaccine.";
    OBX_VIS_LATE = "OBX-vis-late", I, Dose, "OBX-5", 102, ILLOGICAL_DATE, false,
        "The VIS was presented (29769-7) after the administration date.";
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
