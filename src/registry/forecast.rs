//! The evaluated history and forecast a Z44 query is answered with (RSP^K11 Z42).
//!
//! The work is izport-cdsi's ([`izport_cdsi::assess`], CDC's CDSi logic driven by CDC's
//! supporting data); this module gives it the registry's consolidated history and turns its
//! [`Assessment`] into the views the RSP writer encodes ([`DoseEvaluationView`],
//! [`ForecastView`]). The supporting data is loaded once per registry ([`Schedule`], shared
//! through an `Arc`), never per query.
//!
//! What the registry passes: the patient's birth date and sex, every vaccination event of the
//! consolidated history whose CVX the schedule knows, and each evidence of immunity (OBX
//! `59784-9`, SNOMED) as the CDSi observations the schedule maps that SNOMED code to. The
//! assessment date is the registry clock's today. An event whose CVX the schedule does not
//! know is not evaluated; its evaluation says so ([`NOT_IN_SCHEDULE`]). Each forecast carries
//! the reason the engine gave its status (OBX `30982-3`).

use std::sync::{Arc, OnceLock};

use izport_cdsi::{
    assess, AdministeredDose, Assessment, DoseComponent, EvaluationStatus, ForecastReason, Gender,
    GroupForecast, LotExpiration, ObservationCode, Patient, SeriesStatus, SupportingData,
};

use crate::date::Date;

use super::codes::CodeSets;
use super::history::{ConsolidatedDose, StoredObservation};
use super::model::ObservationKind;
use super::query::{CodedValue, DoseEvaluationView, Forecast, ForecastView};

/// The CDC supporting data a registry evaluates and forecasts with, and where it came from.
#[derive(Clone)]
pub struct Schedule {
    data: Arc<SupportingData>,
    origin: Arc<str>,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("version", &self.data.version)
            .field("origin", &self.origin)
            .finish()
    }
}

/// The supporting data built into the binary could not be read (a build defect: the text is
/// compiled in and checked by izport-cdsi's tests). Start-up and the commands that need the
/// schedule report it and stop.
#[derive(Clone, Debug, thiserror::Error)]
#[error("the CDSi supporting data built into this binary cannot be read: {0}")]
pub struct ScheduleError(pub izport_cdsi::DataError);

impl Schedule {
    /// The data built into the binary (izport-cdsi's compact rendering of one CDC release),
    /// parsed once per process and shared; an error if it cannot be read.
    pub fn builtin() -> Result<Schedule, ScheduleError> {
        static BUILTIN: OnceLock<Result<Arc<SupportingData>, izport_cdsi::DataError>> =
            OnceLock::new();
        let data = BUILTIN
            .get_or_init(|| SupportingData::builtin().map(Arc::new))
            .as_ref()
            .map_err(|e| ScheduleError(e.clone()))?;
        Ok(Schedule {
            data: data.clone(),
            origin: Arc::from("built-in"),
        })
    }

    /// Data loaded elsewhere (an imported release); `origin` says where from, for operators.
    pub fn new(data: SupportingData, origin: impl Into<String>) -> Schedule {
        Schedule {
            data: Arc::new(data),
            origin: Arc::from(origin.into()),
        }
    }

    pub fn data(&self) -> &SupportingData {
        &self.data
    }

    /// The supporting-data release (e.g. `4.64`).
    pub fn version(&self) -> &str {
        &self.data.version
    }

    /// `built-in`, or what [`Schedule::new`] was told.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// The CVX code the answer names a vaccine group by. CDC's supporting data gives a vaccine
/// group a name but no code; these are the CVX "unspecified formulation" codes of each group
/// (Chikungunya has none and is sent by name only).
pub fn group_cvx(group: &str) -> Option<&'static str> {
    Some(match group {
        "Cholera" => "26",
        "COVID-19" => "213",
        "Dengue" => "330",
        "DTaP/Tdap/Td" => "107",
        "Ebola" => "214",
        "HepA" => "85",
        "HepB" => "45",
        "Hib" => "17",
        "HPV" => "137",
        "Influenza" => "88",
        "Japanese Encephalitis" => "129",
        "Meningococcal" => "108",
        "Meningococcal B" => "164",
        "MMR" => "03",
        "Orthopoxvirus" => "325",
        "Pneumococcal" => "109",
        "Polio" => "89",
        "Rabies" => "90",
        "Rotavirus" => "122",
        "RSV" => "304",
        "TBE" => "222",
        "Typhoid" => "91",
        "Varicella" => "21",
        "Yellow Fever" => "184",
        "Zoster" => "188",
        _ => return None,
    })
}

