//! Registry semantics through the real server: identity and matching, consolidated doses,
//! updates and deletes, refusals and immunity, safe resend, test vs production, consent.

use std::collections::HashSet;

use crate::common::*;
use izport::registry::consent::{ConsentConfig, Policy};
use izport::registry::RegistryConfig;

/// A VXU with the parts these tests vary.
#[derive(Clone)]
struct Vxu {
    control: String,
    processing: &'static str,
    mrn: String,
    authority: &'static str,
    family: &'static str,
    given: &'static str,
    dob: &'static str,
    mother: &'static str,
    multiple_birth: &'static str,
    birth_order: &'static str,
    pd1: Option<String>,
    doses: Vec<String>,
}

impl Vxu {
    fn new(control: &str, mrn: &str) -> Vxu {
        Vxu {
            control: control.into(),
            processing: "P",
            mrn: mrn.into(),
            authority: "TESTEHR",
            family: "Tester",
            given: "Tina",
            dob: "20230421",
            mother: "Maiden",
            multiple_birth: "",
            birth_order: "",
            pd1: None,
            doses: vec![dose("DOSE-1", "20240515", "08", "00", "LOT1", "A")],
        }
    }

    fn text(&self) -> String {
        let mut segments = vec![
            format!("MSH|^~\\&|TESTEHR|{FACILITY}|IZPORT|IZPORT|20240515093012-0500||VXU^V04^VXU_V04|{}|{}|2.5.1|||ER|AL|||||Z22^CDCPHINVS", self.control, self.processing),
            format!(
                "PID|1||{}^^^{}^MR||{}^{}^^^^^L|{}^^^^^^M|{}|F|||12 Elm St^^Springfield^IL^62701^USA^P||^PRN^PH^^^217^5550100|||||||||||{}|{}",
                self.mrn, self.authority, self.family, self.given, self.mother, self.dob, self.multiple_birth, self.birth_order
            ),
        ];
        if let Some(pd1) = &self.pd1 {
            segments.push(pd1.clone());
        }
        segments.extend(self.doses.iter().cloned());
        segments.join("\r")
    }
}

/// ORC + RXA (+ RXR) for one dose.
fn dose(filler: &str, date: &str, cvx: &str, source: &str, lot: &str, action: &str) -> String {
    // RXA-15 lot, RXA-16 expiration, RXA-17 manufacturer: three fields either way.
    let lot_part = if lot.is_empty() {
        "|||".to_string()
    } else {
        format!("{lot}|20990101|MSD^Merck^MVX|")
    };
    format!(
        "ORC|RE||{filler}^TESTEHR\rRXA|0|1|{date}||{cvx}^vaccine^CVX|0.5|mL^mL^UCUM||{source}^source^NIP001||||||{lot_part}||CP|{action}\rRXR|C28161^IM^NCIT"
    )
}

/// Sends every SOAP body at the same time; returns the decoded `return` texts in order.
async fn all_at_once(app: &TestApp, bodies: Vec<String>) -> Vec<String> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let request = app
                .client
                .post(format!("{}/soap", app.base))
                .header("content-type", "application/soap+xml")
                .body(body)
                .send();
            tokio::spawn(async move {
                let text = request.await.expect("request").text().await.expect("body");
                return_text(&text).expect("return")
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("join"));
    }
    answers
}

fn msa(ack: &str) -> String {
    hl7_field(ack, "MSA", 1).unwrap_or_default()
}

async fn second_org(app: &TestApp, code: &str, user: &str, facility: &str) {
    app.db
        .create_organization(code, code, &[facility.to_string()], true)
        .await
        .expect("org");
    app.db
        .create_user(
            code,
            user,
            &izport::auth::hash_password(PASSWORD).expect("hash"),
        )
        .await
        .expect("user");
}

