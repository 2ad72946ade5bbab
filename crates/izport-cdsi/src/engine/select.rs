//! Chapter 8: select the best patient series of an antigen.

use super::*;

/// Facts about a relevant patient series that the selection rules use.
#[derive(Clone, Debug)]
pub(crate) struct Facts<'a> {
    pub run: usize,
    /// Index of the series in the antigen's series.
    pub series: usize,
    pub series_type: SeriesType,
    pub group: &'a str,
    /// Series group identity (see `SupportingData::series_group_id`).
    pub group_id: usize,
    /// Series priority as a rank (`A` = 0 is highest); None when not given.
    pub priority: Option<u8>,
    pub preference: u32,
    pub default_series: bool,
    pub product_path: bool,
    pub status: SeriesStatus,
    pub valid: usize,
    pub first_valid: Option<Date>,
    pub max_age_to_start: Option<Date>,
    /// Every evaluation against a target dose is Valid (SELECTB-2).
    pub all_valid: bool,
    /// Target doses not satisfied (SELECTB-5).
    pub not_satisfied: usize,
    /// Forecast earliest date (start date for SELECTB-14).
    pub earliest: Option<Date>,
    /// SELECTB-12.
    pub finish: Option<Date>,
    /// SELECTB-3.
    pub completable: bool,
}

impl Facts<'_> {
    fn in_process(&self) -> bool {
        self.valid > 0 && self.status == SeriesStatus::NotComplete
    }
}

fn facts<'a>(
    env: &Env,
    antigen_index: usize,
    antigen: &'a Antigen,
    run: &Run,
    index: usize,
) -> Option<Facts<'a>> {
    let s = antigen.series.get(run.series)?;
    let valid = run.satisfied();
    let first_valid = run
        .evals
        .iter()
        .filter(|e| e.status == EvaluationStatus::Valid)
        .map(|e| e.date)
        .min();
    let all_valid = run
        .evals
        .iter()
        .filter(|e| e.target_dose.is_some())
        .all(|e| e.status == EvaluationStatus::Valid);
    let not_satisfied = run
        .targets
        .iter()
        .filter(|t| t.status == TargetDoseStatus::NotSatisfied)
        .count();
    let earliest = run.forecast.as_ref().and_then(|f| f.earliest);
    Some(Facts {
        run: index,
        series: run.series,
        series_type: s.series_type,
        group: s.select.group.as_str(),
        group_id: env.data.series_group_id(antigen_index, run.series),
        priority: s
            .select
            .priority
            .trim()
            .bytes()
            .next()
            .map(|b| b.to_ascii_uppercase().wrapping_sub(b'A')),
        preference: s.select.preference.unwrap_or(u32::MAX),
        default_series: s.select.default_series,
        product_path: s.select.product_path,
        status: run.status,
        valid,
        first_valid,
        max_age_to_start: env.age_date(&s.select.max_age_to_start),
        all_valid,
        not_satisfied,
        earliest,
        // Worked out only for series that are scored (see `finishing`).
        finish: None,
        completable: false,
    })
}

/// SELECTB-12 and SELECTB-3: the forecast finish date (the earliest date plus the latest minimum
/// interval of the remaining target doses, those after the one forecast) and whether it is
/// before the maximum age date of the last target dose.
fn finishing(env: &Env, series: &Series, run: &Run) -> (Option<Date>, bool) {
    let earliest = run.forecast.as_ref().and_then(|f| f.earliest);
    let finish = earliest.map(|e| {
        run.targets
            .iter()
            .skip(run.next + 1)
            .filter(|t| t.status == TargetDoseStatus::NotSatisfied)
            .filter_map(|t| series.doses.get(t.series_dose))
            .flat_map(|sd| sd.intervals.iter())
            .filter(|i| relevant(i.effective, i.cessation, env.today))
            .filter_map(|i| i.min)
            .map(|o| o.add_to(e))
            .fold(e, Date::max)
    });
    let last_max = run
        .targets
        .last()
        .and_then(|t| series.doses.get(t.series_dose))
        .and_then(|sd| age_row(&sd.ages, env.today))
        .and_then(|a| env.age_date(&a.max));
    let completable = match finish {
        Some(f) => last_max.is_none_or(|m| f < m),
        None => false,
    };
    (finish, completable)
}

