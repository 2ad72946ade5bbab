//! Chapter 6: evaluate each antigen record against the current target dose (Figure 4-6 loop).

use super::skip::{can_skip, SkipFacts, SkipInput, Use};
use super::*;

/// Figure 4-6: walk the target doses and the antigen records together.
pub(crate) fn evaluate_series(
    env: &Env,
    antigen: &Antigen,
    series: &Series,
    recs: &[Rec],
    run: &mut Run,
    done: &[Run],
) {
    for r in 0..recs.len() {
        let rec = &recs[r];
        loop {
            // Figure 4-6 step 6a: no target dose left, the record is extraneous.
            let Some(sd) = run
                .targets
                .get(run.next)
                .and_then(|t| series.doses.get(t.series_dose))
            else {
                run.evals.push(evaluation(
                    rec,
                    EvaluationStatus::Extraneous,
                    Reasons::one(EvaluationReason::SeriesAlreadyComplete),
                    None,
                ));
                break;
            };
            // 6.1 Can the dose be evaluated?
            let expired = rec.lot_expiration.is_some_and(|e| rec.date > e);
            if expired || rec.substandard {
                let reason = if expired {
                    EvaluationReason::Expired
                } else {
                    EvaluationReason::DoseCondition
                };
                run.evals.push(evaluation(
                    rec,
                    EvaluationStatus::SubStandard,
                    Reasons::one(reason),
                    Some(run.next),
                ));
                break;
            }
            // 6.2 Conditional skip (context Evaluation or Both).
            let skipped = {
                let facts = SkipFacts {
                    env,
                    antigen,
                    recs,
                    run,
                    done,
                };
                let input = SkipInput {
                    used_in: Use::Evaluation,
                    reference: rec.date,
                    anchor: rec.date,
                    upto: r,
                    previous: previous_dose(run, recs, r),
                };
                can_skip(&facts, sd, &input)
            };
            if skipped {
                if let Some(t) = run.targets.get_mut(run.next) {
                    t.status = TargetDoseStatus::Skipped;
                }
                run.next += 1;
                continue;
            }
            // 6.3 – 6.10
            let (status, reasons) = evaluate_dose(env, series, sd, recs, r, run);
            let valid = status == EvaluationStatus::Valid;
            run.evals
                .push(evaluation(rec, status, reasons, Some(run.next)));
            if valid {
                if let Some(t) = run.targets.get_mut(run.next) {
                    t.status = TargetDoseStatus::Satisfied;
                    t.satisfied_by = Some(r);
                }
                if sd.recurring {
                    let copy = TargetDose {
                        series_dose: target_series_dose(run),
                        status: TargetDoseStatus::NotSatisfied,
                        satisfied_by: None,
                    };
                    run.targets.insert(run.next + 1, copy);
                }
                run.next += 1;
            }
            break;
        }
    }
}

/// A record's evaluation against target dose `target` (0-based; None when no target was left).
fn evaluation(
    rec: &Rec,
    status: EvaluationStatus,
    reasons: Reasons,
    target: Option<usize>,
) -> DoseEvaluation {
    DoseEvaluation {
        dose: rec.dose,
        date: rec.date,
        cvx: rec.cvx,
        status,
        reasons,
        target_dose: target.map(|t| t + 1),
    }
}

/// An inadvertent administration (6.3): the reason says so.
pub(crate) fn inadvertent(e: &DoseEvaluation) -> bool {
    e.reasons.contains(EvaluationReason::Inadvertent)
}

fn target_series_dose(run: &Run) -> usize {
    run.targets
        .get(run.next)
        .map(|t| t.series_dose)
        .unwrap_or(0)
}

/// CALCDTINT-1 reference: the most recent earlier record of the series that is Valid or Not
/// Valid and not an inadvertent administration.
pub(crate) fn previous_dose(run: &Run, recs: &[Rec], before: usize) -> Option<Date> {
    (0..before.min(recs.len())).rev().find_map(|j| {
        let e = run.evals.get(j)?;
        let counts = matches!(
            e.status,
            EvaluationStatus::Valid | EvaluationStatus::NotValid
        ) && !inadvertent(e);
        counts.then(|| recs[j].date)
    })
}

/// What an interval is measured from.
#[derive(Clone, Copy)]
pub(crate) struct IntervalFrom<'a> {
    pub previous: bool,
    pub target_dose: Option<u32>,
    pub most_recent: &'a [Cvx],
    pub observation: Option<&'a CodeText>,
}

