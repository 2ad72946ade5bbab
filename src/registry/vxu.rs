//! What a validated VXU^V04 asks the registry to keep. Pure: message and findings in, planned
//! changes out.
//!
//! The rule engine ([`super::validate`]) alone decides what is rejected; this module extracts
//! everything it did not reject. If something the engine accepted still cannot be stored (a date
//! it passed that will not parse here, a dose without a key), extraction says so with an error
//! finding rather than dropping it quietly: an AA must never stand for data that was not kept.

use std::borrow::Cow;

use crate::date::Date;
use crate::hl7::{parse_dtm, DtmPrecision, ErrLocation, Message, Segment};

use super::codes::CodeSets;
use super::finding::{dose_rejected, patient_rejected, Finding, Scope};
use super::model::{
    DoseAction, DoseRecord, Identifier, ObservationKind, ObservationRecord, PatientChanges,
    PatientRecord,
};
use super::rules::{self, R};
use super::validate::resolve_vaccine;

/// A value as stored: trimmed, without control characters (the rule engine refuses them in
/// names and identifiers and warns of them elsewhere, see `TEXT-control`).
fn text(v: Option<Cow<'_, str>>) -> Option<String> {
    v.map(|s| {
        let s = s.trim();
        if s.contains(char::is_control) {
            s.chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
                .trim()
                .to_string()
        } else {
            s.to_string()
        }
    })
    .filter(|s| !s.is_empty())
}

/// An HL7 date of at least day precision.
fn date_of(raw: &str) -> Option<Date> {
    let dtm = parse_dtm(raw.trim()).ok()?;
    if dtm.precision < DtmPrecision::Day {
        return None;
    }
    dtm.date()
}

fn optional_date(raw: Option<Cow<'_, str>>) -> Option<Date> {
    text(raw).and_then(|r| date_of(&r))
}

