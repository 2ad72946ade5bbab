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
        let results: Vec<_> = cases
            .iter()
            .filter(|c| ids.is_empty() || ids.iter().any(|i| **i == c.id))
            .map(|c| run_case(&data, c))
            .collect();
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
                for n in &r.reason_notes {
                    println!("    (reason) {n}");
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
