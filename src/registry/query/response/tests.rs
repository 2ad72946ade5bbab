use super::*;
use crate::date::Date;
use crate::hl7::{ErrLocation, Segment};
use crate::registry::finding::Scope;
use crate::registry::query::model::{NextOfKinView, PatientId, VisView};
use crate::registry::query::read::{read_rsp, RspPatient};
use crate::registry::query::request::{parse_query, QueryLimits};
use proptest::prelude::*;

const TODAY: Date = jiff::civil::date(2024, 5, 15);
const AUTHORITY: &str = "IZREG";

const QBP: &str = "MSH|^~\\&|MYEHR|MYCLINIC|IZAPP|IZFAC|20240515093012-0500||QBP^Q11^QBP_Q11|Q-1|P|2.5.1|||ER|AL|||||Z34^CDCPHINVS|EHRORG|IZORG\r\
QPD|Z34^Request Immunization History^CDCPHINVS|TAG-1|MRN-1^^^MYEHR^MR|Child^Bobbie^Q^^^^L|Que^Suzy^^^^^M|20050512|M|10 East Main St^^Myfaircity^GA^^^L\r\
RCP|I|5^RD&records&HL70126\r";

fn params() -> RspParams<'static> {
    RspParams {
        ack: AckParams {
            control_id: "RSP-1",
            timestamp: "20240515093013-0500",
            sending_application: "IZPORT",
            sending_facility: "IZPORT",
        },
        assigning_authority: AUTHORITY,
    }
}

fn parse(text: &str) -> Message<'_> {
    Message::parse(text).unwrap_or_else(|e| panic!("{e}: {text:?}"))
}

/// The RSP for `outcome` to the query `qbp` (which must validate).
fn answer(qbp: &str, outcome: &QueryOutcome, findings: &[Finding]) -> String {
    let msg = parse(qbp);
    let request = parse_query(&msg, &QueryLimits::default(), TODAY)
        .unwrap_or_else(|f| panic!("query rejected: {f:#?}"));
    build_rsp(
        &AckContext::from_message(&msg),
        &QueryEcho::from(&request),
        outcome,
        findings,
        &params(),
    )
}

fn ids(msg: &Message<'_>) -> Vec<String> {
    msg.segments().map(|s| s.id().to_string()).collect()
}

fn raw_segments<'a>(msg: &Message<'a>, id: &str) -> Vec<&'a str> {
    msg.segments_named(id).map(|s| s.raw()).collect()
}

fn get(msg: &Message<'_>, path: &str) -> String {
    msg.get(path).map(|v| v.into_owned()).unwrap_or_default()
}

fn patient() -> PatientView {
    PatientView {
        registry_id: "REG-1".into(),
        identifiers: vec![
            PatientId::new("MRN-1", "MYEHR", "MR"),
            PatientId::new("REG-1", AUTHORITY, "SR"),
            PatientId::new("", "NOBODY", "PI"),
            PatientId::new("123-45-6789", "SSA", "SS"),
        ],
        family: "Child".into(),
        given: "Robert".into(),
        middle: Some("Quenton".into()),
        mother_maiden_family: Some("Que".into()),
        birth_date: "2005-05-12".into(),
        sex: Some("M".into()),
        address: Some(AddressView {
            street: "32 Prescott Street Ave".into(),
            city: "Warwick".into(),
            state: "MA".into(),
            zip: "02452".into(),
            country: "USA".into(),
            address_type: "L".into(),
            ..AddressView::default()
        }),
        phone: Some(PhoneView::new("657", "5558563")),
        race: Some(CodedValue::new("2106-3", "White", "")),
        ethnicity: Some(CodedValue::new(
            "2186-5",
            "Not Hispanic or Latino",
            "CDCREC",
        )),
        multiple_birth: Some(false),
        birth_order: Some(1),
        publicity: Some(CodedValue::new("02", "Reminder/Recall - any method", "")),
        publicity_date: Some("2024-01-02".into()),
        protection: Some(false),
        protection_date: Some("2024-01-03".into()),
        registry_status: Some("A".into()),
        registry_status_date: Some("2024-01-04".into()),
        next_of_kin: vec![NextOfKinView {
            relationship: CodedValue::new("MTH", "Mother", ""),
            family: "Child".into(),
            given: "Suzy".into(),
            address: None,
            phone: Some(PhoneView::new("657", "5558563")),
        }],
    }
}

fn administered() -> DoseView {
    DoseView {
        kind: DoseKind::Administered,
        registry_dose_id: "D-1".into(),
        filler_order_id: Some("IZ-783274".into()),
        filler_namespace: Some("NDA".into()),
        administered_on: "2012-08-14".into(),
        cvx: "140".into(),
        cvx_text: "Influenza, seasonal, injectable, preservative free".into(),
        ndc: Some("33332-0010-01".into()),
        amount: Some("0.5".into()),
        units: Some("mL".into()),
        info_source: Some("03".into()),
        lot: Some("Z0860BB".into()),
        lot_expiration: Some("2012-11-04".into()),
        mvx: Some(CodedValue::new("CSL", "CSL Behring", "")),
        completion_status: None,
        refusal_reason: Some(CodedValue::new("00", "Parental decision", "")),
        route: Some(CodedValue::new("C28161", "Intramuscular", "")),
        site: Some(CodedValue::new("LD", "Left Deltoid", "")),
        administering_org: Some("X68".into()),
        vfc_eligibility: Some(CodedValue::new("V05", "VFC eligible - FQHC", "")),
        funding_source: Some(CodedValue::new("VXC50", "Public", "")),
        vis: vec![
            VisView {
                document: VisDocument::VaccineType {
                    cvx: "88".into(),
                    text: "Influenza, unspecified formulation".into(),
                    published: Some("2012-07-02".into()),
                },
                presented: Some("2012-08-14".into()),
            },
            VisView {
                document: VisDocument::Barcode {
                    code: "253088698300017211120420".into(),
                    text: "Influenza VIS".into(),
                },
                presented: Some("2012-08-14".into()),
            },
        ],
        evaluation: Vec::new(),
    }
}

