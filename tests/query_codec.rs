//! The query codec against the shared corpus (runs when IZPORT_CORPUS_DIR points at it).
//!
//! * Every NIST and ONC 2015 QBP parses to a query with the expected profile and tag.
//! * For each expected RSP in the corpus, the records are read out of that file
//!   ([`read_rsp`]), our RSP is built for the same outcome from them, answering the query the
//!   RSP answers, and the two must agree on MSH-21.1, MSA-1, MSA-2, QAK-1, QAK-2, the sequence
//!   of segment ids, and the records they carry (as the model reads them).
//!
//! Deliberate differences are listed in [`DIFFERENCES`]; the test checks that each one is
//! real, so the table cannot go stale.

use std::path::PathBuf;

use izport::hl7::{AckContext, AckParams, Message};
use izport::registry::query::{
    build_rsp, parse_query, read_rsp, QueryEcho, QueryLimits, QueryOutcome, QueryProfile, RspParams,
};

const TODAY: jiff::civil::Date = jiff::civil::date(2025, 1, 1);

fn corpus() -> Option<PathBuf> {
    match std::env::var("IZPORT_CORPUS_DIR") {
        Ok(dir) => Some(PathBuf::from(dir)),
        Err(_) => {
            eprintln!("IZPORT_CORPUS_DIR not set: corpus query test skipped");
            None
        }
    }
}

fn load(dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

fn parse<'a>(name: &str, text: &'a str) -> Message<'a> {
    Message::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn get(msg: &Message<'_>, path: &str) -> String {
    msg.get(path).map(|v| v.into_owned()).unwrap_or_default()
}

/// The corpus queries: file, profile, QPD-2, RCP-2 as read (after the default of 10).
const QUERIES: &[(&str, QueryProfile, &str, u32)] = &[
    ("nist_cf_qbp_z34.hl7", QueryProfile::Z34, "37374859", 5),
    ("nist_cf_qbp_z44.hl7", QueryProfile::Z44, "37374859", 1),
    ("onc2015_qr1_qbp_z44.hl7", QueryProfile::Z44, "37374859", 5),
    (
        "onc2015_qr2_qbp_z44_no_rcp2.hl7",
        QueryProfile::Z44,
        "37374859",
        10,
    ),
    (
        "onc2015_qr3_qbp_z44_nomatch.hl7",
        QueryProfile::Z44,
        "37374859",
        1,
    ),
    (
        "onc2015_qr4_qbp_z44_toomany.hl7",
        QueryProfile::Z44,
        "3137374859",
        1,
    ),
];

#[test]
fn corpus_queries_parse() {
    let Some(dir) = corpus() else {
        return;
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.ends_with(".hl7")
                && (n.starts_with("nist_cf_qbp_")
                    || (n.starts_with("onc2015_qr") && n.contains("_qbp_")))
        })
        .collect();
    names.sort();
    let mut listed: Vec<&str> = QUERIES.iter().map(|q| q.0).collect();
    listed.sort();
    assert_eq!(names, listed, "corpus queries and this test's table differ");

    let limits = QueryLimits {
        default_max_candidates: 10,
        max_candidates: 20,
    };
    for &(name, profile, tag, max) in QUERIES {
        let text = load(&dir, name);
        let msg = parse(name, &text);
        let q = parse_query(&msg, &limits, TODAY)
            .unwrap_or_else(|f| panic!("{name}: rejected: {f:#?}"));
        assert_eq!(q.profile, profile, "{name}");
        assert_eq!(q.query_tag, tag, "{name}");
        assert_eq!(q.max_candidates, max, "{name}");
        assert!(!q.family.is_empty() && !q.given.is_empty(), "{name}");
        assert_eq!(q.birth_date.to_string().len(), 10, "{name}");
        assert!(q.qpd_raw.starts_with("QPD|"), "{name}");
        let rules: Vec<&str> = q.warnings.iter().map(|w| w.rule).collect();
        let expected_rules: &[&str] = if name.contains("no_rcp2") {
            &["RCP-2-missing"]
        } else {
            &[]
        };
        assert_eq!(rules, expected_rules, "{name}");
    }

    // Details of two of them.
    let text = load(&dir, "nist_cf_qbp_z34.hl7");
    let q = parse_query(&parse("z34", &text), &limits, TODAY).expect("z34");
    assert_eq!((q.family.as_str(), q.given.as_str()), ("Child", "Bobbie"));
    assert_eq!(q.middle.as_deref(), Some("Q"));
    assert_eq!(q.mother_maiden_family.as_deref(), Some("Que"));
    assert_eq!(q.birth_date.to_string(), "2005-05-12");
    assert_eq!(q.sex.as_deref(), Some("M"));
    assert_eq!(q.identifiers.len(), 1);
    assert_eq!(q.identifiers[0].value, "123456");
    assert_eq!(q.identifiers[0].authority, "MYEHR");
    assert_eq!(q.identifiers[0].id_type, "MR");
    assert_eq!(
        q.address.as_ref().map(|a| a.city.as_str()),
        Some("Myfaircity")
    );
    let text = load(&dir, "onc2015_qr2_qbp_z44_no_rcp2.hl7");
    let q = parse_query(&parse("qr2", &text), &limits, TODAY).expect("qr2");
    let phone = q.phone.expect("phone");
    assert_eq!(
        (phone.area_code.as_str(), phone.local_number.as_str()),
        ("690", "1231234")
    );
    // The trailing space after CDCPHINVS in QPD-1 is echoed as sent.
    assert!(q.query_name_raw.ends_with("CDCPHINVS "));

    // A segment named QBP instead of QPD is refused, and says so.
    let text = load(&dir, "mdtimeline_qbp_BAD_segment_QBP_not_QPD.hl7");
    let findings = match parse_query(&parse("mdtimeline", &text), &limits, TODAY) {
        Ok(q) => panic!("mdtimeline accepted: {q:#?}"),
        Err(f) => f,
    };
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].rule, "QPD-named-QBP");
}