/// Points for a condition that is true for some series: `only` if true for exactly one,
/// `shared` if true for several, `not` where false.
fn award(flags: &[bool], only: i32, shared: i32, not: i32) -> Vec<i32> {
    let n = flags.iter().filter(|f| **f).count();
    flags
        .iter()
        .map(|&f| match (f, n) {
            (false, _) => not,
            (true, 1) => only,
            (true, _) => shared,
        })
        .collect()
}

/// `true` for the items equal to the best value (by `better(a, b)` meaning a beats b).
fn best_flags<T: Copy>(vals: &[Option<T>], better_or_equal: impl Fn(T, T) -> bool) -> Vec<bool> {
    vals.iter()
        .map(|v| match v {
            None => false,
            Some(v) => vals.iter().flatten().all(|o| better_or_equal(*v, *o)),
        })
        .collect()
}

/// Table 8-7.
pub(crate) fn score_complete(c: &[&Facts]) -> Vec<i32> {
    let most = best_flags(
        &c.iter().map(|f| Some(f.valid)).collect::<Vec<_>>(),
        |a, b| a >= b,
    );
    award(&most, 1, 0, -1)
}

/// Table 8-9.
pub(crate) fn score_in_process(c: &[&Facts]) -> Vec<i32> {
    let product: Vec<bool> = c.iter().map(|f| f.product_path && f.all_valid).collect();
    let completable: Vec<bool> = c.iter().map(|f| f.completable).collect();
    let most = best_flags(
        &c.iter().map(|f| Some(f.valid)).collect::<Vec<_>>(),
        |a, b| a >= b,
    );
    // SELECTB-5: fewer not-satisfied target doses than all others (ties share).
    let closest = best_flags(
        &c.iter().map(|f| Some(f.not_satisfied)).collect::<Vec<_>>(),
        |a, b| a <= b,
    );
    // SELECTB-11: completable and finishing on or before every other completable series.
    let finish = best_flags(
        &c.iter()
            .map(|f| f.finish.filter(|_| f.completable))
            .collect::<Vec<_>>(),
        |a, b| a <= b,
    );
    let mut score = vec![0; c.len()];
    for (i, s) in score.iter_mut().enumerate() {
        *s += if product[i] { 2 } else { -2 };
        *s += if completable[i] { 3 } else { -3 };
    }
    for part in [
        award(&most, 2, 0, -2),
        award(&closest, 2, 0, -2),
        award(&finish, 1, 0, -1),
    ] {
        for (s, p) in score.iter_mut().zip(part) {
            *s += p;
        }
    }
    score
}

/// Table 8-11.
pub(crate) fn score_no_valid(c: &[&Facts]) -> Vec<i32> {
    // SELECTB-14: start date before every other series with a start date.
    let earliest = best_flags(&c.iter().map(|f| f.earliest).collect::<Vec<_>>(), |a, b| {
        a <= b
    });
    let mut score = award(&earliest, 1, 0, -1);
    for (i, s) in score.iter_mut().enumerate() {
        *s += if c[i].completable { 1 } else { -1 };
        *s += if c[i].product_path { -1 } else { 1 };
    }
    score
}