fn historical() -> DoseView {
    DoseView {
        kind: DoseKind::Historical,
        registry_dose_id: "D-2".into(),
        administered_on: "2006-01-10".into(),
        cvx: "08".into(),
        cvx_text: "Hep B, adolescent or pediatric".into(),
        info_source: Some("01".into()),
        completion_status: Some("PA".into()),
        ..DoseView::default()
    }
}

fn refusal() -> DoseView {
    DoseView {
        kind: DoseKind::Refusal,
        registry_dose_id: "D-3".into(),
        filler_order_id: Some("F-3".into()),
        administered_on: "2011-08-15".into(),
        cvx: "03".into(),
        cvx_text: "MMR".into(),
        info_source: Some("00".into()),
        completion_status: Some("CP".into()),
        refusal_reason: Some(CodedValue::new("00", "Parental decision", "")),
        ..DoseView::default()
    }
}

fn not_administered() -> DoseView {
    DoseView {
        kind: DoseKind::NotAdministered,
        registry_dose_id: "D-4".into(),
        administered_on: "2013-02-01".into(),
        cvx: "998".into(),
        cvx_text: "No vaccine administered".into(),
        ..DoseView::default()
    }
}

fn immunity() -> ImmunityView {
    ImmunityView {
        snomed_code: "38907003".into(),
        text: "Varicella infection".into(),
        date: "2011-02-15".into(),
    }
}

fn found() -> QueryOutcome {
    QueryOutcome::Found {
        patient: Box::new(patient()),
        doses: vec![administered(), historical(), refusal(), not_administered()],
        immunity: vec![immunity()],
        forecast: None,
    }
}

#[test]
fn z32_structure() {
    let text = answer(QBP, &found(), &[]);
    let msg = parse(&text);
    assert_eq!(
        ids(&msg),
        [
            "MSH", "MSA", "QAK", "QPD", "PID", "PD1", "NK1", // patient
            "ORC", "RXA", "RXR", "OBX", "OBX", "OBX", "OBX", "OBX", "OBX", "OBX", // given
            "ORC", "RXA", // historical
            "ORC", "RXA", // refusal
            "ORC", "RXA", // not administered
            "ORC", "RXA", "OBX", // immunity
        ]
    );
    assert_eq!(
        raw_segments(&msg, "MSH"),
        ["MSH|^~\\&|IZAPP|IZFAC|MYEHR|MYCLINIC|20240515093013-0500||RSP^K11^RSP_K11|RSP-1|P|2.5.1|||NE|NE|||||Z32^CDCPHINVS|IZORG|EHRORG"]
    );
    assert_eq!(raw_segments(&msg, "MSA"), ["MSA|AA|Q-1"]);
    assert_eq!(
        raw_segments(&msg, "QAK"),
        ["QAK|TAG-1|OK|Z34^Request Immunization History^CDCPHINVS"]
    );
    let qbp = parse(QBP);
    assert_eq!(raw_segments(&msg, "QPD"), raw_segments(&qbp, "QPD"));
    assert_eq!(
        raw_segments(&msg, "PID"),
        ["PID|1||REG-1^^^IZREG^SR~MRN-1^^^MYEHR^MR~123-45-6789^^^SSA^SS||Child^Robert^Quenton^^^^L|Que^^^^^^M|20050512|M||2106-3^White^CDCREC|32 Prescott Street Ave^^Warwick^MA^02452^USA^L||^PRN^PH^^^657^5558563|||||||||2186-5^Not Hispanic or Latino^CDCREC||N|1"]
    );
    assert_eq!(
        raw_segments(&msg, "PD1"),
        ["PD1|||||||||||02^Reminder/Recall - any method^HL70215|N|20240103|||A|20240104|20240102"]
    );
    assert_eq!(
        raw_segments(&msg, "NK1"),
        ["NK1|1|Child^Suzy^^^^^L|MTH^Mother^HL70063||^PRN^PH^^^657^5558563"]
    );
    let orc = raw_segments(&msg, "ORC");
    assert_eq!(
        orc,
        [
            "ORC|RE||IZ-783274^NDA",
            "ORC|RE||D-2^IZREG",
            "ORC|RE||9999",
            "ORC|RE||9999",
            "ORC|RE||9999"
        ]
    );
    let rxa = raw_segments(&msg, "RXA");
    assert_eq!(
        rxa,
        [
            "RXA|0|1|20120814||140^Influenza, seasonal, injectable, preservative free^CVX^33332-0010-01^^NDC|0.5|mL^^UCUM||00^New immunization record^NIP001||^^^X68||||Z0860BB|20121104|CSL^CSL Behring^MVX|||CP|A",
            "RXA|0|1|20060110||08^Hep B, adolescent or pediatric^CVX|999|||01^Historical information - source unspecified^NIP001|||||||||||PA|A",
            "RXA|0|1|20110815||03^MMR^CVX|999||||||||||||00^Parental decision^NIP002||RE|A",
            "RXA|0|1|20130201||998^No vaccine administered^CVX|999||||||||||||||NA|A",
            "RXA|0|1|20110215||998^No vaccine administered^CVX|999||||||||||||||NA|A",
        ]
    );
    assert_eq!(
        raw_segments(&msg, "RXR"),
        ["RXR|C28161^Intramuscular^NCIT|LD^Left Deltoid^HL70163"]
    );
    assert_eq!(
        raw_segments(&msg, "OBX"),
        [
            "OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V05^VFC eligible - FQHC^HL70064||||||F|||20120814|||VXC40^Eligibility captured at the immunization level^CDCPHINVS",
            "OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC50^Public^CDCPHINVS||||||F|||20120814",
            "OBX|3|CE|30956-7^Vaccine type^LN|3|88^Influenza, unspecified formulation^CVX||||||F",
            "OBX|4|DT|29768-9^Date vaccine information statement published^LN|3|20120702||||||F",
            "OBX|5|DT|29769-7^Date vaccine information statement presented^LN|3|20120814||||||F",
            "OBX|6|CE|69764-9^Document type^LN|4|253088698300017211120420^Influenza VIS^cdcgs1vis||||||F",
            "OBX|7|DT|29769-7^Date vaccine information statement presented^LN|4|20120814||||||F",
            "OBX|1|CE|59784-9^Disease with presumed immunity^LN|1|38907003^Varicella infection^SCT||||||F",
        ]
    );
    assert!(text.ends_with('\r'));
    assert!(!text.contains('\n'));
}