#[tokio::test]
async fn two_organizations_with_different_mrns_report_one_patient_and_one_event() {
    let app = spawn_app().await;
    second_org(&app, "CLINIC2", "clinic2-user", "C2FAC").await;
    // Clinic 1 reports an administered dose; clinic 2 the same vaccination as history.
    let first = Vxu::new("C1-1", "MRN-A");
    let (_, ack) = app.submit(&first.text()).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    let mut second = Vxu::new("C2-1", "OTHER-77");
    second.authority = "OTHEREHR";
    second.doses = vec![dose("C2-DOSE", "20240515", "08", "01", "", "A")];
    let (_, ack) = app
        .submit_as("clinic2-user", PASSWORD, "C2FAC", &second.text())
        .await;
    assert_eq!(msa(&ack), "AA", "{ack}");

    assert_eq!(app.db.patient_count().await.expect("count"), 1);
    let (id_a, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-A")
        .await
        .expect("read")
        .expect("a");
    let (id_b, ..) = app
        .db
        .patient_by_identifier("CLINIC2", "OTHER-77")
        .await
        .expect("read")
        .expect("b");
    assert_eq!(id_a, id_b, "one person");
    let history = app.db.history(id_a).await.expect("history");
    assert_eq!(history.len(), 1, "one vaccination event");
    assert_eq!(history[0].sources, 2, "both reports kept");
    assert_eq!(
        history[0].dose.info_source.as_deref(),
        Some("00"),
        "the administered report wins"
    );
    assert_eq!(history[0].dose.lot_number.as_deref(), Some("LOT1"));
}

#[tokio::test]
async fn twins_stay_two() {
    let app = spawn_app().await;
    let mut ann = Vxu::new("TW-1", "MRN-T1");
    ann.family = "Gemini";
    ann.given = "Ann";
    ann.multiple_birth = "Y";
    ann.birth_order = "1";
    let mut beth = ann.clone();
    beth.control = "TW-2".into();
    beth.mrn = "MRN-T2".into();
    beth.given = "Beth";
    beth.birth_order = "2";
    beth.doses = vec![dose("DOSE-T2", "20240515", "08", "00", "LOT2", "A")];
    for v in [&ann, &beth] {
        let (_, ack) = app.submit(&v.text()).await;
        assert_eq!(msa(&ack), "AA", "{ack}");
    }
    assert_eq!(app.db.patient_count().await.expect("count"), 2);
    assert!(
        app.db.reviews(false).await.expect("reviews").is_empty(),
        "twins are not a possible match"
    );
}

#[tokio::test]
async fn a_weak_match_is_reviewed_and_a_merge_can_be_undone() {
    let app = spawn_app().await;
    second_org(&app, "CLINIC2", "clinic2-user", "C2FAC").await;
    let (_, ack) = app.submit(&Vxu::new("W-1", "MRN-W").text()).await;
    assert_eq!(msa(&ack), "AA");
    // Same family name and birth date, a different given name: maybe the same child.
    let mut other = Vxu::new("W-2", "X-9");
    other.authority = "OTHEREHR";
    other.given = "Tena";
    other.doses = vec![dose("C2-W", "20240601", "03", "00", "LOT3", "A")];
    let (_, ack) = app
        .submit_as("clinic2-user", PASSWORD, "C2FAC", &other.text())
        .await;
    assert_eq!(msa(&ack), "AA");
    assert_eq!(
        app.db.patient_count().await.expect("count"),
        2,
        "never merged silently"
    );
    let reviews = app.db.reviews(false).await.expect("reviews");
    assert_eq!(reviews.len(), 1);

    let (survivor, merged) = app.db.merge_review(reviews[0].id).await.expect("merge");
    assert_eq!(app.db.patient_count().await.expect("count"), 1);
    assert_eq!(
        app.db.history(survivor).await.expect("history").len(),
        2,
        "both histories"
    );
    let (found, ..) = app
        .db
        .patient_by_identifier("CLINIC2", "X-9")
        .await
        .expect("read")
        .expect("p");
    assert_eq!(found, survivor, "identifiers follow the merge");
    // A query naming the merged record's identifier is answered with the record kept: both
    // histories and both identifiers.
    let query = "MSH|^~\\&|TESTEHR|C2FAC|IZPORT|IZPORT|20240601||QBP^Q11^QBP_Q11|MQ-1|P|2.5.1|||ER|AL|||||Z34^CDCPHINVS\r\
         QPD|Z34^Request Immunization History^CDCPHINVS|TAG-MQ-1|X-9^^^OTHEREHR^MR|Tester^Tina^^^^^L||20230421|F\r\
         RCP|I|10^RD&records&HL70126";
    let (_, rsp) = app
        .submit_as("clinic2-user", PASSWORD, "C2FAC", query)
        .await;
    assert_eq!(hl7_field(&rsp, "QAK", 2).as_deref(), Some("OK"), "{rsp}");
    let pid3 = hl7_field(&rsp, "PID", 3).unwrap_or_default();
    assert!(
        pid3.contains("MRN-W^^^TESTEHR") && pid3.contains("X-9^^^OTHEREHR"),
        "{rsp}"
    );
    let rxa = rsp.split('\r').filter(|l| l.starts_with("RXA|")).count();
    assert_eq!(rxa, 2, "both histories: {rsp}");
    // A report under the merged record's identifier goes to the record kept.
    let mut more = Vxu::new("W-3", "X-9");
    more.authority = "OTHEREHR";
    more.doses = vec![dose("C2-W2", "20240801", "20", "00", "LOT4", "A")];
    let (_, ack) = app
        .submit_as("clinic2-user", PASSWORD, "C2FAC", &more.text())
        .await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    assert_eq!(app.db.patient_count().await.expect("count"), 1);
    assert_eq!(app.db.history(survivor).await.expect("history").len(), 3);

    app.db.split_review(reviews[0].id).await.expect("split");
    assert_eq!(app.db.patient_count().await.expect("count"), 2);
    // The report made while merged stays with the record it was applied to.
    assert_eq!(app.db.history(survivor).await.expect("history").len(), 2);
    assert_eq!(app.db.history(merged).await.expect("history").len(), 1);
}

#[tokio::test]
async fn concurrent_identical_resends_make_one_dose_and_identical_answers() {
    let app = spawn_app().await;
    let message = Vxu::new("SAME-1", "MRN-C").text();
    let bodies = (0..8)
        .map(|_| submit_envelope(USER, PASSWORD, FACILITY, &message))
        .collect();
    let answers: HashSet<String> = all_at_once(&app, bodies).await.into_iter().collect();
    assert_eq!(
        answers.len(),
        1,
        "byte-for-byte the same response: {answers:?}"
    );
    // And again, later, one by one.
    for _ in 0..3 {
        let (_, ack) = app.submit(&message).await;
        assert!(answers.contains(&ack));
    }
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-C")
        .await
        .expect("read")
        .expect("p");
    assert_eq!(app.db.doses_of(patient).await.expect("doses").len(), 1);
    assert_eq!(app.db.patient_count().await.expect("count"), 1);
    assert_eq!(
        app.db.message_log_tail().await.expect("log").0,
        1,
        "resends change nothing"
    );
}

#[tokio::test]
async fn a_reused_control_id_with_new_content_is_processed_with_a_warning() {
    let app = spawn_app().await;
    let (_, ack) = app.submit(&Vxu::new("REUSED", "MRN-R").text()).await;
    assert_eq!(msa(&ack), "AA");
    let mut changed = Vxu::new("REUSED", "MRN-R");
    changed.doses = vec![dose("DOSE-2", "20240601", "03", "00", "LOT9", "A")];
    let (_, ack) = app.submit(&changed.text()).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    assert!(ack.contains("MSH^1^10|205^"), "{ack}");
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-R")
        .await
        .expect("read")
        .expect("p");
    assert_eq!(app.db.doses_of(patient).await.expect("doses").len(), 2);
}

#[tokio::test]
async fn onboarding_organizations_send_tests_until_promoted() {
    let app = spawn_app().await;
    app.db
        .create_organization("NEWORG", "New clinic", &["NFAC".to_string()], false)
        .await
        .expect("org");
    app.db
        .create_user(
            "NEWORG",
            "new-user",
            &izport::auth::hash_password(PASSWORD).expect("hash"),
        )
        .await
        .expect("user");
    let production = Vxu::new("N-P1", "MRN-N");
    let (_, ack) = app
        .submit_as("new-user", PASSWORD, "NFAC", &production.text())
        .await;
    assert_eq!(msa(&ack), "AR", "{ack}");
    assert!(ack.contains("|202^"), "{ack}");
    assert!(ack.contains("not yet approved for production"), "{ack}");

    for n in 1..=3 {
        let mut test = Vxu::new(&format!("N-T{n}"), "MRN-N");
        test.processing = "T";
        let (_, ack) = app
            .submit_as("new-user", PASSWORD, "NFAC", &test.text())
            .await;
        assert_eq!(msa(&ack), "AA", "{ack}");
    }
    assert_eq!(
        app.db.patient_count().await.expect("count"),
        0,
        "test messages change nothing"
    );
    let readiness = app.db.readiness("NEWORG", 3).await.expect("readiness");
    assert_eq!(readiness.consecutive_clean, 3);
    assert!(readiness.ready);

    app.db
        .set_organization_status("NEWORG", "production")
        .await
        .expect("promote");
    let (_, ack) = app
        .submit_as(
            "new-user",
            PASSWORD,
            "NFAC",
            &Vxu::new("N-P2", "MRN-N").text(),
        )
        .await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    assert_eq!(app.db.patient_count().await.expect("count"), 1);
}

#[tokio::test]
async fn refusals_and_immunity_are_their_own_kinds() {
    let app = spawn_app().await;
    let mut v = Vxu::new("K-1", "MRN-K");
    v.doses = vec![
        dose("DOSE-K", "20240515", "08", "00", "LOT1", "A"),
        "ORC|RE||9999^TESTEHR\rRXA|0|1|20240515||21^varicella^CVX|999||||||||||||00^Parental decision^NIP002||RE|A".into(),
        "ORC|RE||9999^TESTEHR\rRXA|0|1|20240515||998^No vaccine administered^CVX|999||||||||||||||NA|A\rOBX|1|CE|59784-9^Disease with presumed immunity^LN|1|38907003^Varicella infection^SCT||||||F".into(),
    ];
    let (_, ack) = app.submit(&v.text()).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-K")
        .await
        .expect("read")
        .expect("p");
    let doses = app.db.doses_of(patient).await.expect("doses");
    assert_eq!(doses.len(), 1, "only the administered dose is a dose");
    let observations = app.db.observations_of(patient).await.expect("obs");
    let kinds: Vec<(&str, &str)> = observations
        .iter()
        .map(|o| (o.kind.as_str(), o.code.as_str()))
        .collect();
    assert!(kinds.contains(&("refusal", "21")), "{kinds:?}");
    assert!(kinds.contains(&("immunity", "38907003")), "{kinds:?}");
    let refusal = observations
        .iter()
        .find(|o| o.kind.as_str() == "refusal")
        .expect("refusal");
    assert_eq!(refusal.reason_code.as_deref(), Some("00"));
}

#[tokio::test]
async fn updates_keep_the_first_receipt_time_and_deletes_are_soft() {
    let app = spawn_app().await;
    app.submit(&Vxu::new("U-1", "MRN-U").text()).await;
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-U")
        .await
        .expect("read")
        .expect("p");
    let first = app.db.doses_of(patient).await.expect("doses")[0].clone();
    assert!(first.first_received_at.is_some());
    let mut update = Vxu::new("U-2", "MRN-U");
    update.doses = vec![dose("DOSE-1", "20240515", "08", "00", "LOT-NEW", "U")];
    let (_, ack) = app.submit(&update.text()).await;
    assert_eq!(msa(&ack), "AA");
    let after = app.db.doses_of(patient).await.expect("doses");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].lot_number.as_deref(), Some("LOT-NEW"));
    assert_eq!(
        after[0].first_received_at, first.first_received_at,
        "timeliness keeps the first receipt"
    );
    let mut delete = Vxu::new("U-3", "MRN-U");
    delete.doses = vec![dose("DOSE-1", "20240515", "08", "00", "LOT-NEW", "D")];
    app.submit(&delete.text()).await;
    assert!(app.db.doses_of(patient).await.expect("doses")[0].deleted);
    assert!(app.db.history(patient).await.expect("history").is_empty());
}

