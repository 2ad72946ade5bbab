//! Conditional skip (6.2, 7.1, 7.6): Tables 6-6 to 6-11, CONDSKIP-1/2.

use super::{relevant, Env, Rec, Run, SeriesStatus, MAX_DATE, MIN_DATE};
use crate::data::*;
use crate::engine::EvaluationStatus;
use jiff::civil::Date;

/// Where a skip is being evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    /// Evaluating a dose (context Evaluation or Both).
    Evaluation,
    /// Forecasting or validating a forecast (context Forecast or Both).
    Forecast,
}

/// The inputs of a skip decision.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SkipInput {
    pub used_in: Use,
    /// CONDSKIP-2 reference date: date administered, assessment date, or earliest date.
    pub reference: Date,
    /// RELEVANT anchor for set effective/cessation dates.
    pub anchor: Date,
    /// Only records `[..upto]` are counted (those before the dose evaluated).
    pub upto: usize,
    /// The immediate previous dose (Interval conditions, CALCDTSKIP-5).
    pub previous: Option<Date>,
}

/// Facts the skip conditions need besides the patient's records.
pub(crate) struct SkipFacts<'a> {
    pub env: &'a Env<'a, 'a>,
    pub recs: &'a [Rec<'a>],
    pub run: &'a Run,
    /// The antigen.
    pub antigen: &'a Antigen,
    /// Already evaluated and forecast series of the antigen.
    pub done: &'a [Run],
}

/// Table 6-11 over every conditional skip instance of the dose that applies in this use.
pub(crate) fn can_skip(f: &SkipFacts, dose: &SeriesDose, inp: &SkipInput) -> bool {
    dose.conditional_skips.iter().any(|k| {
        let applies = match inp.used_in {
            Use::Evaluation => k.context.in_evaluation(),
            Use::Forecast => k.context.in_forecast(),
        };
        applies && skip_instance(f, k, inp)
    })
}

fn skip_instance(f: &SkipFacts, k: &ConditionalSkip, inp: &SkipInput) -> bool {
    let mut total = 0;
    let mut met = 0;
    for s in k
        .sets
        .iter()
        .filter(|s| relevant(s.effective, s.cessation, inp.anchor))
    {
        total += 1;
        if set_met(f, s, inp) {
            met += 1;
            if k.set_logic == Some(Logic::Or) {
                return true;
            }
        }
    }
    combine(k.set_logic, met, total)
}

/// Tables 6-10 / 6-11: AND needs all, OR needs one; with no logic given (one item), AND.
pub(crate) fn combine(logic: Option<Logic>, met: usize, total: usize) -> bool {
    if total == 0 {
        return false;
    }
    match logic {
        Some(Logic::Or) => met > 0,
        Some(Logic::And) | None => met == total,
    }
}

fn set_met(f: &SkipFacts, s: &SkipSet, inp: &SkipInput) -> bool {
    let met = s
        .conditions
        .iter()
        .filter(|c| condition_met(f, c, inp))
        .count();
    combine(s.condition_logic, met, s.conditions.len())
}

/// The date a series was completed: its last satisfying dose.
fn completed_on(recs: &[Rec], run: &Run) -> Option<Date> {
    run.targets
        .iter()
        .filter_map(|t| t.satisfied_by)
        .filter_map(|i| recs.get(i))
        .map(|x| x.date)
        .max()
}

fn condition_met(f: &SkipFacts, c: &SkipCondition, inp: &SkipInput) -> bool {
    let env = f.env;
    let begin_age = env.age_date(&c.begin_age).unwrap_or(MIN_DATE);
    let end_age = env.age_date(&c.end_age).unwrap_or(MAX_DATE);
    match c.kind {
        // Table 6-6
        ConditionKind::Age => begin_age <= inp.reference && inp.reference < end_age,
        // Table 6-7, judged as of the reference date: when evaluating a dose, the other series
        // must have been completed by an earlier dose.
        ConditionKind::CompletedSeries => f.done.iter().any(|d| {
            d.status == SeriesStatus::Complete
                && f.antigen
                    .series
                    .get(d.series)
                    .is_some_and(|s| c.series_groups.contains(&s.select.group))
                && completed_on(f.recs, d).is_none_or(|on| match inp.used_in {
                    Use::Evaluation => on < inp.reference,
                    Use::Forecast => on <= inp.reference,
                })
        }),
        // Table 6-8
        ConditionKind::Interval => match (inp.previous, c.interval) {
            (Some(p), Some(iv)) => inp.reference >= iv.add_to(p),
            _ => false,
        },
        // Table 6-9, CONDSKIP-1
        ConditionKind::VaccineCountByAge
        | ConditionKind::VaccineCountByDate
        | ConditionKind::VaccineCountByDateAndAge => {
            let start = c.start_date.unwrap_or(MIN_DATE);
            let end = c.end_date.unwrap_or(MAX_DATE);
            let valid_only = c.dose_type == Some(DoseType::Valid);
            let count = f
                .recs
                .iter()
                .enumerate()
                .take(inp.upto)
                .filter(|(_, r)| c.vaccine_types.is_empty() || c.vaccine_types.contains(&r.cvx))
                .filter(|(_, r)| begin_age <= r.date && r.date < end_age)
                .filter(|(_, r)| start <= r.date && r.date < end)
                .filter(|(i, _)| {
                    !valid_only || f.run.status_of(*i) == Some(EvaluationStatus::Valid)
                })
                .count() as u64;
            let Some(n) = c.dose_count.map(u64::from) else {
                return false;
            };
            match c.count_logic {
                Some(CountLogic::GreaterThan) => count > n,
                Some(CountLogic::EqualTo) => count == n,
                Some(CountLogic::LessThan) => count < n,
                None => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Tables 6-10 and 6-11 of the logic specification.
    #[test]
    fn set_and_condition_logic() {
        assert!(combine(Some(Logic::And), 2, 2));
        assert!(!combine(Some(Logic::And), 1, 2));
        assert!(!combine(Some(Logic::And), 0, 2));
        assert!(combine(Some(Logic::Or), 2, 2));
        assert!(combine(Some(Logic::Or), 1, 2));
        assert!(!combine(Some(Logic::Or), 0, 2));
        assert!(combine(None, 1, 1));
        assert!(!combine(None, 0, 1));
        assert!(!combine(Some(Logic::Or), 0, 0));
    }
}