#[test]
fn z32_reads_back() {
    let text = answer(QBP, &found(), &[]);
    let msg = parse(&text);
    let content = read_rsp(&msg);
    assert_eq!(content.profile, "Z32");
    assert_eq!(content.ack_code, "AA");
    assert_eq!(content.acknowledged_control_id, "Q-1");
    assert_eq!(content.query_tag, "TAG-1");
    assert_eq!(content.query_status, "OK");
    assert_eq!(content.segment_ids, ids(&msg));
    assert_eq!(content.patients.len(), 1);
    let RspPatient {
        patient: p,
        doses,
        immunity: imm,
    } = &content.patients[0];
    assert_eq!(p, &normalize_patient(&patient()));
    let expected: Vec<DoseView> = [administered(), historical(), refusal(), not_administered()]
        .iter()
        .map(normalize_dose)
        .collect();
    assert_eq!(doses, &expected);
    assert_eq!(imm, &vec![immunity()]);
}

#[test]
fn z31_candidates() {
    let mut second = patient();
    second.registry_id = "REG-2".into();
    second.given = "Bobbie".into();
    second.publicity = None;
    second.publicity_date = None;
    second.protection = None;
    second.protection_date = None;
    second.registry_status = None;
    second.registry_status_date = None;
    second.next_of_kin.clear();
    let outcome = QueryOutcome::Candidates(vec![patient(), second.clone()]);
    let msg_text = answer(QBP, &outcome, &[]);
    let msg = parse(&msg_text);
    assert_eq!(
        ids(&msg),
        ["MSH", "MSA", "QAK", "QPD", "PID", "PD1", "NK1", "PID"]
    );
    assert_eq!(get(&msg, "MSH-21-1"), "Z31");
    assert_eq!(get(&msg, "MSA-1"), "AA");
    assert_eq!(get(&msg, "QAK-2"), "OK");
    assert_eq!(get(&msg, "PID-1"), "1");
    assert_eq!(get(&msg, "PID(2)-1"), "2");
    assert_eq!(get(&msg, "PID(2)-3-1"), "REG-2");
    let content = read_rsp(&msg);
    assert_eq!(content.patients.len(), 2);
    assert_eq!(content.patients[1].patient, normalize_patient(&second));
    assert!(content.patients.iter().all(|p| p.doses.is_empty()));
    assert_eq!(outcome.response_profile(), ResponseProfile::Z31);
}

#[test]
fn z33_outcomes() {
    for (outcome, status) in [
        (QueryOutcome::NotFound, "NF"),
        (QueryOutcome::TooMany, "TM"),
        (QueryOutcome::Protected, "PD"),
        (QueryOutcome::Candidates(Vec::new()), "NF"),
    ] {
        let text = answer(QBP, &outcome, &[]);
        let msg = parse(&text);
        assert_eq!(ids(&msg), ["MSH", "MSA", "QAK", "QPD"], "{status}");
        assert_eq!(get(&msg, "MSH-21-1"), "Z33");
        assert_eq!(get(&msg, "MSH-21-2"), "CDCPHINVS");
        assert_eq!(get(&msg, "MSA-1"), "AA");
        assert_eq!(get(&msg, "MSA-2"), "Q-1");
        assert_eq!(get(&msg, "QAK-1"), "TAG-1");
        assert_eq!(get(&msg, "QAK-2"), status);
        assert_eq!(outcome.status().as_str(), status);
        assert_eq!(outcome.response_profile(), ResponseProfile::Z33);
        assert_eq!(outcome.ack_code(), AckCode::AA);
    }
}

/// The RSP for a message that `parse_query` rejects.
fn rejection(qbp: &str) -> (String, Vec<Finding>) {
    let msg = parse(qbp);
    let findings = match parse_query(&msg, &QueryLimits::default(), TODAY) {
        Ok(q) => panic!("accepted: {q:#?}"),
        Err(f) => f,
    };
    let outcome = QueryOutcome::Rejected(findings.clone());
    let text = build_rsp(
        &AckContext::from_message(&msg),
        &QueryEcho::from_message(&msg),
        &outcome,
        &[],
        &params(),
    );
    (text, findings)
}

#[test]
fn rejected_with_ae() {
    let qbp = QBP.replace("|Child^Bobbie^Q^^^^L|", "|^Bobbie^Q^^^^L|");
    let (text, findings) = rejection(&qbp);
    let msg = parse(&text);
    assert_eq!(ids(&msg), ["MSH", "MSA", "ERR", "QAK", "QPD"]);
    assert_eq!(get(&msg, "MSH-21-1"), "Z33");
    assert_eq!(get(&msg, "MSA-1"), "AE");
    assert_eq!(get(&msg, "QAK-2"), "AE");
    assert_eq!(get(&msg, "QAK-1"), "TAG-1");
    assert_eq!(raw_segments(&msg, "QPD"), raw_segments(&parse(&qbp), "QPD"));
    let err = raw_segments(&msg, "ERR");
    assert_eq!(
        err,
        ["ERR||QPD^1^4^1^1|101^Required field missing^HL70357|E||||The patient's last name (QPD-4.1) is missing; the query was not run."]
    );
    // Exactly as the ACK renders the same findings.
    let errs: Vec<ErrEntry> = findings.iter().map(Finding::to_err).collect();
    let ack = build_ack(
        &AckContext::unknown(),
        AckCode::AE,
        &errs,
        &AckParams::default(),
    );
    let ack_msg = parse(&ack);
    assert_eq!(err, raw_segments(&ack_msg, "ERR"));
}