impl<'a> IntervalFrom<'a> {
    pub fn preferable(iv: &'a Interval) -> Self {
        IntervalFrom {
            previous: iv.from_previous,
            target_dose: iv.from_target_dose,
            most_recent: &iv.from_most_recent,
            observation: iv.from_relevant_obs.as_ref(),
        }
    }
    pub fn allowable(iv: &'a AllowableInterval) -> Self {
        IntervalFrom {
            previous: iv.from_previous,
            target_dose: iv.from_target_dose,
            most_recent: &[],
            observation: None,
        }
    }
}

/// The reference date of an interval (CALCDTINT-1/2/8/9). `before` is the index of the record
/// being evaluated (all records when forecasting); `cutoff` is its date (None in forecast,
/// where every dose up to the assessment date counts).
pub(crate) fn interval_reference(
    env: &Env,
    recs: &[Rec],
    run: &Run,
    before: usize,
    cutoff: Option<Date>,
    from: IntervalFrom,
) -> Option<Date> {
    let IntervalFrom {
        previous: from_previous,
        target_dose: from_target_dose,
        most_recent: from_most_recent,
        observation: from_obs,
    } = from;
    if from_previous {
        return previous_dose(run, recs, before);
    }
    if let Some(n) = from_target_dose {
        let idx = usize::try_from(n).ok()?.checked_sub(1)?;
        let r = run.targets.get(idx)?.satisfied_by?;
        return recs.get(r).map(|x| x.date);
    }
    if !from_most_recent.is_empty() {
        let inadvertent = |dose: usize| {
            recs.iter()
                .zip(&run.evals)
                .any(|(rec, e)| rec.dose == dose && inadvertent(e))
        };
        return env
            .doses
            .iter()
            .enumerate()
            .filter(|(_, d)| from_most_recent.contains(&d.cvx))
            .filter(|(_, d)| match cutoff {
                Some(c) => d.date < c,
                None => d.date <= env.today,
            })
            .filter(|(i, _)| !inadvertent(*i))
            .map(|(_, d)| d.date)
            .max();
    }
    if let Some(o) = from_obs {
        return env.observation_date(&o.code);
    }
    None
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum AgeOutcome {
    Valid,
    TooYoung,
    TooOld,
}

fn evaluate_dose(
    env: &Env,
    _series: &Series,
    sd: &SeriesDose,
    recs: &[Rec],
    r: usize,
    run: &Run,
) -> (EvaluationStatus, Reasons) {
    let rec = &recs[r];
    let d = rec.date;
    let mut reasons = Reasons::empty();
    // 6.3 Inadvertent vaccine
    if sd.inadvertent_vaccines.iter().any(|v| v.cvx == rec.cvx) {
        return (
            EvaluationStatus::NotValid,
            Reasons::one(EvaluationReason::Inadvertent),
        );
    }
    // 6.4 Age (Table 6-15)
    let mut age = AgeOutcome::Valid;
    if let Some(row) = age_row(&sd.ages, d) {
        let abs_min = env.age_date(&row.abs_min).unwrap_or(MIN_DATE);
        let min = env.age_date(&row.min).unwrap_or(MIN_DATE);
        let max = env.age_date(&row.max).unwrap_or(MAX_DATE);
        if d < abs_min {
            age = AgeOutcome::TooYoung;
            reasons.push(EvaluationReason::AgeTooYoung);
        } else if d >= max {
            age = AgeOutcome::TooOld;
            reasons.push(EvaluationReason::AgeTooOld);
        } else if d < min {
            reasons.push(EvaluationReason::AgeGracePeriod);
        }
    }
    // 6.5 Preferable intervals: every relevant one must pass.
    let mut preferable_ok = true;
    let mut grace = false;
    for iv in sd
        .intervals
        .iter()
        .filter(|i| relevant(i.effective, i.cessation, d))
    {
        let Some(reference) =
            interval_reference(env, recs, run, r, Some(d), IntervalFrom::preferable(iv))
        else {
            continue;
        };
        let abs_min = iv.abs_min.map(|o| o.add_to(reference)).unwrap_or(MIN_DATE);
        let min = iv.min.map(|o| o.add_to(reference)).unwrap_or(MIN_DATE);
        if d < abs_min {
            preferable_ok = false;
        } else if d < min {
            grace = true;
        }
    }
    // 6.6 Allowable intervals, when the preferable ones fail; none defined = fail.
    let mut interval_ok = preferable_ok;
    if !preferable_ok {
        let allowable: Vec<&AllowableInterval> = sd
            .allowable_intervals
            .iter()
            .filter(|i| relevant(i.effective, i.cessation, d))
            .collect();
        let allowable_ok = !allowable.is_empty()
            && allowable.iter().all(|iv| {
                let reference =
                    interval_reference(env, recs, run, r, Some(d), IntervalFrom::allowable(iv));
                match reference {
                    None => true,
                    Some(reference) => {
                        d >= iv.abs_min.map(|o| o.add_to(reference)).unwrap_or(MIN_DATE)
                    }
                }
            });
        if allowable_ok {
            interval_ok = true;
            reasons.push(EvaluationReason::AllowableInterval);
        } else {
            reasons.push(EvaluationReason::IntervalTooSoon);
        }
    } else if grace {
        reasons.push(EvaluationReason::IntervalGracePeriod);
    }
    // 6.7 Live virus conflict
    let impacted = is_impacted(env, recs, run, r);
    if impacted {
        reasons.push(EvaluationReason::LiveVirusConflict);
    }
    // 6.8 / 6.9 Preferable or allowable vaccine
    let vaccine_ok = vaccine_check(env, sd, rec, &mut reasons);
    // 6.10 Table 6-31
    let status = if age == AgeOutcome::TooOld {
        EvaluationStatus::Extraneous
    } else if age == AgeOutcome::TooYoung || !interval_ok || impacted || !vaccine_ok {
        EvaluationStatus::NotValid
    } else {
        EvaluationStatus::Valid
    };
    (status, reasons)
}

fn in_window(env: &Env, begin: &Option<Offset>, end: &Option<Offset>, d: Date) -> bool {
    env.age_date(begin).unwrap_or(MIN_DATE) <= d && d < env.age_date(end).unwrap_or(MAX_DATE)
}

/// 6.8 then 6.9. Returns whether the vaccine is preferable or allowable.
fn vaccine_check(env: &Env, sd: &SeriesDose, rec: &Rec, reasons: &mut Reasons) -> bool {
    let d = rec.date;
    let mut pref_reason = None;
    for v in sd.preferable_vaccines.iter().filter(|v| v.cvx == rec.cvx) {
        if !in_window(env, &v.begin_age, &v.end_age, d) {
            pref_reason.get_or_insert(EvaluationReason::PreferableVaccineOutOfAge);
            continue;
        }
        if !v.mvx.is_empty() && !v.mvx.eq_ignore_ascii_case(rec.mvx) {
            pref_reason = Some(EvaluationReason::PreferableVaccineWrongProduct);
            continue;
        }
        return true;
    }
    let mut allow_out_of_age = false;
    for v in sd.allowable_vaccines.iter().filter(|v| v.cvx == rec.cvx) {
        if in_window(env, &v.begin_age, &v.end_age, d) {
            reasons.push(EvaluationReason::AllowableVaccine);
            return true;
        }
        allow_out_of_age = true;
    }
    if let Some(p) = pref_reason {
        reasons.push(p);
    }
    if allow_out_of_age {
        reasons.push(EvaluationReason::AllowableVaccineOutOfAge);
    } else if pref_reason.is_none() {
        reasons.push(EvaluationReason::NotPreferableOrAllowable);
    }
    false
}

/// 6.7, CALCDTCONFLICT-1/2, CONFLICT-3: is the record impacted by an earlier conflicting dose
/// (of any antigen)?
fn is_impacted(env: &Env, recs: &[Rec], run: &Run, r: usize) -> bool {
    let rec = &recs[r];
    if env.data.conflicts_impacting(rec.cvx).is_empty() {
        return false;
    }
    for &(di, prev_cvx, prev_date) in &env.live {
        if di == rec.dose || prev_date > rec.date {
            continue;
        }
        let Some(c) = env.data.conflict(rec.cvx, prev_cvx) else {
            continue;
        };
        let begin = c.begin.map(|o| o.add_to(prev_date)).unwrap_or(prev_date);
        // The previous dose's evaluation status in this series, if it has one.
        let status = recs
            .iter()
            .position(|x| x.dose == di)
            .and_then(|j| run.status_of(j));
        let end_offset = match status {
            None | Some(EvaluationStatus::Valid) => c.min_end.or(c.end),
            Some(_) => c.end.or(c.min_end),
        };
        let Some(end_offset) = end_offset else {
            continue;
        };
        let end = end_offset.add_to(prev_date);
        if begin <= rec.date && rec.date < end {
            return true;
        }
    }
    false
}
