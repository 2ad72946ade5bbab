//! History queries (QBP^Q11 Z34/Z44 → RSP^K11) through the real server.

mod common;

use common::*;
use izport::hl7::Message;
use izport::registry::query::{parse_query, read_rsp, QueryLimits};

fn vxu_for(control: &str, mrn: &str, family: &str, given: &str, dob: &str, extra: &str) -> String {
    format!(
        "MSH|^~\\&|TESTEHR|{FACILITY}|IZPORT|IZPORT|20240515093012-0500||VXU^V04^VXU_V04|{control}|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS\r\
         PID|1||{mrn}^^^TESTEHR^MR||{family}^{given}^^^^^L|Maiden^^^^^^M|{dob}|F|||1 Main St^^Town^IL^62701^USA^P\r\
         {extra}"
    )
}

fn dose(filler: &str, date: &str, cvx: &str) -> String {
    format!(
        "ORC|RE||{filler}^TESTEHR\rRXA|0|1|{date}||{cvx}^vaccine^CVX|0.5|mL^mL^UCUM||00^new^NIP001||||||LOT-{filler}|20990101|MSD^Merck^MVX|||CP|A\rRXR|C28161^IM^NCIT|LA^Left arm^HL70163"
    )
}

fn qbp(
    control: &str,
    profile: &str,
    qpd3: &str,
    family: &str,
    given: &str,
    dob: &str,
    rcp2: &str,
) -> String {
    let name = if profile == "Z44" {
        "Request Evaluated History and Forecast"
    } else {
        "Request Immunization History"
    };
    format!(
        "MSH|^~\\&|TESTEHR|{FACILITY}|IZPORT|IZPORT|20240601||QBP^Q11^QBP_Q11|{control}|P|2.5.1|||ER|AL|||||{profile}^CDCPHINVS\r\
         QPD|{profile}^{name}^CDCPHINVS|TAG-{control}|{qpd3}|{family}^{given}^^^^^L||{dob}|F\r\
         RCP|I|{rcp2}^RD&records&HL70126"
    )
}

fn field(hl7: &str, seg: &str, n: usize) -> String {
    hl7_field(hl7, seg, n).unwrap_or_default()
}

fn count(hl7: &str, seg: &str) -> usize {
    hl7.split('\r')
        .filter(|l| l.starts_with(&format!("{seg}|")))
        .count()
}