fn opt_in() -> Options {
    Options {
        registry: RegistryConfig {
            consent: ConsentConfig {
                policy: Policy::OptIn,
                disaster_cvx: ["213".to_string()].into_iter().collect(),
            },
            ..RegistryConfig::default()
        },
        ..Options::default()
    }
}

#[tokio::test]
async fn opt_in_rejects_unconsented_patients_and_keeps_disaster_doses() {
    let app = spawn_app_with(opt_in()).await;
    // No consent on file, none affirmed: rejected, nothing kept.
    let (_, ack) = app.submit(&Vxu::new("OI-1", "MRN-OI").text()).await;
    assert_eq!(msa(&ack), "AE", "{ack}");
    assert!(ack.contains("Client rejected: no consent on file"), "{ack}");
    assert_eq!(app.db.patient_count().await.expect("count"), 0);

    // A disaster dose is kept without consent; the ordinary one is not.
    let mut disaster = Vxu::new("OI-2", "MRN-OI");
    disaster.doses = vec![
        dose("DOSE-D1", "20240515", "213", "00", "LOTD", "A"),
        dose("DOSE-D2", "20240515", "08", "00", "LOT1", "A"),
    ];
    let (_, ack) = app.submit(&disaster.text()).await;
    assert_eq!(msa(&ack), "AE", "{ack}");
    assert!(ack.contains("disaster-related doses were"), "{ack}");
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-OI")
        .await
        .expect("read")
        .expect("kept");
    let doses = app.db.doses_of(patient).await.expect("doses");
    assert_eq!(
        doses.iter().map(|d| d.cvx.as_str()).collect::<Vec<_>>(),
        ["213"]
    );
    assert_eq!(app.db.consent_of(patient).await.expect("consent").0, "none");

    // Consent affirmed in PD1-12/13: everything is kept and the date recorded.
    let mut affirmed = Vxu::new("OI-3", "MRN-OI");
    affirmed.pd1 = Some("PD1|||||||||||02^Reminder^HL70215|N|20240510".into());
    let (_, ack) = app.submit(&affirmed.text()).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    assert_eq!(
        app.db.consent_of(patient).await.expect("consent"),
        ("consented".to_string(), Some("2024-05-10".to_string()))
    );
    // From now on, consent on file is enough.
    let mut later = Vxu::new("OI-4", "MRN-OI");
    later.doses = vec![dose("DOSE-L", "20240601", "03", "00", "LOTL", "A")];
    let (_, ack) = app.submit(&later.text()).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    // Withdrawal is recorded.
    let mut withdraw = Vxu::new("OI-5", "MRN-OI");
    withdraw.pd1 = Some("PD1|||||||||||02^Reminder^HL70215|Y|20240701".into());
    withdraw.doses = vec![];
    app.submit(&withdraw.text()).await;
    assert_eq!(
        app.db.consent_of(patient).await.expect("consent").0,
        "withdrawn"
    );
}

