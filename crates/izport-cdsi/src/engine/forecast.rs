//! Chapter 7: forecast the next target dose of a patient series.

use super::evaluate::{interval_reference, previous_dose, IntervalFrom};
use super::skip::{can_skip, SkipFacts, SkipInput, Use};
use super::*;

/// 7.1 – 7.6 for one series; sets `run.status` and `run.forecast`.
pub(crate) fn forecast_series(
    env: &Env,
    antigen: &Antigen,
    facts: &AntigenFacts,
    series: &Series,
    recs: &[Rec],
    run: &mut Run,
    done: &[Run],
) {
    // A bound on the 7.6 loop: each pass skips one target dose.
    for _ in 0..=run.targets.len() {
        // 7.1 Conditional skip against the assessment date.
        while let Some(sd) = run
            .targets
            .get(run.next)
            .and_then(|t| series.doses.get(t.series_dose))
        {
            let skip = {
                let sf = SkipFacts {
                    env,
                    antigen,
                    recs,
                    run,
                    done,
                };
                let input = SkipInput {
                    used_in: Use::Forecast,
                    reference: env.today,
                    anchor: env.today,
                    upto: recs.len(),
                    previous: previous_dose(run, recs, recs.len()),
                };
                can_skip(&sf, sd, &input)
            };
            if !skip {
                break;
            }
            mark_skipped(run);
        }
        let (status, reason, forecast) = forecast_once(env, facts, series, recs, run);
        run.status = status;
        run.reason = Some(reason);
        run.forecast = None;
        let Some(fc) = forecast else {
            return;
        };
        // 7.6 Validate: would the target dose be skipped on the earliest date?
        let skip = match (
            run.targets
                .get(run.next)
                .and_then(|t| series.doses.get(t.series_dose)),
            fc.earliest,
        ) {
            (Some(sd), Some(earliest)) => {
                let sf = SkipFacts {
                    env,
                    antigen,
                    recs,
                    run,
                    done,
                };
                let input = SkipInput {
                    used_in: Use::Forecast,
                    reference: earliest,
                    anchor: env.today,
                    upto: recs.len(),
                    previous: previous_dose(run, recs, recs.len()),
                };
                can_skip(&sf, sd, &input)
            }
            _ => false,
        };
        if skip {
            mark_skipped(run);
            continue;
        }
        run.forecast = Some(fc);
        return;
    }
}

fn mark_skipped(run: &mut Run) {
    if let Some(t) = run.targets.get_mut(run.next) {
        t.status = TargetDoseStatus::Skipped;
    }
    run.next += 1;
}

/// The facts of 7.2 and 7.3 that depend only on the patient and the antigen (not on the
/// series), worked out once per antigen.
#[derive(Clone, Debug, Default)]
pub(crate) struct AntigenFacts {
    /// Table 7-3: evidence of immunity.
    pub immune: bool,
    /// Table 7-5: an antigen contraindication applies.
    pub antigen_contraindicated: bool,
    /// Table 7-6: the vaccine types (CVX) with a vaccine contraindication that applies on the
    /// assessment date.
    pub contraindicated_cvx: Vec<Cvx>,
}

impl AntigenFacts {
    pub fn new(env: &Env, antigen: &Antigen) -> AntigenFacts {
        let mut facts = AntigenFacts {
            immune: is_immune(env, antigen),
            ..AntigenFacts::default()
        };
        if env.observations.is_empty() {
            return facts;
        }
        let in_window = |b: &Option<Offset>, e: &Option<Offset>| {
            env.age_date(b).unwrap_or(MIN_DATE) <= env.today
                && env.today < env.age_date(e).unwrap_or(MAX_DATE)
        };
        facts.antigen_contraindicated = antigen
            .antigen_contraindications
            .iter()
            .any(|c| env.has_observation(&c.code) && in_window(&c.begin_age, &c.end_age));
        for c in &antigen.vaccine_contraindications {
            if !env.has_observation(&c.code) {
                continue;
            }
            for v in &c.vaccines {
                if in_window(&v.begin_age, &v.end_age)
                    && !facts.contraindicated_cvx.contains(&v.cvx)
                {
                    facts.contraindicated_cvx.push(v.cvx);
                }
            }
        }
        facts
    }