#[test]
fn rejected_with_ar() {
    let qbp = QBP.replace("QPD|Z34^", "QPD|Z98^");
    let (text, _) = rejection(&qbp);
    let msg = parse(&text);
    assert_eq!(ids(&msg), ["MSH", "MSA", "ERR", "QAK", "QPD"]);
    assert_eq!(get(&msg, "MSA-1"), "AR");
    assert_eq!(get(&msg, "QAK-2"), "AR");
    assert_eq!(get(&msg, "QAK-3"), "Z98");
    assert_eq!(get(&msg, "ERR-2"), "QPD");
    assert_eq!(get(&msg, "ERR-3"), "103");
    assert_eq!(get(&msg, "ERR-5"), "5");

    // No QPD at all (here: a segment named QBP): nothing to echo.
    let qbp = QBP.replace("\rQPD|", "\rQBP|");
    let (text, findings) = rejection(&qbp);
    let msg = parse(&text);
    assert_eq!(ids(&msg), ["MSH", "MSA", "ERR", "QAK"]);
    assert_eq!(raw_segments(&msg, "QAK"), ["QAK||AR"]);
    assert_eq!(get(&msg, "MSA-2"), "Q-1");
    assert!(get(&msg, "ERR-8").contains("named QBP"));
    assert_eq!(findings.len(), 1);

    // A Rejected outcome without errors still says AE.
    let odd = QueryOutcome::Rejected(vec![Finding::warning(
        "w",
        ErrLocation::field("QPD", 1, 7),
        0,
        "w",
    )]);
    assert_eq!(odd.ack_code(), AckCode::AE);
    assert_eq!(odd.status(), QueryStatus::ApplicationError);
}

#[test]
fn warnings_are_reported_and_keep_aa() {
    let qbp = QBP.replace("|Z34^CDCPHINVS|", "|Z34^CDCPHHINVS|");
    let msg = parse(&qbp);
    let request =
        parse_query(&msg, &QueryLimits::default(), TODAY).unwrap_or_else(|f| panic!("{f:#?}"));
    assert_eq!(request.warnings.len(), 1);
    let text = build_rsp(
        &AckContext::from_message(&msg),
        &QueryEcho::from(&request),
        &QueryOutcome::NotFound,
        &request.warnings,
        &params(),
    );
    let rsp = parse(&text);
    assert_eq!(ids(&rsp), ["MSH", "MSA", "ERR", "QAK", "QPD"]);
    assert_eq!(get(&rsp, "MSA-1"), "AA");
    assert_eq!(get(&rsp, "ERR-2"), "MSH");
    assert_eq!(get(&rsp, "ERR-4"), "W");
    assert!(get(&rsp, "ERR-8").contains("CDCPHHINVS"));
}

#[test]
fn z42_writes_each_dose_evaluation_and_one_forecast_order_per_group() {
    let qbp = QBP.replace("|Z34^CDCPHINVS|", "|Z44^CDCPHINVS|").replace(
        "QPD|Z34^Request Immunization History^CDCPHINVS|",
        "QPD|Z44^Request Evaluated History and Forecast^CDCPHINVS|",
    );
    let mut dose = historical();
    dose.evaluation = vec![
        DoseEvaluationView {
            vaccine_group: CodedValue::new("45", "Hep B, unspecified formulation", ""),
            valid: true,
            dose_number: Some(1),
            series: "HepB 3-dose series".into(),
            reason: String::new(),
        },
        DoseEvaluationView {
            vaccine_group: CodedValue::new("17", "Hib", "CVX"),
            valid: false,
            dose_number: None,
            series: "Hib 4-dose series".into(),
            reason: "Not Valid: Age: too young".into(),
        },
    ];
    let forecast = Forecast {
        assessed_on: "2024-05-15".into(),
        groups: vec![
            ForecastView {
                vaccine_group: CodedValue::new("45", "Hep B", "CVX"),
                dose_number: Some(2),
                earliest: Some("2024-06-12".into()),
                recommended: Some("2024-06-12".into()),
                latest: None,
                past_due: Some("2024-09-14".into()),
                status: CodedValue::new("LA13422-3", "On schedule", "LN"),
                reason: CodedValue::new("DOSE-NEEDED", "Next dose needed", ""),
            },
            ForecastView {
                vaccine_group: CodedValue::new("03", "MMR", "CVX"),
                status: CodedValue::new("LA13421-5", "Complete", "LN"),
                reason: CodedValue::new("SERIES-COMPLETE", "Series complete", "99IZP"),
                ..ForecastView::default()
            },
        ],
    };
    let outcome = QueryOutcome::Found {
        patient: Box::new(patient()),
        doses: vec![dose],
        immunity: Vec::new(),
        forecast: Some(forecast),
    };
    let text = answer(&qbp, &outcome, &[]);
    let msg = parse(&text);
    assert_eq!(get(&msg, "MSH-21-1"), "Z42");
    assert_eq!(get(&msg, "MSA-1"), "AA");
    assert_eq!(get(&msg, "QAK-2"), "OK");
    assert_eq!(get(&msg, "QAK-3-1"), "Z44");
    assert_eq!(msg.segments_named("ERR").count(), 0, "no warning any more");
    let obx: Vec<(String, String, String, String)> = msg
        .segments_named("OBX")
        .map(|s| {
            let f = |n: usize| s.field(n).raw().to_string();
            (f(1), f(2), f(3), f(4) + "|" + &f(5))
        })
        .collect();
    let rows: Vec<(&str, &str, &str, &str)> = obx
        .iter()
        .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            (
                "1",
                "CE",
                "30956-7^Vaccine type^LN",
                "1|45^Hep B, unspecified formulation^CVX"
            ),
            (
                "2",
                "CE",
                "59779-9^Immunization schedule used^LN",
                "1|VXC16^ACIP^CDCPHINVS"
            ),
            ("3", "ID", "59781-5^Dose validity^LN", "1|Y"),
            ("4", "NM", "30973-2^Dose number in series^LN", "1|1"),
            (
                "5",
                "ST",
                "59780-7^Immunization series name^LN",
                "1|HepB 3-dose series"
            ),
            ("6", "CE", "30956-7^Vaccine type^LN", "2|17^Hib^CVX"),
            (
                "7",
                "CE",
                "59779-9^Immunization schedule used^LN",
                "2|VXC16^ACIP^CDCPHINVS"
            ),
            ("8", "ID", "59781-5^Dose validity^LN", "2|N"),
            (
                "9",
                "ST",
                "59780-7^Immunization series name^LN",
                "2|Hib 4-dose series"
            ),
            (
                "10",
                "ST",
                "30982-3^Reason applied by forecast logic to project this vaccine^LN",
                "2|Not Valid: Age: too young"
            ),
            ("1", "CE", "30979-9^Vaccines due next^LN", "1|45^Hep B^CVX"),
            (
                "2",
                "CE",
                "59779-9^Immunization schedule used^LN",
                "1|VXC16^ACIP^CDCPHINVS"
            ),
            ("3", "NM", "30973-2^Dose number in series^LN", "1|2"),
            ("4", "DT", "30981-5^Earliest date to give^LN", "1|20240612"),
            ("5", "DT", "30980-7^Date vaccine due^LN", "1|20240612"),
            ("6", "DT", "59778-1^Date dose is overdue^LN", "1|20240914"),
            (
                "7",
                "CE",
                "59783-1^Status in immunization series^LN",
                "1|LA13422-3^On schedule^LN"
            ),
            (
                "8",
                "CE",
                "30982-3^Reason applied by forecast logic to project this vaccine^LN",
                "1|DOSE-NEEDED^Next dose needed^99IZP"
            ),
            ("1", "CE", "30979-9^Vaccines due next^LN", "1|03^MMR^CVX"),
            (
                "2",
                "CE",
                "59779-9^Immunization schedule used^LN",
                "1|VXC16^ACIP^CDCPHINVS"
            ),
            (
                "3",
                "CE",
                "59783-1^Status in immunization series^LN",
                "1|LA13421-5^Complete^LN"
            ),
            (
                "4",
                "CE",
                "30982-3^Reason applied by forecast logic to project this vaccine^LN",
                "1|SERIES-COMPLETE^Series complete^99IZP"
            ),
        ]
    );
    // One forecast ORDER per vaccine group: ORC|RE||9999 and an RXA "no vaccine administered".
    let orc = raw_segments(&msg, "ORC");
    assert_eq!(orc.len(), 3);
    assert_eq!(&orc[1..], ["ORC|RE||9999", "ORC|RE||9999"]);
    let rxa = raw_segments(&msg, "RXA");
    assert_eq!(
        rxa[1],
        "RXA|0|1|20240515|20240515|998^No vaccine administered^CVX|999||||||||||||||NA"
    );

    // A Z44 that finds candidates or nobody gets no forecast and no warning.
    for outcome in [
        QueryOutcome::NotFound,
        QueryOutcome::TooMany,
        QueryOutcome::Protected,
    ] {
        let text = answer(&qbp, &outcome, &[]);
        let msg = parse(&text);
        assert_eq!(ids(&msg), ["MSH", "MSA", "QAK", "QPD"]);
    }
}