/// The ONC-2015 cases in the shared corpus.
#[tokio::test]
#[ignore = "needs IZPORT_CORPUS_DIR: the shared HL7 corpus"]
async fn onc_2015_update_delete_twin_and_refusal_cases() {
    let read = |name: &str| crate::inputs::corpus_file(name).trim_end().to_string();
    let app = spawn_app().await;

    // tc06: three doses and a varicella refusal for Tyler Banks.
    let (_, ack) = app
        .submit(&read("onc2015_tc06_vxu_3_doses_plus_refusal.hl7"))
        .await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    let (banks, ..) = app
        .db
        .patient_by_identifier(ORG, "8891")
        .await
        .expect("read")
        .expect("banks");
    assert_eq!(app.db.history(banks).await.expect("history").len(), 3);
    let observations = app.db.observations_of(banks).await.expect("obs");
    assert!(observations
        .iter()
        .any(|o| o.kind.as_str() == "refusal" && o.code == "21"));

    // tc07: the same MSH-10 with an update of dose 12128 (new lot number).
    let (_, ack) = app
        .submit(&read("onc2015_tc07_vxu_action_U_update.hl7"))
        .await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    assert!(
        ack.contains("|205^"),
        "the reused control id is reported: {ack}"
    );
    let doses = app.db.doses_of(banks).await.expect("doses");
    assert_eq!(doses.len(), 3);
    let updated = doses
        .iter()
        .find(|d| d.filler_order_id == "12128")
        .expect("12128");
    assert_eq!(updated.lot_number.as_deref(), Some("208490"));

    // tc04: a delete of a dose the EHR added earlier.
    let delete = read("onc2015_tc04_vxu_action_D_delete.hl7");
    let add = delete
        .replace("|71892|P|", "|71891|P|")
        .replace("|||CP|D", "|||CP|A");
    let (_, ack) = app.submit(&add).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    let (benton, ..) = app
        .db
        .patient_by_identifier(ORG, "89778")
        .await
        .expect("read")
        .expect("benton");
    assert_eq!(app.db.history(benton).await.expect("history").len(), 1);
    let (_, ack) = app.submit(&delete).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    assert!(app.db.history(benton).await.expect("history").is_empty());

    // tc05: a partially administered dose for one twin; a co-twin sent next stays separate.
    let twin = read("onc2015_tc05_vxu_twin_partial_PA.hl7");
    let (_, ack) = app.submit(&twin).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    let (daryl, ..) = app
        .db
        .patient_by_identifier(ORG, "76511")
        .await
        .expect("read")
        .expect("daryl");
    assert_eq!(app.db.history(daryl).await.expect("history").len(), 1);
    let before = app.db.patient_count().await.expect("count");
    let co_twin = twin
        .replace("|29407|P|", "|29408|P|")
        .replace("76511^^^wcEHR^MR", "76512^^^wcEHR^MR")
        .replace("Johnson^Daryl^Andre", "Johnson^Darius^Andre")
        .replace("22119^wcEHR", "22120^wcEHR");
    let (_, ack) = app.submit(&co_twin).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    assert_eq!(
        app.db.patient_count().await.expect("count"),
        before + 1,
        "the co-twin is a new patient"
    );
}

