//! The `izport forecast` command: for a registry patient, and over CDC's test cases.

use std::process::Command;

use crate::common::*;
use izport_cdsi::testcases::run_sheet;
use izport_cdsi::SupportingData;

fn izport(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_izport"))
        .args(args)
        .env_remove("IZPORT_DATABASE_URL")
        .output()
        .expect("izport runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `IZPORT_CDSI_DIR`: CDC's CDSi folder (supporting-data/, testcases/csv/).
fn cdsi_dir() -> std::path::PathBuf {
    let Some(dir) = std::env::var_os("IZPORT_CDSI_DIR").filter(|v| !v.is_empty()) else {
        panic!(
            "IZPORT_CDSI_DIR is not set: this test needs CDC's CDSi folder (supporting-data/, \
             testcases/csv/). `.ci/run` sets it from ../shared."
        );
    };
    std::path::PathBuf::from(dir)
}

fn sheet(suffix: &str) -> std::path::PathBuf {
    let csv = cdsi_dir().join("testcases/csv");
    std::fs::read_dir(&csv)
        .unwrap_or_else(|e| panic!("{}: {e}", csv.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in {}", csv.display()))
}

/// `izport forecast --cases FILE --json` reports, on its last line, the totals izport-cdsi's own
/// runner computes for that sheet (the strict rule), for both of CDC's sheets.
#[test]
#[ignore = "needs IZPORT_CDSI_DIR: CDC's CDSi folder (testcases/csv/)"]
fn forecast_cases_json_totals_equal_the_crates_runner() {
    let data = SupportingData::builtin().expect("built-in data");
    for suffix in [
        "_FITS_Exported_TestCases.csv",
        "_Underlying_Condition_Test_Cases.csv",
    ] {
        let path = sheet(suffix);
        let file = path.to_string_lossy().into_owned();
        let (ok, out, err) = izport(&["forecast", "--cases", &file, "--json"]);
        assert!(ok, "{suffix}: {err}");
        let last = out.lines().last().expect("output");
        let totals: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");
        let text = std::fs::read_to_string(&path).expect("sheet");
        let (results, s) = run_sheet(&data, &text).expect("sheet parses");
        assert!(s.cases > 200, "{suffix}: {s:?}");
        assert_eq!(totals["cases"], s.cases, "{suffix}");
        assert_eq!(totals["passed"], s.passed, "{suffix}");
        assert_eq!(totals["evaluation_passed"], s.evaluation_passed, "{suffix}");
        assert_eq!(totals["forecast_passed"], s.forecast_passed, "{suffix}");
        let failed: Vec<String> = totals["failed"]
            .as_array()
            .expect("failed is a list")
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(failed, s.failed, "{suffix}");
        // One line per case before the totals: PASS, or FAIL with its first difference.
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), results.len() + 1, "{suffix}");
        for (line, r) in lines.iter().zip(&results) {
            let verdict = if r.passed() { "PASS" } else { "FAIL" };
            assert!(line.starts_with(&format!("{verdict} {}", r.id)), "{line}");
        }
        // The keys in the order the command documents.
        let keys: Vec<&str> = [
            "cases",
            "passed",
            "evaluation_passed",
            "forecast_passed",
            "failed",
        ]
        .into_iter()
        .collect();
        let mut at = 0;
        for k in keys {
            let found = last[at..]
                .find(&format!("\"{k}\""))
                .unwrap_or_else(|| panic!("{k}: {last}"));
            at += found;
        }
    }
}

/// `izport forecast PATIENT_ID --date D --json` on a registry patient: the DTaP case of
/// `forecast::an_infant_with_one_dtap_gets_dose_2_on_the_dates_of_the_schedule`, worked out by
/// hand there.
#[tokio::test]
async fn forecast_for_a_registry_patient() {
    let app = spawn_app().await;
    let vxu = format!(
        "MSH|^~\\&|TESTEHR|{FACILITY}|IZPORT|IZPORT|20240401093012-0500||VXU^V04^VXU_V04|CF1|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS\r\
         PID|1||MRN-CF1^^^TESTEHR^MR||Forecast^Cli^^^^^L|Maiden^^^^^^M|20240115|F|||1 Main St^^Town^IL^62701^USA^P\r\
         ORC|RE||CF-D1^TESTEHR\rRXA|0|1|20240315||20^DTaP^CVX|0.5|mL^mL^UCUM||00^new^NIP001||||||LOT1|20990101|SKB^GSK^MVX|||CP|A"
    );
    let (_, ack) = app.submit(&vxu).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"), "{ack}");
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-CF1")
        .await
        .expect("read")
        .expect("patient");
    let id = patient.to_string();
    let url = app.db_url.clone();
    let (ok, out, err) = izport(&[
        "--database-url",
        &url,
        "forecast",
        &id,
        "--date",
        "2024-04-01",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["patient"], patient);
    assert_eq!(v["assessment_date"], "2024-04-01");
    assert_eq!(v["supporting_data"]["origin"], "built-in");
    let doses = v["doses"].as_array().expect("doses");
    assert_eq!(doses.len(), 1, "{v}");
    assert_eq!(doses[0]["cvx"], 20);
    assert!(doses[0]["evaluations"]
        .as_array()
        .expect("evaluations")
        .iter()
        .all(|e| e["status"] == "Valid" && e["dose_number"] == 1));
    let dtap = v["forecasts"]
        .as_array()
        .expect("forecasts")
        .iter()
        .find(|f| f["vaccine_group"] == "DTaP/Tdap/Td")
        .expect("DTaP forecast")
        .clone();
    assert_eq!(dtap["status"], "Not Complete");
    assert_eq!(dtap["reason"], "Next dose needed");
    assert_eq!(dtap["dose_number"], 2);
    assert_eq!(dtap["earliest"], "2024-04-12");
    assert_eq!(dtap["recommended"], "2024-05-15");
    assert_eq!(dtap["past_due"], "2024-07-12");

    // The text form says the same; an unknown patient is an error.
    let (ok, out, _) = izport(&[
        "--database-url",
        &url,
        "forecast",
        &id,
        "--date",
        "2024-04-01",
    ]);
    assert!(ok);
    assert!(out.contains("DTaP/Tdap/Td"), "{out}");
    assert!(out.contains("earliest 2024-04-12"), "{out}");
    let (ok, _, err) = izport(&["--database-url", &url, "forecast", "999999"]);
    assert!(!ok);
    assert!(err.contains("no patient 999999"), "{err}");
}

/// `izport cdsi import`, `status` and `reset` on this backend's database, and a server that
/// forecasts with the imported release from its next start. The release imported is CDC's 4.64
/// XML with one change, so that its forecasts can be told from the built-in data's: the
/// influenza season starts on 2025-08-01 instead of 2025-07-01.
#[tokio::test]
#[ignore = "needs IZPORT_CDSI_DIR: CDC's CDSi folder (supporting-data/)"]
async fn an_imported_release_is_used_from_the_next_start() {
    let source = cdsi_dir().join("supporting-data");
    let changed = tempfile::tempdir().expect("temp dir");
    let mut season_rows = 0;
    for entry in std::fs::read_dir(&source)
        .expect("supporting-data")
        .flatten()
    {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        let mut text = std::fs::read_to_string(&path).expect("xml");
        if path.to_string_lossy().contains("Influenza") {
            season_rows = text.matches("<startDate>20250701</startDate>").count();
            text = text.replace(
                "<startDate>20250701</startDate>",
                "<startDate>20250801</startDate>",
            );
        }
        std::fs::write(changed.path().join(entry.file_name()), text).expect("write");
    }
    assert!(
        season_rows > 0,
        "4.64's influenza season starts on 2025-07-01"
    );

    let mut app = spawn_app_with(Options {
        clock: Some(izport::clock::ManualClock::new(
            "2025-06-15T12:00:00Z".parse().expect("timestamp"),
        )),
        ..Options::default()
    })
    .await;
    let url = app.db_url.clone();
    let vxu = format!(
        "MSH|^~\\&|TESTEHR|{FACILITY}|IZPORT|IZPORT|20250615093012-0500||VXU^V04^VXU_V04|CI1|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS\r\
         PID|1||MRN-CI1^^^TESTEHR^MR||Season^Sam^^^^^L|Maiden^^^^^^M|19900101|M|||1 Main St^^Town^IL^62701^USA^P"
    );
    let (_, ack) = app.submit(&vxu).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"), "{ack}");
    let z44 = format!(
        "MSH|^~\\&|TESTEHR|{FACILITY}|IZPORT|IZPORT|20250615||QBP^Q11^QBP_Q11|CIQ|P|2.5.1|||ER|AL|||||Z44^CDCPHINVS\r\
         QPD|Z44^Request Evaluated History and Forecast^CDCPHINVS|TAG-CIQ|MRN-CI1^^^TESTEHR^MR|Season^Sam^^^^^L||19900101|M\r\
         RCP|I|1^RD&records&HL70126"
    );
    let flu_earliest = |rsp: &str| {
        let (_, forecast) = crate::forecast::read_z42(rsp);
        forecast
            .iter()
            .find(|f| f.group == "88")
            .map(|f| f.earliest.clone())
            .unwrap_or_else(|| panic!("no influenza forecast: {rsp}"))
    };

    // Nothing imported: the built-in data.
    let (ok, out, err) = izport(&["--database-url", &url, "cdsi", "status"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("supporting data 4.64") && out.contains("(built-in)"),
        "{out}"
    );
    let (_, rsp) = app.submit(&z44).await;
    assert_eq!(flu_earliest(&rsp), "20250701");

    let dir = changed.path().to_string_lossy().into_owned();
    let (ok, out, err) = izport(&[
        "--database-url",
        &url,
        "cdsi",
        "import",
        &dir,
        "--release",
        "4.64-season-test",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("30 antigens"), "{out}");
    let (ok, out, _) = izport(&["--database-url", &url, "cdsi", "status"]);
    assert!(ok);
    assert!(
        out.contains("supporting data 4.64-season-test") && out.contains("(imported "),
        "{out}"
    );

    // The running server keeps what it started with; from its next start, the import.
    let (_, rsp) = app.submit(&z44).await;
    assert_eq!(flu_earliest(&rsp), "20250701");
    app.restart().await;
    let (_, rsp) = app.submit(&z44.replace("CIQ", "CIR")).await;
    assert_eq!(flu_earliest(&rsp), "20250801", "{rsp}");

    // `izport forecast` uses it too.
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-CI1")
        .await
        .expect("read")
        .expect("patient");
    let id = patient.to_string();
    let (ok, out, err) = izport(&[
        "--database-url",
        &url,
        "forecast",
        &id,
        "--date",
        "2025-06-15",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["supporting_data"]["version"], "4.64-season-test");
    let flu = v["forecasts"]
        .as_array()
        .expect("forecasts")
        .iter()
        .find(|f| f["vaccine_group"] == "Influenza")
        .expect("influenza")
        .clone();
    assert_eq!(flu["earliest"], "2025-08-01");

    // A folder without CDC's XML is refused and changes nothing.
    let empty = tempfile::tempdir().expect("empty");
    let empty_dir = empty.path().to_string_lossy().into_owned();
    let (ok, _, err) = izport(&[
        "--database-url",
        &url,
        "cdsi",
        "import",
        &empty_dir,
        "--release",
        "x",
    ]);
    assert!(!ok);
    assert!(err.contains("no XML files"), "{err}");
    let (_, out, _) = izport(&["--database-url", &url, "cdsi", "status"]);
    assert!(out.contains("4.64-season-test"), "{out}");

    // Reset: the built-in data from the next start.
    let (ok, out, _) = izport(&["--database-url", &url, "cdsi", "reset"]);
    assert!(ok, "{out}");
    let (_, out, _) = izport(&["--database-url", &url, "cdsi", "status"]);
    assert!(out.contains("(built-in)"), "{out}");
    app.restart().await;
    let (_, rsp) = app.submit(&z44.replace("CIQ", "CIS")).await;
    assert_eq!(flu_earliest(&rsp), "20250701");
}