#[test]
fn msh_defaults_processing_id_and_escaping() {
    // Empty MSH-5/6 in the query: the registry's own names; T is echoed.
    let qbp = QBP
        .replace("|MYCLINIC|IZAPP|IZFAC|", "|MYCLINIC|||")
        .replace("|Q-1|P|", "|Q\\F\\1|T|");
    let text = answer(&qbp, &QueryOutcome::NotFound, &[]);
    let msg = parse(&text);
    assert_eq!(get(&msg, "MSH-3"), "IZPORT");
    assert_eq!(get(&msg, "MSH-4"), "IZPORT");
    assert_eq!(get(&msg, "MSH-5"), "MYEHR");
    assert_eq!(get(&msg, "MSH-11"), "T");
    assert_eq!(get(&msg, "MSA-2"), "Q|1");
    assert_eq!(raw_segments(&msg, "MSA"), ["MSA|AA|Q\\F\\1"]);
    // Anything else than T or D answers as P.
    let qbp = QBP.replace("|Q-1|P|", "|Q-1|D|");
    assert_eq!(
        get(
            &parse(&answer(&qbp, &QueryOutcome::NotFound, &[])),
            "MSH-11"
        ),
        "D"
    );
}

const ALT_QBP: &str = "MSH#*@!$#MYEHR#MYCLINIC#IZAPP#IZFAC#20240515##QBP*Q11*QBP_Q11#Q!F!9#P#2.5.1######Z34*CDCPHINVS\r\
QPD#Z34*Request Immunization History*CDCPHINVS#TAG!F!9#M1***EHR*MR@M2***EHR*PI#Smith!T!Co|x^y*Ann#Maiden#20010101#F\r\
RCP#I#7*RD$records$HL70126\r";

#[test]
fn qpd_is_reencoded_from_other_delimiters() {
    let text = answer(ALT_QBP, &QueryOutcome::NotFound, &[]);
    let msg = parse(&text);
    assert_eq!(msg.delimiters(), Delimiters::DEFAULT);
    assert_eq!(
        raw_segments(&msg, "QPD"),
        ["QPD|Z34^Request Immunization History^CDCPHINVS|TAG#9|M1^^^EHR^MR~M2^^^EHR^PI|Smith$Co\\F\\x\\S\\y^Ann|Maiden|20010101|F"]
    );
    assert_eq!(get(&msg, "QAK-1"), "TAG#9");
    assert_eq!(get(&msg, "MSA-2"), "Q#9");
    assert_eq!(
        raw_segments(&msg, "QAK"),
        ["QAK|TAG#9|NF|Z34^Request Immunization History^CDCPHINVS"]
    );
    let alt = parse(ALT_QBP);
    let (ours, theirs) = match (msg.segment("QPD"), alt.segment("QPD")) {
        (Some(a), Some(b)) => (a, b),
        _ => panic!("QPD missing"),
    };
    assert_same_fields(&ours, &theirs);
}

fn assert_same_fields(a: &Segment<'_, '_>, b: &Segment<'_, '_>) {
    for f in 1..=12 {
        for r in 1..=3 {
            for c in 1..=8 {
                for s in 1..=3 {
                    let x = a.field(f).repetition(r).component(c).subcomponent_value(s);
                    let y = b.field(f).repetition(r).component(c).subcomponent_value(s);
                    assert_eq!(x, y, "QPD-{f}({r})-{c}-{s}");
                }
            }
        }
    }
}