fn group_code(group: &str, codes: &CodeSets) -> CodedValue {
    match group_cvx(group) {
        Some(cvx) => {
            let text = codes
                .cvx(cvx)
                .map(|c| c.short_name.clone())
                .unwrap_or_else(|| group.to_string());
            CodedValue::new(cvx, text, "CVX")
        }
        None => CodedValue::new("", group, "CVX"),
    }
}

/// OBX `59783-1`: LOINC's answers where LOINC has one (LA13421-5 complete, LA13422-3 on
/// schedule, LA13423-1 overdue from the past-due date on, LA13424-9 too old); the CDSi status
/// in a local table (`99IZP`) otherwise.
fn status_code(f: &GroupForecast<'_>, today: Date) -> CodedValue {
    let (code, text, system) = match f.status {
        SeriesStatus::Complete => ("LA13421-5", "Complete", "LN"),
        SeriesStatus::NotComplete if f.past_due.is_some_and(|d| today >= d) => {
            ("LA13423-1", "Overdue", "LN")
        }
        SeriesStatus::NotComplete => ("LA13422-3", "On schedule", "LN"),
        SeriesStatus::AgedOut => ("LA13424-9", "Too old", "LN"),
        SeriesStatus::Immune => ("IMMUNE", "Immune", "99IZP"),
        SeriesStatus::Contraindicated => ("CONTRAINDICATED", "Contraindicated", "99IZP"),
        SeriesStatus::NotRecommended => ("NOT-RECOMMENDED", "Not recommended", "99IZP"),
    };
    CodedValue::new(code, text, system)
}

/// OBX `30982-3` of a forecast: why the engine gave the vaccine group its status, in the local
/// table `99IZP` (there is no standard code set for it); empty when the engine gave none.
fn reason_code(f: &GroupForecast<'_>) -> CodedValue {
    let Some(reason) = f.reason else {
        return CodedValue::default();
    };
    let code = match reason {
        ForecastReason::DoseNeeded => "DOSE-NEEDED",
        ForecastReason::SeriesComplete => "SERIES-COMPLETE",
        ForecastReason::DosesSkipped => "DOSES-SKIPPED",
        ForecastReason::EvidenceOfImmunity => "IMMUNITY",
        ForecastReason::Contraindication => "CONTRAINDICATION",
        ForecastReason::PastSeasonEnd => "SEASON-ENDED",
        ForecastReason::MaximumAgeReached => "MAX-AGE-REACHED",
        ForecastReason::CannotFinishBeforeMaximumAge => "CANNOT-FINISH-BY-MAX-AGE",
    };
    CodedValue::new(code, reason.as_str(), "99IZP")
}

/// OBX `30982-3` of a dose the schedule does not evaluate (its vaccine is not in it).
pub const NOT_IN_SCHEDULE: &str = "Not evaluated: the schedule does not cover this vaccine";

/// Whether the schedule knows a CVX (maps it to some antigen).
fn in_schedule(data: &SupportingData, cvx: &str) -> bool {
    izport_cdsi::data::parse_cvx(cvx).is_some_and(|c| data.antigens_of_cvx(c).next().is_some())
}

/// The one evaluation group of a dose the schedule does not know: the dose's own vaccine, not
/// valid, and why.
fn not_evaluated(dose: &ConsolidatedDose, codes: &CodeSets) -> DoseEvaluationView {
    let d = &dose.dose;
    let text = codes
        .cvx(&d.cvx)
        .map(|c| c.short_name.clone())
        .or_else(|| d.vaccine_text.clone())
        .unwrap_or_default();
    DoseEvaluationView {
        vaccine_group: CodedValue::new(d.cvx.trim(), text, "CVX"),
        valid: false,
        dose_number: None,
        series: String::new(),
        reason: NOT_IN_SCHEDULE.to_string(),
    }
}

/// What [`evaluate`] gives: per event of the history (same order), its evaluation; and the
/// forecast.
#[derive(Debug)]
pub struct Evaluated {
    pub doses: Vec<Vec<DoseEvaluationView>>,
    pub forecast: Forecast,
}

