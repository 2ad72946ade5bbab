//! Chapter 9: vaccine group forecasts from the best patient series.

use super::*;

fn blend_type(t: SeriesType) -> SeriesType {
    match t {
        SeriesType::EvaluationOnly => SeriesType::Standard,
        t => t,
    }
}

/// Builds one forecast per vaccine group and series group present among the best series.
pub(crate) fn vaccine_groups<'a>(
    env: &Env<'a, '_>,
    antigens: &[AntigenAssessment<'a>],
) -> Vec<VaccineGroupAssessment<'a>> {
    let data = env.data;
    let mut out = Vec::with_capacity(data.vaccine_groups.len());
    // The best series of the vaccine group's antigens, and those of one series group.
    let mut all: Vec<(&AntigenAssessment<'a>, &PatientSeries<'a>)> = Vec::new();
    let mut parts: Vec<(&AntigenAssessment<'a>, &PatientSeries<'a>)> = Vec::new();
    for (gi, g) in data.vaccine_groups.iter().enumerate() {
        let members = data.antigens_of_group(gi);
        all.clear();
        all.extend(
            members
                .iter()
                .filter_map(|&ai| antigens.get(ai))
                .flat_map(|aa| aa.best_series().map(move |s| (aa, s))),
        );
        // One forecast per series group (DEFFORECAST-012): the best series of that group of
        // each antigen of the vaccine group, blended by chapter 9.
        let key = |s: &PatientSeries<'a>| (s.series_group, blend_type(s.series_type));
        let mut forecasts = Vec::new();
        for (i, (_, s)) in all.iter().enumerate() {
            let k = key(s);
            if all[..i].iter().any(|(_, p)| key(p) == k) {
                continue;
            }
            parts.clear();
            parts.extend(all[i..].iter().filter(|(_, p)| key(p) == k));
            forecasts.push(blend(env, g, gi, k.1, k.0, &parts, members.len() > 1));
        }
        // The forecast to report first: risk before standard, then the lowest series group;
        // one the patient has aged out of goes last.
        forecasts.sort_by(|a, b| {
            let order = |f: &GroupForecast<'a>| {
                (
                    f.status == SeriesStatus::AgedOut,
                    f.series_type != SeriesType::Risk,
                    f.series_group.trim().parse::<u64>().unwrap_or(u64::MAX),
                )
            };
            order(a)
                .cmp(&order(b))
                .then_with(|| a.series_group.cmp(b.series_group))
        });
        out.push(VaccineGroupAssessment {
            group: gi,
            name: g.name.as_str(),
            forecasts,
        });
    }
    out
}

fn blend<'a>(
    env: &Env<'a, '_>,
    g: &VaccineGroup,
    gi: usize,
    ty: SeriesType,
    series_group: &'a str,
    parts: &[(&AntigenAssessment<'a>, &PatientSeries<'a>)],
    multi: bool,
) -> GroupForecast<'a> {
    let statuses = parts.iter().map(|(_, s)| s.status);
    let status = if !multi {
        statuses.clone().next().unwrap_or(SeriesStatus::NotComplete)
    } else {
        // Table 9-4
        let any = |x: SeriesStatus| statuses.clone().any(|s| s == x);
        if any(SeriesStatus::Contraindicated) {
            SeriesStatus::Contraindicated
        } else if any(SeriesStatus::AgedOut) {
            SeriesStatus::AgedOut
        } else if any(SeriesStatus::NotRecommended) {
            SeriesStatus::NotRecommended
        } else if any(SeriesStatus::NotComplete) {
            SeriesStatus::NotComplete
        } else if statuses.clone().all(|s| s == SeriesStatus::Immune) {
            SeriesStatus::Immune
        } else {
            SeriesStatus::Complete
        }
    };
    // The reason of the first best series whose status the group took.
    let reason = parts
        .iter()
        .find(|(_, s)| s.status == status)
        .and_then(|(_, s)| s.forecast_reason);
    let best_series = parts.iter().map(|(a, s)| (a.name, s.name)).collect();
    let mut out = GroupForecast {
        series_type: ty,
        series_group,
        status,
        reason,
        dose_number: None,
        earliest: None,
        recommended: None,
        past_due: None,
        latest: None,
        recommended_vaccines: Vec::new(),
        best_series,
    };
    if status != SeriesStatus::NotComplete {
        return out;
    }
    let fcs = parts.iter().filter_map(|(_, s)| s.forecast.as_ref());
    if fcs.clone().next().is_none() {
        return out;
    }
    let earliest_min = fcs.clone().filter_map(|f| f.earliest).min();
    let earliest = if !multi {
        earliest_min
    } else if fcs.clone().any(|f| f.interval_priority) {
        // MULTIANTVG-1 with a priority forecast: not before the last dose of the group.
        let group_cvx = env.data.group_cvx(gi);
        let last_dose = env
            .doses
            .iter()
            .filter(|d| group_cvx.contains(&d.cvx))
            .map(|d| d.date)
            .max();
        latest([earliest_min, last_dose])
    } else {
        fcs.clone().filter_map(|f| f.earliest).max()
    };
    // FORECASTVG-2/3/4
    let recommended = latest([fcs.clone().filter_map(|f| f.recommended).min(), earliest]);
    let past_due = fcs
        .clone()
        .filter_map(|f| f.past_due)
        .min()
        .map(|p| latest([Some(p), earliest]).unwrap_or(p));
    let latest_date = fcs.clone().filter_map(|f| f.latest).min();
    // FORECASTDN-2
    let numbers = fcs.clone().map(|f| f.dose_number);
    let dose_number = if g.administer_full == Some(true) {
        numbers.min()
    } else {
        numbers.max()
    };
    let mut vaccines = Vec::new();
    for f in fcs {
        for v in &f.recommended_vaccines {
            if !vaccines.contains(v) {
                vaccines.push(*v);
            }
        }
    }
    out.dose_number = dose_number;
    out.earliest = earliest;
    out.recommended = recommended;
    out.past_due = past_due;
    out.latest = latest_date;
    out.recommended_vaccines = vaccines;
    out
}
