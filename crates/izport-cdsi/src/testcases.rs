//! CDC's CDSi test cases (the healthy childhood/adult sheet and the underlying-conditions
//! sheet, exported to CSV): reading them, running each at its assessment date, and comparing
//! with the expected answer by the strict rule (every checked dose status, the vaccine group
//! status, the forecast dose number, and the earliest, recommended and past-due dates).
//! Where CDC gives an evaluation reason in a category izport can name (age, interval, live virus
//! conflict, vaccine, …), the dose must carry a reason of that category too.

use crate::data::{key, parse_cvx, Gender, SeriesType, SupportingData};
use crate::date::parse_date;
use crate::engine::{
    assess, AdministeredDose, Assessment, EvaluationReason, EvaluationStatus, ObservationCode,
    Patient, SeriesStatus,
};
use jiff::civil::Date;
use std::fmt::Write as _;

/// Which sheet a case comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Healthy childhood and adult cases.
    Healthy,
    /// Underlying-condition cases (observations, per-dose series type).
    UnderlyingConditions,
}

/// One administered dose of a test case with its expected evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestDose {
    /// Position in the sheet (1–7).
    pub position: usize,
    /// Date administered.
    pub date: Date,
    /// CVX as written.
    pub cvx_text: String,
    /// MVX.
    pub mvx: String,
    /// Expected status (`Valid`, `Not Valid`, `Extraneous`).
    pub expected_status: String,
    /// Expected reason text.
    pub expected_reason: String,
    /// UC sheet: the series type the expectation is about.
    pub series_type: Option<SeriesType>,
}

/// One test case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// `CDC_Test_ID`.
    pub id: String,
    /// `Test_Case_Name`.
    pub name: String,
    /// Sheet.
    pub layout: Layout,
    /// Date of birth.
    pub dob: Date,
    /// Gender.
    pub gender: Gender,
    /// Observations (UC sheet).
    pub observations: Vec<ObservationCode>,
    /// Doses.
    pub doses: Vec<TestDose>,
    /// `Vaccine_Group` as written.
    pub vaccine_group: String,
    /// `Series_Status` as written.
    pub expected_status: String,
    /// `Forecast_#` (None when blank or `-`).
    pub expected_dose_number: Option<u32>,
    /// Expected earliest date.
    pub expected_earliest: Option<Date>,
    /// Expected recommended date.
    pub expected_recommended: Option<Date>,
    /// Expected past-due date.
    pub expected_past_due: Option<Date>,
    /// Assessment date.
    pub assessment_date: Date,
}

/// Splits CSV text into records (RFC 4180: quoted fields may hold commas, quotes as `""`, and
/// line breaks).
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            c => field.push(c),
        }
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Maps the sheets' `Vaccine_Group` spellings to supporting-data vaccine group names.
pub fn vaccine_group_name(sheet: &str) -> String {
    let t = sheet.trim();
    match key(t).as_str() {
        "dtap" => "DTaP/Tdap/Td".into(),
        "pol" | "ipol" => "Polio".into(),
        "hib" => "Hib".into(),
        "pcv" => "Pneumococcal".into(),
        "var" => "Varicella".into(),
        "rota" => "Rotavirus".into(),
        "mcv" => "Meningococcal".into(),
        "menb" => "Meningococcal B".into(),
        "zoster" => "Zoster".into(),
        "flu" => "Influenza".into(),
        _ => t.to_string(),
    }
}