/// 8.1 – 8.7 for the series group `group`: the prioritized series (index into `all`). Scores
/// given are written to `out[i].0`.
fn prioritized<'a>(
    all: &[Facts<'a>],
    group: usize,
    out: &mut [(Option<i32>, bool, bool)],
    finishing: &dyn Fn(&Facts) -> (Option<Date>, bool),
) -> Option<usize> {
    let members = || {
        all.iter()
            .enumerate()
            .filter(move |(_, f)| f.group_id == group)
    };
    members().next()?;
    // SELECTB-24
    let all_ci = members().all(|(_, f)| f.status == SeriesStatus::Contraindicated);
    let candidate = |f: &Facts| all_ci || f.status != SeriesStatus::Contraindicated;
    let top_priority = members().filter_map(|(_, f)| f.priority).min();
    let any_valid = members().any(|(_, f)| f.valid > 0);
    let has_default = members().any(|(_, f)| f.default_series);
    // SELECTSCORE-2
    let is_scorable = |f: &Facts| match f.series_type {
        SeriesType::Risk => {
            candidate(f)
                && match (f.priority, top_priority) {
                    (Some(p), Some(top)) => p <= top,
                    _ => true,
                }
        }
        SeriesType::Standard => {
            candidate(f)
                && ((f.valid > 0
                    && match (f.first_valid, f.max_age_to_start) {
                        (Some(v), Some(m)) => v < m,
                        _ => true,
                    })
                    || (!any_valid && !has_default))
        }
        SeriesType::EvaluationOnly => f.status == SeriesStatus::Complete,
    };
    let scorable = || members().filter(move |(_, f)| is_scorable(f));
    let complete = || scorable().filter(|(_, f)| f.status == SeriesStatus::Complete);
    let in_process = || scorable().filter(|(_, f)| f.in_process());
    let default = members().find(|(_, f)| f.default_series).map(|(i, _)| i);
    let (n_scorable, n_complete, n_in_process) =
        (scorable().count(), complete().count(), in_process().count());
    // Table 8-3
    match n_scorable {
        0 => return default,
        1 => return scorable().next().map(|(i, _)| i),
        _ => {}
    }
    if n_complete == 1 {
        return complete().next().map(|(i, _)| i);
    }
    if n_complete == 0 && n_in_process == 1 {
        return in_process().next().map(|(i, _)| i);
    }
    if n_complete == 0 && n_in_process == 0 && default.is_some() {
        return default;
    }
    // Table 8-5
    let with_finish = |(i, f): (usize, &Facts<'a>)| {
        let (finish, completable) = finishing(f);
        (
            i,
            Facts {
                finish,
                completable,
                ..f.clone()
            },
        )
    };
    let (set, points): (Vec<usize>, Vec<i32>) = if n_complete >= 2 {
        let (set, f): (Vec<usize>, Vec<&Facts>) = complete().unzip();
        let points = score_complete(&f);
        (set, points)
    } else if n_in_process >= 2 {
        let (set, f): (Vec<usize>, Vec<Facts>) = in_process().map(with_finish).unzip();
        let points = score_in_process(&f.iter().collect::<Vec<_>>());
        (set, points)
    } else if scorable().all(|(_, f)| f.valid == 0) {
        let (set, f): (Vec<usize>, Vec<Facts>) = scorable().map(with_finish).unzip();
        let points = score_no_valid(&f.iter().collect::<Vec<_>>());
        (set, points)
    } else {
        // No rule of Table 8-5 applies (e.g. every series aged out): fall back on preference.
        let set: Vec<usize> = scorable().map(|(i, _)| i).collect();
        let points = vec![0; set.len()];
        (set, points)
    };
    for (&i, &p) in set.iter().zip(&points) {
        if let Some(s) = out.get_mut(i) {
            s.0 = Some(p);
        }
    }
    // SELECTBEST-1/2: highest score, then best series preference.
    set.iter()
        .zip(points)
        .min_by_key(|(&i, p)| (-*p, all[i].preference, i))
        .map(|(&i, _)| i)
}

