#![cfg(test)]
//! The registry over a real SQLite store in a temporary directory, with a fixed clock and
//! predictable response ids, and no HTTP: a VXU applied, a resend, a second report matched, a
//! query answered, consent under opt-in, and the two-phase form inside a caller's transaction.
//! (The same paths through the server, on both backends, are in `tests/`.)

use std::sync::Arc;

use jiff::Timestamp;

use crate::clock::{ManualClock, SequentialIds};
use crate::hl7::{AckCode, Message, Severity};
use crate::registry::consent::{ConsentConfig, Policy};
use crate::registry::query::QueryStatus;
use crate::registry::tests::{june_first, submitter, vxu, z34, VXU};
use crate::registry::{
    work, MatchedBy, Registry, RegistryConfig, RegistryError, RegistryStore, Response, Submitter,
};

use super::sql::args;
use super::{Db, SqlTx};

struct Setup {
    _dir: tempfile::TempDir,
    db: Arc<Db>,
    registry: Registry<Arc<Db>>,
    submitter: Submitter,
}

async fn setup(config: RegistryConfig) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("registry.db").display());
    let db = Arc::new(Db::connect(&url).await.expect("connect"));
    db.migrate().await.expect("migrate");
    let org = db
        .create_organization("CLINIC1", "Test Clinic", &["FAC01".to_string()], true)
        .await
        .expect("organization");
    let user = db
        .create_user("CLINIC1", "ehr-user", "not a real hash")
        .await
        .expect("user");
    let registry = Registry::new(
        db.clone(),
        config,
        Arc::new(ManualClock::new(june_first())),
        Arc::new(SequentialIds::new("T-")),
    )
    .expect("the built-in schedule");
    Setup {
        _dir: dir,
        db,
        registry,
        submitter: Submitter {
            organization_id: org,
            user_id: user,
            ..submitter(true)
        },
    }
}

impl Setup {
    /// Submits `text` as the test clinic, received now on the fixed clock.
    async fn submit(&self, text: &str) -> Response {
        self.registry
            .submit(&self.submitter, text)
            .await
            .unwrap_or_else(|e| panic!("not answered: {e}"))
    }
}

fn field(hl7: &str, path: &str) -> Option<String> {
    Message::parse(hl7).ok()?.get(path).map(|v| v.into_owned())
}

#[tokio::test]
async fn a_vxu_is_applied_and_a_query_answered_on_the_registrys_clock() {
    let s = setup(RegistryConfig::default()).await;
    let r = s.submit(&vxu("C-1", "MRN-1")).await;
    assert_eq!(r.ack, AckCode::AA, "{}", r.hl7);
    // The response's MSH-7 and MSH-10 come from the clock and the id source.
    assert_eq!(
        field(&r.hl7, "MSH-7").as_deref(),
        Some("20240601120000+0000")
    );
    assert_eq!(field(&r.hl7, "MSH-10").as_deref(), Some("T-1"));
    assert_eq!(field(&r.hl7, "MSA-2").as_deref(), Some("C-1"));
    let patient = r.patient_id.expect("a patient");
    let outcome = r.patient.expect("a patient outcome");
    assert_eq!(
        (outcome.matched, outcome.reviews),
        (None, 0),
        "a new record"
    );
    assert_eq!(r.stored.doses, 1);
    assert!(!r.resent && r.message_id.is_some());

    let history = s.db.history(patient).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].dose.administered_on.to_string(), "2024-05-14");
    assert_eq!(
        history[0].dose.first_received_at.as_deref(),
        Some("2024-06-01T12:00:00.000000Z"),
        "the receipt time is the registry's clock"
    );

    let q = s
        .submit(&z34("Q-1", "MRN-1", "Tester", "Tina", "20230302"))
        .await;
    assert_eq!(q.ack, AckCode::AA, "{}", q.hl7);
    assert_eq!(field(&q.hl7, "MSH-10").as_deref(), Some("T-2"));
    assert_eq!(field(&q.hl7, "MSH-21").as_deref(), Some("Z32"));
    assert_eq!(field(&q.hl7, "RXA-5").as_deref(), Some("08"));
    let report = q.query.expect("a query report");
    assert_eq!((report.status, report.returned), (QueryStatus::Ok, 1));
    assert_eq!(q.patient_id, Some(patient));
    let audit = s.db.queries_of(patient).await.expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].2, "2024-06-01T12:00:00.000000Z");
}

