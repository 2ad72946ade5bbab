//! QBP^Q11 (profiles Z34 and Z44): reading and validating an immunization history query.
//!
//! [`parse_query`] checks the header (MSH-9, MSH-11, MSH-12, MSH-21), the query name (QPD-1)
//! and the demographics the registry matches on, and returns either a [`QueryRequest`] (with
//! any warnings) or the findings that reject the query. Findings with scope `Envelope` make
//! the answer AR (the message is not a query this registry answers); `Patient` makes it AE
//! (the query cannot be run); warnings leave it AA.
//!
//! | problem | severity | ERR-3 | ERR-2 |
//! |---|---|---|---|
//! | MSH-9 not `QBP^Q11` | E (AR) | 200 / 201 | `MSH^1^9` |
//! | MSH-11 not P/T/D, MSH-12 not 2.5.1 | E (AR) | 202 / 203 | `MSH^1^11`, `MSH^1^12` |
//! | no QPD (a `QBP` segment instead is named as such) | E (AR) | 100 | `QPD^1` |
//! | QPD-1 missing / not Z34 or Z44 | E (AR) | 101 / 103 | `QPD^1^1^1^1` |
//! | QPD-1.3 or MSH-21.2 not CDCPHINVS (e.g. `CDCPHHINVS`) | W | 103 | `…^1^3` / `MSH^1^21^n^2` |
//! | MSH-21 missing, unknown, or not the QPD-1 profile | W | 101 / 103 | `MSH^1^21` |
//! | QPD-2 (query tag) missing | E (AE) | 101 | `QPD^1^2` |
//! | QPD-4.1 / QPD-4.2 missing / without a letter | E (AE) | 101 / 102 | `QPD^1^4^1^1`, `QPD^1^4^1^2` |
//! | QPD-6 missing / invalid / in the future | E (AE) | 101 / 102 | `QPD^1^6` |
//! | QPD-7, QPD-10, QPD-11 not valid | W (ignored) | 103 / 102 | `QPD^1^7`, … |
//! | no RCP, RCP-1 not `I`, RCP-2 missing/invalid | W (defaults used) | 100 / 101 / 102 / 103 | `RCP^1…` |
//! | RCP-2 above the registry's maximum | I (capped) | 0 | `RCP^1^2^1^1` |

use std::borrow::Cow;

use crate::hl7::{parse_dtm, Delimiters, DtmPrecision, ErrLocation, Message, Segment};
use crate::registry::finding::{cdc_code, hl7_code, Finding, Scope};

use super::model::{AddressView, PatientId, PhoneView, QueryProfile};
use crate::date::Date;

/// The registry's limits on candidate lists (RCP-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Used when RCP-2 is missing or unreadable.
    pub default_max_candidates: u32,
    /// RCP-2 is capped at this.
    pub max_candidates: u32,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            default_max_candidates: 10,
            max_candidates: 20,
        }
    }
}

/// A query that passed validation: what to look for and how to echo it.
#[derive(Clone, Debug)]
pub struct QueryRequest {
    pub profile: QueryProfile,
    /// QPD-2, decoded; echoed in QAK-1.
    pub query_tag: String,
    /// QPD-1 as sent (encoded with `delimiters`); echoed in QAK-3.
    pub query_name_raw: String,
    /// The whole QPD segment as sent (encoded with `delimiters`); echoed after QAK.
    pub qpd_raw: String,
    /// The query's delimiters (the raw texts above are encoded with them).
    pub delimiters: Delimiters,
    /// QPD-3: identifiers with a value, in order.
    pub identifiers: Vec<PatientId>,
    /// QPD-4.
    pub family: String,
    pub given: String,
    pub middle: Option<String>,
    /// QPD-5.1.
    pub mother_maiden_family: Option<String>,
    /// QPD-6.
    pub birth_date: Date,
    /// QPD-7, upper case F, M, U or X (anything else is dropped with a warning).
    pub sex: Option<String>,
    /// QPD-8.
    pub address: Option<AddressView>,
    /// QPD-9.
    pub phone: Option<PhoneView>,
    /// QPD-10.
    pub multiple_birth: Option<bool>,
    /// QPD-11.
    pub birth_order: Option<u8>,
    /// RCP-2 after defaults and the cap.
    pub max_candidates: u32,
    /// Warnings and notes to report in the RSP's ERR segments.
    pub warnings: Vec<Finding>,
}

