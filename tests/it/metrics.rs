//! `GET /metrics`: scraped around real requests. The recorder is process-wide and other tests
//! submit at the same time, so counters are compared before and after, and what must be exact
//! is labelled with an organization only this test uses.

use crate::common::*;

/// The sum of the samples of `name` whose labels include every pair of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.split(',').any(|pair| pair == format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.expect("body")
}

#[tokio::test]
async fn a_vxu_is_counted_and_no_patient_value_is_shown() {
    let app = spawn_app().await;
    let org = "METRICSORG1";
    app.db
        .create_organization(org, "Metrics Clinic", &["MFAC".to_string()], true)
        .await
        .expect("org");
    app.db
        .create_user(
            org,
            "metrics-user",
            &izport::auth::hash_password("metrics-pass-1").expect("hash"),
        )
        .await
        .expect("user");
    let hl7 = vxu("CTRL-M-5531", "MRN-Q7Z3X", "DOSE-K2P9")
        .replace("Tester^Tina^Q", "Zyxwvut^Quenby^Q")
        .replace("Mother^Mary", "Oakenshaw^Perpetua")
        .replace(&format!("|{FACILITY}|"), "|MFAC|");

    let submits = [("operation", "submitSingleMessage"), ("outcome", "ok")];
    let latency = [("operation", "submitSingleMessage")];
    let aa = [("code", "AA"), ("organization", org)];
    let before = scrape(&app).await;
    let (status, ack) = app
        .submit_as("metrics-user", "metrics-pass-1", "MFAC", &hl7)
        .await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"), "{ack}");
    let after = scrape(&app).await;

    assert_eq!(
        sample(&after, "izport_soap_acks_total", &aa)
            - sample(&before, "izport_soap_acks_total", &aa),
        1.0,
        "one AA for this organization:\n{after}"
    );
    assert!(
        sample(&after, "izport_soap_requests_total", &submits)
            >= sample(&before, "izport_soap_requests_total", &submits) + 1.0,
        "the request is counted:\n{after}"
    );
    let count = "izport_soap_request_duration_seconds_count";
    assert!(
        sample(&after, count, &latency) >= sample(&before, count, &latency) + 1.0,
        "its latency is recorded:\n{after}"
    );
    assert!(
        after
            .lines()
            .any(|l| l.starts_with("izport_soap_request_duration_seconds_bucket{")),
        "latency is a histogram:\n{after}"
    );
    assert_eq!(sample(&after, "izport_maintenance_in_window", &[]), 0.0);
    assert!(after.contains("izport_db_pool_connections{state=\"in_use\"}"));
    assert!(after.contains("izport_file_door_files_waiting "));
    for value in [
        "MRN-Q7Z3X",
        "Zyxwvut",
        "Quenby",
        "Oakenshaw",
        "Perpetua",
        "20230421",
        "DOSE-K2P9",
        "CTRL-M-5531",
        "metrics-user",
        "metrics-pass-1",
    ] {
        assert!(!after.contains(value), "{value} appears in the scrape");
    }
}

#[tokio::test]
async fn refused_logins_and_faults_are_counted() {
    let app = spawn_app().await;
    let denied = [("operation", "submitSingleMessage"), ("outcome", "denied")];
    let before = scrape(&app).await;
    let (status, body) = app
        .submit_as(USER, "not-the-password", FACILITY, &vxu("C1", "M1", "D1"))
        .await;
    assert_eq!(status, 500, "{body}");
    let (status, _) = app.soap12("<not-xml").await;
    assert_eq!(status, 500);
    let after = scrape(&app).await;
    let failures = [("door", "soap")];
    assert!(
        sample(&after, "izport_auth_failures_total", &failures)
            >= sample(&before, "izport_auth_failures_total", &failures) + 1.0,
        "{after}"
    );
    assert!(
        sample(&after, "izport_soap_requests_total", &denied)
            >= sample(&before, "izport_soap_requests_total", &denied) + 1.0,
        "{after}"
    );
    let unreadable = [("operation", "unreadable"), ("outcome", "bad_request")];
    assert!(
        sample(&after, "izport_soap_requests_total", &unreadable)
            >= sample(&before, "izport_soap_requests_total", &unreadable) + 1.0,
        "{after}"
    );
    assert!(!after.contains("not-the-password"));
}

#[tokio::test]
async fn metrics_stay_up_during_maintenance_and_show_the_window() {
    let app = spawn_app_with(Options {
        admin_token: Some("metrics-token".into()),
        ..Options::default()
    })
    .await;
    assert_eq!(
        sample(&scrape(&app).await, "izport_maintenance_in_window", &[]),
        0.0
    );
    let started = app
        .client
        .post(format!("{}/admin/maintenance/start", app.base))
        .bearer_auth("metrics-token")
        .json(&serde_json::json!({ "reason": "release", "until": "+1h" }))
        .send()
        .await
        .expect("start");
    assert_eq!(started.status().as_u16(), 201);
    let refusals = [("mode", "maintenance")];
    let before = scrape(&app).await;
    assert_eq!(sample(&before, "izport_maintenance_in_window", &[]), 1.0);
    let (status, _) = app.submit(&vxu("C2", "M2", "D2")).await;
    assert_eq!(status, 503);
    let after = scrape(&app).await;
    assert!(
        sample(&after, "izport_maintenance_refusals_total", &refusals)
            >= sample(&before, "izport_maintenance_refusals_total", &refusals) + 1.0,
        "{after}"
    );
}

/// The `X-Request-Id` of a GET of `path` sent with `id` (if any).
async fn request_id_of(
    app: &TestApp,
    path: &str,
    id: Option<reqwest::header::HeaderValue>,
) -> String {
    let mut request = app.client.get(format!("{}{path}", app.base));
    if let Some(id) = id {
        request = request.header("x-request-id", id);
    }
    let response = request.send().await.expect("request");
    response
        .headers()
        .get("x-request-id")
        .expect("every response has a request id")
        .to_str()
        .expect("text")
        .to_string()
}

#[tokio::test]
async fn request_ids_are_echoed_when_safe_and_made_otherwise() {
    let app = spawn_app().await;
    let given = "7d3f0c1e-req-42";
    assert_eq!(
        request_id_of(&app, "/health", Some(given.parse().unwrap())).await,
        given
    );
    // Every route, the SOAP service and errors included.
    assert_eq!(
        request_id_of(&app, "/soap?wsdl", Some(given.parse().unwrap())).await,
        given
    );
    assert_eq!(
        request_id_of(&app, "/no-such-page", Some(given.parse().unwrap())).await,
        given
    );
    let made = request_id_of(&app, "/health", None).await;
    assert!(
        made.len() == 32 && made.bytes().all(|b| b.is_ascii_hexdigit()),
        "{made}"
    );
    assert_ne!(
        made,
        request_id_of(&app, "/health", None).await,
        "a new id each time"
    );
    let too_long = "a".repeat(65);
    for unsafe_id in [
        reqwest::header::HeaderValue::from_str(&too_long).unwrap(),
        reqwest::header::HeaderValue::from_str("tab\there").unwrap(),
        reqwest::header::HeaderValue::from_bytes(b"bytes\x80\xff").unwrap(),
        reqwest::header::HeaderValue::from_str("a b<script>").unwrap(),
    ] {
        let sent = unsafe_id.as_bytes().to_vec();
        let got = request_id_of(&app, "/health", Some(unsafe_id)).await;
        assert_ne!(got.as_bytes(), &sent[..]);
        assert!(
            got.len() == 32 && got.bytes().all(|b| b.is_ascii_hexdigit()),
            "replaced by a made id: {got}"
        );
    }
}
