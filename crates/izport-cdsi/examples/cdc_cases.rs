//! Runs CDC's test cases and prints the result of each (failures with their first difference).
//!
//! ```text
//! IZPORT_CDSI_DIR=/path/to/cdsi cargo run --release -p izport-cdsi --example cdc_cases -- [--all] [--builtin] [ID...]
//! ```
//! `--all` prints passing cases too and every difference of failing ones; `--builtin` uses the
//! compact data built into the crate instead of reading the XML; IDs restrict the run.

#[path = "support/io.rs"]
mod io;

use izport_cdsi::testcases::{parse_cases, report, run_case, Summary};
use izport_cdsi::SupportingData;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = args.iter().any(|a| a == "--all");
    let builtin = args.iter().any(|a| a == "--builtin");
    let dump = args.iter().any(|a| a == "--dump");
    let ids: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(dir) = io::cdsi_dir() else {
        eprintln!("set IZPORT_CDSI_DIR to CDC's CDSi directory (supporting-data/, testcases/csv/)");
        std::process::exit(2);
    };
    let data = if builtin {
        SupportingData::builtin()
    } else {
        let files = io::read_xml_dir(&dir.join("supporting-data")).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
        SupportingData::from_xml(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    };
    let data = data.unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let csv_dir = dir.join("testcases/csv");
    let mut sheets: Vec<_> = std::fs::read_dir(&csv_dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    sheets.retain(|p| {
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        n.ends_with("_FITS_Exported_TestCases.csv")
            || n.ends_with("_Underlying_Condition_Test_Cases.csv")
    });
    sheets.sort();
    for sheet in sheets {
        let text = std::fs::read_to_string(&sheet).unwrap_or_default();
        let cases = match parse_cases(&text) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{}: {e}", sheet.display());
                continue;
            }
        };
        let selected: Vec<_> = cases
            .iter()
            .filter(|c| ids.is_empty() || ids.iter().any(|i| **i == c.id))
            .collect();
        if dump {
            for c in &selected {
                dump_case(&data, c);
            }
        }
        let results: Vec<_> = selected.iter().map(|c| run_case(&data, c)).collect();
        println!(
            "== {}",
            sheet.file_name().and_then(|n| n.to_str()).unwrap_or("")
        );
        if all {
            for r in &results {
                println!("{} {}", if r.passed() { "PASS" } else { "FAIL" }, r.id);
                for d in &r.differences {
                    println!("    {d}");
                }
            }
        } else {
            print!("{}", report(&results, false));
        }
        let s = Summary::of(&results);
        println!(
            "cases {} passed {} evaluation_passed {} forecast_passed {}",
            s.cases, s.passed, s.evaluation_passed, s.forecast_passed
        );
    }
}

/// Prints the engine's detail for the case's vaccine group.
fn dump_case(data: &SupportingData, c: &izport_cdsi::testcases::TestCase) {
    use izport_cdsi::*;
    let doses: Vec<AdministeredDose> = c
        .doses
        .iter()
        .filter_map(|d| {
            Some(AdministeredDose {
                id: d.position.to_string(),
                date: d.date,
                cvx: d.cvx_text.trim().trim_start_matches('0').parse().ok()?,
                mvx: (!d.mvx.is_empty()).then(|| d.mvx.clone()),
                lot_expiration: None,
                substandard: false,
            })
        })
        .collect();
    let p = Patient {
        birth_date: c.dob,
        gender: c.gender,
        birth_country: None,
    };
    let a = assess(data, &p, &doses, &c.observations, c.assessment_date);
    let g = izport_cdsi::testcases::vaccine_group_name(&c.vaccine_group);
    let Some(vg) = a.vaccine_group(&g) else {
        println!("{}: no group {g}", c.id);
        return;
    };
    println!(
        "--- {} {} (dob {}, as of {})",
        c.id, vg.name, c.dob, c.assessment_date
    );
    for f in &vg.forecasts {
        println!(
            "  group forecast [{} {:?}] {} #{:?} earliest {:?} rec {:?} pd {:?} vaccines {:?} from {:?}",
            f.series_group, f.series_type, f.status.as_str(), f.dose_number, f.earliest, f.recommended, f.past_due, f.recommended_vaccines, f.best_series
        );
    }
    for &ai in data.antigens_of_group(vg.group) {
        let Some(aa) = a.antigens.get(ai) else {
            continue;
        };
        println!("  antigen {}", aa.name);
        for s in &aa.series {
            println!(
                "    {}[{} {:?}] {} score {:?} valid {} :: {}",
                if s.best { "*" } else { " " },
                s.series_group,
                s.series_type,
                s.status.as_str(),
                s.score,
                s.valid_doses(),
                s.name
            );
            for e in &s.evaluations {
                println!(
                    "        dose {} {} cvx {} -> {} target {:?} {:?}",
                    doses.get(e.dose).map(|d| d.id.as_str()).unwrap_or("?"),
                    e.date,
                    e.cvx,
                    e.status.as_str(),
                    e.target_dose,
                    e.reasons
                );
            }
            if let Some(f) = &s.forecast {
                println!(
                    "        forecast target {} #{} earliest {:?} rec {:?} pd {:?} latest {:?} prio {}",
                    f.target_dose, f.dose_number, f.earliest, f.recommended, f.past_due, f.latest, f.interval_priority
                );
            }
        }
    }
}