#[test]
fn helpers() {
    assert_eq!(hl7_date("2024-05-15"), "20240515");
    assert_eq!(hl7_date("20240515"), "20240515");
    assert_eq!(hl7_date("2024-5-15"), "2024-5-15");
    assert_eq!(hl7_date("2024-05-1x"), "2024-05-1x");
    assert_eq!(
        nip001_text("05"),
        "Historical information - from other registry"
    );
    assert_eq!(nip001_text("99"), "");
    assert!(err_segments(&[]).is_empty());
    assert_eq!(ResponseProfile::Z32.as_str(), "Z32");
    for (s, t) in [
        (QueryStatus::Ok, "OK"),
        (QueryStatus::NotFound, "NF"),
        (QueryStatus::TooMany, "TM"),
        (QueryStatus::ApplicationError, "AE"),
        (QueryStatus::ApplicationReject, "AR"),
        (QueryStatus::Protected, "PD"),
    ] {
        assert_eq!(s.as_str(), t);
    }
    let echo = QueryEcho::from_message(&parse("MSH|^~\\&|A\rRCP|I\r"));
    assert_eq!(echo.qpd_raw, None);
    assert_eq!(echo.profile, None);
}

#[test]
fn dose_id_fallbacks() {
    let mut d = administered();
    d.filler_order_id = Some(String::new());
    d.filler_namespace = None;
    d.vis.clear();
    let outcome = QueryOutcome::Found {
        patient: Box::new(patient()),
        doses: vec![d],
        immunity: Vec::new(),
        forecast: None,
    };
    let msg_text = answer(QBP, &outcome, &[]);
    let msg = parse(&msg_text);
    assert_eq!(raw_segments(&msg, "ORC"), ["ORC|RE||D-1^IZREG"]);
    // Units are not sent without an amount; 999 stands for an unknown amount.
    let mut d = historical();
    d.units = Some("mL".into());
    d.info_source = Some("00".into());
    let outcome = QueryOutcome::Found {
        patient: Box::new(patient()),
        doses: vec![d],
        immunity: Vec::new(),
        forecast: None,
    };
    let msg_text = answer(QBP, &outcome, &[]);
    let msg = parse(&msg_text);
    assert_eq!(get(&msg, "RXA-6"), "999");
    assert_eq!(get(&msg, "RXA-7"), "");
    assert_eq!(get(&msg, "RXA-9"), "01");
}

// ---- Round trip: model → RSP → Message::parse → read_rsp → the same values ----

fn norm_opt(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

fn norm_cv(v: &Option<CodedValue>, default_system: &str) -> Option<CodedValue> {
    let cv = v.as_ref().filter(|c| !c.is_empty())?;
    let mut cv = cv.clone();
    if cv.system.is_empty() {
        cv.system = default_system.to_string();
    }
    Some(cv)
}

fn norm_address(a: &Option<AddressView>) -> Option<AddressView> {
    a.clone().filter(|a| !a.is_empty())
}

fn norm_phone(p: &Option<PhoneView>) -> Option<PhoneView> {
    p.clone().filter(|p| !p.is_empty())
}

/// What the RSP says of `p`: the encoder's documented defaults and omissions applied.
fn normalize_patient(p: &PatientView) -> PatientView {
    PatientView {
        registry_id: p.registry_id.clone(),
        identifiers: p
            .identifiers
            .iter()
            .filter(|i| !(i.value.is_empty() || (i.id_type == "SR" && i.value == p.registry_id)))
            .cloned()
            .collect(),
        family: p.family.clone(),
        given: p.given.clone(),
        middle: norm_opt(&p.middle),
        mother_maiden_family: norm_opt(&p.mother_maiden_family),
        birth_date: p.birth_date.clone(),
        sex: norm_opt(&p.sex),
        address: norm_address(&p.address),
        phone: norm_phone(&p.phone),
        race: norm_cv(&p.race, "CDCREC"),
        ethnicity: norm_cv(&p.ethnicity, "CDCREC"),
        multiple_birth: p.multiple_birth,
        birth_order: p.birth_order,
        publicity: norm_cv(&p.publicity, "HL70215"),
        publicity_date: norm_opt(&p.publicity_date),
        protection: p.protection,
        protection_date: norm_opt(&p.protection_date),
        registry_status: norm_opt(&p.registry_status),
        registry_status_date: norm_opt(&p.registry_status_date),
        next_of_kin: p
            .next_of_kin
            .iter()
            .map(|n| NextOfKinView {
                relationship: norm_cv(&Some(n.relationship.clone()), "HL70063").unwrap_or_default(),
                family: n.family.clone(),
                given: n.given.clone(),
                address: norm_address(&n.address),
                phone: norm_phone(&n.phone),
            })
            .collect(),
    }
}

fn normalize_dose(d: &DoseView) -> DoseView {
    let given = matches!(d.kind, DoseKind::Administered | DoseKind::Historical);
    let (filler, namespace) = if !given {
        (Some("9999".to_string()), None)
    } else if let Some(f) = norm_opt(&d.filler_order_id) {
        (Some(f), norm_opt(&d.filler_namespace))
    } else {
        (
            Some(d.registry_dose_id.clone()).filter(|s| !s.is_empty()),
            Some(AUTHORITY.to_string()),
        )
    };
    let amount = norm_opt(&d.amount).filter(|a| a.trim() != "999");
    DoseView {
        kind: d.kind,
        registry_dose_id: String::new(),
        filler_order_id: filler,
        filler_namespace: namespace,
        administered_on: d.administered_on.clone(),
        cvx: d.cvx.clone(),
        cvx_text: d.cvx_text.clone(),
        ndc: norm_opt(&d.ndc),
        units: amount.as_ref().and_then(|_| norm_opt(&d.units)),
        amount,
        info_source: (d.kind == DoseKind::Historical).then(|| {
            norm_opt(&d.info_source)
                .filter(|s| s.trim() != "00")
                .unwrap_or_else(|| "01".to_string())
        }),
        lot: norm_opt(&d.lot),
        lot_expiration: norm_opt(&d.lot_expiration),
        mvx: norm_cv(&d.mvx, "MVX"),
        completion_status: given.then(|| {
            if d.completion_status.as_deref() == Some("PA") {
                "PA".to_string()
            } else {
                "CP".to_string()
            }
        }),
        refusal_reason: if d.kind == DoseKind::Refusal {
            norm_cv(&d.refusal_reason, "NIP002")
        } else {
            None
        },
        route: norm_cv(&d.route, "NCIT"),
        site: norm_cv(&d.site, "HL70163"),
        administering_org: norm_opt(&d.administering_org),
        vfc_eligibility: norm_cv(&d.vfc_eligibility, "HL70064"),
        funding_source: norm_cv(&d.funding_source, "CDCPHINVS"),
        vis: d
            .vis
            .iter()
            .map(|v| VisView {
                document: match &v.document {
                    VisDocument::VaccineType {
                        cvx,
                        text,
                        published,
                    } => VisDocument::VaccineType {
                        cvx: cvx.clone(),
                        text: text.clone(),
                        published: norm_opt(published),
                    },
                    other => other.clone(),
                },
                presented: norm_opt(&v.presented),
            })
            .collect(),
        evaluation: Vec::new(),
    }
}

fn any_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[A-Za-z0-9 .'-]{1,12}",
        3 => "[|^~\\\\&\r\n\"a-zX0-9 .]{0,12}",
        1 => "\\\\[FSTRE]\\\\",
        1 => "\\\\X0D\\\\|\\\\\\.br\\\\",
        2 => prop::collection::vec(any::<char>(), 0..8).prop_map(|c| c.into_iter().collect()),
        1 => Just(String::new()),
        1 => Just(String::from("\"\"")),
    ]
    .boxed()
}

