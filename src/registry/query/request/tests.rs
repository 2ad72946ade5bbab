use super::*;
use crate::date::Date;
use crate::hl7::{AckCode, Severity};
use crate::registry::finding::{ack_code, cdc_code, hl7_code, Scope};
use proptest::prelude::*;
use std::collections::HashMap;

const TODAY: Date = jiff::civil::date(2024, 5, 15);

const QBP: &str = "MSH|^~\\&|MYEHR|MYCLINIC|IZPORT|IZPORT|20240515093012-0500||QBP^Q11^QBP_Q11|Q-1|P|2.5.1|||ER|AL|||||Z34^CDCPHINVS\r\
QPD|Z34^Request Immunization History^CDCPHINVS|TAG-1|MRN-1^^^MYEHR^MR~~SS-9^^^&2.16.840.1.113883.4.1&ISO^SS|Child^Bobbie^Quinn^^^^L|Que^Suzy^^^^^M|20050512|M|10 East Main St&East Main St&10^Apt 2^Myfaircity^GA^30001^USA^L|^PRN^PH^^^555^5551234|Y|2\r\
RCP|I|5^RD&records&HL70126\r";

fn limits() -> QueryLimits {
    QueryLimits {
        default_max_candidates: 10,
        max_candidates: 20,
    }
}

fn parse(text: &str) -> Result<QueryRequest, Vec<Finding>> {
    let msg = Message::parse(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    parse_query(&msg, &limits(), TODAY)
}

fn ok(text: &str) -> QueryRequest {
    match parse(text) {
        Ok(q) => q,
        Err(f) => panic!("rejected: {f:#?}"),
    }
}

fn rejected(text: &str) -> Vec<Finding> {
    match parse(text) {
        Ok(q) => panic!("accepted: {q:#?}"),
        Err(f) => f,
    }
}

/// `text` with field `n` of the first segment `id` replaced (HL7 numbering, so MSH-n too).
fn with_field(text: &str, id: &str, n: usize, value: &str) -> String {
    let mut done = false;
    let segments: Vec<String> = text
        .split('\r')
        .map(|seg| {
            if done || !seg.starts_with(id) {
                return seg.to_string();
            }
            done = true;
            let mut fields: Vec<String> = seg.split('|').map(str::to_string).collect();
            let index = if id == "MSH" { n - 1 } else { n };
            if fields.len() <= index {
                fields.resize(index + 1, String::new());
            }
            fields[index] = value.to_string();
            fields.join("|")
        })
        .collect();
    assert!(done, "no {id} in {text:?}");
    segments.join("\r")
}

fn without_segment(text: &str, id: &str) -> String {
    text.split('\r')
        .filter(|s| !s.starts_with(id))
        .collect::<Vec<_>>()
        .join("\r")
}

fn rules(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.rule).collect()
}

fn location(f: &Finding) -> String {
    f.location
        .as_ref()
        .map(|l| l.to_string())
        .unwrap_or_default()
}

#[test]
fn reads_every_field() {
    let q = ok(QBP);
    assert_eq!(q.profile, QueryProfile::Z34);
    assert_eq!(q.query_tag, "TAG-1");
    assert_eq!(
        q.query_name_raw,
        "Z34^Request Immunization History^CDCPHINVS"
    );
    assert!(q.qpd_raw.starts_with("QPD|Z34^"), "{}", q.qpd_raw);
    assert!(q.qpd_raw.ends_with("|Y|2"), "{}", q.qpd_raw);
    assert_eq!(q.delimiters, Delimiters::DEFAULT);
    assert_eq!(
        q.identifiers,
        vec![
            PatientId::new("MRN-1", "MYEHR", "MR"),
            PatientId::new("SS-9", "2.16.840.1.113883.4.1", "SS"),
        ]
    );
    assert_eq!(q.family, "Child");
    assert_eq!(q.given, "Bobbie");
    assert_eq!(q.middle.as_deref(), Some("Quinn"));
    assert_eq!(q.mother_maiden_family.as_deref(), Some("Que"));
    assert_eq!(q.birth_date, jiff::civil::date(2005, 5, 12));
    assert_eq!(q.sex.as_deref(), Some("M"));
    assert_eq!(
        q.address,
        Some(AddressView {
            street: "10 East Main St".into(),
            other_designation: "Apt 2".into(),
            city: "Myfaircity".into(),
            state: "GA".into(),
            zip: "30001".into(),
            country: "USA".into(),
            address_type: "L".into(),
        })
    );
    assert_eq!(q.phone, Some(PhoneView::new("555", "5551234")));
    assert_eq!(q.multiple_birth, Some(true));
    assert_eq!(q.birth_order, Some(2));
    assert_eq!(q.max_candidates, 5);
    assert!(q.warnings.is_empty(), "{:#?}", q.warnings);
}

