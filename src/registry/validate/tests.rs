//! Unit tests of the rule engine: a clean synthetic VXU, one scenario per rule (the scenarios
//! together must fire every rule of the catalogue), severities per organization, scoping, ACK
//! entries, vaccine resolution, documentation, and never-panic property tests.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::hl7::{AckCode, Message, Severity};
use crate::registry::codes::CodeSets;
use crate::registry::finding::{ack_code, patient_rejected, rejected_doses, Finding, Scope};

const TODAY: Date = jiff::civil::date(2024, 6, 1);

/// A clean VXU (synthetic data): one administered HepB dose with VFC, funding and VIS.
const BASE: &str = concat!(
    "MSH|^~\\&|CLINICEHR|CLINIC9|IZPORT|IZPORT|20240514101530-0500||VXU^V04^VXU_V04|CLN-0042|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS|CLINIC9|IZPORT\r",
    "PID|1||MRN448812^^^CLINIC9^MR||Quillfeather^Marigold^June^^^^L|Ashgrove^Tamsin^^^^^M|20230302|F||2106-3^White^CDCREC|48 Lantern Way^Unit 2^Fernvale^OR^97401^USA^P||^PRN^PH^^^541^5550142~^NET^Internet^mq@example.net|||||||||2186-5^Not Hispanic or Latino^CDCREC||N|1|||||N\r",
    "PD1|||||||||||02^Reminder/Recall - any method^HL70215|N|20240514|||A|20230302|20240514\r",
    "NK1|1|Quillfeather^Rowan^^^^^L|MTH^Mother^HL70063|48 Lantern Way^Unit 2^Fernvale^OR^97401^USA^P|^PRN^PH^^^541^5550142\r",
    "ORC|RE|PL-88120^CLINIC9|FL-88120^CLINIC9|||||||4410^Okafor^Dana^^^^^^CLINIC9^L^^^PRN||9921^Lindqvist^Petra^^^^^^CLINIC9^L^^^MD|||||CLINIC9^Fernvale Family Clinic^HL70362\r",
    "RXA|0|1|20240514||08^Hep B, adolescent or pediatric^CVX|0.5|mL^milliliters^UCUM||00^New immunization record^NIP001|4410^Okafor^Dana^^^^^^CLINIC9^L^^^PRN|^^^CLINIC9||||K7731QA|20250930|MSD^Merck and Co., Inc.^MVX|||CP|A\r",
    "RXR|C28161^Intramuscular^NCIT|LT^Left Thigh^HL70163\r",
    "OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid^HL70064||||||F|||20240514|||VXC40^Eligibility captured at the immunization level^CDCPHINVS\r",
    "OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC50^Public^CDCPHINVS||||||F|||20240514\r",
    "OBX|3|CE|69764-9^Document type^LN|3|253088698300005911230512^Hepatitis B VIS^cdcgs1vis||||||F|||20240514\r",
    "OBX|4|DT|29769-7^Date VIS presented^LN|3|20240514||||||F|||20240514\r",
);

fn ctx() -> Context<'static> {
    Context::new(TODAY, CodeSets::builtin())
}

fn parse(text: &str) -> Message<'_> {
    match Message::parse(text) {
        Ok(m) => m,
        Err(e) => panic!("{e}: {text:?}"),
    }
}

fn run(text: &str) -> Vec<Finding> {
    validate(&parse(text), &ctx())
}

fn ids(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.rule).collect()
}

fn lines(text: &str) -> Vec<String> {
    text.split('\r')
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\r");
    s.push('\r');
    s
}

/// Position of the `occ`-th (1-based) segment `seg`.
fn find(lines: &[String], seg: &str, occ: usize) -> usize {
    let prefix = format!("{seg}|");
    match lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with(&prefix))
        .nth(occ - 1)
    {
        Some((i, _)) => i,
        None => panic!("no {seg}({occ})"),
    }
}

/// Sets field `field` of the `occ`-th `seg` (raw text, delimiters allowed).
fn set(text: &str, seg: &str, occ: usize, field: usize, value: &str) -> String {
    let mut ls = lines(text);
    let at = find(&ls, seg, occ);
    let mut parts: Vec<String> = ls[at].split('|').map(str::to_string).collect();
    let idx = if seg == "MSH" { field - 1 } else { field };
    while parts.len() <= idx {
        parts.push(String::new());
    }
    parts[idx] = value.to_string();
    ls[at] = parts.join("|");
    join(&ls)
}

fn remove(text: &str, seg: &str, occ: usize) -> String {
    let mut ls = lines(text);
    let at = find(&ls, seg, occ);
    ls.remove(at);
    join(&ls)
}

fn insert_after(text: &str, seg: &str, occ: usize, line: &str) -> String {
    let mut ls = lines(text);
    let at = find(&ls, seg, occ);
    ls.insert(at + 1, line.to_string());
    join(&ls)
}

fn append(text: &str, extra: &str) -> String {
    format!("{text}{extra}")
}

/// The order group (ORC … last OBX) of BASE, for building messages with several doses.
fn order_group() -> String {
    let ls = lines(BASE);
    let start = find(&ls, "ORC", 1);
    join(&ls[start..])
}