/// The CDSi input for a registry patient: the patient, the events the schedule can evaluate
/// (their ids are the events' indexes), and the observations.
pub fn engine_input(
    data: &SupportingData,
    birth_date: Date,
    sex: Option<&str>,
    events: &[ConsolidatedDose],
    observations: &[StoredObservation],
) -> (Patient, Vec<AdministeredDose>, Vec<ObservationCode>) {
    let patient = Patient {
        birth_date,
        gender: sex.and_then(Gender::parse).unwrap_or(Gender::Unknown),
        birth_country: None,
    };
    let doses = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let d = &e.dose;
            let cvx = izport_cdsi::data::parse_cvx(&d.cvx)?;
            let lot_expiration = d
                .lot_expiration
                .as_deref()
                .and_then(|raw| crate::hl7::parse_dtm(raw).ok())
                .and_then(|dtm| dtm.date())
                .map(LotExpiration::Date);
            Some(AdministeredDose {
                id: i.to_string(),
                date: d.administered_on,
                cvx,
                mvx: d.mvx.clone().filter(|m| !m.trim().is_empty()),
                lot_expiration,
                substandard: false,
            })
        })
        .collect();
    let mut codes: Vec<ObservationCode> = Vec::new();
    for o in observations
        .iter()
        .filter(|o| o.kind == ObservationKind::Immunity)
    {
        for code in data.observation_codes_for("SNOMED", &o.code) {
            if !codes.iter().any(|c| c.code == code) {
                codes.push(ObservationCode {
                    code: code.to_string(),
                    date: Some(o.observed_on),
                });
            }
        }
    }
    (patient, doses, codes)
}

/// Evaluates a registry patient's history and forecasts on `today`.
pub fn evaluate(
    schedule: &Schedule,
    birth_date: Date,
    sex: Option<&str>,
    events: &[ConsolidatedDose],
    observations: &[StoredObservation],
    today: Date,
) -> Evaluated {
    let data = schedule.data();
    let (patient, doses, observations) = engine_input(data, birth_date, sex, events, observations);
    let assessment = assess(data, &patient, &doses, &observations, today);
    views(data, &assessment, &doses, events, today, CodeSets::active())
}