#[tokio::test]
async fn a_resend_is_answered_from_the_log_and_changes_nothing() {
    let s = setup(RegistryConfig::default()).await;
    let text = vxu("C-2", "MRN-2");
    let first = s.submit(&text).await;
    let (logged, _) = s.db.message_log_tail().await.expect("log");
    let again = s.submit(&text).await;
    assert!(again.resent);
    assert_eq!(again.hl7, first.hl7, "byte for byte");
    assert_eq!(again.ack, AckCode::AA);
    assert_eq!(s.db.message_log_tail().await.expect("log").0, logged);

    // The same MSH-10 with other content is processed, with the 205 warning.
    let other = text.replace("LOT1", "LOT2");
    let reused = s.submit(&other).await;
    assert!(!reused.resent);
    assert_eq!(reused.ack, AckCode::AA);
    let warned: Vec<_> = reused
        .findings
        .iter()
        .filter(|f| f.rule.starts_with("MSH-10"))
        .map(|f| (f.rule, f.hl7_code, f.severity))
        .collect();
    assert_eq!(warned, [("MSH-10-reused", 205, Severity::Warning)]);
}

#[tokio::test]
async fn a_second_report_is_matched_by_identifier_or_by_demographics() {
    let s = setup(RegistryConfig::default()).await;
    let first = s.submit(&vxu("C-3", "MRN-3")).await;
    let by_mrn = s.submit(&vxu("C-4", "MRN-3")).await;
    assert_eq!(by_mrn.patient_id, first.patient_id);
    assert_eq!(
        by_mrn.patient.and_then(|p| p.matched),
        Some(MatchedBy::Identifier)
    );
    let by_name = s.submit(&vxu("C-5", "OTHER-MRN")).await;
    assert_eq!(by_name.patient_id, first.patient_id);
    assert_eq!(
        by_name.patient.and_then(|p| p.matched),
        Some(MatchedBy::Demographics)
    );
    assert_eq!(s.db.patient_count().await.expect("count"), 1);
}

#[tokio::test]
async fn a_query_names_candidates_when_the_match_is_not_sure() {
    let s = setup(RegistryConfig::default()).await;
    s.submit(&vxu("C-6", "MRN-6")).await;
    // Same family name and birth date, another given name, no identifier: a possible match.
    let q = s
        .submit(&z34("Q-2", "NONE", "Tester", "Tanya", "20230302"))
        .await;
    assert_eq!(field(&q.hl7, "MSH-21").as_deref(), Some("Z31"), "{}", q.hl7);
    assert_eq!(q.query.map(|r| r.returned), Some(1));
    // Nobody by that name.
    let q = s
        .submit(&z34("Q-3", "NONE", "Nobody", "Known", "20100101"))
        .await;
    assert_eq!(q.query.map(|r| r.status), Some(QueryStatus::NotFound));
}