#[tokio::test]
async fn concurrent_first_reports_of_one_person_create_one_patient() {
    let app = spawn_app().await;
    let mut users = vec![(USER.to_string(), FACILITY.to_string())];
    for n in 2..=4 {
        let code = format!("CLINIC{n}");
        let user = format!("user{n}");
        let facility = format!("F{n}");
        second_org(&app, &code, &user, &facility).await;
        users.push((user, facility));
    }
    let bodies = users
        .into_iter()
        .enumerate()
        .map(|(n, (user, facility))| {
            let mut v = Vxu::new(&format!("PAR-{n}"), &format!("MRN-PAR-{n}"));
            v.authority = ["EHR-A", "EHR-B", "EHR-C", "EHR-D"][n];
            v.doses = vec![dose(
                &format!("PAR-DOSE-{n}"),
                "20240515",
                "08",
                "00",
                "LOT1",
                "A",
            )];
            submit_envelope(&user, PASSWORD, &facility, &v.text())
        })
        .collect();
    for ack in all_at_once(&app, bodies).await {
        assert_eq!(msa(&ack), "AA", "{ack}");
    }
    assert_eq!(
        app.db.patient_count().await.expect("count"),
        1,
        "one person, four reports"
    );
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-PAR-0")
        .await
        .expect("read")
        .expect("p");
    let history = app.db.history(patient).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].sources, 4);
}