/// 8.1 – 8.8 for an antigen: marks `best` (and `score`) on the runs.
pub(crate) fn select_best(env: &Env, antigen_index: usize, antigen: &Antigen, runs: &mut [Run]) {
    if runs.is_empty() {
        return;
    }
    let all: Vec<Facts> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| facts(env, antigen_index, antigen, r, i))
        .collect();
    // Per fact: (score, prioritized for its series group, best).
    let mut out: Vec<(Option<i32>, bool, bool)> = vec![(None, false, false); all.len()];
    {
        let finish_of = |f: &Facts| match (runs.get(f.run), antigen.series.get(f.series)) {
            (Some(run), Some(series)) => finishing(env, series, run),
            _ => (None, false),
        };
        for (i, f) in all.iter().enumerate() {
            if all[..i].iter().any(|o| o.group_id == f.group_id) {
                continue;
            }
            if let Some(p) = prioritized(&all, f.group_id, &mut out, &finish_of) {
                if let Some(x) = out.get_mut(p) {
                    x.1 = true;
                }
            }
        }
    }
    // Table 8-14
    for i in 0..all.len() {
        if !out[i].1 {
            continue;
        }
        let f = &all[i];
        let Some(series) = antigen.series.get(f.series) else {
            continue;
        };
        let equivalent = |other: &str| {
            other != f.group && series.equivalent_series_groups.iter().any(|e| e == other)
        };
        let chosen = || all.iter().zip(&out).filter(|(_, o)| o.1).map(|(f, _)| f);
        let best = if f.status == SeriesStatus::Complete {
            true
        } else {
            let equivalent_complete =
                chosen().any(|o| equivalent(o.group) && o.status == SeriesStatus::Complete);
            let equivalent_risk =
                chosen().any(|o| equivalent(o.group) && o.series_type == SeriesType::Risk);
            match f.series_type {
                _ if equivalent_complete => false,
                SeriesType::EvaluationOnly => false,
                SeriesType::Risk => true,
                SeriesType::Standard => !equivalent_risk,
            }
        };
        out[i].2 = best;
    }
    for (f, (score, _, best)) in all.iter().zip(out) {
        if let Some(r) = runs.get_mut(f.run) {
            r.score = score;
            r.best = best;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(valid: usize, status: SeriesStatus) -> Facts<'static> {
        Facts {
            run: 0,
            series: 0,
            series_type: SeriesType::Standard,
            group: "1",
            group_id: 0,
            priority: Some(0),
            preference: 1,
            default_series: false,
            product_path: false,
            status,
            valid,
            first_valid: None,
            max_age_to_start: None,
            all_valid: true,
            not_satisfied: 0,
            earliest: None,
            finish: None,
            completable: false,
        }
    }

    // Table 8-7: +1 when only this series has the most valid doses, 0 when shared, -1 otherwise.
    #[test]
    fn complete_scoring() {
        let a = f(3, SeriesStatus::Complete);
        let b = f(2, SeriesStatus::Complete);
        assert_eq!(score_complete(&[&a, &b]), vec![1, -1]);
        let c = f(3, SeriesStatus::Complete);
        assert_eq!(score_complete(&[&a, &c, &b]), vec![0, 0, -1]);
    }

    // Table 8-9 worked by hand: product+all valid (+2/-2), completable (+3/-3), most valid
    // (+2/0/-2), closest (+2/0/-2), finish earliest (+1/0/-1).
    #[test]
    fn in_process_scoring() {
        let d = |s: &str| crate::date::parse_date(s).unwrap();
        let mut a = f(2, SeriesStatus::NotComplete);
        a.product_path = true;
        a.completable = true;
        a.not_satisfied = 1;
        a.finish = Some(d("2026-01-01"));
        let mut b = f(1, SeriesStatus::NotComplete);
        b.completable = true;
        b.not_satisfied = 2;
        b.finish = Some(d("2026-06-01"));
        // a: 2 + 3 + 2 + 2 + 1 = 10; b: -2 + 3 - 2 - 2 - 1 = -4
        assert_eq!(score_in_process(&[&a, &b]), vec![10, -4]);
        b.finish = Some(d("2026-01-01"));
        b.valid = 2;
        b.not_satisfied = 1;
        // a: 2 + 3 + 0 + 0 + 0 = 5; b: -2 + 3 + 0 + 0 + 0 = 1
        assert_eq!(score_in_process(&[&a, &b]), vec![5, 1]);
    }

    // Table 8-11: start earliest (+1/0/-1), completable (+1/-1), product path (-1/+1).
    #[test]
    fn no_valid_scoring() {
        let d = |s: &str| crate::date::parse_date(s).unwrap();
        let mut a = f(0, SeriesStatus::NotComplete);
        a.earliest = Some(d("2026-01-01"));
        a.completable = true;
        let mut b = f(0, SeriesStatus::NotComplete);
        b.earliest = Some(d("2026-02-01"));
        b.completable = true;
        b.product_path = true;
        assert_eq!(score_no_valid(&[&a, &b]), vec![3, -1]);
        let mut c = f(0, SeriesStatus::AgedOut);
        c.earliest = None;
        assert_eq!(score_no_valid(&[&a, &c]), vec![3, -1]);
    }
}