fn text(v: Option<Cow<'_, str>>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn envelope(rule: &'static str, location: ErrLocation, code: u16, message: String) -> Finding {
    Finding::error(rule, Scope::Envelope, location, code, message)
}

fn query_error(rule: &'static str, location: ErrLocation, code: u16, message: String) -> Finding {
    Finding::error(rule, Scope::Patient, location, code, message)
}

/// Validates a QBP^Q11 and reads the query. `today` (UTC) bounds the birth date. `Err` holds
/// every finding (errors and the warnings found before giving up); `Ok` carries its warnings
/// in [`QueryRequest::warnings`].
pub fn parse_query(
    msg: &Message<'_>,
    limits: &QueryLimits,
    today: Date,
) -> Result<QueryRequest, Vec<Finding>> {
    let mut findings = header_findings(msg);
    let Some(qpd) = msg.segment("QPD") else {
        findings.push(missing_qpd(msg));
        return Err(findings);
    };

    let profile = query_profile(&qpd, &mut findings);
    if let Some(p) = profile {
        check_msh21(msg, p, &mut findings);
    }

    let query_tag = text(qpd.get(2, 1));
    if query_tag.is_none() {
        findings.push(query_error(
            "QPD-2-missing",
            ErrLocation::field("QPD", 1, 2),
            hl7_code::REQUIRED_FIELD_MISSING,
            "The query tag (QPD-2) is missing; the query was not run. Send a tag, which the \
             answer echoes in QAK-1."
                .into(),
        ));
    }

    let name = qpd.field(4).repetition(1);
    let family = required_name(&name.component(1).value(), 1, &mut findings);
    let given = required_name(&name.component(2).value(), 2, &mut findings);
    let birth_date = birth_date(&qpd, today, &mut findings);

    let sex = sex(&qpd, &mut findings);
    let multiple_birth = multiple_birth(&qpd, &mut findings);
    let birth_order = birth_order(&qpd, &mut findings);
    let max_candidates = rcp(msg, limits, &mut findings);

    let (Some(profile), Some(query_tag), Some(family), Some(given), Some(birth_date)) =
        (profile, query_tag, family, given, birth_date)
    else {
        return Err(findings);
    };
    if findings.iter().any(Finding::is_error) {
        return Err(findings);
    }
    Ok(QueryRequest {
        profile,
        query_tag,
        query_name_raw: qpd.field(1).raw().to_string(),
        qpd_raw: qpd.raw().to_string(),
        delimiters: msg.delimiters(),
        identifiers: identifiers(&qpd),
        family,
        given,
        middle: text(Some(name.component(3).value())),
        mother_maiden_family: text(qpd.get(5, 1)),
        birth_date,
        sex,
        address: address(&qpd),
        phone: phone(&qpd),
        multiple_birth,
        birth_order,
        max_candidates,
        warnings: findings,
    })
}

