//! VXU^V04, first version: the checks every stored record depends on (identifier, name, birth
//! date, sex; per dose the administration date, the vaccine code and the sender's dose key) and
//! the records to write. Pure: message in, findings and planned changes out.

use std::borrow::Cow;

use crate::hl7::{parse_dtm, DtmPrecision, ErrLocation, Message, Segment};

use super::codes::CodeSets;
use super::finding::{cdc_code, hl7_code, Finding, Scope};
use super::{
    DoseAction, DoseRecord, Identifier, ObservationKind, ObservationRecord, PatientChanges,
    PatientRecord,
};

/// A calendar date as (year, month, day); ordering is chronological.
pub type Date = (i16, u8, u8);

pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.0, d.1, d.2)
}

/// Validates a VXU whose header was accepted and plans what to store. `changes` is `None` when
/// the patient was rejected (and so the whole message).
pub fn plan(
    msg: &Message<'_>,
    today: Date,
    codes: &CodeSets,
) -> (Vec<Finding>, Option<PatientChanges>) {
    let mut findings = Vec::new();
    let Some(pid) = msg.segment("PID") else {
        findings.push(Finding::error(
            "PID-missing",
            Scope::Patient,
            ErrLocation::segment("PID", 1),
            hl7_code::SEGMENT_SEQUENCE,
            "The message has no PID segment, so there is no patient to record; nothing was saved.",
        ));
        return (findings, None);
    };
    let patient = patient(&pid, today, &mut findings);
    let (doses, observations) = doses(
        msg,
        today,
        patient.as_ref().map(|p| p.1),
        codes,
        &mut findings,
    );
    let changes = match patient {
        Some((mut record, _, identifiers)) if !super::finding::patient_rejected(&findings) => {
            read_pd1(msg, &mut record);
            Some(PatientChanges {
                patient: record,
                identifiers,
                doses,
                observations,
            })
        }
        _ => None,
    };
    (findings, changes)
}

fn text(v: Option<Cow<'_, str>>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Parses an HL7 date of at least day precision. `Err(cdc code)` tells why it failed.
fn date_of(raw: &str) -> Result<Date, &'static str> {
    match parse_dtm(raw.trim()) {
        Ok(dtm) if dtm.precision >= DtmPrecision::Day => dtm.date().ok_or(cdc_code::INVALID_DATE),
        _ => Err(cdc_code::INVALID_DATE),
    }
}