    /// Table 7-6: a vaccine contraindication applies to this vaccine type.
    pub fn vaccine_contraindicated(&self, cvx: Cvx) -> bool {
        self.contraindicated_cvx.contains(&cvx)
    }

    /// Table 7-7: an antigen contraindication applies, or every preferable vaccine of the
    /// relevant patient series ("all preferable vaccines for the relevant patient series", every
    /// series dose, not only the target dose's) has a vaccine contraindication that applies.
    pub fn series_contraindicated(&self, series: &Series) -> bool {
        if self.antigen_contraindicated {
            return true;
        }
        if self.contraindicated_cvx.is_empty() {
            return false;
        }
        let mut preferable = series
            .doses
            .iter()
            .flat_map(|d| d.preferable_vaccines.iter())
            .peekable();
        preferable.peek().is_some() && preferable.all(|v| self.vaccine_contraindicated(v.cvx))
    }
}

/// Table 7-3.
fn is_immune(env: &Env, antigen: &Antigen) -> bool {
    if antigen
        .immunity
        .clinical_history
        .iter()
        .any(|c| env.has_observation(&c.code))
    {
        return true;
    }
    antigen.immunity.birth_date.iter().any(|b| {
        env.patient.birth_date < b.immunity_birth_date
            && !b.exclusions.iter().any(|x| env.has_observation(&x.code))
            && match &b.birth_country {
                None => true,
                Some(c) => env
                    .patient
                    .birth_country
                    .as_deref()
                    .is_some_and(|p| country_key(p) == country_key(c)),
            }
    })
}

fn country_key(c: &str) -> String {
    let k: String = c
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_uppercase();
    match k.as_str() {
        "US" | "USA" | "UNITEDSTATES" | "UNITEDSTATESOFAMERICA" => "US".to_string(),
        _ => k,
    }
}

/// 7.2 – 7.5 for the current target dose: the series status and why, and the forecast when
/// Not Complete.
fn forecast_once(
    env: &Env,
    facts: &AntigenFacts,
    series: &Series,
    recs: &[Rec],
    run: &Run,
) -> (SeriesStatus, ForecastReason, Option<SeriesForecast>) {
    let Some(sd) = run
        .targets
        .get(run.next)
        .and_then(|t| series.doses.get(t.series_dose))
    else {
        // No target dose left: Table 7-10 rules 2 and 3.
        return if run.satisfied() > 0 {
            (SeriesStatus::Complete, ForecastReason::SeriesComplete, None)
        } else {
            (
                SeriesStatus::NotRecommended,
                ForecastReason::DosesSkipped,
                None,
            )
        };
    };
    if facts.immune {
        return (
            SeriesStatus::Immune,
            ForecastReason::EvidenceOfImmunity,
            None,
        );
    }
    if facts.series_contraindicated(series) {
        return (
            SeriesStatus::Contraindicated,
            ForecastReason::Contraindication,
            None,
        );
    }
    let season_end = sd.season.as_ref().and_then(|s| s.end);
    if season_end.is_some_and(|e| env.today > e) {
        return (
            SeriesStatus::NotRecommended,
            ForecastReason::PastSeasonEnd,
            None,
        );
    }
    let age = age_row(&sd.ages, env.today);
    let max_age = age.and_then(|a| env.age_date(&a.max));
    if max_age.is_some_and(|m| env.today >= m) {
        return (
            SeriesStatus::AgedOut,
            ForecastReason::MaximumAgeReached,
            None,
        );
    }
    let fc = dates(env, facts, series, sd, recs, run);
    if let (Some(m), Some(e)) = (max_age, fc.earliest) {
        if e >= m {
            return (
                SeriesStatus::AgedOut,
                ForecastReason::CannotFinishBeforeMaximumAge,
                None,
            );
        }
    }
    (
        SeriesStatus::NotComplete,
        ForecastReason::DoseNeeded,
        Some(fc),
    )
}