#[test]
fn optional_fields_may_be_absent() {
    let mut text = QBP.to_string();
    for n in [3, 5, 7, 8, 9, 10, 11] {
        text = with_field(&text, "QPD", n, "");
    }
    text = with_field(&text, "QPD", 4, "Child^Bobbie");
    let q = ok(&text);
    assert!(q.identifiers.is_empty());
    assert_eq!(q.middle, None);
    assert_eq!(q.mother_maiden_family, None);
    assert_eq!(q.sex, None);
    assert_eq!(q.address, None);
    assert_eq!(q.phone, None);
    assert_eq!(q.multiple_birth, None);
    assert_eq!(q.birth_order, None);
    assert!(q.warnings.is_empty(), "{:#?}", q.warnings);
}

#[test]
fn escaped_values_are_decoded_and_trimmed() {
    let text = with_field(QBP, "QPD", 4, " O\\T\\Brien ^ Mary\\S\\Ann ^^^^^L");
    let text = with_field(&text, "QPD", 2, "T\\F\\1");
    let q = ok(&text);
    assert_eq!(q.family, "O&Brien");
    assert_eq!(q.given, "Mary^Ann");
    assert_eq!(q.query_tag, "T|1");
}

#[test]
fn z44_and_tolerated_variations() {
    let text = with_field(
        QBP,
        "QPD",
        1,
        "Z44^Request Evaluated History and Forecast^CDCPHINVS ",
    );
    let text = with_field(&text, "MSH", 21, "Z44^CDCPHINVS");
    let q = ok(&text);
    assert_eq!(q.profile, QueryProfile::Z44);
    assert_eq!(
        q.query_name_raw,
        "Z44^Request Evaluated History and Forecast^CDCPHINVS "
    );
    assert!(q.warnings.is_empty(), "{:#?}", q.warnings);

    // Other text, the HL7 query-name table as system, lower case code, no text at all.
    for name in [
        "Z34^Request a Complete Immunization History^CDCPHINVS",
        "Z34^Request Immunization History^HL70471",
        "z34^request immunization history^cdcphinvs",
        "Z34",
        " Z34 ^^",
    ] {
        let q = ok(&with_field(QBP, "QPD", 1, name));
        assert_eq!(q.profile, QueryProfile::Z34, "{name}");
        assert!(q.warnings.is_empty(), "{name}: {:#?}", q.warnings);
    }
    // MSH-21 may repeat; the query profile is found in any repetition.
    let q = ok(&with_field(QBP, "MSH", 21, "Z99^LOCAL~Z34^CDCPHINVS"));
    assert!(q.warnings.is_empty(), "{:#?}", q.warnings);
}