/// Reads a test-case sheet (either layout, recognised by its header).
pub fn parse_cases(text: &str) -> Result<Vec<TestCase>, String> {
    let rows = parse_csv(text);
    let Some(header) = rows.first() else {
        return Err("empty sheet".into());
    };
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let layout = if col("Observation_Code_1").is_some() {
        Layout::UnderlyingConditions
    } else {
        Layout::Healthy
    };
    let need = |name: &str| col(name).ok_or_else(|| format!("no column {name}"));
    let id_c = need("CDC_Test_ID")?;
    let name_c = col("Test_Case_Name");
    let dob_c = need("DOB")?;
    let gender_c = need("gender")?;
    let status_c = need("Series_Status")?;
    let fnum_c = need("Forecast_#")?;
    let earliest_c = need("Earliest_Date")?;
    let rec_c = need("Recommended_Date")?;
    let pd_c = need("Past_Due_Date")?;
    let vg_c = need("Vaccine_Group")?;
    let ad_c = need("Assessment_Date")?;
    let mut out = Vec::new();
    for (ri, row) in rows.iter().enumerate().skip(1) {
        let get = |c: usize| row.get(c).map(|s| s.trim()).unwrap_or("");
        let id = get(id_c).to_string();
        if id.is_empty() {
            continue;
        }
        let date_of = |c: usize, what: &str| -> Result<Option<Date>, String> {
            let t = get(c);
            if t.is_empty() || t == "-" {
                return Ok(None);
            }
            parse_date(t)
                .map(Some)
                .ok_or_else(|| format!("row {} ({id}): bad {what} {t:?}", ri + 1))
        };
        let dob = date_of(dob_c, "DOB")?.ok_or_else(|| format!("{id}: no DOB"))?;
        let assessment_date =
            date_of(ad_c, "Assessment_Date")?.ok_or_else(|| format!("{id}: no assessment date"))?;
        let gender = Gender::parse(get(gender_c)).unwrap_or(Gender::Unknown);
        let mut doses = Vec::new();
        for n in 1..=7 {
            let Some(dc) = col(&format!("Date_Administered_{n}")) else {
                break;
            };
            let Some(date) = date_of(dc, "date administered")? else {
                continue;
            };
            let g = |name: &str| {
                col(&format!("{name}_{n}"))
                    .map(get)
                    .unwrap_or("")
                    .to_string()
            };
            let st = g("Series_Type");
            doses.push(TestDose {
                position: n,
                date,
                cvx_text: g("CVX"),
                mvx: g("MVX"),
                expected_status: g("Evaluation_Status"),
                expected_reason: g("Evaluation_Reason"),
                series_type: SeriesType::parse(&st),
            });
        }
        let mut observations = Vec::new();
        for n in 1..=3 {
            let Some(cc) = col(&format!("Observation_Code_{n}")) else {
                break;
            };
            let code = get(cc);
            if code.is_empty() {
                continue;
            }
            let date = match col(&format!("Observation_Date_{n}")) {
                Some(c) => date_of(c, "observation date")?,
                None => None,
            };
            observations.push(ObservationCode {
                code: code.to_string(),
                date,
            });
        }
        let fnum = get(fnum_c);
        out.push(TestCase {
            id: id.clone(),
            name: name_c.map(get).unwrap_or("").to_string(),
            layout,
            dob,
            gender,
            observations,
            doses,
            vaccine_group: get(vg_c).to_string(),
            expected_status: get(status_c).to_string(),
            expected_dose_number: fnum.parse().ok(),
            expected_earliest: date_of(earliest_c, "earliest date")?,
            expected_recommended: date_of(rec_c, "recommended date")?,
            expected_past_due: date_of(pd_c, "past due date")?,
            assessment_date,
        });
    }
    Ok(out)
}

/// Broad kinds of evaluation reasons, to compare CDC's free-text reasons with the engine's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReasonCategory {
    /// Age (too young, too old, grace).
    Age,
    /// Interval (too soon, grace).
    Interval,
    /// Live virus conflict.
    Conflict,
    /// Vaccine type or product not allowed.
    Vaccine,
    /// Inadvertent administration.
    Inadvertent,
    /// Expired or dose condition.
    SubStandard,
    /// Extra dose after the series was complete.
    SeriesComplete,
    /// Anything else.
    Other,
}

