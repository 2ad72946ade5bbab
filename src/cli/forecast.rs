//! `izport forecast`: what CDC's CDSi logic says about a registry patient, or about CDC's test
//! cases.
//!
//! - `forecast PATIENT_ID [--date D] [--json]`: the patient's consolidated history evaluated and
//!   the forecast per vaccine group, on D (default: today, UTC), with the supporting data a
//!   server would use (the imported release, else the built-in one). The same work as a Z44's
//!   Z42.
//! - `forecast --cases FILE.csv [--json]`: every case of a sheet in CDC's test-case layout, run
//!   at its own assessment date with the built-in data and compared by the strict rule
//!   (`izport_cdsi::testcases`): one line per case (PASS, or FAIL and the first difference),
//!   then the totals; with `--json` the last line is one JSON object of the totals. No database
//!   is opened.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use izport_cdsi::testcases::{run_sheet, CaseResult, Summary};
use izport_cdsi::{assess, Assessment};
use serde_json::json;

use crate::date::Date;
use crate::registry::forecast::{engine_input, Schedule};
use crate::store::Db;

#[derive(Args, Debug)]
pub struct ForecastArgs {
    /// The registry's id of the patient (as `izport audit` and the RSP's PID-3 SR give it)
    #[arg(required_unless_present = "cases", conflicts_with = "cases")]
    pub patient_id: Option<i64>,
    /// The assessment date, YYYY-MM-DD (default: today, UTC)
    #[arg(long, conflicts_with = "cases")]
    pub date: Option<Date>,
    /// Run the CDC test cases of FILE (CDC's test-case CSV layout) instead
    #[arg(long, value_name = "FILE")]
    pub cases: Option<PathBuf>,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

impl ForecastArgs {
    /// Whether the command needs the database (a patient does, test cases do not).
    pub fn needs_database(&self) -> bool {
        self.cases.is_none()
    }
}

/// `forecast PATIENT_ID` (with a database), or `--cases`.
pub async fn run(db: &Db, args: ForecastArgs) -> anyhow::Result<()> {
    match (args.patient_id, &args.cases) {
        (_, Some(file)) => run_cases(file, args.json).map(|_| ()),
        (Some(id), None) => {
            let schedule = schedule_in_use(db).await?;
            run_patient(db, &schedule, id, args.date, args.json).await
        }
        (None, None) => bail!("give a patient id or --cases FILE"),
    }
}

/// `forecast --cases FILE`: prints the report and returns the totals.
pub fn run_cases(file: &std::path::Path, json: bool) -> anyhow::Result<Summary> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading test cases from {}", file.display()))?;
    let data = Schedule::builtin()?;
    let (results, summary) =
        run_sheet(data.data(), &text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if summary.cases == 0 {
        bail!("{}: no test cases found", file.display());
    }
    print!("{}", cases_report(&results, &summary, data.version(), json));
    Ok(summary)
}

/// The JSON totals, in this order.
#[derive(serde::Serialize)]
struct Totals<'a> {
    cases: usize,
    passed: usize,
    evaluation_passed: usize,
    forecast_passed: usize,
    failed: &'a [String],
}

/// The report of a sheet: one line per case, then the totals (`json`: one object, last).
pub fn cases_report(results: &[CaseResult], s: &Summary, version: &str, json: bool) -> String {
    let mut out = String::new();
    for r in results {
        match (&r.first_difference, r.passed()) {
            (_, true) => out.push_str(&format!("PASS {}\n", r.id)),
            (Some(d), false) => out.push_str(&format!("FAIL {}: {d}\n", r.id)),
            (None, false) => out.push_str(&format!("FAIL {}\n", r.id)),
        }
    }
    if json {
        let totals = Totals {
            cases: s.cases,
            passed: s.passed,
            evaluation_passed: s.evaluation_passed,
            forecast_passed: s.forecast_passed,
            failed: &s.failed,
        };
        let line = serde_json::to_string(&totals).unwrap_or_default();
        out.push_str(&line);
        out.push('\n');
    } else {
        out.push_str(&format!(
            "{} cases (supporting data {version}): {} passed (evaluation and forecast), \
             {} evaluation passed, {} forecast passed\n",
            s.cases, s.passed, s.evaluation_passed, s.forecast_passed
        ));
    }
    out
}

/// `forecast PATIENT_ID`.
pub async fn run_patient(
    db: &Db,
    schedule: &Schedule,
    patient_id: i64,
    date: Option<Date>,
    json: bool,
) -> anyhow::Result<()> {
    let Some((id, birth, sex)) = db.patient_birth_and_sex(patient_id).await? else {
        bail!("no patient {patient_id}");
    };
    let birth_date: Date = birth
        .parse()
        .with_context(|| format!("patient {id}: birth date {birth:?}"))?;
    let events = db.history(id).await?;
    let observations = db.observations_of(id).await?;
    let today = date.unwrap_or_else(|| crate::clock::utc_date(jiff::Timestamp::now()));
    let data = schedule.data();
    let (patient, doses, codes) =
        engine_input(data, birth_date, sex.as_deref(), &events, &observations);
    let a = assess(data, &patient, &doses, &codes, today);
    let dose_of = |i: usize| doses.get(i).map(|d| (d.cvx, d.date));
    if json {
        println!("{}", assessment_json(id, schedule, &a, &dose_of));
    } else {
        print!(
            "{}",
            assessment_text(id, birth_date, schedule, &a, &dose_of)
        );
    }
    Ok(())
}