/// MSH-9, MSH-11 and MSH-12: whether this is a QBP^Q11 this registry reads.
fn header_findings(msg: &Message<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let msh = msg.msh();
    let get = |field, comp| text(msh.get(field, comp)).unwrap_or_default();
    let (kind, event) = (get(9, 1), get(9, 2));
    if kind.is_empty() {
        findings.push(envelope(
            "MSH-9-missing",
            ErrLocation::field("MSH", 1, 9),
            hl7_code::REQUIRED_FIELD_MISSING,
            "Message type (MSH-9) is missing; a query must be QBP^Q11^QBP_Q11.".into(),
        ));
    } else if !kind.eq_ignore_ascii_case("QBP") {
        findings.push(envelope(
            "MSH-9-type",
            ErrLocation::field("MSH", 1, 9),
            hl7_code::UNSUPPORTED_MESSAGE_TYPE,
            format!("Message type (MSH-9) '{kind}' is not a query; send QBP^Q11^QBP_Q11."),
        ));
    } else if !event.eq_ignore_ascii_case("Q11") {
        findings.push(envelope(
            "MSH-9-event",
            ErrLocation::field("MSH", 1, 9).with_component(2),
            hl7_code::UNSUPPORTED_EVENT,
            format!("Unsupported query event '{event}' (MSH-9.2); only QBP^Q11 is answered."),
        ));
    }
    let processing = get(11, 1);
    if !matches!(processing.as_str(), "P" | "T" | "D") {
        findings.push(envelope(
            "MSH-11-invalid",
            ErrLocation::field("MSH", 1, 11),
            hl7_code::UNSUPPORTED_PROCESSING_ID,
            format!("Processing ID (MSH-11) '{processing}' is not P, T or D."),
        ));
    }
    let version = get(12, 1);
    if version != "2.5.1" {
        findings.push(envelope(
            "MSH-12-version",
            ErrLocation::field("MSH", 1, 12),
            hl7_code::UNSUPPORTED_VERSION,
            format!("Unsupported HL7 version '{version}' (MSH-12); send version 2.5.1."),
        ));
    }
    findings
}

fn missing_qpd(msg: &Message<'_>) -> Finding {
    let misnamed = msg.segments().skip(1).any(|s| s.id() == "QBP");
    let message = if misnamed {
        "The query parameters are in a segment named QBP; QBP is the message type (MSH-9), \
         the segment must be named QPD. The query was not run."
    } else {
        "The message has no QPD segment, so there is no query to run."
    };
    envelope(
        if misnamed {
            "QPD-named-QBP"
        } else {
            "QPD-missing"
        },
        ErrLocation::segment("QPD", 1),
        hl7_code::SEGMENT_SEQUENCE,
        message.into(),
    )
}

fn is_cdc_system(system: &str) -> bool {
    // HL70471 (the HL7 query-name table) is what older guides and many systems send.
    system.is_empty()
        || system.eq_ignore_ascii_case("CDCPHINVS")
        || system.eq_ignore_ascii_case("HL70471")
}

/// QPD-1: the code decides; text and system variations are tolerated, an unknown system is
/// reported as a warning.
fn query_profile(qpd: &Segment<'_, '_>, findings: &mut Vec<Finding>) -> Option<QueryProfile> {
    let name = qpd.field(1).repetition(1);
    let code = name.component(1).value();
    let code = code.trim();
    if code.is_empty() {
        findings.push(envelope(
            "QPD-1-missing",
            ErrLocation::field("QPD", 1, 1).with_component(1),
            hl7_code::REQUIRED_FIELD_MISSING,
            "The query name (QPD-1) is missing; send Z34^Request Immunization \
             History^CDCPHINVS or Z44^Request Evaluated History and Forecast^CDCPHINVS."
                .into(),
        ));
        return None;
    }
    let Some(profile) = QueryProfile::from_code(code) else {
        findings.push(
            envelope(
                "QPD-1-unknown",
                ErrLocation::field("QPD", 1, 1).with_component(1),
                hl7_code::TABLE_VALUE_NOT_FOUND,
                format!(
                    "Query '{code}' (QPD-1) is not supported; send Z34 (Request Immunization \
                     History) or Z44 (Request Evaluated History and Forecast)."
                ),
            )
            .with_cdc(cdc_code::TABLE_VALUE_NOT_FOUND),
        );
        return None;
    };
    let system = name.component(3).value();
    let system = system.trim();
    if !is_cdc_system(system) {
        findings.push(
            Finding::warning(
                "QPD-1-system",
                ErrLocation::field("QPD", 1, 1).with_component(3),
                hl7_code::TABLE_VALUE_NOT_FOUND,
                format!(
                    "The query name's coding system (QPD-1.3) '{system}' is not CDCPHINVS; the \
                     query was read as {} ({}).",
                    profile.code(),
                    profile.name()
                ),
            )
            .with_cdc(cdc_code::TABLE_VALUE_NOT_FOUND),
        );
    }
    Some(profile)
}