/// The category of a CDC reason text.
pub fn categorize_text(text: &str) -> Option<ReasonCategory> {
    let t = text.to_ascii_lowercase();
    if t.trim().is_empty() {
        return None;
    }
    Some(if t.contains("conflict") {
        ReasonCategory::Conflict
    } else if t.contains("inadvertent") {
        ReasonCategory::Inadvertent
    } else if t.contains("interval") || t.contains("soon") {
        ReasonCategory::Interval
    } else if t.contains("age") || t.contains("young") || t.contains("old") {
        ReasonCategory::Age
    } else if t.contains("complete") || t.contains("extra") {
        ReasonCategory::SeriesComplete
    } else if t.contains("expire") || t.contains("standard") || t.contains("recall") {
        ReasonCategory::SubStandard
    } else if t.contains("vaccine") || t.contains("product") || t.contains("allow") {
        ReasonCategory::Vaccine
    } else {
        ReasonCategory::Other
    })
}

/// The category of an engine reason (grace periods and allowable choices are not failures and
/// have no category).
pub fn categorize(r: EvaluationReason) -> Option<ReasonCategory> {
    use EvaluationReason::*;
    match r {
        Expired | DoseCondition => Some(ReasonCategory::SubStandard),
        Inadvertent => Some(ReasonCategory::Inadvertent),
        AgeTooYoung | AgeTooOld => Some(ReasonCategory::Age),
        IntervalTooSoon => Some(ReasonCategory::Interval),
        LiveVirusConflict => Some(ReasonCategory::Conflict),
        PreferableVaccineOutOfAge
        | PreferableVaccineWrongProduct
        | AllowableVaccineOutOfAge
        | NotPreferableOrAllowable => Some(ReasonCategory::Vaccine),
        SeriesAlreadyComplete => Some(ReasonCategory::SeriesComplete),
        AgeGracePeriod | IntervalGracePeriod | AllowableInterval | AllowableVaccine => None,
    }
}

/// The outcome of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    /// Case id.
    pub id: String,
    /// Every dose status matched.
    pub evaluation_passed: bool,
    /// Status, dose number and dates matched.
    pub forecast_passed: bool,
    /// The first difference, as a sentence.
    pub first_difference: Option<String>,
    /// Every difference found.
    pub differences: Vec<String>,
}

impl CaseResult {
    /// Strict pass.
    pub fn passed(&self) -> bool {
        self.evaluation_passed && self.forecast_passed
    }
}

fn fmt_date(d: Option<Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_else(|| "no date".into())
}

/// Runs one case and compares by the strict rule.
pub fn run_case(data: &SupportingData, case: &TestCase) -> CaseResult {
    let patient = Patient {
        birth_date: case.dob,
        gender: case.gender,
        birth_country: None,
    };
    let mut doses = Vec::new();
    let mut positions = Vec::new();
    for d in &case.doses {
        let Some(cvx) = parse_cvx(&d.cvx_text) else {
            continue;
        };
        positions.push(d.position);
        doses.push(AdministeredDose {
            id: d.position.to_string(),
            date: d.date,
            cvx,
            mvx: (!d.mvx.is_empty()).then(|| d.mvx.clone()),
            lot_expiration: None,
            substandard: false,
        });
    }
    let a = assess(
        data,
        &patient,
        &doses,
        &case.observations,
        case.assessment_date,
    );
    compare(data, case, &doses, &positions, &a)
}

/// A dose's status for a vaccine group, from its status for each antigen of the group it counts
/// for, by the meanings of Table 3-1: it must be repeated (Not Valid, Sub-standard) if any antigen
/// says so; otherwise it counts (Valid) if any antigen counts it; otherwise it is Extraneous. CDC's
/// test cases give one status per dose and vaccine group; this is how izport reads it (a second
/// adult Tdap counts as the recurring Td booster although Pertussis has no dose left for it).
fn group_dose_status(statuses: impl Iterator<Item = EvaluationStatus>) -> Option<EvaluationStatus> {
    let all: Vec<EvaluationStatus> = statuses.collect();
    let repeat = all.iter().copied().find(|s| {
        matches!(
            s,
            EvaluationStatus::NotValid | EvaluationStatus::SubStandard
        )
    });
    repeat
        .or_else(|| all.iter().copied().find(|s| *s == EvaluationStatus::Valid))
        .or_else(|| all.first().copied())
}