fn opt_text() -> BoxedStrategy<Option<String>> {
    prop::option::of(any_text()).boxed()
}

fn any_date() -> BoxedStrategy<String> {
    (1900i32..2100, 1u8..=12, 1u8..=28)
        .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
        .boxed()
}

fn opt_date() -> BoxedStrategy<Option<String>> {
    prop::option::of(any_date()).boxed()
}

fn any_cv() -> BoxedStrategy<CodedValue> {
    (any_text(), any_text(), any_text())
        .prop_map(|(c, t, s)| CodedValue::new(c, t, s))
        .boxed()
}

fn opt_cv() -> BoxedStrategy<Option<CodedValue>> {
    prop::option::of(any_cv()).boxed()
}

fn any_address() -> BoxedStrategy<Option<AddressView>> {
    prop::option::of(
        prop::collection::vec(any_text(), 7).prop_map(|p| AddressView {
            street: p[0].clone(),
            other_designation: p[1].clone(),
            city: p[2].clone(),
            state: p[3].clone(),
            zip: p[4].clone(),
            country: p[5].clone(),
            address_type: p[6].clone(),
        }),
    )
    .boxed()
}

fn any_phone() -> BoxedStrategy<Option<PhoneView>> {
    prop::option::of((any_text(), any_text()).prop_map(|(a, l)| PhoneView::new(a, l))).boxed()
}

fn any_patient() -> BoxedStrategy<PatientView> {
    let ids = prop::collection::vec(
        (any_text(), any_text(), any_text()).prop_map(|(v, a, t)| PatientId::new(v, a, t)),
        0..3,
    );
    let nk = prop::collection::vec(
        (any_cv(), any_text(), any_text(), any_address(), any_phone()).prop_map(
            |(relationship, family, given, address, phone)| NextOfKinView {
                relationship,
                family,
                given,
                address,
                phone,
            },
        ),
        0..3,
    );
    let names = (
        "[A-Za-z0-9-]{1,10}",
        ids,
        any_text(),
        any_text(),
        opt_text(),
        opt_text(),
        any_date(),
        opt_text(),
    );
    let more = (
        any_address(),
        any_phone(),
        opt_cv(),
        opt_cv(),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<u8>()),
    );
    let pd1 = (
        opt_cv(),
        opt_date(),
        prop::option::of(any::<bool>()),
        opt_date(),
        opt_text(),
        opt_date(),
        nk,
    );
    (names, more, pd1)
        .prop_map(
            |(
                (registry_id, identifiers, family, given, middle, maiden, birth_date, sex),
                (address, phone, race, ethnicity, multiple_birth, birth_order),
                (publicity, publicity_date, protection, protection_date, status, status_date, nk),
            )| PatientView {
                registry_id,
                identifiers,
                family,
                given,
                middle,
                mother_maiden_family: maiden,
                birth_date,
                sex,
                address,
                phone,
                race,
                ethnicity,
                multiple_birth,
                birth_order,
                publicity,
                publicity_date,
                protection,
                protection_date,
                registry_status: status,
                registry_status_date: status_date,
                next_of_kin: nk,
            },
        )
        .boxed()
}

fn any_vis() -> BoxedStrategy<VisView> {
    let document = prop_oneof![
        (any_text(), any_text()).prop_map(|(code, text)| VisDocument::Barcode { code, text }),
        (any_text(), any_text(), opt_date()).prop_map(|(cvx, text, published)| {
            VisDocument::VaccineType {
                cvx,
                text,
                published,
            }
        }),
    ];
    (document, opt_date())
        .prop_map(|(document, presented)| VisView {
            document,
            presented,
        })
        .boxed()
}

fn any_dose() -> BoxedStrategy<DoseView> {
    let kind = prop_oneof![
        Just(DoseKind::Administered),
        Just(DoseKind::Historical),
        Just(DoseKind::Refusal),
        Just(DoseKind::NotAdministered),
    ];
    let head = (
        kind,
        any_text(),
        opt_text(),
        opt_text(),
        any_date(),
        "[0-9]{1,3}",
        any_text(),
        opt_text(),
    );
    let rxa = (
        prop::option::of(prop_oneof![
            Just("999".to_string()),
            "[0-9.]{1,4}",
            any_text()
        ]),
        opt_text(),
        prop::option::of(prop_oneof![Just("00".to_string()), "0[0-8]", any_text()]),
        opt_text(),
        opt_date(),
        opt_cv(),
        prop::option::of(prop_oneof![
            Just("PA".to_string()),
            Just("CP".to_string()),
            any_text()
        ]),
        opt_cv(),
    );
    let rest = (
        opt_cv(),
        opt_cv(),
        opt_text(),
        opt_cv(),
        opt_cv(),
        prop::collection::vec(any_vis(), 0..3),
    );
    (head, rxa, rest)
        .prop_map(
            |(
                (kind, registry_dose_id, filler, namespace, date, cvx, cvx_text, ndc),
                (amount, units, source, lot, expiration, mvx, completion, refusal),
                (route, site, org, vfc, funding, vis),
            )| DoseView {
                kind,
                registry_dose_id,
                filler_order_id: filler,
                filler_namespace: namespace,
                administered_on: date,
                cvx,
                cvx_text,
                ndc,
                amount,
                units,
                info_source: source,
                lot,
                lot_expiration: expiration,
                mvx,
                completion_status: completion,
                refusal_reason: refusal,
                route,
                site,
                administering_org: org,
                vfc_eligibility: vfc,
                funding_source: funding,
                vis,
                evaluation: Vec::new(),
            },
        )
        .boxed()
}