type Scenario = (&'static str, String);

/// One message per rule that the rule must fire on.
fn scenarios() -> Vec<Scenario> {
    let b = BASE;
    let s = |seg, occ, f, v| set(b, seg, occ, f, v);
    let msh_line = lines(b)[0].clone();
    let pid_line = lines(b)[1].clone();
    let pd1_line = lines(b)[2].clone();
    vec![
        ("MSG-multiple", append(b, &format!("{msh_line}\r"))),
        ("MSH-1-invalid", b.replace('|', "#")),
        ("MSH-2-invalid", s("MSH", 1, 2, "^~\\")),
        ("MSH-HD-oid", s("MSH", 1, 4, "CLINIC9^not-an-oid^ISO")),
        ("MSH-7-missing", s("MSH", 1, 7, "")),
        ("MSH-7-invalid", s("MSH", 1, 7, "2024-05-14")),
        ("MSH-7-precision", s("MSH", 1, 7, "20240514-0500")),
        ("MSH-7-timezone", s("MSH", 1, 7, "202405141015")),
        ("MSH-7-future", s("MSH", 1, 7, "20300101120000-0500")),
        ("MSH-9-missing", s("MSH", 1, 9, "")),
        ("MSH-9-type", s("MSH", 1, 9, "QBP^Q11^QBP_Q11")),
        ("MSH-9-event", s("MSH", 1, 9, "VXU^V03^VXU_V04")),
        ("MSH-9-structure", s("MSH", 1, 9, "VXU^V04")),
        ("MSH-10-missing", s("MSH", 1, 10, "")),
        ("MSH-11-invalid", s("MSH", 1, 11, "X")),
        ("MSH-12-version", s("MSH", 1, 12, "2.3.1")),
        ("MSH-15-missing", s("MSH", 1, 15, "")),
        ("MSH-15-invalid", s("MSH", 1, 15, "XX")),
        ("MSH-16-missing", s("MSH", 1, 16, "")),
        ("MSH-16-invalid", s("MSH", 1, 16, "YY")),
        ("MSH-21-missing", s("MSH", 1, 21, "")),
        ("MSH-21-profile", s("MSH", 1, 21, "Z23^CDCPHINVS")),
        ("SEG-unexpected", insert_after(b, "PID", 1, "ZXY|1|local")),
        (
            "SEG-order",
            append(b, "NK1|2|Quillfeather^Ash^^^^^L|FTH^Father^HL70063\r"),
        ),
        ("PID-missing", remove(b, "PID", 1)),
        ("PID-repeated", insert_after(b, "PID", 1, &pid_line)),
        ("PID-1-invalid", s("PID", 1, 1, "2")),
        ("PID-3-missing", s("PID", 1, 3, "")),
        ("PID-3-type-missing", s("PID", 1, 3, "MRN448812^^^CLINIC9")),
        (
            "PID-3-type-unknown",
            s("PID", 1, 3, "MRN448812^^^CLINIC9^ZZ"),
        ),
        ("PID-5-family-missing", s("PID", 1, 5, "^Marigold^^^^^L")),
        ("PID-5-given-missing", s("PID", 1, 5, "Quillfeather^^^^^^L")),
        ("PID-5-type", s("PID", 1, 5, "Quillfeather^Marigold")),
        (
            "PID-5-invalid",
            s("PID", 1, 5, "Quillf3ather^Marigold^^^^^L"),
        ),
        ("PID-5-junk", s("PID", 1, 5, "Quillfeather^UNKNOWN^^^^^L")),
        ("PID-5-test", s("PID", 1, 5, "Quillfeather^Baby Girl^^^^^L")),
        (
            "PID-3-control",
            s("PID", 1, 3, "MRN\\X00\\448812^^^CLINIC9^MR"),
        ),
        (
            "PID-5-control",
            s("PID", 1, 5, "Quill\\X0D\\feather^Marigold^^^^^L"),
        ),
        (
            "PID-6-control",
            s("PID", 1, 6, "Ash\\X01\\grove^Tamsin^^^^^M"),
        ),
        (
            "TEXT-control",
            s(
                "PID",
                1,
                11,
                "48 Lantern\\X07\\ Way^^Fernvale^OR^97401^USA^P",
            ),
        ),
        ("PID-7-missing", s("PID", 1, 7, "")),
        ("PID-7-invalid", s("PID", 1, 7, "20230230")),
        ("PID-7-precision", s("PID", 1, 7, "202303")),
        ("PID-7-future", s("PID", 1, 7, "20300101")),
        ("PID-7-too-old", s("PID", 1, 7, "18800101")),
        ("PID-8-missing", s("PID", 1, 8, "")),
        ("PID-8-invalid", s("PID", 1, 8, "Q")),
        ("PID-10-unknown", s("PID", 1, 10, "9999-9^Other^CDCREC")),
        ("PID-10-deprecated", s("PID", 1, 10, "W^White^HL70005")),
        (
            "PID-11-zip",
            s("PID", 1, 11, "48 Lantern Way^^Fernvale^OR^9740^USA^P"),
        ),
        (
            "PID-11-state",
            s("PID", 1, 11, "48 Lantern Way^^Fernvale^ZZ^97401^USA^P"),
        ),
        ("PID-13-invalid", s("PID", 1, 13, "^PRN^PH^^^54^5550142")),
        ("PID-22-unknown", s("PID", 1, 22, "9999-9^Other^CDCREC")),
        (
            "PID-22-deprecated",
            s("PID", 1, 22, "N^Not Hispanic^HL70189"),
        ),
        ("PID-24-invalid", s("PID", 1, 24, "Q")),
        (
            "PID-25-missing",
            set(&s("PID", 1, 24, "Y"), "PID", 1, 25, ""),
        ),
        ("PID-25-invalid", s("PID", 1, 25, "3")),
        ("PID-29-invalid", s("PID", 1, 29, "2024-01-01")),
        ("PID-29-illogical", s("PID", 1, 29, "20220101")),
        ("PID-30-invalid", s("PID", 1, 30, "Q")),
        ("PID-30-inconsistent", s("PID", 1, 29, "20240520")),
        ("PD1-repeated", insert_after(b, "PD1", 1, &pd1_line)),
        ("PD1-11-unknown", s("PD1", 1, 11, "99^Unknown^HL70215")),
        ("PD1-12-invalid", s("PD1", 1, 12, "Q")),
        ("PD1-13-missing", s("PD1", 1, 13, "")),
        ("PD1-13-invalid", s("PD1", 1, 13, "2024")),
        ("PD1-16-unknown", s("PD1", 1, 16, "O")),
        ("PD1-17-missing", s("PD1", 1, 17, "")),
        ("PD1-17-invalid", s("PD1", 1, 17, "x")),
        ("PD1-18-missing", s("PD1", 1, 18, "")),
        ("PD1-18-invalid", s("PD1", 1, 18, "202405")),
        ("NK1-1-invalid", s("NK1", 1, 1, "3")),
        ("NK1-2-missing", s("NK1", 1, 2, "Quillfeather")),
        ("NK1-3-missing", s("NK1", 1, 3, "")),
        ("NK1-3-unknown", s("NK1", 1, 3, "ZZZ^Other^HL70063")),
        ("NK1-3-not-guardian", s("NK1", 1, 3, "FND^Friend^HL70063")),
        ("NK1-5-invalid", s("NK1", 1, 5, "5550142")),
        ("NK1-minor-missing", remove(b, "NK1", 1)),
        (
            "ORC-no-RXA",
            insert_after(b, "NK1", 1, "ORC|RE||FL-1^CLINIC9"),
        ),
        ("RXA-no-ORC", remove(b, "ORC", 1)),
        ("ORC-1-invalid", s("ORC", 1, 1, "NW")),
        ("ORC-3-missing", s("ORC", 1, 3, "")),
        ("ORC-3-placeholder", s("ORC", 1, 3, "9999")),
        ("ORC-3-duplicate", append(b, &order_group())),
        ("RXA-1-invalid", s("RXA", 1, 1, "1")),
        ("RXA-2-invalid", s("RXA", 1, 2, "2")),
        ("RXA-3-missing", s("RXA", 1, 3, "")),
        ("RXA-3-invalid", s("RXA", 1, 3, "20240532")),
        ("RXA-3-future", s("RXA", 1, 3, "20300101")),
        ("RXA-3-before-birth", s("RXA", 1, 3, "20230101")),
        (
            "RXA-3-after-death",
            set(&s("PID", 1, 29, "20240510"), "PID", 1, 30, "Y"),
        ),
        ("RXA-3-after-message", s("MSH", 1, 7, "20240501101530-0500")),
        ("RXA-4-mismatch", s("RXA", 1, 4, "20240513")),
        ("RXA-5-missing", s("RXA", 1, 5, "")),
        ("RXA-5-unknown-cvx", s("RXA", 1, 5, "9876^Nope^CVX")),
        (
            "RXA-5-unknown-ndc",
            s("RXA", 1, 5, "12345-6789-01^Nope^NDC"),
        ),
        ("RXA-5-unknown-cpt", s("RXA", 1, 5, "99999^Nope^CPT")),
        ("RXA-5-code-system", s("RXA", 1, 5, "HEPB^Hep B^LOCAL")),
        ("RXA-5-system-missing", s("RXA", 1, 5, "08^Hep B")),
        (
            "RXA-5-conflict",
            s("RXA", 1, 5, "08^Hep B^CVX^90700^DTaP^CPT"),
        ),
        (
            "RXA-5-alternate-unknown",
            s("RXA", 1, 5, "08^Hep B^CVX^99999^Nope^CPT"),
        ),
        (
            "RXA-5-ndc-ambiguous",
            set(
                &s("RXA", 1, 5, "58160-0821-01^Engerix-B^NDC"),
                "RXA",
                1,
                17,
                "SKB^GlaxoSmithKline^MVX",
            ),
        ),
        ("RXA-5-cvx-not-usable", s("RXA", 1, 5, "57^hantavirus^CVX")),
        ("RXA-5-cvx-inactive", s("RXA", 1, 5, "01^DTP^CVX")),
        (
            "RXA-5-non-specific",
            s("RXA", 1, 5, "45^Hep B, unspecified^CVX"),
        ),
        ("RXA-5-non-us", s("RXA", 1, 5, "501^COVID-19 non-US^CVX")),
        ("RXA-6-missing", s("RXA", 1, 6, "")),
        ("RXA-6-invalid", s("RXA", 1, 6, "half")),
        ("RXA-7-missing", s("RXA", 1, 7, "")),
        ("RXA-9-missing", s("RXA", 1, 9, "")),
        ("RXA-9-unknown", s("RXA", 1, 9, "09^Other^NIP001")),
        ("RXA-15-missing", s("RXA", 1, 15, "")),
        ("RXA-15-invalid", s("RXA", 1, 15, "N/A")),
        ("RXA-16-invalid", s("RXA", 1, 16, "2025-09-30")),
        ("RXA-16-expired", s("RXA", 1, 16, "20240101")),
        ("RXA-17-missing", s("RXA", 1, 17, "")),
        ("RXA-17-unknown", s("RXA", 1, 17, "ZZZ^Nobody^MVX")),
        ("RXA-17-inactive", s("RXA", 1, 17, "AB^Abbott^MVX")),
        (
            "RXA-17-ndc-mismatch",
            set(
                &s("RXA", 1, 5, "00006-4093-01^Recombivax HB^NDC"),
                "RXA",
                1,
                17,
                "SKB^GlaxoSmithKline^MVX",
            ),
        ),
        (
            "RXA-17-vaccine-mismatch",
            s("RXA", 1, 17, "PMC^Sanofi Pasteur^MVX"),
        ),
        ("RXA-18-missing", s("RXA", 1, 20, "RE")),
        (
            "RXA-18-not-allowed",
            s("RXA", 1, 18, "00^Parental decision^NIP002"),
        ),
        (
            "RXA-18-unknown",
            set(&s("RXA", 1, 20, "RE"), "RXA", 1, 18, "77^Other^NIP002"),
        ),
        ("RXA-20-unknown", s("RXA", 1, 20, "XX")),
        (
            "RXA-20-998-not-na",
            s("RXA", 1, 5, "998^No vaccine administered^CVX"),
        ),
        ("RXA-21-invalid", s("RXA", 1, 21, "Z")),
        ("RXR-1-missing", s("RXR", 1, 1, "")),
        ("RXR-1-unknown", s("RXR", 1, 1, "ZZ^Nowhere^NCIT")),
        ("RXR-1-deprecated", s("RXR", 1, 1, "IN^Intranasal^HL70162")),
        ("RXR-1-vaccine", s("RXA", 1, 5, "116^Rotavirus^CVX")),
        ("RXR-2-unknown", s("RXR", 1, 2, "ZZ^Nowhere^HL70163")),
        ("RXR-2-route", s("RXR", 1, 2, "BN^Bilateral nares^HL70163")),
        ("OBX-1-sequence", s("OBX", 2, 1, "7")),
        ("OBX-2-missing", s("OBX", 2, 2, "")),
        ("OBX-2-invalid", s("OBX", 2, 2, "QQ")),
        ("OBX-2-mismatch", s("OBX", 1, 2, "NM")),
        ("OBX-3-missing", s("OBX", 2, 3, "")),
        ("OBX-3-unknown", s("OBX", 2, 3, "12345-6^Something^LN")),
        ("OBX-4-missing", s("OBX", 2, 4, "")),
        ("OBX-5-missing", s("OBX", 2, 5, "")),
        ("OBX-5-invalid", s("OBX", 4, 5, "2024-05-14")),
        ("OBX-5-vfc-unknown", s("OBX", 1, 5, "V99^Other^HL70064")),
        (
            "OBX-5-funding-unknown",
            s("OBX", 2, 5, "XYZ^Other^CDCPHINVS"),
        ),
        (
            "OBX-5-vis-unknown",
            s("OBX", 3, 5, "253000^Unknown VIS^cdcgs1vis"),
        ),
        (
            "OBX-5-code-unknown",
            set(
                &s("OBX", 2, 3, "30945-0^Contraindication^LN"),
                "OBX",
                2,
                5,
                "ZZZ^Other^SCT",
            ),
        ),
        ("OBX-11-invalid", s("OBX", 2, 11, "P")),
        ("OBX-14-invalid", s("OBX", 2, 14, "x2024")),
        ("OBX-17-missing", s("OBX", 1, 17, "")),
        ("OBX-17-unknown", s("OBX", 1, 17, "VXC99^Other^CDCPHINVS")),
        ("OBX-vfc-missing", remove(b, "OBX", 1)),
        ("OBX-vis-incomplete", remove(b, "OBX", 4)),
        ("OBX-vis-missing", remove(&remove(b, "OBX", 4), "OBX", 3)),
        (
            "OBX-vis-vaccine",
            s("OBX", 3, 5, "253088698300017211111108^Polio VIS^cdcgs1vis"),
        ),
        ("OBX-vis-late", s("OBX", 4, 5, "20240520")),
    ]
}

#[test]
fn the_clean_message_has_no_findings() {
    let findings = run(BASE);
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(ack_code(&findings), AckCode::AA);
}

#[test]
fn every_scenario_fires_its_rule() {
    let mut failures = Vec::new();
    for (rule, text) in scenarios() {
        let findings = run(&text);
        if !findings.iter().any(|f| f.rule == rule) {
            failures.push(format!("{rule}: got {:?}", ids(&findings)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_has_a_scenario() {
    // The engine's rules: those checked on a VXU. (Query rules have their scenarios in the query
    // reader's tests, the registry's decisions in the registry's.)
    let covered: BTreeSet<&str> = scenarios().iter().map(|(r, _)| *r).collect();
    let missing: Vec<&str> = rules()
        .iter()
        .filter(|r| matches!(r.applies, Applies::Vxu | Applies::Both))
        .map(|r| r.id)
        .filter(|id| !covered.contains(id))
        .collect();
    assert!(missing.is_empty(), "rules without a scenario: {missing:?}");
}

#[test]
fn rule_ids_are_unique_and_well_formed() {
    let mut seen = BTreeSet::new();
    for r in rules() {
        assert!(seen.insert(r.id), "duplicate rule id {}", r.id);
        assert!(
            r.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{}",
            r.id
        );
        assert!(
            !r.description.is_empty() && r.description.ends_with('.'),
            "{}",
            r.id
        );
        assert!(crate::hl7::hl7_0357_text(r.hl7_code).is_some(), "{}", r.id);
        if let Some(c) = r.cdc_code {
            assert!(crate::hl7::cdc_0533_text(c).is_some(), "{}", r.id);
        }
        if r.locked {
            assert_eq!(r.severity, Severity::Error, "{} is locked but not E", r.id);
        }
        let envelope_code = (200..=207).contains(&r.hl7_code);
        assert!(
            !envelope_code || r.scope == Scope::Envelope,
            "{}: codes 200-207 are for the envelope",
            r.id
        );
    }
    assert!(rules().len() >= 120, "{} rules", rules().len());
}

#[test]
fn findings_come_in_message_order_with_doses_numbered() {
    // Two doses: the second one has a bad vaccine code and an unknown site; the patient a
    // missing sex. Findings: PID first, then dose 2's RXA, then its RXR.
    let second = order_group()
        .replace("FL-88120", "FL-88121")
        .replace("08^Hep B, adolescent or pediatric^CVX", "9876^Nope^CVX")
        .replace("LT^Left Thigh", "ZZ^Nowhere");
    let text = append(&set(BASE, "PID", 1, 8, ""), &second);
    let findings = run(&text);
    assert_eq!(
        ids(&findings),
        vec!["PID-8-missing", "RXA-5-unknown-cvx", "RXR-2-unknown"],
        "{findings:#?}"
    );
    assert_eq!(findings[1].dose, Some(2));
    assert_eq!(findings[2].dose, Some(2));
    assert_eq!(findings[0].dose, None);
    assert_eq!(ack_code(&findings), AckCode::AE);
    assert!(!patient_rejected(&findings));
    assert_eq!(rejected_doses(&findings), vec![2]);
    let loc = findings[1].location.as_ref().map(ToString::to_string);
    assert_eq!(loc.as_deref(), Some("RXA^2^5^1^1"));
    assert!(findings[1].message.starts_with("Immunization 2: "));
    assert!(
        findings[1]
            .message
            .ends_with("This immunization was not saved; the rest of the message was."),
        "{}",
        findings[1].message
    );
}

#[test]
fn a_rejected_patient_rejects_the_message() {
    let text = set(&set(BASE, "PID", 1, 7, ""), "RXA", 1, 5, "9876^Nope^CVX");
    let findings = run(&text);
    assert_eq!(ack_code(&findings), AckCode::AE);
    assert!(patient_rejected(&findings));
    let dose = findings
        .iter()
        .find(|f| f.rule == "RXA-5-unknown-cvx")
        .expect("dose finding");
    assert!(dose.message.ends_with("This immunization was not saved."));
    let patient = findings
        .iter()
        .find(|f| f.rule == "PID-7-missing")
        .expect("patient finding");
    assert!(patient
        .message
        .contains("nothing in this message was saved"));
}

#[test]
fn a_refused_envelope_reports_only_the_header() {
    // MSH-12 wrong and the patient broken: only the envelope findings come back, AR.
    let text = set(&set(BASE, "MSH", 1, 12, "2.3.1"), "PID", 1, 7, "");
    let findings = run(&text);
    assert_eq!(ids(&findings), vec!["MSH-12-version"]);
    assert_eq!(ack_code(&findings), AckCode::AR);
    assert_eq!(findings[0].hl7_code, 203);
    let qbp = run(&set(BASE, "MSH", 1, 9, "QBP^Q11^QBP_Q11"));
    assert_eq!(ids(&qbp), vec!["MSH-9-type"]);
    assert_eq!(qbp[0].hl7_code, 200);
    assert!(qbp[0].message.contains("history query (QBP)"));
    let event = run(&set(BASE, "MSH", 1, 9, "VXU^V03^VXU_V04"));
    assert_eq!(event[0].hl7_code, 201);
    assert_eq!(ack_code(&event), AckCode::AR);
}

#[test]
fn organizations_choose_severities() {
    let text = set(BASE, "PID", 1, 8, "");
    let mut overrides = HashMap::new();
    overrides.insert("PID-8-missing".to_string(), Level::Error);
    let raised = validate(&parse(&text), &ctx().with_overrides(&overrides));
    assert_eq!(raised[0].severity, Severity::Error);
    assert_eq!(raised[0].scope, Scope::Patient, "scope stays with the rule");
    assert!(patient_rejected(&raised));
    assert_eq!(ack_code(&raised), AckCode::AE);

    overrides.insert("PID-8-missing".to_string(), Level::Off);
    assert!(validate(&parse(&text), &ctx().with_overrides(&overrides)).is_empty());

    overrides.insert("PID-8-missing".to_string(), Level::Info);
    let info = validate(&parse(&text), &ctx().with_overrides(&overrides));
    assert_eq!(info[0].severity, Severity::Info);

    // A dose rule lowered to a warning no longer rejects the dose.
    let mut lower = HashMap::new();
    lower.insert("RXA-3-future".to_string(), Level::Warning);
    let text = set(BASE, "RXA", 1, 3, "20300101");
    let lowered = validate(&parse(&text), &ctx().with_overrides(&lower));
    assert_eq!(ack_code(&lowered), AckCode::AA);
    assert!(rejected_doses(&lowered).is_empty());

    // An envelope rule raised to E refuses the message.
    let mut strict = HashMap::new();
    strict.insert("MSH-7-timezone".to_string(), Level::Error);
    let text = set(BASE, "MSH", 1, 7, "202405141015");
    let refused = validate(&parse(&text), &ctx().with_overrides(&strict));
    assert_eq!(ack_code(&refused), AckCode::AR);

    // Locked rules ignore overrides.
    let mut locked = HashMap::new();
    locked.insert("RXA-5-unknown-cvx".to_string(), Level::Off);
    let text = set(BASE, "RXA", 1, 5, "9876^Nope^CVX");
    let still = validate(&parse(&text), &ctx().with_overrides(&locked));
    assert_eq!(ids(&still), vec!["RXA-5-unknown-cvx"]);
    assert_eq!(still[0].severity, Severity::Error);
}

#[test]
fn overrides_are_checked_before_they_are_stored() {
    assert!(check_override("PID-8-missing", Level::Error).is_ok());
    assert!(check_override("PID-8-missing", Level::Off).is_ok());
    assert_eq!(
        check_override("NO-SUCH-RULE", Level::Warning),
        Err(OverrideError::UnknownRule("NO-SUCH-RULE".into()))
    );
    assert_eq!(
        check_override("RXA-5-unknown-cvx", Level::Warning),
        Err(OverrideError::Locked("RXA-5-unknown-cvx"))
    );
    assert!(check_override("RXA-5-unknown-cvx", Level::Error).is_ok());
    assert_eq!("e".parse::<Level>(), Ok(Level::Error));
    assert_eq!("Warning".parse::<Level>(), Ok(Level::Warning));
    assert_eq!("I".parse::<Level>(), Ok(Level::Info));
    assert_eq!("OFF".parse::<Level>(), Ok(Level::Off));
    assert!("maybe".parse::<Level>().is_err());
    assert_eq!(Level::Off.to_string(), "off");
    assert_eq!(Level::from(Severity::Warning), Level::Warning);
}

#[test]
fn ack_errors_are_capped_with_a_count() {
    // Many warnings and one error: with a limit of 4 the error is kept, in message order.
    let mut text = BASE.to_string();
    for (seg, f, v) in [
        ("PID", 1, "2"),
        ("PID", 8, ""),
        ("PID", 24, "Q"),
        ("PID", 30, "Q"),
        ("NK1", 1, "3"),
        ("RXA", 1, "1"),
        ("RXA", 2, "2"),
        ("RXA", 3, "20300101"),
    ] {
        text = set(&text, seg, 1, f, v);
    }
    let findings = run(&text);
    assert_eq!(findings.len(), 8, "{:?}", ids(&findings));
    let all = ack_errors(&findings, DEFAULT_ERR_LIMIT);
    assert_eq!(all.len(), 8);
    let capped = ack_errors(&findings, 4);
    assert_eq!(capped.len(), 4);
    assert_eq!(capped[0].hl7_code, 102, "PID-1-invalid first");
    assert!(
        capped[..3].iter().any(|e| e.severity == Severity::Error),
        "the error is kept"
    );
    let last = &capped[3];
    assert_eq!(last.severity, Severity::Info);
    assert_eq!(last.hl7_code, 0);
    assert_eq!(
        last.message,
        "5 more findings were not listed here (0 errors, 5 warnings, 0 notes)."
    );
    assert!(ack_errors(&findings, 0).is_empty());
    let one = ack_errors(&findings, 1);
    assert_eq!(one.len(), 1);
    assert!(one[0].message.starts_with("8 more findings"));
}

#[test]
fn messages_carry_no_patient_data() {
    // Every scenario: no finding text repeats the patient's or the mother's names, the street,
    // the phone number, the e-mail address or the identifier.
    let secrets = [
        "Quillfeather",
        "Marigold",
        "Ashgrove",
        "Tamsin",
        "Rowan",
        "Lantern",
        "5550142",
        "mq@example.net",
        "MRN448812",
    ];
    for (rule, text) in scenarios() {
        for f in run(&text) {
            for s in secrets {
                assert!(
                    !f.message.contains(s),
                    "{rule}: {} leaks {s}: {}",
                    f.rule,
                    f.message
                );
            }
            assert!(
                !f.message.is_empty() && f.message.ends_with('.'),
                "{}",
                f.message
            );
        }
    }
}

#[test]
fn refusals_historical_doses_and_deletes_are_not_held_to_administered_rules() {
    // A refusal: CVX known, RXA-18 given, no lot, MVX, VFC or VIS needed; ORC-3 may be 9999.
    let refusal = concat!(
        "ORC|RE||9999^CLINIC9\r",
        "RXA|0|1|20240514||21^varicella^CVX|999||||||||||||00^Parental decision^NIP002||RE|A\r",
    );
    let findings = run(&append(BASE, refusal));
    assert!(findings.is_empty(), "{findings:#?}");
    // A historical dose with an unspecified CVX.
    let historical = concat!(
        "ORC|RE||FL-77^CLINIC9\r",
        "RXA|0|1|20230501||45^Hep B, unspecified formulation^CVX|999|||01^Historical^NIP001|||||||||||CP|A\r",
    );
    assert!(run(&append(BASE, historical)).is_empty());
    // No vaccine administered, with evidence of immunity.
    let immunity = concat!(
        "ORC|RE||9999^CLINIC9\r",
        "RXA|0|1|20240514||998^No vaccine administered^CVX|999||||||||||||||NA|A\r",
        "OBX|1|CE|59784-9^Disease with presumed immunity^LN|1|38907003^Varicella infection^SCT||||||F\r",
    );
    assert!(run(&append(BASE, immunity)).is_empty());
    // A delete needs no VFC, lot or MVX.
    let delete = set(
        &set(
            &set(&remove(BASE, "OBX", 1), "RXA", 1, 21, "D"),
            "RXA",
            1,
            15,
            "",
        ),
        "RXA",
        1,
        17,
        "",
    );
    let findings = run(&delete);
    assert!(
        !findings.iter().any(|f| matches!(
            f.rule,
            "OBX-vfc-missing" | "RXA-15-missing" | "RXA-17-missing"
        )),
        "{:?}",
        ids(&findings)
    );
}

#[test]
fn dates_a_day_ahead_are_accepted() {
    // Today is 2024-06-01 (UTC); a sender a few time zones east may already be on 06-02.
    let text = set(
        &set(BASE, "RXA", 1, 3, "20240602"),
        "MSH",
        1,
        7,
        "202406020030+1000",
    );
    let findings = run(&text);
    assert!(findings.is_empty(), "{findings:#?}");
    let late = run(&set(BASE, "RXA", 1, 3, "20240603"));
    assert_eq!(ids(&late), vec!["RXA-3-future"]);
}

#[test]
fn vaccines_resolve_from_cvx_ndc_and_cpt() {
    let codes = CodeSets::builtin();
    let rxa = |field5: &str| {
        format!(
            "MSH|^~\\&|A|B|C|D|20240514||VXU^V04^VXU_V04|1|P|2.5.1\rRXA|0|1|20240514||{field5}\r"
        )
    };
    let resolve = |field5: &str| {
        let text = rxa(field5);
        let msg = parse(&text);
        let seg = msg.segment("RXA").expect("RXA");
        resolve_vaccine(&seg, codes)
    };
    let v = resolve("8^Hep B^CVX").expect("cvx");
    assert_eq!(
        (v.cvx.as_str(), v.from, v.component),
        ("08", VaccineSource::Cvx, 1)
    );
    let v = resolve("49281-0560-05^Pentacel^NDC").expect("ndc");
    assert_eq!((v.cvx.as_str(), v.from), ("120", VaccineSource::Ndc));
    assert_eq!(v.ndc.as_deref(), Some("49281056005"));
    let v = resolve("90744^HepB^CPT").expect("cpt");
    assert_eq!((v.cvx.as_str(), v.from), ("08", VaccineSource::Cpt));
    let v = resolve("90744^HepB^C4").expect("C4 is CPT");
    assert_eq!(v.from, VaccineSource::Cpt);
    // The CVX wins over a conflicting alternate, in either position.
    let v = resolve("90700^DTaP^CPT^08^HepB^CVX").expect("conflict");
    assert_eq!((v.cvx.as_str(), v.component), ("08", 4));
    let aside = v.set_aside.expect("set aside");
    assert_eq!(
        (aside.code.as_str(), aside.maps_to.as_deref()),
        ("90700", Some("20"))
    );
    // An NDC that names two CVX codes, disambiguated by the CPT beside it.
    let v = resolve("58160-0821-01^Engerix-B^NDC").expect("ambiguous");
    assert_eq!(
        (v.cvx.as_str(), v.other_cvx.clone()),
        ("43", vec!["44".to_string()])
    );
    let v = resolve("58160-0821-01^Engerix-B^NDC^90743^HepB^CPT").expect("confirmed");
    assert_eq!(v.cvx, "43");
    assert!(v.other_cvx.is_empty() && v.set_aside.is_none());
    // Blank system: read by shape.
    let v = resolve("00006-4093-01^Recombivax").expect("inferred");
    assert!(v.system_inferred);
    assert_eq!((v.cvx.as_str(), v.from), ("08", VaccineSource::Ndc));
    // Unknown and unsupported.
    assert_eq!(resolve(""), Err(VaccineError::Missing));
    assert_eq!(
        resolve("9876^x^CVX"),
        Err(VaccineError::Unknown {
            code: "9876".into(),
            source: VaccineSource::Cvx,
            component: 1
        })
    );
    assert_eq!(
        resolve("HEPB^x^LOCAL"),
        Err(VaccineError::UnsupportedSystem {
            code: "HEPB".into(),
            system: "LOCAL".into(),
            component: 1
        })
    );
    // A local alternate code next to a CVX is fine.
    let v = resolve("08^HepB^CVX^HB1^HepB^LOCAL").expect("local alternate");
    assert!(v.set_aside.is_none());
}

#[test]
fn every_required_field_is_covered() {
    // The R and C fields of the NIST IG 1.5 VXU Z22 profile, segment by segment.
    let profile: &[(&str, &[u32], &[u32])] = &[
        ("MSH", &[1, 2, 7, 9, 10, 11, 12, 15, 16, 21], &[]),
        ("SFT", &[1, 2, 3, 4], &[]),
        ("PID", &[1, 3, 5, 7, 8], &[25, 29]),
        ("PD1", &[], &[13, 17, 18]),
        ("NK1", &[1, 2, 3], &[]),
        ("PV1", &[2], &[]),
        ("PV2", &[], &[1, 47]),
        ("GT1", &[1, 3], &[]),
        ("IN1", &[1, 2, 3, 15], &[]),
        ("IN3", &[1], &[]),
        ("ORC", &[1, 3], &[12]),
        ("TQ1", &[], &[12]),
        ("TQ2", &[], &[3, 4, 5, 6, 7, 10]),
        ("RXA", &[1, 2, 3, 5, 6], &[7, 9, 10, 11, 15, 16, 17, 18, 21]),
        ("RXR", &[1], &[]),
        ("OBX", &[1, 2, 3, 4, 5, 11], &[6, 17]),
        ("NTE", &[3], &[]),
    ];
    let mut expected = BTreeSet::new();
    for (seg, r, c) in profile {
        for f in *r {
            expected.insert((format!("{seg}-{f}"), "R"));
        }
        for f in *c {
            expected.insert((format!("{seg}-{f}"), "C"));
        }
    }
    let listed: BTreeSet<(String, &str)> = FIELD_COVERAGE
        .iter()
        .map(|f| (f.field.to_string(), f.usage))
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(listed.len(), FIELD_COVERAGE.len(), "a field listed twice");
    for f in FIELD_COVERAGE {
        match f.coverage {
            Coverage::Rules(ids) => {
                assert!(!ids.is_empty(), "{}", f.field);
                for id in ids {
                    assert!(rule_info(id).is_some(), "{}: no rule {id}", f.field);
                }
            }
            Coverage::Reason(why) => assert!(why.len() > 20, "{}", f.field),
        }
    }
}

#[test]
fn rules_render_as_text_and_markdown() {
    let text = render_rules(RulesFormat::Text);
    let md = render_rules(RulesFormat::Markdown);
    for r in rules() {
        assert!(text.contains(r.id), "{}", r.id);
        assert!(md.contains(&format!("| {} |", r.id)), "{}", r.id);
    }
    let table_rows = md.lines().filter(|l| l.starts_with("| ")).count();
    // Rule rows + rule header + coverage rows + coverage header.
    assert_eq!(table_rows, rules().len() + 1 + FIELD_COVERAGE.len() + 1);
    assert!(text.contains("RXA-5-unknown-cvx"));
    assert!(text.contains("E (locked)"));
    assert!(md.contains("no rule: Optional segment"));
}

#[test]
fn corpus_style_inputs() {
    // LF line ends, a BOM, trailing spaces in codes: still clean.
    let lf = BASE.replace('\r', "\n");
    assert!(run(&lf).is_empty());
    let bom = format!("\u{feff}{BASE}");
    assert!(run(&bom).is_empty());
    let padded = set(BASE, "RXA", 1, 5, " 08 ^Hep B^CVX ");
    assert!(run(&padded).is_empty(), "{:?}", ids(&run(&padded)));
    // Escaped delimiters in a name are text, not structure.
    let escaped = set(BASE, "PID", 1, 5, "O\\T\\Brien^Marigold^^^^^L");
    assert_eq!(ids(&run(&escaped)), vec!["PID-5-invalid"]);
}

/// A field value made of anything, delimiters and escapes included.
fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "[0-9]{0,14}",
        "[A-Z0-9^&~\\\\]{0,20}",
        Just(String::new()),
        Just("\"\"".to_string()),
        "\\PC{0,12}",
    ]
}

proptest! {
    // 512 cases by default; PROPTEST_CASES=N runs more.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
    ))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        if let Ok(msg) = Message::parse(&text) {
            let _ = validate(&msg, &ctx());
        }
        let with_header = format!("MSH|^~\\&|{text}");
        if let Ok(msg) = Message::parse(&with_header) {
            let findings = validate(&msg, &ctx());
            let _ = ack_errors(&findings, 5);
        }
    }

    #[test]
    fn any_field_replaced_never_panics(
        seg in 0usize..11,
        field in 1usize..32,
        value in field_value(),
    ) {
        let mut ls = lines(BASE);
        let mut parts: Vec<String> = ls[seg].split('|').map(str::to_string).collect();
        // Keep MSH-1/MSH-2 (index 0/1 of the MSH line) so that the text stays HL7.
        let idx = if seg == 0 { field.max(2) } else { field };
        while parts.len() <= idx {
            parts.push(String::new());
        }
        parts[idx] = value;
        ls[seg] = parts.join("|");
        let text = join(&ls);
        if let Ok(msg) = Message::parse(&text) {
            let findings = validate(&msg, &ctx());
            for f in &findings {
                prop_assert!(!f.message.is_empty());
                prop_assert!(f.scope != Scope::Dose || f.dose.is_some());
            }
            let _ = ack_errors(&findings, 3);
        }
    }

    #[test]
    fn segments_dropped_or_repeated_never_panic(
        drop in proptest::collection::vec(0usize..11, 0..4),
        dup in proptest::collection::vec(0usize..11, 0..4),
        today in (1900i16..2100, 1i8..=12, 1i8..=28)
            .prop_map(|(y, m, d)| jiff::civil::date(y, m, d)),
    ) {
        let base = lines(BASE);
        let mut ls: Vec<String> = Vec::new();
        for (i, l) in base.iter().enumerate() {
            if i > 0 && drop.contains(&i) {
                continue;
            }
            ls.push(l.clone());
            if i > 0 && dup.contains(&i) {
                ls.push(l.clone());
            }
        }
        let text = join(&ls);
        let msg = parse(&text);
        let context = Context::new(today, CodeSets::builtin());
        let findings = validate(&msg, &context);
        // A finding about one immunization names an RXA of this message, by its ordinal.
        let rxas = ls.iter().filter(|l| l.starts_with("RXA|")).count() as u32;
        for f in &findings {
            prop_assert!(f.scope != Scope::Dose || f.dose.is_some(), "{} has no dose", f.rule);
            if let Some(n) = f.dose {
                prop_assert!((1..=rxas).contains(&n), "{}: dose {} of {}", f.rule, n, rxas);
            }
        }
    }
}
