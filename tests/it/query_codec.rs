//! The query codec against the shared corpus (library API, no server).
//!
//! * Every NIST and ONC 2015 QBP of the corpus parses ([`parse_query`]) to what an independent
//!   reading of its text ([`crate::text`]) finds there: profile, QPD-2 tag, identifier, name,
//!   mother's maiden name, birth date, sex, and RCP-2 (absent in one: the default of 10 and
//!   a warning, RCP-2 being required in NIST's QBP profile).
//! * For each expected RSP in the corpus, our RSP is built ([`build_rsp`]) for the same outcome
//!   — the records of that file as [`read_rsp`] reads them, answering the query it answers —
//!   and compared with the expected file, read by [`crate::text`]: MSH-21.1, MSA-1, MSA-2,
//!   QAK-1, QAK-2, the sequence of segment ids, and per patient the name, birth date, sex, MR
//!   identifiers, RXA count and vaccine codes ([`crate::rsp`]). The records as the model reads
//!   them must agree as well (a round trip through our writer and reader).
//!
//! Deliberate differences are listed in [`DIFFERENCES`]; the test checks that each one is
//! real, so the table cannot go stale.

use crate::inputs::{corpus_dir, corpus_files, file_name};
use crate::rsp::{answered, compare};
use crate::text::Hl7;
use izport::hl7::{AckContext, AckParams, Message};
use izport::registry::query::{
    build_rsp, parse_query, read_rsp, QueryEcho, QueryLimits, QueryOutcome, RspParams,
};

const TODAY: jiff::civil::Date = jiff::civil::date(2025, 1, 1);

fn load(dir: &std::path::Path, name: &str) -> String {
    crate::inputs::read(&dir.join(name))
}

fn parse<'a>(name: &str, text: &'a str) -> Message<'a> {
    Message::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn get(msg: &Message<'_>, path: &str) -> String {
    msg.get(path).map(|v| v.into_owned()).unwrap_or_default()
}

/// `YYYYMMDD…` → `YYYY-MM-DD`.
fn iso_day(hl7: &str) -> String {
    match (hl7.get(0..4), hl7.get(4..6), hl7.get(6..8)) {
        (Some(y), Some(m), Some(d)) => format!("{y}-{m}-{d}"),
        _ => hl7.to_string(),
    }
}