/// An error for something the rule engine accepted but storage cannot keep: the patient
/// ([`R::STORE_PATIENT_UNREADABLE`]) or one dose ([`R::STORE_DOSE_UNREADABLE`]).
fn unstorable(scope: Scope, location: ErrLocation, message: String) -> Finding {
    let rule = match scope {
        Scope::Dose => R::STORE_DOSE_UNREADABLE,
        _ => R::STORE_PATIENT_UNREADABLE,
    };
    rules::default_finding(rule, location, message)
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

/// Plans the changes of a message the engine judged. `None` when the patient was rejected;
/// `findings` may gain an error if something accepted cannot be stored.
pub fn extract(
    msg: &Message<'_>,
    codes: &CodeSets,
    findings: &mut Vec<Finding>,
) -> Option<PatientChanges> {
    if patient_rejected(findings) {
        return None;
    }
    let Some(pid) = msg.segment("PID") else {
        findings.push(unstorable(
            Scope::Patient,
            ErrLocation::segment("PID", 1),
            "The message has no PID segment; nothing was saved.".into(),
        ));
        return None;
    };
    let (mut record, identifiers) = match patient(&pid) {
        Ok(found) => found,
        Err(message) => {
            findings.push(unstorable(
                Scope::Patient,
                ErrLocation::segment("PID", 1),
                message,
            ));
            return None;
        }
    };
    read_pd1(msg, &mut record);
    let (doses, observations) = orders(msg, codes, findings);
    Some(PatientChanges {
        patient: record,
        identifiers,
        doses,
        observations,
    })
}

fn patient(pid: &Segment<'_, '_>) -> Result<(PatientRecord, Vec<Identifier>), String> {
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
    // The legal name (type L) if one is marked, else the first name given.
    let names = pid.field(5);
    let legal = names
        .repetitions()
        .find(|r| r.component(7).value() == "L")
        .unwrap_or_else(|| names.repetition(1));
    let family = text(Some(legal.component(1).value()));
    let given = text(Some(legal.component(2).value()));
    let birth = optional_date(pid.get(7, 1));
    let (Some(family), Some(given), Some(birth_date)) = (family, given, birth) else {
        return Err(
            "The patient's name or birth date could not be read for storage; nothing was saved."
                .into(),
        );
    };
    if identifiers.is_empty() {
        return Err("The patient has no usable identifier (PID-3); nothing was saved.".into());
    }
    let sex = text(pid.get(8, 1))
        .map(|s| s.to_ascii_uppercase())
        .filter(|s| matches!(s.as_str(), "F" | "M" | "U" | "X"));
    let address = pid.field(11).repetition(1);
    let phone = pid
        .field(13)
        .repetitions()
        .find(|r| r.component(3).value() != "Internet" && r.component(2).value() != "NET")
        .and_then(|r| {
            let joined = format!(
                "{}{}",
                r.component(6).value().trim(),
                r.component(7).value().trim()
            );
            text(Some(if joined.is_empty() {
                r.component(1).value()
            } else {
                joined.into()
            }))
        });
    let record = PatientRecord {
        family_name: family,
        given_name: given,
        middle_name: text(Some(legal.component(3).value())),
        birth_date,
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
        ..PatientRecord::default()
    };
    Ok((record, identifiers))
}

/// PD1: publicity (PD1-11), protection and its date (PD1-12/13), registry status (PD1-16).
fn read_pd1(msg: &Message<'_>, record: &mut PatientRecord) {
    let Some(pd1) = msg.segment("PD1") else {
        return;
    };
    record.publicity = text(pd1.get(11, 1));
    record.protection = text(pd1.get(12, 1)).map(|v| v.to_ascii_uppercase());
    record.protection_date = optional_date(pd1.get(13, 1));
    record.registry_status = text(pd1.get(16, 1));
}

/// Every ORC/RXA group the engine did not reject: doses, refusals, "not administered" and
/// evidence of immunity.
fn orders(
    msg: &Message<'_>,
    codes: &CodeSets,
    findings: &mut Vec<Finding>,
) -> (Vec<DoseRecord>, Vec<ObservationRecord>) {
    let mut doses = Vec::new();
    let mut observations = Vec::new();
    let segments: Vec<_> = msg.segments().collect();
    let mut ordinal = 0u32;
    let mut current_orc = None;
    let mut problems = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        match seg.id() {
            "ORC" => {
                current_orc = Some(*seg);
                continue;
            }
            "RXA" => {}
            _ => continue,
        }
        ordinal += 1;
        let rxa = seg;
        let orc = current_orc.take();
        if dose_rejected(findings, ordinal) {
            continue;
        }
        let rxr = segments.get(i + 1).filter(|s| s.id() == "RXR");
        let group_obx: Vec<_> = segments[i + 1..]
            .iter()
            .take_while(|s| !matches!(s.id(), "ORC" | "RXA"))
            .filter(|s| s.id() == "OBX")
            .copied()
            .collect();
        let location = ErrLocation::segment("RXA", ordinal);
        let Some(date) = optional_date(rxa.get(3, 1)) else {
            problems.push(
                unstorable(
                    Scope::Dose,
                    location,
                    format!("Dose {ordinal}: the administration date could not be read for storage; this immunization was not saved."),
                )
                .with_dose(ordinal),
            );
            continue;
        };
        let vaccine = match resolve_vaccine(rxa, codes) {
            Ok(v) => v,
            Err(_) => {
                problems.push(
                    unstorable(
                        Scope::Dose,
                        location,
                        format!("Dose {ordinal}: the vaccine code could not be resolved for storage; this immunization was not saved."),
                    )
                    .with_dose(ordinal),
                );
                continue;
            }
        };
        let cvx = vaccine.cvx.clone();
        let label = text(vaccine.text.as_deref().map(Cow::Borrowed))
            .or_else(|| codes.cvx(&cvx).map(|c| c.short_name.clone()));
        let completion = text(rxa.get(20, 1)).map(|s| s.to_ascii_uppercase());
        if completion.as_deref() == Some("RE") {
            observations.push(ObservationRecord {
                kind: ObservationKind::Refusal,
                code: cvx,
                code_text: label,
                observed_on: date,
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
                            observed_on: optional_date(obx.get(14, 1)).unwrap_or(date),
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
                    observed_on: date,
                    reason_code: text(rxa.get(18, 1)),
                    reason_text: text(rxa.get(18, 2)),
                });
            }
            continue;
        }
        let Some(filler) = orc.and_then(|o| text(o.get(3, 1))) else {
            problems.push(
                unstorable(
                    Scope::Dose,
                    ErrLocation::field("ORC", ordinal, 3),
                    format!("Dose {ordinal}: the dose has no filler order number (ORC-3) to keep it by; this immunization was not saved."),
                )
                .with_dose(ordinal),
            );
            continue;
        };
        let action = text(rxa.get(21, 1)).map(|s| s.to_ascii_uppercase());
        let disaster_indicated = group_obx.iter().any(|obx| {
            obx.get(3, 1).as_deref().map(str::trim) == Some("59785-6")
                && obx
                    .get(5, 1)
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("DISASTER"))
        });
        doses.push(DoseRecord {
            action: if action.as_deref() == Some("D") {
                DoseAction::Delete
            } else {
                DoseAction::Upsert
            },
            filler_order_id: filler,
            administered_on: date,
            vaccine_group: vaccine_group(&cvx, codes),
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
            disaster_indicated,
        });
    }
    findings.extend(problems);
    (doses, observations)
}