#[tokio::test]
async fn an_organization_can_make_a_rule_stricter_or_switch_it_off() {
    let app = spawn_app().await;
    // By default a child without a responsible person (NK1) is a warning: accepted.
    let (_, ack) = app.submit(&Vxu::new("RULE-1", "MRN-RULE").text()).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    assert!(ack.contains("|W|"), "{ack}");
    // This registry makes it an error for CLINIC1: the patient is rejected.
    app.db
        .set_rule_override(ORG, "NK1-minor-missing", Some("E"))
        .await
        .expect("override");
    let (_, ack) = app.submit(&Vxu::new("RULE-2", "MRN-RULE2").text()).await;
    assert_eq!(msa(&ack), "AE", "{ack}");
    assert!(app
        .db
        .patient_by_identifier(ORG, "MRN-RULE2")
        .await
        .expect("read")
        .is_none());
    // Or silences it.
    app.db
        .set_rule_override(ORG, "NK1-minor-missing", Some("off"))
        .await
        .expect("override");
    let (_, ack) = app.submit(&Vxu::new("RULE-3", "MRN-RULE3").text()).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    assert!(!ack.contains("NK1"), "{ack}");
    // Locked rules (what storage cannot do without) refuse a lower severity.
    assert!(izport::registry::validate::check_override(
        "PID-7-missing",
        izport::registry::validate::Level::Warning
    )
    .is_err());
}

#[tokio::test]
async fn connections_the_database_closed_are_replaced_before_the_next_message() {
    let app = spawn_app().await;
    let (_, ack) = app.submit(&Vxu::new("R-1", "MRN-R").text()).await;
    assert_eq!(msa(&ack), "AA", "{ack}");
    if app.db.backend() != izport::store::Backend::Postgres {
        eprintln!("closing the pool's connections from the server side needs PostgreSQL");
        return;
    }
    // The server ends every session of the registry's database but this one (as a restart or
    // an administrator would), maintenance listener included.
    let admin = sqlx::PgPool::connect(&app.db_url).await.expect("pg pool");
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&admin)
    .await
    .expect("terminate the sessions");
    admin.close().await;
    assert!(!killed.is_empty(), "the pool had connections");
    // A connection idle for a second or more is pinged before use, and one that fails is
    // discarded: a moment later the next messages are answered, each with its own data. (A
    // message on a connection used within the last second before the server hung up gets a
    // fault, never an acknowledgement; the sender resends it.)
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    for (n, family) in ["Rowan", "Reyes", "Ridley"].into_iter().enumerate() {
        let mut vxu = Vxu::new(&format!("R-{n}-B"), &format!("MRN-R{n}"));
        vxu.family = family;
        vxu.given = "Ruth";
        vxu.dob = "20220303";
        let (_, ack) = app.submit(&vxu.text()).await;
        assert_eq!(msa(&ack), "AA", "{ack}");
    }
    assert_eq!(app.db.patient_count().await.expect("count"), 4);
}