fn compare(
    data: &SupportingData,
    case: &TestCase,
    doses: &[AdministeredDose],
    positions: &[usize],
    a: &Assessment,
) -> CaseResult {
    let mut eval_diffs = Vec::new();
    let mut fc_diffs = Vec::new();
    let group_name = vaccine_group_name(&case.vaccine_group);
    let Some(gi) = data.vaccine_group_index(&group_name) else {
        let msg = format!("unknown vaccine group {:?}", case.vaccine_group);
        return CaseResult {
            id: case.id.clone(),
            evaluation_passed: false,
            forecast_passed: false,
            first_difference: Some(msg.clone()),
            differences: vec![msg],
        };
    };
    let group_antigens = data.antigens_of_group(gi);
    let fc = a.vaccine_groups.get(gi).and_then(|g| g.primary());
    // Doses: in each antigen's best series (of the dose's series type on the UC sheet), the one
    // of the reported forecast's series group when there are several.
    for (di, d) in doses.iter().enumerate() {
        let pos = positions.get(di).copied().unwrap_or(0);
        let Some(td) = case.doses.iter().find(|t| t.position == pos) else {
            continue;
        };
        if td.expected_status.is_empty() {
            continue;
        }
        // Each antigen of the group the dose counts for, in its best series.
        let mut per_antigen = Vec::new();
        for &ai in group_antigens {
            let Some(aa) = a.antigens.get(ai) else {
                continue;
            };
            // Only antigens the dose was split into (association ages applied).
            if !aa.series.iter().any(|s| s.evaluation_of(di).is_some()) {
                continue;
            }
            let mut best: Vec<_> = aa.best_series().collect();
            if let Some(want) = td.series_type {
                let typed: Vec<_> = best
                    .iter()
                    .copied()
                    .filter(|s| s.series_type == want)
                    .collect();
                if !typed.is_empty() {
                    best = typed;
                }
            }
            let reported = fc.and_then(|f| {
                best.iter()
                    .copied()
                    .find(|s| s.series_group == f.series_group)
            });
            let Some(s) = reported.or(best.first().copied()) else {
                eval_diffs.push(format!(
                    "dose {pos} ({} CVX {}): {} has no best series",
                    d.date, d.cvx, aa.name
                ));
                continue;
            };
            if let Some(e) = s.evaluation_of(di) {
                per_antigen.push((aa.name, s.name, e.status, e.reasons));
            }
        }
        let Some(group_status) = group_dose_status(per_antigen.iter().map(|p| p.2)) else {
            continue;
        };
        if key(group_status.as_str()) != key(&td.expected_status) {
            let detail: Vec<String> = per_antigen
                .iter()
                .map(|(antigen, series, status, reasons)| {
                    format!(
                        "{antigen} in {series:?} {} ({})",
                        status.as_str(),
                        reasons
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .collect();
            eval_diffs.push(format!(
                "dose {pos} ({} CVX {}): {} for the vaccine group [{}], CDC expects {} ({})",
                d.date,
                d.cvx,
                group_status.as_str(),
                detail.join("; "),
                td.expected_status,
                td.expected_reason
            ));
        } else if let Some(want) = categorize_text(&td.expected_reason) {
            let ours: Vec<ReasonCategory> = per_antigen
                .iter()
                .filter(|p| p.2 == group_status)
                .flat_map(|p| p.3.iter().filter_map(categorize))
                .collect();
            // The reason, where CDC gives one in a category we can name, must agree too.
            if !ours.contains(&want) {
                eval_diffs.push(format!(
                    "dose {pos}: reason {ours:?}, CDC expects {:?} ({want:?})",
                    td.expected_reason
                ));
            }
        }
    }

    // Vaccine group status and forecast
    let status = fc.map(|f| f.status);
    let expected_status = key(&case.expected_status);
    let ours_status = status.map(|s| key(s.as_str())).unwrap_or_default();
    if expected_status != ours_status {
        fc_diffs.push(format!(
            "{group_name} status is {}, CDC expects {}",
            status.map(SeriesStatus::as_str).unwrap_or("(no forecast)"),
            case.expected_status
        ));
    }
    let number = fc.and_then(|f| f.dose_number);
    if case.expected_dose_number != number {
        fc_diffs.push(format!(
            "forecast dose number is {}, CDC expects {}",
            number
                .map(|n| n.to_string())
                .unwrap_or_else(|| "none".into()),
            case.expected_dose_number
                .map(|n| n.to_string())
                .unwrap_or_else(|| "none".into())
        ));
    }
    for (what, ours, want) in [
        (
            "earliest",
            fc.and_then(|f| f.earliest),
            case.expected_earliest,
        ),
        (
            "recommended",
            fc.and_then(|f| f.recommended),
            case.expected_recommended,
        ),
        (
            "past due",
            fc.and_then(|f| f.past_due),
            case.expected_past_due,
        ),
    ] {
        if ours != want {
            fc_diffs.push(format!(
                "{what} date is {}, CDC expects {}",
                fmt_date(ours),
                fmt_date(want)
            ));
        }
    }
    let differences: Vec<String> = eval_diffs.iter().chain(&fc_diffs).cloned().collect();
    CaseResult {
        id: case.id.clone(),
        evaluation_passed: eval_diffs.is_empty(),
        forecast_passed: fc_diffs.is_empty(),
        first_difference: differences.first().cloned(),
        differences,
    }
}

/// Totals over a sheet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases run.
    pub cases: usize,
    /// Strict passes.
    pub passed: usize,
    /// Cases whose dose statuses all matched.
    pub evaluation_passed: usize,
    /// Cases whose status, dose number and dates matched.
    pub forecast_passed: usize,
    /// Ids of the cases that did not pass.
    pub failed: Vec<String>,
}

impl Summary {
    /// Totals of a set of results.
    pub fn of(results: &[CaseResult]) -> Summary {
        let mut s = Summary {
            cases: results.len(),
            ..Summary::default()
        };
        for r in results {
            s.evaluation_passed += usize::from(r.evaluation_passed);
            s.forecast_passed += usize::from(r.forecast_passed);
            if r.passed() {
                s.passed += 1;
            } else {
                s.failed.push(r.id.clone());
            }
        }
        s
    }
}

/// Runs every case of a sheet.
pub fn run_sheet(data: &SupportingData, csv: &str) -> Result<(Vec<CaseResult>, Summary), String> {
    let cases = parse_cases(csv)?;
    let results: Vec<CaseResult> = cases.iter().map(|c| run_case(data, c)).collect();
    let summary = Summary::of(&results);
    Ok((results, summary))
}

/// A one-line-per-case report (failures with their first difference).
pub fn report(results: &[CaseResult], all: bool) -> String {
    let mut out = String::new();
    for r in results {
        if r.passed() && !all {
            continue;
        }
        let _ = writeln!(
            out,
            "{} {}{}",
            if r.passed() { "PASS" } else { "FAIL" },
            r.id,
            r.first_difference
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_newlines() {
        let rows = parse_csv("a,b,c\n1,\"x, y\",\"say \"\"hi\"\"\nthere\"\n2,,\r\n");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], vec!["1", "x, y", "say \"hi\"\nthere"]);
        assert_eq!(rows[2], vec!["2", "", ""]);
    }

    #[test]
    fn group_names() {
        assert_eq!(vaccine_group_name("DTAP"), "DTaP/Tdap/Td");
        assert_eq!(vaccine_group_name("IPOL"), "Polio");
        assert_eq!(vaccine_group_name("Meningococcal "), "Meningococcal");
        assert_eq!(vaccine_group_name("HepB"), "HepB");
    }

    #[test]
    fn reason_categories() {
        assert_eq!(categorize_text("Age: Too Young"), Some(ReasonCategory::Age));
        assert_eq!(
            categorize_text("Interval too soon"),
            Some(ReasonCategory::Interval)
        );
        assert_eq!(
            categorize_text("Live Virus Conflict"),
            Some(ReasonCategory::Conflict)
        );
        assert_eq!(categorize_text(""), None);
    }
}