fn patient(
    pid: &Segment<'_, '_>,
    today: Date,
    findings: &mut Vec<Finding>,
) -> Option<(PatientRecord, Date, Vec<Identifier>)> {
    let reject = |rule, field, comp: u32, code, message: String| {
        let mut location = ErrLocation::field("PID", 1, field);
        if comp > 0 {
            location = location.with_component(comp);
        }
        Finding::error(rule, Scope::Patient, location, code, message)
    };

    let mut identifiers = Vec::new();
    for rep in pid.field(3).repetitions() {
        let Some(value) = text(Some(rep.component(1).value())) else {
            continue;
        };
        identifiers.push(Identifier {
            value,
            authority: text(Some(rep.component(4).value())).unwrap_or_default(),
            id_type: text(Some(rep.component(5).value())).unwrap_or_default(),
        });
    }
    if identifiers.is_empty() {
        findings.push(reject(
            "PID-3-missing",
            3,
            0,
            hl7_code::REQUIRED_FIELD_MISSING,
            "Patient identifier (PID-3) is missing; the patient was not saved.".into(),
        ));
    }

    // The legal name (type L) if one is marked, else the first name given.
    let names = pid.field(5);
    let legal = names
        .repetitions()
        .find(|r| r.component(7).value() == "L")
        .unwrap_or_else(|| names.repetition(1));
    let family = text(Some(legal.component(1).value()));
    let given = text(Some(legal.component(2).value()));
    if family.is_none() {
        findings.push(reject(
            "PID-5-family-missing",
            5,
            1,
            hl7_code::REQUIRED_FIELD_MISSING,
            "Patient last name (PID-5.1) is missing; the patient was not saved.".into(),
        ));
    }
    if given.is_none() {
        findings.push(reject(
            "PID-5-given-missing",
            5,
            2,
            hl7_code::REQUIRED_FIELD_MISSING,
            "Patient first name (PID-5.2) is missing; the patient was not saved.".into(),
        ));
    }

    let birth = match text(pid.get(7, 1)) {
        None => {
            findings.push(reject(
                "PID-7-missing",
                7,
                0,
                hl7_code::REQUIRED_FIELD_MISSING,
                "Patient birth date (PID-7) is missing; the patient was not saved.".into(),
            ));
            None
        }
        Some(raw) => match date_of(&raw) {
            Err(code) => {
                findings.push(
                    reject(
                        "PID-7-invalid",
                        7,
                        0,
                        hl7_code::DATA_TYPE,
                        format!(
                            "Patient birth date (PID-7) '{raw}' is not a valid date (YYYYMMDD); \
                             the patient was not saved."
                        ),
                    )
                    .with_cdc(code),
                );
                None
            }
            Ok(date) if date > today => {
                findings.push(
                    reject(
                        "PID-7-future",
                        7,
                        0,
                        hl7_code::DATA_TYPE,
                        format!(
                            "Patient birth date (PID-7) {} is in the future; the patient was not saved.",
                            format_date(date)
                        ),
                    )
                    .with_cdc(cdc_code::ILLOGICAL_DATE),
                );
                None
            }
            Ok(date) => Some(date),
        },
    };

    let sex = text(pid.get(8, 1)).map(|s| s.to_ascii_uppercase());
    match sex.as_deref() {
        None => findings.push(Finding::warning(
            "PID-8-missing",
            ErrLocation::field("PID", 1, 8),
            hl7_code::REQUIRED_FIELD_MISSING,
            "Patient sex (PID-8) is missing; recorded as unknown.",
        )),
        Some("F" | "M" | "U" | "X") => {}
        Some(other) => findings.push(
            Finding::warning(
                "PID-8-invalid",
                ErrLocation::field("PID", 1, 8),
                hl7_code::TABLE_VALUE_NOT_FOUND,
                format!("Patient sex (PID-8) '{other}' is not F, M, U or X; recorded as unknown."),
            )
            .with_cdc(cdc_code::TABLE_VALUE_NOT_FOUND),
        ),
    }
    let sex = sex.filter(|s| matches!(s.as_str(), "F" | "M" | "U" | "X"));

    let (family, given, birth) = (family?, given?, birth?);
    if identifiers.is_empty() {
        return None;
    }
    let address = pid.field(11).repetition(1);
    let phone = pid
        .field(13)
        .repetitions()
        .find(|r| r.component(3).value() != "Internet" && r.component(2).value() != "NET")
        .and_then(|r| {
            let area = r.component(6).value();
            let number = r.component(7).value();
            let joined = format!("{}{}", area.trim(), number.trim());
            text(Some(if joined.is_empty() {
                r.component(1).value()
            } else {
                joined.into()
            }))
        });
    let optional_date = |raw: Option<std::borrow::Cow<'_, str>>| {
        text(raw).and_then(|r| date_of(&r).ok()).map(format_date)
    };
    let record = PatientRecord {
        family_name: family,
        given_name: given,
        middle_name: text(Some(legal.component(3).value())),
        birth_date: format_date(birth),
        sex,
        mother_maiden_name: text(pid.get(6, 1)),
        phone,
        street: text(Some(address.component(1).value())),
        city: text(Some(address.component(3).value())),
        state: text(Some(address.component(4).value())),
        zip: text(Some(address.component(5).value())),
        race: text(pid.get(10, 1)),
        ethnicity: text(pid.get(22, 1)),
        multiple_birth: text(pid.get(24, 1)).map(|v| v.eq_ignore_ascii_case("Y")),
        birth_order: text(pid.get(25, 1)).and_then(|v| v.parse().ok()),
        death_date: optional_date(pid.get(29, 1)),
        publicity: None,
        protection: None,
        protection_date: None,
        registry_status: None,
    };
    Some((record, birth, identifiers))
}