#[tokio::test]
async fn a_vxu_then_a_z34_returns_exactly_the_consolidated_history() {
    let app = spawn_app().await;
    let extra = format!(
        "{}\r{}\rORC|RE||9999^TESTEHR\rRXA|0|1|20240515||21^varicella^CVX|999||||||||||||00^Parental decision^NIP002||RE|A",
        dose("D1", "20240515", "08"),
        dose("D2", "20240701", "20")
    );
    let (_, ack) = app
        .submit(&vxu_for(
            "V1", "MRN-Q1", "Query", "Quinn", "20230101", &extra,
        ))
        .await;
    assert_eq!(field(&ack, "MSA", 1), "AA", "{ack}");
    // The same dose reported again under another ORC-3 by another route is one event.
    let (_, ack) = app
        .submit(&vxu_for(
            "V2",
            "MRN-Q1",
            "Query",
            "Quinn",
            "20230101",
            &dose("D1B", "20240515", "08"),
        ))
        .await;
    assert_eq!(field(&ack, "MSA", 1), "AA", "{ack}");

    let (status, rsp) = app
        .submit(&qbp(
            "Q1",
            "Z34",
            "MRN-Q1^^^TESTEHR^MR",
            "Query",
            "Quinn",
            "20230101",
            "10",
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(field(&rsp, "MSH", 9), "RSP^K11^RSP_K11", "{rsp}");
    assert_eq!(field(&rsp, "MSH", 21), "Z32^CDCPHINVS");
    assert_eq!(field(&rsp, "MSA", 1), "AA");
    assert_eq!(field(&rsp, "MSA", 2), "Q1");
    assert_eq!(field(&rsp, "QAK", 1), "TAG-Q1");
    assert_eq!(field(&rsp, "QAK", 2), "OK");
    assert!(
        field(&rsp, "PID", 3).contains("^SR"),
        "the registry id: {rsp}"
    );
    assert!(field(&rsp, "PID", 3).contains("MRN-Q1^^^TESTEHR^MR"));
    // Two vaccination events (08 once, though reported twice) and the refusal.
    assert_eq!(count(&rsp, "RXA"), 3, "{rsp}");
    let rxa5: Vec<String> = rsp
        .split('\r')
        .filter(|l| l.starts_with("RXA|"))
        .map(|l| l.split('|').nth(5).unwrap_or("").to_string())
        .collect();
    assert!(rxa5.iter().any(|c| c.starts_with("08^")), "{rxa5:?}");
    assert!(rxa5.iter().any(|c| c.starts_with("20^")));
    assert!(rsp.contains("|RE|"), "the refusal is encoded: {rsp}");
    let parsed = Message::parse(&rsp).expect("parses");
    assert_eq!(read_rsp(&parsed).query_status, "OK");

    // By demographics alone.
    let (_, rsp) = app
        .submit(&qbp("Q2", "Z34", "", "Query", "Quinn", "20230101", "10"))
        .await;
    assert_eq!(field(&rsp, "QAK", 2), "OK", "{rsp}");
    assert_eq!(count(&rsp, "RXA"), 3);

    // Who looked at this record: two queries, one user.
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-Q1")
        .await
        .expect("read")
        .expect("p");
    let audit = app.db.queries_of(patient).await.expect("audit");
    assert_eq!(audit.len(), 2);
    assert!(audit
        .iter()
        .all(|(org, user, _, what)| org == ORG && user == USER && what == "Z32"));
}

#[tokio::test]
async fn candidates_too_many_and_not_found() {
    let app = spawn_app().await;
    for (control, mrn, given) in [("C1", "MRN-C1", "Tina"), ("C2", "MRN-C2", "Tena")] {
        let (_, ack) = app
            .submit(&vxu_for(
                control,
                mrn,
                "Cand",
                given,
                "20220202",
                &dose(control, "20230101", "08"),
            ))
            .await;
        assert_eq!(field(&ack, "MSA", 1), "AA");
    }
    // Same family name and birth date, another given name: two possible matches.
    let (_, rsp) = app
        .submit(&qbp("Q3", "Z34", "", "Cand", "Tia", "20220202", "10"))
        .await;
    assert_eq!(field(&rsp, "MSH", 21), "Z31^CDCPHINVS", "{rsp}");
    assert_eq!(field(&rsp, "QAK", 2), "OK");
    assert_eq!(count(&rsp, "PID"), 2);
    assert_eq!(count(&rsp, "RXA"), 0, "candidates carry no history");

    let (_, rsp) = app
        .submit(&qbp("Q4", "Z34", "", "Cand", "Tia", "20220202", "1"))
        .await;
    assert_eq!(field(&rsp, "MSH", 21), "Z33^CDCPHINVS", "{rsp}");
    assert_eq!(field(&rsp, "QAK", 2), "TM");
    assert_eq!(count(&rsp, "PID"), 0);

    let (_, rsp) = app
        .submit(&qbp("Q5", "Z34", "", "Nobody", "Known", "20200101", "10"))
        .await;
    assert_eq!(field(&rsp, "MSH", 21), "Z33^CDCPHINVS");
    assert_eq!(field(&rsp, "QAK", 2), "NF");
    assert_eq!(field(&rsp, "MSA", 1), "AA");

    // Z44 gets the Z32 content and a warning that no evaluation or forecast is given.
    let (_, rsp) = app
        .submit(&qbp(
            "Q6",
            "Z44",
            "MRN-C1^^^TESTEHR^MR",
            "Cand",
            "Tina",
            "20220202",
            "10",
        ))
        .await;
    assert_eq!(field(&rsp, "MSH", 21), "Z32^CDCPHINVS", "{rsp}");
    assert_eq!(field(&rsp, "QAK", 2), "OK");
    assert!(count(&rsp, "ERR") >= 1, "{rsp}");
    assert!(rsp.contains("|W|"), "{rsp}");
}

#[tokio::test]
async fn protected_records_are_not_shared() {
    let app = spawn_app().await;
    let extra = format!(
        "PD1|||||||||||02^Reminder^HL70215|Y|20240101\r{}",
        dose("P1", "20230101", "08")
    );
    let (_, ack) = app
        .submit(&vxu_for(
            "P1", "MRN-P", "Private", "Pat", "20210303", &extra,
        ))
        .await;
    assert_eq!(field(&ack, "MSA", 1), "AA", "{ack}");
    let (_, rsp) = app
        .submit(&qbp(
            "Q7",
            "Z34",
            "MRN-P^^^TESTEHR^MR",
            "Private",
            "Pat",
            "20210303",
            "10",
        ))
        .await;
    assert_eq!(field(&rsp, "MSH", 21), "Z33^CDCPHINVS", "{rsp}");
    assert_eq!(field(&rsp, "QAK", 2), "PD");
    assert_eq!(count(&rsp, "PID"), 0);
}

/// Seeds the registry for a corpus QBP: `copies` = 1 stores the patient it asks for (with its
/// identifier); more store that many different people who are each only a possible match (same
/// family name and birth date, another given name, no shared identifier).
async fn seed_from(app: &TestApp, qbp_text: &str, copies: usize) {
    const GIVEN: [&str; 12] = [
        "Abel", "Boris", "Cyrus", "Dario", "Elias", "Felix", "Gideon", "Hugo", "Ivan", "Jonas",
        "Kurt", "Leon",
    ];
    let msg = Message::parse(qbp_text).expect("qbp parses");
    let req =
        parse_query(&msg, &QueryLimits::default(), jiff::civil::date(2026, 1, 1)).expect("query");
    let dob = req.birth_date.strftime("%Y%m%d").to_string();
    for n in 0..copies {
        let exact = copies == 1;
        let (mrn, authority, kind) = req
            .identifiers
            .first()
            .filter(|_| exact)
            .map(|i| (i.value.clone(), i.authority.clone(), i.id_type.clone()))
            .unwrap_or_else(|| (format!("SEED-{n}"), "SEEDEHR".into(), "MR".into()));
        let given = if exact {
            req.given.as_str()
        } else {
            GIVEN[n % GIVEN.len()]
        };
        let text = format!(
            "MSH|^~\\&|SEED|{FACILITY}|IZPORT|IZPORT|20240101||VXU^V04^VXU_V04|SEED-{n}-{mrn}|P|2.5.1\r\
             PID|1||{mrn}^^^{authority}^{kind}||{}^{given}^^^^^L||{dob}|{}\r{}",
            req.family,
            req.sex.clone().unwrap_or_else(|| "U".into()),
            dose(&format!("SEED{n}"), &dob, "08")
        );
        let (_, ack) = app.submit(&text).await;
        assert_eq!(field(&ack, "MSA", 1), "AA", "{ack}");
    }
}

/// NIST and ONC-2015 query cases in the shared corpus, with the registry holding what each
/// expected response implies (run when IZPORT_CORPUS_DIR is set).
#[tokio::test]
async fn corpus_query_cases_get_the_expected_profile_and_status() {
    let Ok(dir) = std::env::var("IZPORT_CORPUS_DIR") else {
        eprintln!("IZPORT_CORPUS_DIR not set: corpus query test skipped");
        return;
    };
    let read = |name: &str| {
        let bytes = std::fs::read(std::path::Path::new(&dir).join(name)).expect("corpus file");
        String::from_utf8_lossy(&bytes).trim_end().to_string()
    };
    // (query, copies of its patient to store first, expected profile, expected QAK-2, why we differ)
    let cases: [(&str, usize, &str, &str, &str); 6] = [
        ("nist_cf_qbp_z34.hl7", 1, "Z32", "OK", ""),
        ("nist_cf_qbp_z44.hl7", 1, "Z32", "OK", "expected Z42: izport has no forecaster yet, so it answers Z44 with Z32 and an ERR warning"),
        ("onc2015_qr1_qbp_z44.hl7", 1, "Z32", "OK", "expected Z42 (evaluated history and forecast): not provided yet"),
        ("onc2015_qr2_qbp_z44_no_rcp2.hl7", 1, "Z32", "OK", "expected Z42: not provided yet"),
        ("onc2015_qr3_qbp_z44_nomatch.hl7", 0, "Z33", "NF", ""),
        ("onc2015_qr4_qbp_z44_toomany.hl7", 12, "Z33", "TM", ""),
    ];
    for (name, copies, profile, status, why) in cases {
        let app = spawn_app().await;
        let query = read(name);
        seed_from(&app, &query, copies).await;
        let (_, rsp) = app.submit(&query).await;
        let parsed = Message::parse(&rsp).unwrap_or_else(|e| panic!("{name}: {e}: {rsp}"));
        let content = read_rsp(&parsed);
        assert_eq!(content.profile, profile, "{name} ({why}): {rsp}");
        assert_eq!(content.query_status, status, "{name}: {rsp}");
        let expected_control = Message::parse(&query)
            .ok()
            .and_then(|m| m.get("MSH-10").map(|v| v.into_owned()));
        assert_eq!(
            Some(content.acknowledged_control_id.clone()),
            expected_control,
            "{name}"
        );
        eprintln!(
            "{name}: {profile} {status}{}",
            if why.is_empty() {
                String::new()
            } else {
                format!(" — {why}")
            }
        );
    }
}
