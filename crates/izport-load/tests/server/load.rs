//! The load generator against the real server: synthetic VXUs are accepted and stored,
//! connectivity tests echo, refusals and TLS are reported as they should be.

use std::time::Duration;

use izport_load::load::{self, LoadError, LoadOptions, Stop};
use izport_load::synth;

use crate::common::*;

fn options(app: &TestApp, mix: &str, requests: u64) -> LoadOptions {
    LoadOptions {
        username: USER.to_string(),
        password: PASSWORD.to_string(),
        facility: FACILITY.to_string(),
        concurrency: 8,
        stop: Stop::Requests(requests),
        mix: mix.parse().expect("mix"),
        seed: 20_240_515,
        timeout: Duration::from_secs(60),
        ..LoadOptions::new(format!("{}/soap", app.base))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vxu_load_is_accepted_and_stored() {
    let app = spawn_app(false).await;
    let o = options(&app, "vxu=100", 200);
    let report = load::run(&o).await.expect("load run");
    let text = report.render_text();
    assert_eq!(report.requests, 200, "{text}");
    assert_eq!(report.failures(), 0, "{text}");
    assert_eq!(report.outcomes.get("ok"), Some(&200), "{text}");
    assert!(report.throughput > 0.0, "{text}");
    assert_eq!(report.by_kind["vxu"].count, 200);
    assert_eq!(report.by_kind["vxu"].ok, 200);
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.max >= report.latency_ms.p99);

    // Every message was logged with its AA, and the patients are in the registry.
    let (count, last) = app.db.message_log_tail().await.expect("message log");
    assert_eq!(count, 200);
    assert!(last.unwrap_or_default().contains("MSA|AA|"));
    let mrn = synth::mrn(o.seed, 0, 0);
    let (patient_id, ..) = app
        .db
        .patient_by_identifier(ORG, &mrn)
        .await
        .expect("patient lookup")
        .expect("the first patient of worker 0 is stored");
    let doses = app.db.doses_of(patient_id).await.expect("doses");
    assert!((1..=3).contains(&doses.len()), "{doses:?}");

    // The JSON form the CLI prints is one line.
    let json = serde_json::to_string(&report).expect("json");
    assert!(!json.contains('\n'));
    assert!(json.contains("\"requests\":200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectivity_load() {
    let app = spawn_app(false).await;
    let mut o = options(&app, "connectivity", 1000);
    // A connectivity test needs no credentials.
    o.username.clear();
    o.password.clear();
    let report = load::run(&o).await.expect("load run");
    assert_eq!(report.requests, 1000, "{}", report.render_text());
    assert_eq!(report.failures(), 0, "{}", report.render_text());
    assert_eq!(
        report.by_kind.keys().collect::<Vec<_>>(),
        vec!["connectivity"]
    );
    // Nothing is logged for a connectivity test.
    let (count, _) = app.db.message_log_tail().await.expect("message log");
    assert_eq!(count, 0);

    // A duration-bounded run ends on time.
    o.stop = Stop::Duration(Duration::from_millis(500));
    let report = load::run(&o).await.expect("load run");
    assert!(report.elapsed_s >= 0.5 && report.elapsed_s < 5.0);
    assert!(report.requests > 0);
    assert_eq!(report.failures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_get_an_answer_for_every_request() {
    let app = spawn_app(false).await;
    let report = load::run(&options(&app, "vxu=50,z34=50", 60))
        .await
        .expect("load run");
    let text = report.render_text();
    assert_eq!(report.requests, 60, "{text}");
    let vxu = &report.by_kind["vxu"];
    assert_eq!(vxu.ok, vxu.count, "{text}");
    // Every Z34 asks for a patient an earlier VXU of the run created (or, before the first
    // one succeeded, for one nobody created) and must get exactly that answer: the patient's
    // Z32 history (or NF). NF for a created patient, AR or a Z31 list are failures.
    let z34 = &report.by_kind["z34"];
    assert!(z34.count > 0, "{text}");
    assert_eq!(z34.ok, z34.count, "{text}");
    assert_eq!(report.failures(), 0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_counted_as_security_faults() {
    let app = spawn_app(false).await;
    let mut o = options(&app, "vxu", 16);
    o.password = "not-the-password".to_string();
    o.concurrency = 4;
    let report = load::run(&o).await.expect("load run");
    assert_eq!(
        report.outcomes.get("soap_fault_SecurityFault"),
        Some(&16),
        "{}",
        report.render_text()
    );
    assert_eq!(report.failures(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_server_certificate() {
    let app = spawn_app(true).await;
    let cert = app.certificate.clone().expect("TLS app");
    let mut o = options(&app, "vxu=20,connectivity=80", 100);
    o.ca_cert = Some(cert);
    let report = load::run(&o).await.expect("load run over TLS");
    assert_eq!(report.requests, 100);
    assert_eq!(report.failures(), 0, "{}", report.render_text());

    // Without trusting the certificate: refused before any request.
    o.ca_cert = None;
    let err = load::run(&o).await.expect_err("untrusted certificate");
    assert!(
        matches!(err, LoadError::Connect { .. } | LoadError::Tls(_)),
        "{err}"
    );

    // Test environments may skip verification.
    o.insecure = true;
    o.stop = Stop::Requests(20);
    let report = load::run(&o).await.expect("insecure load run");
    assert_eq!(report.failures(), 0, "{}", report.render_text());
}