/// Whether a dose is valid for a vaccine group, from its status in each antigen's best series
/// (the reading izport-cdsi's test-case runner uses, Table 3-1's meanings): not if any antigen
/// says Not Valid or Sub-standard (the dose must be repeated), else if some antigen counts it
/// (Valid); a dose only Extraneous is not.
fn group_valid(members: &[&DoseComponent<'_>]) -> bool {
    let repeat = members.iter().any(|c| {
        matches!(
            c.status,
            EvaluationStatus::NotValid | EvaluationStatus::SubStandard
        )
    });
    !repeat && members.iter().any(|c| c.status == EvaluationStatus::Valid)
}

fn dose_views(components: &[DoseComponent<'_>], codes: &CodeSets) -> Vec<DoseEvaluationView> {
    let mut groups: Vec<(&str, Vec<&DoseComponent<'_>>)> = Vec::new();
    for c in components {
        match groups.iter_mut().find(|(g, _)| *g == c.vaccine_group) {
            Some((_, members)) => members.push(c),
            None => groups.push((c.vaccine_group, vec![c])),
        }
    }
    groups
        .into_iter()
        .map(|(group, members)| {
            let valid = group_valid(&members);
            let dose_number = if valid {
                members
                    .iter()
                    .filter(|c| c.status == EvaluationStatus::Valid)
                    .filter_map(|c| c.target_dose)
                    .max()
                    .and_then(|n| u32::try_from(n).ok())
            } else {
                None
            };
            let mut series: Vec<&str> = Vec::new();
            let mut reasons: Vec<String> = Vec::new();
            for c in &members {
                if !series.contains(&c.series) {
                    series.push(c.series);
                }
                if c.status != EvaluationStatus::Valid {
                    let mut r = c.status.as_str().to_string();
                    let why: Vec<&str> = c.reasons.iter().map(|r| r.as_str()).collect();
                    if !why.is_empty() {
                        r.push_str(": ");
                        r.push_str(&why.join(", "));
                    }
                    if members.len() > 1 {
                        r = format!("{} {r}", c.antigen);
                    }
                    if !reasons.contains(&r) {
                        reasons.push(r);
                    }
                }
            }
            DoseEvaluationView {
                vaccine_group: group_code(group, codes),
                valid,
                dose_number,
                series: series.join("; "),
                reason: if valid {
                    String::new()
                } else {
                    reasons.join("; ")
                },
            }
        })
        .collect()
}

fn views(
    data: &SupportingData,
    a: &Assessment<'_>,
    doses: &[AdministeredDose],
    events: &[ConsolidatedDose],
    today: Date,
    codes: &CodeSets,
) -> Evaluated {
    let mut per_event: Vec<Vec<DoseEvaluationView>> = events
        .iter()
        .map(|e| {
            if in_schedule(data, &e.dose.cvx) {
                Vec::new()
            } else {
                vec![not_evaluated(e, codes)]
            }
        })
        .collect();
    for d in &a.doses {
        let Some(event) = doses.get(d.index).and_then(|x| x.id.parse::<usize>().ok()) else {
            continue;
        };
        if let Some(slot) = per_event.get_mut(event) {
            if !d.components.is_empty() {
                *slot = dose_views(&d.components, codes);
            }
        }
    }
    let day = |d: Option<Date>| d.map(|d| d.to_string());
    let groups = a
        .vaccine_groups
        .iter()
        .filter_map(|g| {
            let f = g.primary()?;
            Some(ForecastView {
                vaccine_group: group_code(g.name, codes),
                dose_number: f.dose_number,
                earliest: day(f.earliest),
                recommended: day(f.recommended),
                latest: day(f.latest),
                past_due: day(f.past_due),
                status: status_code(f, today),
                reason: reason_code(f),
            })
        })
        .collect();
    Evaluated {
        doses: per_event,
        forecast: Forecast {
            assessed_on: today.to_string(),
            groups,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::history::StoredDose;

    fn event(id: i64, cvx: &str, on: &str) -> ConsolidatedDose {
        ConsolidatedDose {
            dose: StoredDose {
                id,
                organization_id: 1,
                organization_code: "CLINIC1".into(),
                filler_order_id: format!("D{id}"),
                administered_on: on.parse().expect("date"),
                cvx: cvx.into(),
                vaccine_text: None,
                vaccine_group: cvx.into(),
                amount: None,
                amount_units: None,
                info_source: Some("01".into()),
                lot_number: None,
                lot_expiration: None,
                mvx: None,
                completion_status: None,
                route: None,
                site: None,
                deleted: false,
                first_received_at: None,
            },
            sources: 1,
        }
    }

    fn date(text: &str) -> Date {
        text.parse().expect("date")
    }

    // A child with two MMR doses and one DTaP dose: MMR is complete and DTaP has a dose due,
    // each forecast carrying the engine's reason (OBX 30982-3); a dose of CVX 999, which the
    // schedule maps to no antigen, gets one evaluation group naming its own CVX, not valid,
    // with the reason it was not evaluated.
    #[test]
    fn forecasts_carry_their_reason_and_unknown_vaccines_are_marked_not_evaluated() {
        let schedule = Schedule::builtin().expect("built-in schedule");
        let events = [
            event(1, "20", "2020-03-01"),
            event(2, "03", "2021-01-15"),
            event(3, "999", "2021-06-01"),
            event(4, "03", "2024-01-15"),
        ];
        let e = evaluate(
            &schedule,
            date("2020-01-01"),
            Some("F"),
            &events,
            &[],
            date("2025-01-01"),
        );
        let group = |cvx: &str| {
            e.forecast
                .groups
                .iter()
                .find(|g| g.vaccine_group.code == cvx)
                .unwrap_or_else(|| panic!("forecast for {cvx}: {:#?}", e.forecast))
        };
        let mmr = group("03");
        assert_eq!(mmr.status.code, "LA13421-5");
        assert_eq!(
            mmr.reason,
            CodedValue::new("SERIES-COMPLETE", "Series complete", "99IZP")
        );
        let dtap = group("107");
        assert!(dtap.dose_number.is_some(), "{dtap:?}");
        assert_eq!(
            dtap.reason,
            CodedValue::new("DOSE-NEEDED", "Next dose needed", "99IZP")
        );
        assert!(
            e.forecast.groups.iter().all(|g| !g.reason.is_empty()),
            "{:#?}",
            e.forecast
        );

        assert_eq!(e.doses.len(), 4);
        assert!(e.doses[0].iter().any(|v| v.vaccine_group.code == "107"));
        assert!(e.doses[1]
            .iter()
            .all(|v| v.vaccine_group.code == "03" && v.valid));
        let unknown = &e.doses[2];
        assert_eq!(unknown.len(), 1, "{unknown:?}");
        assert_eq!(unknown[0].vaccine_group.code, "999");
        assert_eq!(unknown[0].vaccine_group.system, "CVX");
        assert!(!unknown[0].valid);
        assert_eq!(unknown[0].dose_number, None);
        assert_eq!(unknown[0].reason, NOT_IN_SCHEDULE);
        // A CVX that is not even a number is not evaluated either.
        let e = evaluate(
            &schedule,
            date("2020-01-01"),
            None,
            &[event(5, "X1", "2021-06-01")],
            &[],
            date("2025-01-01"),
        );
        assert_eq!(e.doses[0].len(), 1);
        assert_eq!(e.doses[0][0].vaccine_group.code, "X1");
        assert_eq!(e.doses[0][0].reason, NOT_IN_SCHEDULE);
    }
}