/// MSH-21 should name the same profile as QPD-1, with system CDCPHINVS. QPD-1 decides.
fn check_msh21(msg: &Message<'_>, profile: QueryProfile, findings: &mut Vec<Finding>) {
    let field = msg.msh().field(21);
    let named = field.repetitions().enumerate().find_map(|(i, rep)| {
        QueryProfile::from_code(&rep.component(1).value()).map(|p| (i + 1, rep, p))
    });
    let Some((n, rep, named)) = named else {
        let sent = field.decoded();
        let sent = sent.trim();
        findings.push(if sent.is_empty() {
            Finding::warning(
                "MSH-21-missing",
                ErrLocation::field("MSH", 1, 21),
                hl7_code::REQUIRED_FIELD_MISSING,
                format!(
                    "The message profile (MSH-21) is missing; the query was read as {} from \
                     QPD-1. Send {}^CDCPHINVS.",
                    profile.code(),
                    profile.code()
                ),
            )
        } else {
            Finding::warning(
                "MSH-21-unknown",
                ErrLocation::field("MSH", 1, 21),
                hl7_code::TABLE_VALUE_NOT_FOUND,
                format!(
                    "The message profile (MSH-21) '{sent}' is not a query profile; the query was \
                     read as {} from QPD-1.",
                    profile.code()
                ),
            )
        });
        return;
    };
    let loc = |comp| {
        ErrLocation::field("MSH", 1, 21)
            .with_repetition(n as u32)
            .with_component(comp)
    };
    if named != profile {
        findings.push(Finding::warning(
            "MSH-21-mismatch",
            loc(1),
            hl7_code::TABLE_VALUE_NOT_FOUND,
            format!(
                "The message profile (MSH-21) is {} but the query (QPD-1) is {}; the query was \
                 answered as {}.",
                named.code(),
                profile.code(),
                profile.code()
            ),
        ));
    }
    let system = rep.component(2).value();
    let system = system.trim();
    if !system.eq_ignore_ascii_case("CDCPHINVS") {
        findings.push(
            Finding::warning(
                "MSH-21-system",
                loc(2),
                hl7_code::TABLE_VALUE_NOT_FOUND,
                format!(
                    "The message profile's namespace (MSH-21.2) '{system}' is not CDCPHINVS; the \
                     profile was read as {}^CDCPHINVS.",
                    named.code()
                ),
            )
            .with_cdc(cdc_code::TABLE_VALUE_NOT_FOUND),
        );
    }
}

fn required_name(value: &str, comp: u32, findings: &mut Vec<Finding>) -> Option<String> {
    let (which, missing_rule, invalid_rule) = match comp {
        1 => (
            "last name (QPD-4.1)",
            "QPD-4-family-missing",
            "QPD-4-family-invalid",
        ),
        _ => (
            "first name (QPD-4.2)",
            "QPD-4-given-missing",
            "QPD-4-given-invalid",
        ),
    };
    let loc = ErrLocation::field("QPD", 1, 4).with_component(comp);
    let value = value.trim();
    if value.is_empty() {
        findings.push(query_error(
            missing_rule,
            loc,
            hl7_code::REQUIRED_FIELD_MISSING,
            format!("The patient's {which} is missing; the query was not run."),
        ));
        return None;
    }
    if !value.chars().any(char::is_alphabetic) {
        findings.push(
            query_error(
                invalid_rule,
                loc,
                hl7_code::DATA_TYPE,
                format!("The patient's {which} '{value}' has no letters; the query was not run."),
            )
            .with_cdc(cdc_code::INVALID_VALUE),
        );
        return None;
    }
    Some(value.to_string())
}