fn any_immunity() -> BoxedStrategy<ImmunityView> {
    (any_text(), any_text(), any_date())
        .prop_map(|(snomed_code, text, date)| ImmunityView {
            snomed_code,
            text,
            date,
        })
        .boxed()
}

/// A query whose QPD has arbitrary values, with arbitrary (valid) delimiters.
fn any_query() -> BoxedStrategy<String> {
    let delimiters = prop_oneof![
        Just(Delimiters::DEFAULT),
        Just(Delimiters {
            field: '#',
            component: '*',
            repetition: '@',
            escape: '!',
            subcomponent: '$',
        }),
        prop::sample::subsequence("|^~\\&#*@!$%+:;<>?/".chars().collect::<Vec<_>>(), 5)
            .prop_shuffle()
            .prop_map(|c| Delimiters {
                field: c[0],
                component: c[1],
                repetition: c[2],
                escape: c[3],
                subcomponent: c[4],
            }),
    ];
    let values = prop::collection::vec(
        (1usize..12, 1usize..3, 1usize..6, 1usize..3, any_text()),
        0..16,
    );
    (delimiters, values)
        .prop_map(|(d, values)| {
            let mut m = MessageBuilder::new(d);
            m.msh(|s| {
                s.set(3, "EHR")
                    .set_comp(9, 1, "QBP")
                    .set_comp(9, 2, "Q11")
                    .set(10, "C|1^2")
                    .set(11, "P")
                    .set(12, "2.5.1");
            });
            m.segment("QPD", |s| {
                for (f, r, c, sub, v) in values {
                    s.set_rep_sub(f, r, c, sub, v);
                }
            });
            m.finish()
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    })]

    #[test]
    fn found_round_trips(
        p in any_patient(),
        doses in prop::collection::vec(any_dose(), 0..4),
        imm in prop::collection::vec(any_immunity(), 0..2),
    ) {
        let outcome = QueryOutcome::Found {
            patient: Box::new(p.clone()),
            doses: doses.clone(),
            immunity: imm.clone(),
            forecast: None,
        };
        let text = answer(QBP, &outcome, &[]);
        let msg = Message::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let content = read_rsp(&msg);
        prop_assert_eq!(content.profile.as_str(), "Z32");
        prop_assert_eq!(content.patients.len(), 1);
        let got = &content.patients[0];
        prop_assert_eq!(&got.patient, &normalize_patient(&p));
        let expected: Vec<DoseView> = doses.iter().map(normalize_dose).collect();
        prop_assert_eq!(&got.doses, &expected);
        prop_assert_eq!(&got.immunity, &imm);
        // OBX-1 runs 1..n within each ORDER group.
        let mut expect = 1;
        for seg in msg.segments() {
            match seg.id() {
                "ORC" => expect = 1,
                "OBX" => {
                    prop_assert_eq!(seg.field(1).value(), expect.to_string());
                    prop_assert_eq!(seg.field(11).value(), "F");
                    expect += 1;
                }
                _ => {}
            }
        }
    }

    #[test]
    fn candidates_round_trip(ps in prop::collection::vec(any_patient(), 1..4)) {
        let text = answer(QBP, &QueryOutcome::Candidates(ps.clone()), &[]);
        let msg = Message::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let content = read_rsp(&msg);
        prop_assert_eq!(content.profile.as_str(), "Z31");
        let got: Vec<PatientView> = content.patients.into_iter().map(|p| p.patient).collect();
        let expected: Vec<PatientView> = ps.iter().map(normalize_patient).collect();
        prop_assert_eq!(got, expected);
        for (i, pid) in msg.segments_named("PID").enumerate() {
            prop_assert_eq!(pid.field(1).value(), (i + 1).to_string());
        }
        prop_assert!(msg.segment("RXA").is_none());
    }

    #[test]
    fn any_query_is_echoed(text in any_query()) {
        let msg = Message::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let echo = QueryEcho::from_message(&msg);
        let outcome = QueryOutcome::Rejected(vec![Finding::error(
            "x",
            Scope::Patient,
            ErrLocation::segment("QPD", 1),
            101,
            "x|y^z",
        )]);
        let rsp = build_rsp(&AckContext::from_message(&msg), &echo, &outcome, &[], &params());
        let out = Message::parse(&rsp).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(out.delimiters(), Delimiters::DEFAULT);
        prop_assert_eq!(get(&out, "MSA-1"), "AE");
        prop_assert_eq!(get(&out, "MSA-2"), "C|1^2");
        prop_assert_eq!(get(&out, "ERR-8"), "x|y^z");
        prop_assert_eq!(get(&out, "QAK-2"), "AE");
        match (out.segment("QPD"), msg.segment("QPD")) {
            (Some(a), Some(b)) => {
                prop_assert_eq!(out.segment_count(), 5);
                for f in 1..=12 {
                    for r in 1..=3 {
                        for c in 1..=6 {
                            for s in 1..=3 {
                                prop_assert_eq!(
                                    a.field(f).repetition(r).component(c).subcomponent_value(s),
                                    b.field(f).repetition(r).component(c).subcomponent_value(s)
                                );
                            }
                        }
                    }
                }
            }
            (None, None) => {}
            (a, b) => prop_assert!(false, "QPD echo mismatch: {:?} / {:?}", a, b),
        }
    }
}
