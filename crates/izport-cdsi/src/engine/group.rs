//! Chapter 9: vaccine group forecasts from the best patient series.

use super::*;

fn blend_type(t: SeriesType) -> SeriesType {
    match t {
        SeriesType::EvaluationOnly => SeriesType::Standard,
        t => t,
    }
}

/// Builds one forecast per vaccine group and series type present among the best series.
pub(crate) fn vaccine_groups(
    env: &Env,
    antigens: &[AntigenAssessment],
    _recs: &[Vec<Rec>],
) -> Vec<VaccineGroupAssessment> {
    let data = env.data;
    let mut out = Vec::with_capacity(data.vaccine_groups.len());
    for (gi, g) in data.vaccine_groups.iter().enumerate() {
        let members = data.antigens_of_group(gi);
        // One forecast per series group (DEFFORECAST-012): the best series of that group of
        // each antigen of the vaccine group, blended by chapter 9.
        let parts_all: Vec<(&AntigenAssessment, &PatientSeries)> = members
            .iter()
            .filter_map(|&ai| antigens.get(ai))
            .flat_map(|aa| aa.best_series().map(move |s| (aa, s)))
            .collect();
        let mut series_groups: Vec<(&str, SeriesType)> = Vec::new();
        for (_, s) in &parts_all {
            let k = (s.series_group.as_str(), blend_type(s.series_type));
            if !series_groups.contains(&k) {
                series_groups.push(k);
            }
        }
        let mut forecasts = Vec::new();
        for (sg, ty) in series_groups {
            let parts: Vec<(&AntigenAssessment, &PatientSeries)> = parts_all
                .iter()
                .copied()
                .filter(|(_, s)| s.series_group == sg && blend_type(s.series_type) == ty)
                .collect();
            forecasts.push(blend(env, g, gi, ty, sg, &parts, members.len() > 1));
        }
        // The forecast to report first: risk before standard, then the lowest series group;
        // one the patient has aged out of goes last.
        forecasts.sort_by_key(|f| {
            (
                f.status == SeriesStatus::AgedOut,
                f.series_type != SeriesType::Risk,
                group_order(&f.series_group),
            )
        });
        out.push(VaccineGroupAssessment {
            group: gi,
            name: g.name.clone(),
            forecasts,
        });
    }
    out
}

/// Series group codes sort numerically when they are numbers.
fn group_order(code: &str) -> (u64, String) {
    (code.trim().parse().unwrap_or(u64::MAX), code.to_string())
}

fn blend(
    env: &Env,
    g: &VaccineGroup,
    gi: usize,
    ty: SeriesType,
    series_group: &str,
    parts: &[(&AntigenAssessment, &PatientSeries)],
    multi: bool,
) -> GroupForecast {
    let statuses: Vec<SeriesStatus> = parts.iter().map(|(_, s)| s.status).collect();
    let status = if !multi {
        statuses
            .first()
            .copied()
            .unwrap_or(SeriesStatus::NotComplete)
    } else {
        // Table 9-4
        let any = |s: SeriesStatus| statuses.contains(&s);
        if any(SeriesStatus::Contraindicated) {
            SeriesStatus::Contraindicated
        } else if any(SeriesStatus::AgedOut) {
            SeriesStatus::AgedOut
        } else if any(SeriesStatus::NotRecommended) {
            SeriesStatus::NotRecommended
        } else if any(SeriesStatus::NotComplete) {
            SeriesStatus::NotComplete
        } else if statuses.iter().all(|s| *s == SeriesStatus::Immune) {
            SeriesStatus::Immune
        } else {
            SeriesStatus::Complete
        }
    };
    let best_series = parts
        .iter()
        .map(|(a, s)| (a.name.clone(), s.name.clone()))
        .collect();
    let mut out = GroupForecast {
        series_type: ty,
        series_group: series_group.to_string(),
        status,
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
    let fcs: Vec<&SeriesForecast> = parts
        .iter()
        .filter_map(|(_, s)| s.forecast.as_ref())
        .collect();
    if fcs.is_empty() {
        return out;
    }
    let earliest_min = fcs.iter().filter_map(|f| f.earliest).min();
    let earliest = if !multi {
        earliest_min
    } else if fcs.iter().any(|f| f.interval_priority) {
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
        fcs.iter().filter_map(|f| f.earliest).max()
    };
    // FORECASTVG-2/3/4
    let recommended = latest([fcs.iter().filter_map(|f| f.recommended).min(), earliest]);
    let past_due = fcs
        .iter()
        .filter_map(|f| f.past_due)
        .min()
        .map(|p| latest([Some(p), earliest]).unwrap_or(p));
    let latest_date = fcs.iter().filter_map(|f| f.latest).min();
    // FORECASTDN-2
    let numbers = fcs.iter().map(|f| f.dose_number);
    let dose_number = if g.administer_full == Some(true) {
        numbers.min()
    } else {
        numbers.max()
    };
    let mut vaccines = Vec::new();
    for f in &fcs {
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