fn day(d: Option<Date>) -> Option<String> {
    d.map(|d| d.to_string())
}

fn assessment_json(
    id: i64,
    schedule: &Schedule,
    a: &Assessment<'_>,
    dose_of: &dyn Fn(usize) -> Option<(u16, Date)>,
) -> serde_json::Value {
    let doses: Vec<serde_json::Value> = a
        .doses
        .iter()
        .map(|d| {
            let (cvx, date) = dose_of(d.index).unzip();
            json!({
                "date": day(date),
                "cvx": cvx,
                "evaluations": d.components.iter().map(|c| json!({
                    "antigen": c.antigen,
                    "vaccine_group": c.vaccine_group,
                    "series": c.series,
                    "status": c.status.as_str(),
                    "reasons": c.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                    "dose_number": if c.satisfied { c.target_dose } else { None },
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let forecasts: Vec<serde_json::Value> = a
        .vaccine_groups
        .iter()
        .filter_map(|g| {
            let f = g.primary()?;
            Some(json!({
                "vaccine_group": g.name,
                "status": f.status.as_str(),
                "reason": f.reason.map(|r| r.as_str()),
                "dose_number": f.dose_number,
                "earliest": day(f.earliest),
                "recommended": day(f.recommended),
                "past_due": day(f.past_due),
                "latest": day(f.latest),
            }))
        })
        .collect();
    json!({
        "patient": id,
        "assessment_date": a.assessment_date.to_string(),
        "supporting_data": {"version": schedule.version(), "origin": schedule.origin()},
        "doses": doses,
        "forecasts": forecasts,
    })
}

fn assessment_text(
    id: i64,
    birth: Date,
    schedule: &Schedule,
    a: &Assessment<'_>,
    dose_of: &dyn Fn(usize) -> Option<(u16, Date)>,
) -> String {
    let mut out = format!(
        "patient {id}, born {birth}, assessed on {} with CDC supporting data {} ({})\n",
        a.assessment_date,
        schedule.version(),
        schedule.origin()
    );
    out.push_str("doses:\n");
    for d in &a.doses {
        for c in &d.components {
            let reasons: Vec<&str> = c.reasons.iter().map(|r| r.as_str()).collect();
            out.push_str(&format!(
                "  {} CVX {:<4} {:<13} {:<11} {}{}{}\n",
                dose_of(d.index)
                    .map(|x| x.1.to_string())
                    .unwrap_or_default(),
                dose_of(d.index).map(|x| x.0).unwrap_or_default(),
                c.antigen,
                c.status.as_str(),
                c.series,
                match (c.satisfied, c.target_dose) {
                    (true, Some(n)) => format!(", dose {n}"),
                    _ => String::new(),
                },
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", reasons.join(", "))
                }
            ));
        }
    }
    out.push_str("forecast:\n");
    let show = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
    for g in &a.vaccine_groups {
        let Some(f) = g.primary() else { continue };
        out.push_str(&format!(
            "  {:<22} {:<15} dose {:<2} earliest {:<10} recommended {:<10} past due {:<10} latest {}{}\n",
            g.name,
            f.status.as_str(),
            f.dose_number.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            show(f.earliest),
            show(f.recommended),
            show(f.past_due),
            show(f.latest),
            f.reason.map(|r| format!(" ({})", r.as_str())).unwrap_or_default(),
        ));
    }
    out
}

/// The supporting data a command or a server uses: the imported release, else the built-in.
pub async fn schedule_in_use(db: &Db) -> anyhow::Result<Schedule> {
    crate::server::load_schedule(db).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use izport_cdsi::{AdministeredDose, Gender, Patient};

    // `--json` gives each vaccine group's forecast reason: a child with two MMR doses (MMR
    // complete) and one DTaP dose (DTaP due).
    #[test]
    fn json_forecasts_carry_the_reason() {
        let schedule = Schedule::builtin().expect("built-in schedule");
        let date = |t: &str| -> Date { t.parse().expect("date") };
        let dose = |id: &str, cvx: u16, on: &str| AdministeredDose {
            id: id.into(),
            date: date(on),
            cvx,
            mvx: None,
            lot_expiration: None,
            substandard: false,
        };
        let doses = [
            dose("0", 20, "2020-03-01"),
            dose("1", 3, "2021-01-15"),
            dose("2", 3, "2024-01-15"),
        ];
        let patient = Patient {
            birth_date: date("2020-01-01"),
            gender: Gender::Female,
            birth_country: None,
        };
        let a = assess(schedule.data(), &patient, &doses, &[], date("2025-01-01"));
        let dose_of = |i: usize| doses.get(i).map(|d| (d.cvx, d.date));
        let v = assessment_json(7, &schedule, &a, &dose_of);
        let group = |name: &str| {
            v["forecasts"]
                .as_array()
                .and_then(|f| f.iter().find(|g| g["vaccine_group"] == name))
                .cloned()
                .unwrap_or_else(|| panic!("{name}: {v}"))
        };
        let mmr = group("MMR");
        assert_eq!(mmr["status"], "Complete");
        assert_eq!(mmr["reason"], "Series complete");
        let dtap = group("DTaP/Tdap/Td");
        assert_eq!(dtap["status"], "Not Complete");
        assert_eq!(dtap["reason"], "Next dose needed");
        let text = assessment_text(7, date("2020-01-01"), &schedule, &a, &dose_of);
        assert!(text.contains("(Series complete)"), "{text}");
    }
}