fn birth_date(qpd: &Segment<'_, '_>, today: Date, findings: &mut Vec<Finding>) -> Option<Date> {
    let loc = || ErrLocation::field("QPD", 1, 6);
    let Some(raw) = text(qpd.get(6, 1)) else {
        findings.push(query_error(
            "QPD-6-missing",
            loc(),
            hl7_code::REQUIRED_FIELD_MISSING,
            "The patient's birth date (QPD-6) is missing; the query was not run.".into(),
        ));
        return None;
    };
    let date = match parse_dtm(&raw) {
        Ok(dtm) if dtm.precision >= DtmPrecision::Day => dtm.date(),
        _ => None,
    };
    match date {
        None => {
            findings.push(
                query_error(
                    "QPD-6-invalid",
                    loc(),
                    hl7_code::DATA_TYPE,
                    format!(
                        "The patient's birth date (QPD-6) '{raw}' is not a valid date \
                         (YYYYMMDD); the query was not run."
                    ),
                )
                .with_cdc(cdc_code::INVALID_DATE),
            );
            None
        }
        Some(d) if d > today => {
            findings.push(
                query_error(
                    "QPD-6-future",
                    loc(),
                    hl7_code::DATA_TYPE,
                    format!(
                        "The patient's birth date (QPD-6) {d} is in the future; the query was \
                         not run."
                    ),
                )
                .with_cdc(cdc_code::ILLOGICAL_DATE),
            );
            None
        }
        Some(d) => Some(d),
    }
}

fn sex(qpd: &Segment<'_, '_>, findings: &mut Vec<Finding>) -> Option<String> {
    let sex = text(qpd.get(7, 1))?.to_ascii_uppercase();
    if matches!(sex.as_str(), "F" | "M" | "U" | "X") {
        return Some(sex);
    }
    findings.push(
        Finding::warning(
            "QPD-7-invalid",
            ErrLocation::field("QPD", 1, 7),
            hl7_code::TABLE_VALUE_NOT_FOUND,
            format!("The patient's sex (QPD-7) '{sex}' is not F, M, U or X; it was not used."),
        )
        .with_cdc(cdc_code::TABLE_VALUE_NOT_FOUND),
    );
    None
}

fn multiple_birth(qpd: &Segment<'_, '_>, findings: &mut Vec<Finding>) -> Option<bool> {
    let value = text(qpd.get(10, 1))?;
    if value.eq_ignore_ascii_case("Y") {
        return Some(true);
    }
    if value.eq_ignore_ascii_case("N") {
        return Some(false);
    }
    findings.push(
        Finding::warning(
            "QPD-10-invalid",
            ErrLocation::field("QPD", 1, 10),
            hl7_code::TABLE_VALUE_NOT_FOUND,
            format!(
                "The multiple birth indicator (QPD-10) '{value}' is not Y or N; it was not used."
            ),
        )
        .with_cdc(cdc_code::TABLE_VALUE_NOT_FOUND),
    );
    None
}

fn birth_order(qpd: &Segment<'_, '_>, findings: &mut Vec<Finding>) -> Option<u8> {
    let value = text(qpd.get(11, 1))?;
    match value.parse::<u8>() {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            findings.push(
                Finding::warning(
                    "QPD-11-invalid",
                    ErrLocation::field("QPD", 1, 11),
                    hl7_code::DATA_TYPE,
                    format!(
                        "The birth order (QPD-11) '{value}' is not a number from 1 to 255; it \
                         was not used."
                    ),
                )
                .with_cdc(cdc_code::INVALID_VALUE),
            );
            None
        }
    }
}