/// PD1: publicity (PD1-11), protection and its date (PD1-12/13), registry status (PD1-16).
fn read_pd1(msg: &Message<'_>, record: &mut PatientRecord) {
    let Some(pd1) = msg.segment("PD1") else {
        return;
    };
    record.publicity = text(pd1.get(11, 1));
    record.protection = text(pd1.get(12, 1)).map(|v| v.to_ascii_uppercase());
    record.protection_date = text(pd1.get(13, 1))
        .and_then(|r| date_of(&r).ok())
        .map(format_date);
    record.registry_status = text(pd1.get(16, 1));
}

/// What RXA-5 names: a CVX code (primary triplet, else the alternate), another code system, or
/// nothing.
enum VaccineCode {
    Cvx { code: String, label: Option<String> },
    Other { code: String, system: String },
    Missing,
}

fn vaccine_code(rxa: &Segment<'_, '_>, codes: &CodeSets) -> VaccineCode {
    let field = rxa.field(5);
    let first = field.repetition(1);
    let mut seen = VaccineCode::Missing;
    let mut mapped = None;
    for base in [1usize, 4] {
        let code = first.component(base).value();
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        let system = first.component(base + 2).value();
        let system = system.trim();
        let label = text(Some(first.component(base + 1).value()));
        if system.eq_ignore_ascii_case("CVX") {
            return VaccineCode::Cvx {
                code: code.to_string(),
                label,
            };
        }
        // NDC and CPT codes stand for a CVX through CDC's tables; a CVX triplet, if also sent,
        // wins (it is checked first in the loop only when it comes first, so keep looking).
        let via = if system.eq_ignore_ascii_case("NDC") {
            codes.ndc(code).and_then(|n| n.cvx.first().cloned())
        } else if system.eq_ignore_ascii_case("CPT") || system.eq_ignore_ascii_case("C4") {
            codes.cpt(code).map(str::to_string)
        } else {
            None
        };
        if let (None, Some(cvx)) = (&mapped, via) {
            let label = codes.cvx(&cvx).map(|c| c.short_name.clone()).or(label);
            mapped = Some(VaccineCode::Cvx { code: cvx, label });
        }
        if matches!(seen, VaccineCode::Missing) {
            seen = VaccineCode::Other {
                code: code.to_string(),
                system: system.to_string(),
            };
        }
    }
    mapped.unwrap_or(seen)
}

/// The event key for consolidation: the CVX's vaccine group(s), or the CVX itself when it
/// belongs to none.
pub fn vaccine_group(cvx: &str, codes: &CodeSets) -> String {
    let mut groups: Vec<&str> = codes
        .vaccine_groups(cvx)
        .iter()
        .map(|g| g.cvx.as_str())
        .collect();
    if groups.is_empty() {
        return codes
            .cvx(cvx)
            .map_or_else(|| cvx.to_string(), |c| c.code.clone());
    }
    groups.sort_unstable();
    groups.dedup();
    groups.join("+")
}