/// How the outcome is taken out of the expected RSP.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Found,
    Candidates,
    NotFound,
    TooMany,
}

/// Where the query an expected RSP answers comes from.
#[derive(Clone, Copy, Debug)]
enum Query {
    /// A corpus QBP.
    File(&'static str),
    /// No QBP in the corpus: one is made of the RSP's QPD echo, with MSH-10 = its MSA-2.
    FromEcho,
}

const CASES: &[(&str, Query, Kind)] = &[
    (
        "nist_cf_rsp_z31_candidates.hl7",
        Query::File("nist_cf_qbp_z34.hl7"),
        Kind::Candidates,
    ),
    (
        "nist_cf_rsp_z32_found.hl7",
        Query::File("nist_cf_qbp_z34.hl7"),
        Kind::Found,
    ),
    (
        "nist_cf_rsp_z33_TM.hl7",
        Query::File("nist_cf_qbp_z34.hl7"),
        Kind::TooMany,
    ),
    (
        "onc2015_qr3_rsp_z33_NF.hl7",
        Query::File("onc2015_qr3_qbp_z44_nomatch.hl7"),
        Kind::NotFound,
    ),
    (
        "onc2015_qr4_rsp_z33_TM.hl7",
        Query::File("onc2015_qr4_qbp_z44_toomany.hl7"),
        Kind::TooMany,
    ),
    ("dvci_rsp_z32_iis_sandbox.hl7", Query::FromEcho, Kind::Found),
    (
        "dvci_rsp_z33_NF_iis_sandbox.hl7",
        Query::FromEcho,
        Kind::NotFound,
    ),
    (
        "dvci_rsp_z31_iis_sandbox_BAD_amp.hl7",
        Query::FromEcho,
        Kind::Candidates,
    ),
];

/// Deliberate differences between the corpus answers and ours: file, HL7 path (as
/// `Message::get` reads it), why. Each must actually differ.
const DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "nist_cf_rsp_z32_found.hl7",
        "MSH-3",
        "MSH-3/4 name the answering registry: we copy the query's MSH-5/6, or use our own \
         name when the query leaves them empty (as this one does)",
    ),
    (
        "nist_cf_rsp_z32_found.hl7",
        "MSH-22-1",
        "MSH-22/23 are the query's MSH-23/22 swapped; this query has none",
    ),
    (
        "nist_cf_rsp_z32_found.hl7",
        "QPD-3-1",
        "the QPD is the query's own QPD verbatim; the expected file echoes a QPD without QPD-3",
    ),
    (
        "nist_cf_rsp_z32_found.hl7",
        "PID-3-1",
        "our registry id (type SR) comes first in PID-3, then the other identifiers",
    ),
    (
        "nist_cf_rsp_z32_found.hl7",
        "ORC-12-2",
        "ordering provider (ORC-12), entered-by (ORC-10) and administering provider (RXA-10) \
         are not part of the dose model",
    ),
    (
        "nist_cf_rsp_z32_found.hl7",
        "RXA-7-2",
        "RXA-7 is sent as <UCUM code>^^UCUM; the model keeps the unit code only",
    ),
    (
        "nist_cf_rsp_z31_candidates.hl7",
        "PID-3-4",
        "the registry id's assigning authority is ours (RspParams::assigning_authority)",
    ),
    (
        "nist_cf_rsp_z33_TM.hl7",
        "QAK-3-2",
        "QAK-3 is the query's QPD-1 as sent; the expected file rewrites its text",
    ),
    (
        "onc2015_qr3_rsp_z33_NF.hl7",
        "QAK-3-2",
        "QAK-3 is the query's QPD-1 as sent; the expected file rewrites its text",
    ),
    (
        "dvci_rsp_z32_iis_sandbox.hl7",
        "ORC-2-1",
        "the placer order number (ORC-2) is not part of the dose model",
    ),
    (
        "dvci_rsp_z32_iis_sandbox.hl7",
        "OBX(2)-4",
        "each observation gets its own OBX-4 (VFC 1, the VIS rows 2); the sandbox gives every \
         row OBX-4 = 1",
    ),
    (
        "dvci_rsp_z31_iis_sandbox_BAD_amp.hl7",
        "MSH-2",
        "the expected file's MSH-2 is HTML-escaped (^~\\&amp;); ours is ^~\\&",
    ),
];