fn none_if_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[test]
#[ignore = "needs IZPORT_CORPUS_DIR: the shared HL7 corpus"]
fn corpus_queries_parse_to_what_their_text_says() {
    let dir = corpus_dir();
    let names: Vec<String> = corpus_files()
        .iter()
        .map(|p| file_name(p))
        .filter(|n| {
            n.starts_with("nist_cf_qbp_") || (n.starts_with("onc2015_qr") && n.contains("_qbp_"))
        })
        .collect();
    assert_eq!(
        names.len(),
        6,
        "the corpus's NIST and ONC 2015 QBPs: {names:?}"
    );

    let limits = QueryLimits {
        default_max_candidates: 10,
        max_candidates: 20,
    };
    for name in &names {
        let text = load(&dir, name);
        let t = Hl7::read(&text);
        let q = parse_query(&parse(name, &text), &limits, TODAY)
            .unwrap_or_else(|f| panic!("{name}: rejected: {f:#?}"));
        assert_eq!(
            q.profile.code(),
            t.component("MSH", 21, 1),
            "{name}: MSH-21"
        );
        assert_eq!(q.profile.code(), t.component("QPD", 1, 1), "{name}: QPD-1");
        assert_eq!(q.query_tag, t.component("QPD", 2, 1), "{name}: QPD-2");
        let id = &q.identifiers[0];
        assert_eq!(
            (
                id.value.as_str(),
                id.authority.as_str(),
                id.id_type.as_str()
            ),
            (
                t.component("QPD", 3, 1).as_str(),
                t.component("QPD", 3, 4).as_str(),
                t.component("QPD", 3, 5).as_str()
            ),
            "{name}: QPD-3"
        );
        assert_eq!(q.family, t.component("QPD", 4, 1), "{name}: QPD-4.1");
        assert_eq!(q.given, t.component("QPD", 4, 2), "{name}: QPD-4.2");
        assert_eq!(q.middle, none_if_empty(t.component("QPD", 4, 3)), "{name}");
        assert_eq!(
            q.mother_maiden_family,
            none_if_empty(t.component("QPD", 5, 1)),
            "{name}: QPD-5"
        );
        assert_eq!(
            q.birth_date.to_string(),
            iso_day(&t.component("QPD", 6, 1)),
            "{name}: QPD-6"
        );
        assert_eq!(
            q.sex,
            none_if_empty(t.component("QPD", 7, 1)),
            "{name}: QPD-7"
        );
        assert!(q.qpd_raw.starts_with("QPD|"), "{name}");
        let rcp2 = t.component("RCP", 2, 1);
        let rules: Vec<&str> = q.warnings.iter().map(|w| w.rule).collect();
        if rcp2.is_empty() {
            assert_eq!(q.max_candidates, limits.default_max_candidates, "{name}");
            assert_eq!(rules, ["RCP-2-missing"], "{name}");
        } else {
            assert_eq!(q.max_candidates.to_string(), rcp2, "{name}: RCP-2");
            assert!(rules.is_empty(), "{name}: {rules:?}");
        }
        if let Some(phone) = &q.phone {
            let qpd9 = (t.component("QPD", 9, 6), t.component("QPD", 9, 7));
            assert_eq!(
                (phone.area_code.clone(), phone.local_number.clone()),
                qpd9,
                "{name}: QPD-9"
            );
        }
    }

    // The trailing space after CDCPHINVS in QPD-1 is echoed as sent.
    let text = load(&dir, "onc2015_qr2_qbp_z44_no_rcp2.hl7");
    let q = parse_query(&parse("qr2", &text), &limits, TODAY).expect("qr2");
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

/// Where the query an expected RSP answers comes from.
#[derive(Clone, Copy, Debug)]
enum Query {
    /// A corpus QBP.
    File(&'static str),
    /// No QBP in the corpus: one is made of the RSP's QPD echo, with MSH-10 = its MSA-2.
    FromEcho,
}

/// Every expected RSP that answers a query we can send: the file and that query.
const CASES: &[(&str, Query)] = &[
    (
        "nist_cf_rsp_z31_candidates.hl7",
        Query::File("nist_cf_qbp_z34.hl7"),
    ),
    (
        "nist_cf_rsp_z32_found.hl7",
        Query::File("nist_cf_qbp_z34.hl7"),
    ),
    ("nist_cf_rsp_z33_TM.hl7", Query::File("nist_cf_qbp_z34.hl7")),
    (
        "onc2015_qr3_rsp_z33_NF.hl7",
        Query::File("onc2015_qr3_qbp_z44_nomatch.hl7"),
    ),
    (
        "onc2015_qr4_rsp_z33_TM.hl7",
        Query::File("onc2015_qr4_qbp_z44_toomany.hl7"),
    ),
    ("dvci_rsp_z32_iis_sandbox.hl7", Query::FromEcho),
    ("dvci_rsp_z33_NF_iis_sandbox.hl7", Query::FromEcho),
    ("dvci_rsp_z31_iis_sandbox_BAD_amp.hl7", Query::FromEcho),
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
#[ignore = "needs IZPORT_CORPUS_DIR: the shared HL7 corpus"]
fn expected_responses_are_reproduced() {
    let dir = corpus_dir();
    let mut differences_seen = vec![false; DIFFERENCES.len()];
    for &(rsp_name, query) in CASES {
        let expected_text = load(&dir, rsp_name);
        let expected = parse(rsp_name, &expected_text);
        let content = read_rsp(&expected);
        let theirs = Hl7::read(&expected_text);

        let qbp_text = query_text(&dir, query, &expected);
        let qbp = parse(rsp_name, &qbp_text);
        let request = parse_query(&qbp, &QueryLimits::default(), TODAY)
            .unwrap_or_else(|f| panic!("{rsp_name}: query rejected: {f:#?}"));

        // The outcome the expected file reports: its QAK-2, and for OK its profile.
        let outcome = match (
            theirs.component("QAK", 2, 1).as_str(),
            theirs.component("MSH", 21, 1).as_str(),
        ) {
            ("OK", "Z31") => QueryOutcome::Candidates(
                content.patients.iter().map(|p| p.patient.clone()).collect(),
            ),
            ("OK", _) => {
                assert_eq!(content.patients.len(), 1, "{rsp_name}");
                let p = content.patients[0].clone();
                QueryOutcome::Found {
                    patient: Box::new(p.patient),
                    doses: p.doses,
                    immunity: p.immunity,
                    forecast: None,
                }
            }
            ("NF", _) => QueryOutcome::NotFound,
            ("TM", _) => QueryOutcome::TooMany,
            other => panic!("{rsp_name}: QAK-2/MSH-21 {other:?}"),
        };
        // The Z32/Z31/Z33 content of each answer (these cases carry no evaluation or forecast;
        // Z42 answers are compared in `forecast`).
        let ours_text = build_rsp(
            &AckContext::from_message(&qbp),
            &QueryEcho::from(&request),
            &outcome,
            &request.warnings,
            &PARAMS,
        );
        let ours = parse(rsp_name, &ours_text);

        // Against the expected file, read independently of the codec.
        let t = Hl7::read(&ours_text);
        for (seg, field, what) in [
            ("MSH", 21, "MSH-21"),
            ("MSA", 1, "MSA-1"),
            ("MSA", 2, "MSA-2"),
            ("QAK", 1, "QAK-1"),
            ("QAK", 2, "QAK-2"),
        ] {
            assert_eq!(
                t.component(seg, field, 1),
                theirs.component(seg, field, 1),
                "{rsp_name}: {what}"
            );
        }
        assert_eq!(
            t.ids(),
            theirs.ids(),
            "{rsp_name}: segment sequence\n{ours_text}"
        );
        let found = compare(&answered(&expected_text), &answered(&ours_text));
        assert!(found.is_empty(), "{rsp_name}: {found:#?}");
        // And as the model reads both: a round trip through our writer and reader.
        let mine = read_rsp(&ours);
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