#[tokio::test]
async fn opt_in_keeps_nothing_without_consent_and_shares_only_with_it() {
    let s = setup(RegistryConfig {
        consent: ConsentConfig {
            policy: Policy::OptIn,
            ..ConsentConfig::default()
        },
        ..RegistryConfig::default()
    })
    .await;
    let refused = s.submit(&vxu("C-7", "MRN-7")).await;
    assert_eq!(refused.ack, AckCode::AE);
    assert!(refused.findings.iter().any(|f| f.rule == "CONSENT-missing"));
    assert!(refused.patient_id.is_none());
    assert_eq!(s.db.patient_count().await.expect("count"), 0);

    let consented = VXU
        .replace("{CONTROL}", "C-8")
        .replace("{MRN}", "MRN-7")
        .replace("{MSH-11}", "P")
        .replace("{PD1}", "PD1||||||||||||N|20240501\r")
        .replace("{RXA-3}", "20240514");
    let kept = s.submit(&consented).await;
    assert_eq!(kept.ack, AckCode::AA, "{}", kept.hl7);
    let patient = kept.patient_id.expect("kept");
    assert_eq!(
        s.db.consent_of(patient).await.expect("consent"),
        ("consented".to_string(), Some("2024-05-01".to_string()))
    );
    let q = s
        .submit(&z34("Q-4", "MRN-7", "Tester", "Tina", "20230302"))
        .await;
    assert_eq!(q.query.map(|r| r.status), Some(QueryStatus::Ok));
}

/// The batch door's use: prepare with the file's receipt time, then apply inside a transaction
/// that also carries the door's own writes; they commit or roll back together.
#[tokio::test]
async fn the_two_phases_run_inside_a_callers_transaction() {
    let s = setup(RegistryConfig::default()).await;
    let received: Timestamp = "2024-05-31T22:15:00Z".parse().expect("timestamp");
    let org = s.submitter.organization_id;

    // The caller's own write fails after the registry's work: nothing of either is kept.
    let prepared = s
        .registry
        .prepare(&s.submitter, &vxu("C-9", "MRN-9"), received)
        .await
        .expect("prepared");
    let failed = s
        .registry
        .store()
        .transact(work(move |tx: &mut SqlTx| {
            Box::pin(async move {
                let response = prepared.apply(tx).await?;
                assert_eq!(response.ack, AckCode::AA);
                Err::<(), _>(RegistryError::Unreadable)
            })
        }))
        .await;
    assert!(failed.is_err());
    assert_eq!(s.db.patient_count().await.expect("count"), 0);
    assert_eq!(s.db.message_log_tail().await.expect("log").0, 0);

    // Both succeed: both are kept, and the dose keeps the file's receipt time.
    let prepared = s
        .registry
        .prepare(&s.submitter, &vxu("C-9", "MRN-9"), received)
        .await
        .expect("prepared");
    let response = s
        .registry
        .store()
        .transact(work(move |tx: &mut SqlTx| {
            Box::pin(async move {
                let response = prepared.apply(tx).await?;
                tx.exec(
                    "UPDATE organizations SET name = $2 WHERE id = $1",
                    &args![org, "Renamed by the door"],
                )
                .await?;
                Ok(response)
            })
        }))
        .await
        .expect("committed");
    let patient = response.patient_id.expect("patient");
    let dose = &s.db.doses_of(patient).await.expect("doses")[0];
    assert_eq!(
        dose.first_received_at.as_deref(),
        Some("2024-05-31T22:15:00.000000Z")
    );
    let orgs = s.db.list_organizations().await.expect("orgs");
    assert_eq!(orgs[0].name, "Renamed by the door");
}

/// The registry's own findings are catalogue rules, so an organization's levels apply to them.
#[tokio::test]
async fn an_organization_may_refuse_reused_control_ids() {
    let s = setup(RegistryConfig::default()).await;
    s.db.set_rule_override("CLINIC1", "MSH-10-reused", Some("E"))
        .await
        .expect("override");
    let text = vxu("C-10", "MRN-10");
    s.submit(&text).await;
    let patients = s.db.patient_count().await.expect("count");
    let reused = s.submit(&text.replace("MRN-10", "MRN-11")).await;
    assert_eq!(reused.ack, AckCode::AR, "{}", reused.hl7);
    let refusal = reused
        .findings
        .iter()
        .find(|f| f.rule == "MSH-10-reused")
        .expect("reported");
    assert_eq!(refusal.severity, Severity::Error);
    assert!(refusal.message.contains("this one was not processed"));
    assert!(reused.patient_id.is_none());
    assert_eq!(s.db.patient_count().await.expect("count"), patients);
}