const PARAMS: RspParams<'static> = RspParams {
    ack: AckParams {
        control_id: "IZ0000000000000001",
        timestamp: "20250101120000+0000",
        sending_application: "IZPORT",
        sending_facility: "IZPORT",
    },
    assigning_authority: "IZPORT",
};

fn query_text(dir: &std::path::Path, query: Query, expected: &Message<'_>) -> String {
    match query {
        Query::File(name) => load(dir, name),
        Query::FromEcho => {
            let qpd = expected.segment("QPD").expect("expected RSP has a QPD");
            format!(
                "MSH|^~\\&|EHR|EHRFAC|IIS|IISFAC|20250101||QBP^Q11^QBP_Q11|{}|P|2.5.1|||ER|AL|||||Z34^CDCPHINVS\r{}\rRCP|I|10^RD&records&HL70126\r",
                expected.segment("MSA").map(|m| m.field(2).raw()).unwrap_or(""),
                qpd.raw()
            )
        }
    }
}

#[test]
fn expected_responses_are_reproduced() {
    let Some(dir) = corpus() else {
        return;
    };
    let mut differences_seen = vec![false; DIFFERENCES.len()];
    for &(rsp_name, query, kind) in CASES {
        let expected_text = load(&dir, rsp_name);
        let expected = parse(rsp_name, &expected_text);
        let content = read_rsp(&expected);

        let qbp_text = query_text(&dir, query, &expected);
        let qbp = parse(rsp_name, &qbp_text);
        let request = parse_query(&qbp, &QueryLimits::default(), TODAY)
            .unwrap_or_else(|f| panic!("{rsp_name}: query rejected: {f:#?}"));

        let outcome = match kind {
            Kind::Found => {
                assert_eq!(content.patients.len(), 1, "{rsp_name}");
                let p = content.patients[0].clone();
                QueryOutcome::Found {
                    patient: Box::new(p.patient),
                    doses: p.doses,
                    immunity: p.immunity,
                }
            }
            Kind::Candidates => QueryOutcome::Candidates(
                content.patients.iter().map(|p| p.patient.clone()).collect(),
            ),
            Kind::NotFound => QueryOutcome::NotFound,
            Kind::TooMany => QueryOutcome::TooMany,
        };
        // Z44 queries answered with patient data also carry our warning; none of these do
        // both, so the expected segment sequence holds as is.
        let ours_text = build_rsp(
            &AckContext::from_message(&qbp),
            &QueryEcho::from(&request),
            &outcome,
            &request.warnings,
            &PARAMS,
        );
        let ours = parse(rsp_name, &ours_text);
        let mine = read_rsp(&ours);

        assert_eq!(mine.profile, content.profile, "{rsp_name}: MSH-21");
        assert_eq!(mine.ack_code, content.ack_code, "{rsp_name}: MSA-1");
        assert_eq!(
            mine.acknowledged_control_id, content.acknowledged_control_id,
            "{rsp_name}: MSA-2"
        );
        assert_eq!(mine.query_tag, content.query_tag, "{rsp_name}: QAK-1");
        assert_eq!(mine.query_status, content.query_status, "{rsp_name}: QAK-2");
        assert_eq!(
            mine.segment_ids, content.segment_ids,
            "{rsp_name}: segment sequence\n{ours_text}"
        );
        assert_eq!(mine.patients, content.patients, "{rsp_name}: records");
        assert_eq!(get(&ours, "MSH-21-2"), "CDCPHINVS", "{rsp_name}");

        for (i, &(file, path, why)) in DIFFERENCES.iter().enumerate() {
            if file != rsp_name {
                continue;
            }
            let (theirs, ours_value) = (get(&expected, path), get(&ours, path));
            assert_ne!(
                theirs, ours_value,
                "{file} {path}: listed as a difference ({why}) but both are {theirs:?}"
            );
            differences_seen[i] = true;
        }
    }
    for (i, seen) in differences_seen.iter().enumerate() {
        assert!(
            *seen,
            "difference for an unknown case: {:?}",
            DIFFERENCES[i]
        );
    }
}