/// FORECASTDTCAN-1, FORECASTDT-1..6, FORECASTRECVAC-1, FORECASTDN-1.
pub(crate) fn dates(
    env: &Env,
    facts: &AntigenFacts,
    series: &Series,
    sd: &SeriesDose,
    recs: &[Rec],
    run: &Run,
) -> SeriesForecast {
    let today = env.today;
    let age = age_row(&sd.ages, today);
    let min_age = age.and_then(|a| env.age_date(&a.min));
    let earliest_rec_age = age.and_then(|a| env.age_date(&a.earliest_rec));
    let latest_rec_age = age.and_then(|a| env.age_date(&a.latest_rec));
    let max_age = age.and_then(|a| env.age_date(&a.max));

    let mut min_int: Option<Date> = None;
    let mut earliest_rec_int: Option<Date> = None;
    let mut latest_rec_int: Option<Date> = None;
    let mut relevant_intervals = 0usize;
    let mut all_priority = true;
    for iv in sd
        .intervals
        .iter()
        .filter(|i| relevant(i.effective, i.cessation, today))
    {
        relevant_intervals += 1;
        all_priority &= iv.priority;
        let Some(reference) = interval_reference(
            env,
            recs,
            run,
            recs.len(),
            None,
            IntervalFrom::preferable(iv),
        ) else {
            continue;
        };
        min_int = latest([min_int, iv.min.map(|o| o.add_to(reference))]);
        earliest_rec_int = latest([
            earliest_rec_int,
            iv.earliest_rec.map(|o| o.add_to(reference)),
        ]);
        latest_rec_int = latest([latest_rec_int, iv.latest_rec.map(|o| o.add_to(reference))]);
    }

    // CALCDTCONFLICT-3: conflicts that impact a preferable vaccine of the target dose.
    let mut conflict_end: Option<Date> = None;
    for pv in &sd.preferable_vaccines {
        for &(_, prev_cvx, prev_date) in &env.live {
            let Some(end) = env
                .data
                .conflict(pv.cvx, prev_cvx)
                .and_then(|c| c.end.or(c.min_end))
            else {
                continue;
            };
            conflict_end = latest([conflict_end, Some(end.add_to(prev_date))]);
        }
    }
    let season_start = sd.season.as_ref().and_then(|s| s.start);
    let evaluated = recs
        .iter()
        .zip(&run.evals)
        .filter(|(_, e)| e.target_dose.is_some());
    let mut last_inadvertent: Option<Date> = None;
    let mut last_evaluated: Option<Date> = None;
    for (r, e) in evaluated {
        if super::evaluate::inadvertent(e) {
            last_inadvertent = latest([last_inadvertent, Some(r.date)]);
        }
        last_evaluated = latest([last_evaluated, Some(r.date)]);
    }
    let earliest = latest([
        min_age,
        min_int,
        conflict_end,
        season_start,
        last_inadvertent,
        last_evaluated,
    ])
    .unwrap_or(env.patient.birth_date);

    let unadjusted_recommended = earliest_rec_age.or(earliest_rec_int).or(Some(earliest));
    let recommended = unadjusted_recommended.map(|r| r.max(earliest));
    let unadjusted_past_due = minus_day(latest_rec_age).or(minus_day(latest_rec_int));
    let past_due = unadjusted_past_due.map(|p| p.max(earliest));
    let latest_date = minus_day(max_age);

    let mut recommended_vaccines = Vec::new();
    for v in sd.preferable_vaccines.iter().filter(|v| v.forecast) {
        let b = env.age_date(&v.begin_age).unwrap_or(MIN_DATE);
        let e = env.age_date(&v.end_age).unwrap_or(MAX_DATE);
        let fits = (b <= earliest && earliest < e) || recommended.is_some_and(|r| b <= r && r < e);
        let contraindicated = facts.vaccine_contraindicated(v.cvx);
        if fits && !contraindicated && !recommended_vaccines.contains(&v.cvx) {
            recommended_vaccines.push(v.cvx);
        }
    }

    // FORECASTDN-1
    let dose_number = 1 + run
        .targets
        .iter()
        .filter(|t| t.status == TargetDoseStatus::Satisfied)
        .filter(|t| {
            let season = series
                .doses
                .get(t.series_dose)
                .and_then(|d| d.season.as_ref())
                .and_then(|s| s.start);
            match season {
                None => true,
                Some(start) => t
                    .satisfied_by
                    .and_then(|r| recs.get(r))
                    .is_some_and(|r| r.date >= start),
            }
        })
        .count() as u32;

    SeriesForecast {
        target_dose: run.next + 1,
        dose_number,
        earliest: Some(earliest),
        recommended,
        past_due,
        latest: latest_date,
        unadjusted_recommended,
        unadjusted_past_due,
        recommended_vaccines,
        interval_priority: relevant_intervals > 0 && all_priority,
    }
}