fn doses(
    msg: &Message<'_>,
    today: Date,
    birth: Option<Date>,
    codes: &CodeSets,
    findings: &mut Vec<Finding>,
) -> (Vec<DoseRecord>, Vec<ObservationRecord>) {
    let mut out = Vec::new();
    let mut observations = Vec::new();
    let segments: Vec<_> = msg.segments().collect();
    let mut rxa_seq = 0u32;
    let mut orc_seq = 0u32;
    let mut current_orc = None;
    for (i, seg) in segments.iter().enumerate() {
        match seg.id() {
            "ORC" => {
                orc_seq += 1;
                current_orc = Some((orc_seq, *seg));
                continue;
            }
            "RXA" => {}
            _ => continue,
        }
        rxa_seq += 1;
        let rxa = seg;
        let orc = current_orc.take();
        let rxr = segments.get(i + 1).filter(|s| s.id() == "RXR");
        let mut dose_errors = Vec::new();
        let reject = |rule, location: ErrLocation, code, message: String| {
            Finding::error(rule, Scope::Dose, location, code, message)
        };

        let filler = orc.as_ref().and_then(|(_, o)| text(o.get(3, 1)));
        // The observation rows of this order group: OBX segments up to the next ORC/RXA.
        let group_obx: Vec<_> = segments[i + 1..]
            .iter()
            .take_while(|s| !matches!(s.id(), "ORC" | "RXA"))
            .filter(|s| s.id() == "OBX")
            .copied()
            .collect();
        let completion_early = text(rxa.get(20, 1)).map(|s| s.to_ascii_uppercase());
        let cvx_early = rxa.get(5, 1).map(|c| c.trim().to_string());
        let placeholder = cvx_early.as_deref() == Some("998");
        if filler.is_none() && !placeholder && completion_early.as_deref() != Some("RE") {
            let seq = orc.as_ref().map_or(rxa_seq, |(n, _)| *n);
            dose_errors.push(reject(
                "ORC-3-missing",
                ErrLocation::field("ORC", seq, 3),
                hl7_code::REQUIRED_FIELD_MISSING,
                format!(
                    "Dose {rxa_seq}: the filler order number (ORC-3), the sender's id for the dose, \
                     is missing; this dose was not saved."
                ),
            ));
        }

        let administered = match text(rxa.get(3, 1)) {
            None => {
                dose_errors.push(reject(
                    "RXA-3-missing",
                    ErrLocation::field("RXA", rxa_seq, 3),
                    hl7_code::REQUIRED_FIELD_MISSING,
                    format!(
                        "Dose {rxa_seq}: administration date (RXA-3) is missing; this dose was not saved."
                    ),
                ));
                None
            }
            Some(raw) => match date_of(&raw) {
                Err(code) => {
                    dose_errors.push(
                        reject(
                            "RXA-3-invalid",
                            ErrLocation::field("RXA", rxa_seq, 3),
                            hl7_code::DATA_TYPE,
                            format!(
                                "Dose {rxa_seq}: administration date (RXA-3) '{raw}' is not a valid \
                                 date; this dose was not saved."
                            ),
                        )
                        .with_cdc(code),
                    );
                    None
                }
                Ok(date) if date > today => {
                    dose_errors.push(
                        reject(
                            "RXA-3-future",
                            ErrLocation::field("RXA", rxa_seq, 3),
                            hl7_code::DATA_TYPE,
                            format!(
                                "Dose {rxa_seq}: administration date (RXA-3) {} is in the future; \
                                 this dose was not saved.",
                                format_date(date)
                            ),
                        )
                        .with_cdc(cdc_code::ILLOGICAL_DATE),
                    );
                    None
                }
                Ok(date) if birth.is_some_and(|b| date < b) => {
                    dose_errors.push(
                        reject(
                            "RXA-3-before-birth",
                            ErrLocation::field("RXA", rxa_seq, 3),
                            hl7_code::DATA_TYPE,
                            format!(
                                "Dose {rxa_seq}: administration date (RXA-3) {} is before the \
                                 patient's birth date; this dose was not saved.",
                                format_date(date)
                            ),
                        )
                        .with_cdc(cdc_code::ILLOGICAL_DATE),
                    );
                    None
                }
                Ok(date) => Some(date),
            },
        };

        let vaccine = match vaccine_code(rxa, codes) {
            VaccineCode::Cvx { code, label }
                if code.len() <= 3 && code.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some((code, label))
            }
            VaccineCode::Cvx { code, .. } => {
                dose_errors.push(
                    reject(
                        "RXA-5-invalid",
                        ErrLocation::field("RXA", rxa_seq, 5).with_component(1),
                        hl7_code::TABLE_VALUE_NOT_FOUND,
                        format!(
                            "Dose {rxa_seq}: vaccine code (RXA-5) '{code}' is not a valid CVX code; \
                             this dose was not saved."
                        ),
                    )
                    .with_cdc(cdc_code::TABLE_VALUE_NOT_FOUND),
                );
                None
            }
            VaccineCode::Missing => {
                dose_errors.push(reject(
                    "RXA-5-missing",
                    ErrLocation::field("RXA", rxa_seq, 5),
                    hl7_code::REQUIRED_FIELD_MISSING,
                    format!(
                        "Dose {rxa_seq}: vaccine code (RXA-5) is missing; this dose was not saved."
                    ),
                ));
                None
            }
            VaccineCode::Other { code, system } => {
                dose_errors.push(
                    reject(
                        "RXA-5-not-cvx",
                        ErrLocation::field("RXA", rxa_seq, 5).with_component(3),
                        hl7_code::TABLE_VALUE_NOT_FOUND,
                        format!(
                            "Dose {rxa_seq}: vaccine code (RXA-5) '{code}' from code system '{system}' \
                             is not accepted; send the CVX code (in RXA-5 or its alternate triplet). \
                             This dose was not saved."
                        ),
                    )
                    .with_cdc(cdc_code::TABLE_VALUE_NOT_FOUND),
                );
                None
            }
        };

        let completion = completion_early;
        let action = text(rxa.get(21, 1)).map(|s| s.to_ascii_uppercase());
        let has_errors = !dose_errors.is_empty();
        findings.append(&mut dose_errors);
        if has_errors {
            continue;
        }
        let (Some(date), Some((cvx, label))) = (administered, vaccine) else {
            continue;
        };
        // Refusals, "no vaccine administered" and evidence of immunity are their own kinds.
        if completion.as_deref() == Some("RE") {
            observations.push(ObservationRecord {
                kind: ObservationKind::Refusal,
                code: cvx,
                code_text: label,
                observed_on: format_date(date),
                reason_code: text(rxa.get(18, 1)),
                reason_text: text(rxa.get(18, 2)),
            });
            continue;
        }
        if cvx == "998" || completion.as_deref() == Some("NA") {
            let mut immunity = false;
            for obx in &group_obx {
                if obx.get(3, 1).as_deref().map(str::trim) == Some("59784-9") {
                    if let Some(code) = text(obx.get(5, 1)) {
                        immunity = true;
                        observations.push(ObservationRecord {
                            kind: ObservationKind::Immunity,
                            code,
                            code_text: text(obx.get(5, 2)),
                            observed_on: text(obx.get(14, 1))
                                .and_then(|r| date_of(&r).ok())
                                .map_or_else(|| format_date(date), format_date),
                            reason_code: None,
                            reason_text: None,
                        });
                    }
                }
            }
            if !immunity {
                observations.push(ObservationRecord {
                    kind: ObservationKind::NotAdministered,
                    code: cvx,
                    code_text: label,
                    observed_on: format_date(date),
                    reason_code: text(rxa.get(18, 1)),
                    reason_text: text(rxa.get(18, 2)),
                });
            }
            continue;
        }
        let Some(filler) = filler else { continue };
        let disaster_indicated = group_obx.iter().any(|obx| {
            obx.get(3, 1).as_deref().map(str::trim) == Some("59785-6")
                && obx
                    .get(5, 1)
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("DISASTER"))
        });
        out.push(DoseRecord {
            vaccine_group: vaccine_group(&cvx, codes),
            disaster_indicated,
            action: if action.as_deref() == Some("D") {
                DoseAction::Delete
            } else {
                DoseAction::Upsert
            },
            filler_order_id: filler,
            administered_on: format_date(date),
            cvx,
            vaccine_text: label,
            amount: text(rxa.get(6, 1)),
            amount_units: text(rxa.get(7, 1)),
            info_source: text(rxa.get(9, 1)),
            lot_number: text(rxa.get(15, 1)),
            lot_expiration: text(rxa.get(16, 1)),
            mvx: text(rxa.get(17, 1)),
            completion_status: completion,
            action_code: action,
            route: rxr.and_then(|r| text(r.get(1, 1))),
            site: rxr.and_then(|r| text(r.get(2, 1))),
        });
    }
    (out, observations)
}