#[test]
fn misspelt_profile_namespace_is_a_warning() {
    // The corpus has a registry writing CDCPHHINVS; the code still decides.
    let q = ok(&with_field(
        QBP,
        "QPD",
        1,
        "Z34^Request Immunization History^CDCPHHINVS",
    ));
    assert_eq!(q.profile, QueryProfile::Z34);
    assert_eq!(rules(&q.warnings), ["QPD-1-system"]);
    let w = &q.warnings[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(w.hl7_code, hl7_code::TABLE_VALUE_NOT_FOUND);
    assert_eq!(location(w), "QPD^1^1^1^3");
    assert!(w.message.contains("CDCPHHINVS"), "{}", w.message);
    assert!(w.message.contains("Z34"), "{}", w.message);

    let q = ok(&with_field(QBP, "MSH", 21, "Z34^CDCPHHINVS"));
    assert_eq!(rules(&q.warnings), ["MSH-21-system"]);
    assert_eq!(location(&q.warnings[0]), "MSH^1^21^1^2");
    assert!(q.warnings[0].message.contains("CDCPHHINVS"));

    let q = ok(&with_field(QBP, "MSH", 21, "Z22^CDCPHINVS~Z34^CDCPHHINVS"));
    assert_eq!(location(&q.warnings[0]), "MSH^1^21^2^2");
}

#[test]
fn msh21_problems_are_warnings_and_qpd1_decides() {
    let q = ok(&with_field(QBP, "MSH", 21, ""));
    assert_eq!(rules(&q.warnings), ["MSH-21-missing"]);
    assert_eq!(q.warnings[0].hl7_code, hl7_code::REQUIRED_FIELD_MISSING);
    assert_eq!(location(&q.warnings[0]), "MSH^1^21");

    let q = ok(&with_field(QBP, "MSH", 21, "Z22^CDCPHINVS"));
    assert_eq!(rules(&q.warnings), ["MSH-21-unknown"]);

    let q = ok(&with_field(QBP, "MSH", 21, "Z44^CDCPHINVS"));
    assert_eq!(q.profile, QueryProfile::Z34);
    assert_eq!(rules(&q.warnings), ["MSH-21-mismatch"]);
    assert_eq!(location(&q.warnings[0]), "MSH^1^21^1^1");
    assert!(q.warnings[0].message.contains("answered as Z34"));
}

#[test]
fn unknown_or_missing_query_name_is_rejected() {
    let f = rejected(&with_field(QBP, "QPD", 1, "Z99^Something Else^CDCPHINVS"));
    assert_eq!(rules(&f), ["QPD-1-unknown"]);
    assert_eq!(f[0].scope, Scope::Envelope);
    assert_eq!(f[0].hl7_code, hl7_code::TABLE_VALUE_NOT_FOUND);
    assert_eq!(location(&f[0]), "QPD^1^1^1^1");
    assert_eq!(ack_code(&f), AckCode::AR);

    let f = rejected(&with_field(QBP, "QPD", 1, "^Request Immunization History"));
    assert_eq!(rules(&f), ["QPD-1-missing"]);
    assert_eq!(f[0].hl7_code, hl7_code::REQUIRED_FIELD_MISSING);
    assert_eq!(ack_code(&f), AckCode::AR);
}

#[test]
fn missing_qpd_is_rejected() {
    let f = rejected(&without_segment(QBP, "QPD"));
    assert_eq!(rules(&f), ["QPD-missing"]);
    assert_eq!(location(&f[0]), "QPD^1");
    assert_eq!(f[0].hl7_code, hl7_code::SEGMENT_SEQUENCE);
    assert_eq!(ack_code(&f), AckCode::AR);
}

#[test]
fn a_qbp_segment_instead_of_qpd_is_named() {
    let text = QBP.replacen("\rQPD|", "\rQBP|", 1);
    let f = rejected(&text);
    assert_eq!(rules(&f), ["QPD-named-QBP"]);
    assert_eq!(ack_code(&f), AckCode::AR);
    assert!(f[0].message.contains("named QBP"), "{}", f[0].message);
    assert!(f[0].message.contains("QPD"), "{}", f[0].message);
}

#[test]
fn header_problems_are_rejected() {
    let f = rejected(&with_field(QBP, "MSH", 9, "ADT^A01^ADT_A01"));
    assert_eq!(rules(&f), ["MSH-9-type"]);
    assert_eq!(f[0].hl7_code, hl7_code::UNSUPPORTED_MESSAGE_TYPE);
    let f = rejected(&with_field(QBP, "MSH", 9, "QBP^Q13^QBP_Q13"));
    assert_eq!(rules(&f), ["MSH-9-event"]);
    assert_eq!(location(&f[0]), "MSH^1^9^1^2");
    let f = rejected(&with_field(QBP, "MSH", 9, ""));
    assert_eq!(rules(&f), ["MSH-9-missing"]);
    let f = rejected(&with_field(QBP, "MSH", 11, "X"));
    assert_eq!(rules(&f), ["MSH-11-invalid"]);
    assert_eq!(f[0].hl7_code, hl7_code::UNSUPPORTED_PROCESSING_ID);
    let f = rejected(&with_field(QBP, "MSH", 12, "2.3.1"));
    assert_eq!(rules(&f), ["MSH-12-version"]);
    assert_eq!(f[0].hl7_code, hl7_code::UNSUPPORTED_VERSION);
    assert_eq!(ack_code(&f), AckCode::AR);
    // QBP^Q11 without MSH-9.3 is fine; T and D are answered.
    let q = ok(&with_field(QBP, "MSH", 9, "QBP^Q11"));
    assert!(q.warnings.is_empty());
    ok(&with_field(QBP, "MSH", 11, "T"));
    ok(&with_field(QBP, "MSH", 11, "D"));
}

#[test]
fn missing_query_tag_is_an_error() {
    let f = rejected(&with_field(QBP, "QPD", 2, ""));
    assert_eq!(rules(&f), ["QPD-2-missing"]);
    assert_eq!(location(&f[0]), "QPD^1^2");
    assert_eq!(ack_code(&f), AckCode::AE);
}

#[test]
fn name_errors() {
    let f = rejected(&with_field(QBP, "QPD", 4, "^Bobbie^^^^^L"));
    assert_eq!(rules(&f), ["QPD-4-family-missing"]);
    assert_eq!(location(&f[0]), "QPD^1^4^1^1");
    assert_eq!(f[0].hl7_code, hl7_code::REQUIRED_FIELD_MISSING);
    assert_eq!(f[0].scope, Scope::Patient);
    assert_eq!(ack_code(&f), AckCode::AE);

    let f = rejected(&with_field(QBP, "QPD", 4, "Child^ ^^^^^L"));
    assert_eq!(rules(&f), ["QPD-4-given-missing"]);
    assert_eq!(location(&f[0]), "QPD^1^4^1^2");

    let f = rejected(&with_field(QBP, "QPD", 4, ""));
    assert_eq!(rules(&f), ["QPD-4-family-missing", "QPD-4-given-missing"]);

    let f = rejected(&with_field(QBP, "QPD", 4, "12345^-^^^^^L"));
    assert_eq!(rules(&f), ["QPD-4-family-invalid", "QPD-4-given-invalid"]);
    assert_eq!(f[0].hl7_code, hl7_code::DATA_TYPE);
    assert_eq!(f[0].cdc_code, Some(cdc_code::INVALID_VALUE));
    assert_eq!(ack_code(&f), AckCode::AE);
    // Letters in any script count.
    let q = ok(&with_field(QBP, "QPD", 4, "Øvergård^Zoë"));
    assert_eq!(q.family, "Øvergård");
}

#[test]
fn birth_date_errors() {
    let f = rejected(&with_field(QBP, "QPD", 6, ""));
    assert_eq!(rules(&f), ["QPD-6-missing"]);
    assert_eq!(location(&f[0]), "QPD^1^6");
    assert_eq!(f[0].hl7_code, hl7_code::REQUIRED_FIELD_MISSING);
    assert_eq!(ack_code(&f), AckCode::AE);

    for bad in ["20050231", "2005", "200505", "May 12 2005", "20051312"] {
        let f = rejected(&with_field(QBP, "QPD", 6, bad));
        assert_eq!(rules(&f), ["QPD-6-invalid"], "{bad}");
        assert_eq!(f[0].hl7_code, hl7_code::DATA_TYPE);
        assert_eq!(f[0].cdc_code, Some(cdc_code::INVALID_DATE));
        assert!(f[0].message.contains(bad));
    }

    let f = rejected(&with_field(QBP, "QPD", 6, "20240516"));
    assert_eq!(rules(&f), ["QPD-6-future"]);
    assert_eq!(f[0].cdc_code, Some(cdc_code::ILLOGICAL_DATE));

    // A time and zone are allowed; today is not the future.
    assert_eq!(
        ok(&with_field(QBP, "QPD", 6, "20090214000000")).birth_date,
        jiff::civil::date(2009, 2, 14)
    );
    assert_eq!(
        ok(&with_field(QBP, "QPD", 6, "200902141230-0500")).birth_date,
        jiff::civil::date(2009, 2, 14)
    );
    assert_eq!(
        ok(&with_field(QBP, "QPD", 6, "20240515")).birth_date,
        jiff::civil::date(2024, 5, 15)
    );
}

#[test]
fn all_errors_are_reported_together() {
    let text = with_field(QBP, "QPD", 4, "^^^^^^L");
    let text = with_field(&text, "QPD", 6, "2005");
    let text = with_field(&text, "QPD", 7, "Q");
    let f = rejected(&text);
    assert_eq!(
        rules(&f),
        [
            "QPD-4-family-missing",
            "QPD-4-given-missing",
            "QPD-6-invalid",
            "QPD-7-invalid"
        ]
    );
}

#[test]
fn demographic_warnings() {
    let q = ok(&with_field(QBP, "QPD", 7, "f"));
    assert_eq!(q.sex.as_deref(), Some("F"));
    let q = ok(&with_field(QBP, "QPD", 7, "Female"));
    assert_eq!(q.sex, None);
    assert_eq!(rules(&q.warnings), ["QPD-7-invalid"]);
    assert_eq!(location(&q.warnings[0]), "QPD^1^7");

    assert_eq!(
        ok(&with_field(QBP, "QPD", 10, "n")).multiple_birth,
        Some(false)
    );
    let q = ok(&with_field(QBP, "QPD", 10, "2"));
    assert_eq!(q.multiple_birth, None);
    assert_eq!(rules(&q.warnings), ["QPD-10-invalid"]);

    for bad in ["0", "first", "-1", "300"] {
        let q = ok(&with_field(QBP, "QPD", 11, bad));
        assert_eq!(q.birth_order, None, "{bad}");
        assert_eq!(rules(&q.warnings), ["QPD-11-invalid"], "{bad}");
        assert_eq!(location(&q.warnings[0]), "QPD^1^11");
    }
}

#[test]
fn phone_forms() {
    let q = ok(&with_field(QBP, "QPD", 9, "(734) 555-6712"));
    assert_eq!(q.phone, Some(PhoneView::new("734", "5556712")));
    let q = ok(&with_field(QBP, "QPD", 9, "+1 734 555 6712^PRN^PH"));
    assert_eq!(q.phone, Some(PhoneView::new("734", "5556712")));
    let q = ok(&with_field(QBP, "QPD", 9, "5556712"));
    assert_eq!(q.phone, Some(PhoneView::new("", "5556712")));
    // Country code in XTN.5 (as one of the ONC test queries sends it).
    let q = ok(&with_field(QBP, "QPD", 9, "^PRN^PH^^1^690^1231234"));
    assert_eq!(q.phone, Some(PhoneView::new("690", "1231234")));
    // The first repetition holding a number; an e-mail-only repetition is skipped.
    let q = ok(&with_field(
        QBP,
        "QPD",
        9,
        "^NET^Internet^a@b.example~^PRN^PH^^^810^2499010",
    ));
    assert_eq!(q.phone, Some(PhoneView::new("810", "2499010")));
    let q = ok(&with_field(QBP, "QPD", 9, "^PRN^PH^^^^"));
    assert_eq!(q.phone, None);
}

#[test]
fn rcp_defaults_and_cap() {
    let q = ok(&without_segment(QBP, "RCP"));
    assert_eq!(q.max_candidates, 10);
    assert_eq!(rules(&q.warnings), ["RCP-missing"]);
    assert_eq!(location(&q.warnings[0]), "RCP^1");

    let q = ok(&with_field(QBP, "RCP", 2, ""));
    assert_eq!(q.max_candidates, 10);
    assert_eq!(rules(&q.warnings), ["RCP-2-missing"]);
    assert_eq!(location(&q.warnings[0]), "RCP^1^2^1^1");

    for bad in [
        "abc^RD&records&HL70126",
        "0^RD&records&HL70126",
        "-3",
        "2.5",
    ] {
        let q = ok(&with_field(QBP, "RCP", 2, bad));
        assert_eq!(q.max_candidates, 10, "{bad}");
        assert_eq!(rules(&q.warnings), ["RCP-2-invalid"], "{bad}");
    }

    let q = ok(&with_field(QBP, "RCP", 2, "50^RD&records&HL70126"));
    assert_eq!(q.max_candidates, 20);
    assert_eq!(rules(&q.warnings), ["RCP-2-capped"]);
    assert_eq!(q.warnings[0].severity, Severity::Info);
    assert_eq!(ack_code(&q.warnings), AckCode::AA);
    let q = ok(&with_field(QBP, "RCP", 2, "99999999999999999999999"));
    assert_eq!(q.max_candidates, 10);
    assert_eq!(rules(&q.warnings), ["RCP-2-invalid"]);

    // The corpus has `1^ RRH`.
    let q = ok(&with_field(QBP, "RCP", 2, "1^ RRH"));
    assert_eq!(q.max_candidates, 1);
    assert_eq!(rules(&q.warnings), ["RCP-2-units"]);
    assert_eq!(location(&q.warnings[0]), "RCP^1^2^1^2^1");
    let q = ok(&with_field(QBP, "RCP", 2, "3"));
    assert_eq!(q.max_candidates, 3);
    assert!(q.warnings.is_empty());

    let q = ok(&with_field(QBP, "RCP", 1, ""));
    assert_eq!(rules(&q.warnings), ["RCP-1-missing"]);
    let q = ok(&with_field(QBP, "RCP", 1, "D"));
    assert_eq!(rules(&q.warnings), ["RCP-1-unsupported"]);

    // A default above the cap is capped; a zero cap still allows one.
    let no_rcp = without_segment(QBP, "RCP");
    let msg = Message::parse(&no_rcp).unwrap_or_else(|e| panic!("{e}"));
    let tight = QueryLimits {
        default_max_candidates: 50,
        max_candidates: 5,
    };
    let q = parse_query(&msg, &tight, TODAY).unwrap_or_else(|f| panic!("{f:#?}"));
    assert_eq!(q.max_candidates, 5);
    let none = QueryLimits {
        default_max_candidates: 0,
        max_candidates: 0,
    };
    let q = parse_query(&msg, &none, TODAY).unwrap_or_else(|f| panic!("{f:#?}"));
    assert_eq!(q.max_candidates, 1);
    assert_eq!(QueryLimits::default(), limits());
}

#[test]
fn other_delimiters() {
    let text = "MSH#*@!$#MYEHR#MYCLINIC#####QBP*Q11*QBP_Q11#Q-9#P#2.5.1######Z34*CDCPHINVS\r\
QPD#Z34*Request Immunization History*CDCPHINVS#TAG!F!9#M1***EHR*MR@M2***EHR*PI#Smith!T!Co*Ann#|Maiden#20010101#F\r\
RCP#I#7*RD$records$HL70126\r";
    let q = ok(text);
    assert_eq!(q.query_tag, "TAG#9");
    assert_eq!(q.family, "Smith$Co");
    assert_eq!(q.given, "Ann");
    assert_eq!(q.mother_maiden_family.as_deref(), Some("|Maiden"));
    assert_eq!(q.identifiers.len(), 2);
    assert_eq!(q.identifiers[1], PatientId::new("M2", "EHR", "PI"));
    assert_eq!(q.max_candidates, 7);
    assert_eq!(q.delimiters.field, '#');
    assert!(q.qpd_raw.starts_with("QPD#Z34*"));
    assert_eq!(
        q.query_name_raw,
        "Z34*Request Immunization History*CDCPHINVS"
    );
}

/// One query per query rule of the catalogue, each triggering it.
fn scenarios() -> Vec<(&'static str, String)> {
    let f = |id, n, v: &str| with_field(QBP, id, n, v);
    vec![
        ("MSH-9-missing", f("MSH", 9, "")),
        ("MSH-9-type", f("MSH", 9, "ADT^A01")),
        ("MSH-9-event", f("MSH", 9, "QBP^Q22^QBP_Q21")),
        ("MSH-11-invalid", f("MSH", 11, "X")),
        ("MSH-12-version", f("MSH", 12, "2.3")),
        ("MSH-21-missing", f("MSH", 21, "")),
        ("MSH-21-unknown", f("MSH", 21, "Z22^CDCPHINVS")),
        ("MSH-21-mismatch", f("MSH", 21, "Z44^CDCPHINVS")),
        ("MSH-21-system", f("MSH", 21, "Z34^CDCPHHINVS")),
        ("QPD-missing", without_segment(QBP, "QPD")),
        ("QPD-named-QBP", QBP.replace("\rQPD|", "\rQBP|")),
        ("QPD-1-missing", f("QPD", 1, "")),
        ("QPD-1-unknown", f("QPD", 1, "Z99^Something^CDCPHINVS")),
        (
            "QPD-1-system",
            f("QPD", 1, "Z34^Request Immunization History^XX"),
        ),
        ("QPD-2-missing", f("QPD", 2, "")),
        ("QPD-4-family-missing", f("QPD", 4, "^Bobbie")),
        ("QPD-4-family-invalid", f("QPD", 4, "123^Bobbie")),
        ("QPD-4-given-missing", f("QPD", 4, "Child")),
        ("QPD-4-given-invalid", f("QPD", 4, "Child^42")),
        ("QPD-6-missing", f("QPD", 6, "")),
        ("QPD-6-invalid", f("QPD", 6, "20051340")),
        ("QPD-6-future", f("QPD", 6, "20240516")),
        ("QPD-7-invalid", f("QPD", 7, "Q")),
        ("QPD-10-invalid", f("QPD", 10, "maybe")),
        ("QPD-11-invalid", f("QPD", 11, "0")),
        ("RCP-missing", without_segment(QBP, "RCP")),
        ("RCP-1-missing", f("RCP", 1, "")),
        ("RCP-1-unsupported", f("RCP", 1, "D")),
        ("RCP-2-missing", f("RCP", 2, "")),
        ("RCP-2-units", f("RCP", 2, "5^PG&pages")),
        ("RCP-2-invalid", f("RCP", 2, "many^RD&records&HL70126")),
        ("RCP-2-capped", f("RCP", 2, "500^RD&records&HL70126")),
    ]
}

fn findings_of(text: &str) -> Vec<Finding> {
    match parse(text) {
        Ok(q) => q.warnings,
        Err(f) => f,
    }
}

#[test]
fn every_query_finding_is_a_catalogue_rule_as_the_catalogue_describes_it() {
    use crate::registry::rules::{rule_info, rules as catalogue, Applies};
    let mut covered = std::collections::BTreeSet::new();
    for (rule, text) in scenarios() {
        let found = findings_of(&text);
        assert!(rules(&found).contains(&rule), "{rule}: {found:#?}");
        for f in &found {
            let info =
                rule_info(f.rule).unwrap_or_else(|| panic!("{} is not in the catalogue", f.rule));
            assert!(
                matches!(info.applies, Applies::Query | Applies::Both),
                "{} is not a query rule",
                f.rule
            );
            assert_eq!(
                (f.severity, f.scope, f.hl7_code, f.cdc_code),
                (info.severity, info.scope, info.hl7_code, info.cdc_code),
                "{}",
                f.rule
            );
            covered.insert(f.rule);
        }
    }
    let missing: Vec<&str> = catalogue()
        .iter()
        .filter(|r| r.applies == Applies::Query)
        .map(|r| r.id)
        .filter(|id| !covered.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "query rules no scenario reports: {missing:?}"
    );
}

#[test]
fn an_organizations_levels_apply_to_queries() {
    use crate::registry::rules::Level;
    let levels = |pairs: &[(&str, Level)]| -> HashMap<String, Level> {
        pairs.iter().map(|(r, l)| (r.to_string(), *l)).collect()
    };
    let run = |text: &str, overrides: &HashMap<String, Level>| {
        let msg = Message::parse(text).expect("hl7");
        parse_query_with(&msg, &limits(), TODAY, overrides)
    };
    let odd_sex = with_field(QBP, "QPD", 7, "Q");

    // Raised to E, a warning refuses the query (AE), and says why.
    let raised = run(&odd_sex, &levels(&[("QPD-7-invalid", Level::Error)])).expect_err("refused");
    assert_eq!(rules(&raised), ["QPD-7-invalid"]);
    assert_eq!(raised[0].severity, Severity::Error);
    assert!(raised[0]
        .message
        .ends_with("Your organization's settings make this an error."));
    assert_eq!(ack_code(&raised), AckCode::AE);

    // Turned off, it is not reported.
    let quiet = run(&odd_sex, &levels(&[("QPD-7-invalid", Level::Off)])).expect("read");
    assert!(quiet.warnings.is_empty(), "{:#?}", quiet.warnings);

    // A locked rule keeps its level whatever is stored.
    let no_tag = with_field(QBP, "QPD", 2, "");
    let locked = run(&no_tag, &levels(&[("QPD-2-missing", Level::Off)])).expect_err("refused");
    assert_eq!(rules(&locked), ["QPD-2-missing"]);
}

fn mutated_qbp() -> impl Strategy<Value = String> {
    let alphabet = prop_oneof![
        Just('|'),
        Just('^'),
        Just('~'),
        Just('\\'),
        Just('&'),
        Just('\r'),
        Just('\n'),
        Just('"'),
        Just('9'),
        Just('Z'),
        any::<char>(),
    ];
    prop::collection::vec((0usize..QBP.len(), 0usize..4, alphabet), 0..12).prop_map(|edits| {
        let mut chars: Vec<char> = QBP.chars().collect();
        for (pos, op, c) in edits {
            let pos = pos.min(chars.len().saturating_sub(1));
            match op {
                0 => chars.insert(pos, c),
                1 if !chars.is_empty() => {
                    chars.remove(pos);
                }
                _ if !chars.is_empty() => chars[pos] = c,
                _ => {}
            }
        }
        chars.into_iter().collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(512)
    })]

    #[test]
    fn parsing_never_panics(text in prop_oneof![mutated_qbp(), any::<String>()]) {
        if let Ok(msg) = Message::parse(&text) {
            match parse_query(&msg, &limits(), TODAY) {
                Ok(q) => {
                    prop_assert!(!q.family.is_empty() && !q.given.is_empty());
                    prop_assert!(q.max_candidates >= 1 && q.max_candidates <= 20);
                    prop_assert_eq!(q.birth_date.to_string().len(), 10);
                    prop_assert!(q.warnings.iter().all(|f| f.severity != Severity::Error));
                }
                Err(f) => prop_assert!(f.iter().any(|f| f.severity == Severity::Error)),
            }
        }
    }
}