/// RCP-1 and RCP-2; returns the number of candidates the registry may list.
fn rcp(msg: &Message<'_>, limits: &QueryLimits, findings: &mut Vec<Finding>) -> u32 {
    let cap = limits.max_candidates.max(1);
    let default = limits.default_max_candidates.clamp(1, cap);
    let Some(rcp) = msg.segment("RCP") else {
        findings.push(Finding::warning(
            "RCP-missing",
            ErrLocation::segment("RCP", 1),
            hl7_code::SEGMENT_SEQUENCE,
            format!(
                "The message has no RCP segment; the query was answered immediately with at most \
                 {default} candidates."
            ),
        ));
        return default;
    };
    match text(rcp.get(1, 1)) {
        None => findings.push(Finding::warning(
            "RCP-1-missing",
            ErrLocation::field("RCP", 1, 1),
            hl7_code::REQUIRED_FIELD_MISSING,
            "The query priority (RCP-1) is missing; the query was answered immediately (I).",
        )),
        Some(p) if p.eq_ignore_ascii_case("I") => {}
        Some(p) => findings.push(
            Finding::warning(
                "RCP-1-unsupported",
                ErrLocation::field("RCP", 1, 1),
                hl7_code::TABLE_VALUE_NOT_FOUND,
                format!(
                    "The query priority (RCP-1) '{p}' is not supported; the query was answered \
                     immediately (I)."
                ),
            )
            .with_cdc(cdc_code::TABLE_VALUE_NOT_FOUND),
        ),
    }
    let quantity = rcp.field(2).repetition(1);
    let count_loc = || ErrLocation::field("RCP", 1, 2).with_component(1);
    let Some(raw) = text(Some(quantity.component(1).value())) else {
        findings.push(Finding::warning(
            "RCP-2-missing",
            count_loc(),
            hl7_code::REQUIRED_FIELD_MISSING,
            format!(
                "The maximum number of candidates (RCP-2) is missing; at most {default} are \
                 listed."
            ),
        ));
        return default;
    };
    let units = quantity.component(2).subcomponent_value(1);
    let units = units.trim();
    if !units.is_empty() && !units.eq_ignore_ascii_case("RD") {
        findings.push(
            Finding::warning(
                "RCP-2-units",
                ErrLocation::field("RCP", 1, 2)
                    .with_subcomponent(1)
                    .with_component(2),
                hl7_code::TABLE_VALUE_NOT_FOUND,
                format!(
                    "The unit of RCP-2 '{units}' is not RD (records); the quantity was read as a \
                     number of records."
                ),
            )
            .with_cdc(cdc_code::TABLE_VALUE_NOT_FOUND),
        );
    }
    match raw.parse::<u64>() {
        Ok(n) if n >= 1 => {
            if n > u64::from(cap) {
                findings.push(Finding::info(
                    "RCP-2-capped",
                    count_loc(),
                    hl7_code::MESSAGE_ACCEPTED,
                    format!(
                        "{n} candidates were asked for (RCP-2); this registry lists at most {cap}."
                    ),
                ));
                cap
            } else {
                // n <= cap, which is a u32.
                u32::try_from(n).unwrap_or(cap)
            }
        }
        _ => {
            findings.push(
                Finding::warning(
                    "RCP-2-invalid",
                    count_loc(),
                    hl7_code::DATA_TYPE,
                    format!(
                        "The maximum number of candidates (RCP-2) '{raw}' is not a positive whole \
                         number; at most {default} are listed."
                    ),
                )
                .with_cdc(cdc_code::INVALID_VALUE),
            );
            default
        }
    }
}

fn identifiers(qpd: &Segment<'_, '_>) -> Vec<PatientId> {
    qpd.field(3)
        .repetitions()
        .filter_map(|rep| {
            let value = text(Some(rep.component(1).value()))?;
            let authority = rep.component(4);
            // HD: the namespace id, else the universal id (an OID).
            let authority = text(Some(authority.subcomponent_value(1)))
                .or_else(|| text(Some(authority.subcomponent_value(2))))
                .unwrap_or_default();
            Some(PatientId {
                value,
                authority,
                id_type: text(Some(rep.component(5).value())).unwrap_or_default(),
            })
        })
        .collect()
}

fn address(qpd: &Segment<'_, '_>) -> Option<AddressView> {
    let rep = qpd.field(8).repetition(1);
    let part = |n| text(Some(rep.component(n).subcomponent_value(1))).unwrap_or_default();
    let address = AddressView {
        street: part(1),
        other_designation: part(2),
        city: part(3),
        state: part(4),
        zip: part(5),
        country: part(6),
        address_type: part(7),
    };
    (!address.is_empty()).then_some(address)
}

/// QPD-9: area code (XTN.6) and local number (XTN.7), else the unformatted number (XTN.1).
fn phone(qpd: &Segment<'_, '_>) -> Option<PhoneView> {
    qpd.field(9).repetitions().find_map(|rep| {
        let area = text(Some(rep.component(6).value())).unwrap_or_default();
        match text(Some(rep.component(7).value())) {
            Some(local) => Some(PhoneView::new(area, local)),
            None => PhoneView::from_digits(&rep.component(1).value()),
        }
    })
}

#[cfg(test)]
mod tests;
