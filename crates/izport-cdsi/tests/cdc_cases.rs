//! CDC's CDSi test cases, run strictly (see `izport_cdsi::testcases`).
//!
//! Needs `IZPORT_CDSI_DIR` naming a directory that holds `supporting-data/` (CDC's XML) and
//! `testcases/csv/` (the sheets exported to CSV). Run with
//! `IZPORT_CDSI_DIR=... cargo test -p izport-cdsi --release --test cdc_cases -- --include-ignored`.

#[path = "../examples/support/io.rs"]
mod io;

use izport_cdsi::testcases::{report, run_sheet};
use izport_cdsi::SupportingData;

/// The pass counts this engine reaches (strict rule). A drop below any figure fails the test.
/// Keep these in one place; the README mirrors them.
/// (sheet file suffix, cases, passed, evaluation passed, forecast passed)
pub const EXPECTED: [(&str, usize, usize, usize, usize); 2] = [
    ("_FITS_Exported_TestCases.csv", 817, 817, 817, 817),
    ("_Underlying_Condition_Test_Cases.csv", 258, 232, 254, 233),
];

fn sheet_path(dir: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let csv = dir.join("testcases/csv");
    let found = std::fs::read_dir(&csv)
        .unwrap_or_else(|e| panic!("{}: {e}", csv.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
        });
    found.unwrap_or_else(|| panic!("no *{suffix} in {}", csv.display()))
}

fn run(data: &SupportingData, label: &str) {
    let dir = io::cdsi_dir().expect("IZPORT_CDSI_DIR is set");
    let mut failures = Vec::new();
    for (suffix, cases, passed, eval, forecast) in EXPECTED {
        let text = std::fs::read_to_string(sheet_path(&dir, suffix)).expect("sheet readable");
        let (results, s) = run_sheet(data, &text).expect("sheet parses");
        println!(
            "[{label}] *{suffix}: cases {} passed {} evaluation_passed {} forecast_passed {}",
            s.cases, s.passed, s.evaluation_passed, s.forecast_passed
        );
        print!("{}", report(&results, false));
        if s.cases != cases {
            failures.push(format!("*{suffix}: {} cases, expected {cases}", s.cases));
        }
        for (what, got, want) in [
            ("passed", s.passed, passed),
            ("evaluation_passed", s.evaluation_passed, eval),
            ("forecast_passed", s.forecast_passed, forecast),
        ] {
            if got < want {
                failures.push(format!("*{suffix}: {what} {got} < {want}"));
            }
        }
    }
    assert!(failures.is_empty(), "[{label}] {}", failures.join("; "));
}

#[test]
#[ignore = "needs IZPORT_CDSI_DIR: CDC's CDSi directory (supporting-data/, testcases/csv/)"]
fn cdc_cases_with_xml_data() {
    let Some(dir) = io::cdsi_dir() else {
        panic!("IZPORT_CDSI_DIR is not set: it must name CDC's CDSi directory (supporting-data/, testcases/csv/)");
    };
    let files = io::read_xml_dir(&dir.join("supporting-data")).expect("XML readable");
    let data = SupportingData::from_xml(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
        .expect("XML parses");
    run(&data, "xml");
}

#[test]
#[ignore = "needs IZPORT_CDSI_DIR: CDC's CDSi directory (supporting-data/, testcases/csv/)"]
fn cdc_cases_with_builtin_data() {
    if io::cdsi_dir().is_none() {
        panic!("IZPORT_CDSI_DIR is not set: it must name CDC's CDSi directory (supporting-data/, testcases/csv/)");
    }
    let data = SupportingData::builtin().expect("built-in data parses");
    run(&data, "builtin");
}
