//! Maintenance mode and drills through the real server: exact statuses, headers and bodies per
//! mode; nothing processed during a window; boundaries crossed with a manual clock (across
//! daylight-saving changes); organization drills; several nodes on one database.

use std::time::Duration;

use crate::common::*;
use izport::maintenance::{Kind, ManualClock, Mode, PageFormat};
use izport::store::NewWindow;
use jiff::Timestamp;

/// The sentence of the registry's maintenance notices, which partners are told to expect in
/// the 503 body; written out here, not taken from the code under test.
const NOTICE_SENTENCE: &str = "The server is temporarily unable to service your request due to \
                               maintenance downtime or capacity problems. Please try again later.";

/// What the 503 page must say: its status line and the notices' sentence.
fn assert_maintenance_page(body: &str) {
    assert!(
        body.contains("<title>503 Service Unavailable</title>"),
        "{body}"
    );
    assert!(body.contains("<h1>Service Unavailable</h1>"), "{body}");
    assert!(body.contains(NOTICE_SENTENCE), "{body}");
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn connectivity() -> String {
    format!(
        "<s:Envelope xmlns:s=\"{SOAP12}\"><s:Body><c:connectivityTest xmlns:c=\"urn:cdc:iisb:2011\">\
         <c:echoBack>ping</c:echoBack></c:connectivityTest></s:Body></s:Envelope>"
    )
}

fn window(mode: Mode, starts: Timestamp, ends: Option<Timestamp>) -> NewWindow {
    NewWindow {
        kind: Kind::Unplanned,
        mode,
        starts_at: starts,
        ends_at: ends,
        time_zone: "America/Chicago".into(),
        reason: "test".into(),
        organization: None,
        refuse_percent: 100,
    }
}

/// Creates a window and makes this node see it at once (other nodes see it at their next poll).
async fn open_window(app: &TestApp, w: NewWindow) -> i64 {
    let id = app.db.create_window(&w).await.expect("window");
    app.maintenance().refresh(&app.db).await.expect("refresh");
    id
}

struct Answer {
    status: u16,
    content_type: String,
    retry_after: Option<String>,
    body: String,
}

async fn call(app: &TestApp, content_type: &str, body: String) -> Answer {
    let response = app
        .client
        .post(format!("{}/soap", app.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Answer {
        status: response.status().as_u16(),
        content_type: header("content-type").unwrap_or_default(),
        retry_after: header("retry-after"),
        body: response.text().await.expect("body"),
    }
}

async fn soap(app: &TestApp) -> Answer {
    call(app, "application/soap+xml; charset=utf-8", connectivity()).await
}

#[tokio::test]
async fn maintenance_answers_the_classic_503_page() {
    let app = spawn_app().await;
    let now = Timestamp::now();
    open_window(
        &app,
        window(
            Mode::Maintenance,
            now,
            Some(now + Duration::from_secs(1800)),
        ),
    )
    .await;

    let answer = soap(&app).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.content_type, "text/html; charset=utf-8");
    assert_maintenance_page(&answer.body);
    let retry: u64 = answer
        .retry_after
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1795..=1800).contains(&retry), "{retry}");

    // The WSDL is part of the service; health, status and admin stay up.
    let (status, _) = app.get("/soap?wsdl").await;
    assert_eq!(status, 503);
    let (status, _) = app.get("/health").await;
    assert_eq!(status, 200);
    let (status, body) = app.get("/status").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["state"], "maintenance");
    assert_eq!(json["current_window"]["mode"], "maintenance");
}

#[tokio::test]
async fn an_open_ended_window_sends_no_retry_after() {
    let app = spawn_app().await;
    open_window(&app, window(Mode::Maintenance, Timestamp::now(), None)).await;
    let answer = soap(&app).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.retry_after, None);
}

#[tokio::test]
async fn the_soap_page_format_answers_with_a_receiver_fault() {
    let app = spawn_app_with(Options {
        page_format: PageFormat::Soap,
        ..Options::default()
    })
    .await;
    let now = Timestamp::now();
    open_window(
        &app,
        window(Mode::Maintenance, now, Some(now + Duration::from_secs(600))),
    )
    .await;

    let answer = soap(&app).await;
    assert_eq!(answer.status, 503);
    assert!(answer.content_type.starts_with("application/soap+xml"));
    assert!(answer.body.contains(SOAP12));
    assert!(answer.body.contains("Receiver"), "{}", answer.body);
    assert_eq!(
        element_text(&answer.body, "Text").as_deref(),
        Some(NOTICE_SENTENCE)
    );
    assert!(answer.retry_after.is_some());

    let v11 = format!(
        "<e:Envelope xmlns:e=\"{SOAP11}\"><e:Body><c:connectivityTest xmlns:c=\"urn:cdc:iisb:2011\">\
         <c:echoBack>x</c:echoBack></c:connectivityTest></e:Body></e:Envelope>"
    );
    let answer = call(&app, "text/xml; charset=utf-8", v11).await;
    assert_eq!(answer.status, 503);
    assert!(answer.content_type.starts_with("text/xml"));
    assert!(answer.body.contains(SOAP11));
    assert_eq!(
        element_text(&answer.body, "faultstring").as_deref(),
        Some(NOTICE_SENTENCE)
    );
}

#[tokio::test]
async fn an_outage_drill_answers_502_proxy_error() {
    let app = spawn_app().await;
    open_window(&app, window(Mode::Outage, Timestamp::now(), None)).await;
    let answer = soap(&app).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.content_type, "text/html; charset=utf-8");
    // The page partners saw from the proxy in the April 2023 outage, as the notices quote it.
    assert!(
        answer.body.contains("<title>502 Proxy Error</title>"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("<h1>Proxy Error</h1>"),
        "{}",
        answer.body
    );
    assert!(answer
        .body
        .contains("The proxy server received an invalid response from an upstream server."));
    assert!(answer
        .body
        .contains("Proxy server could not handle the request."));
    let (_, status) = app.get("/status").await;
    assert!(status.contains("\"state\":\"outage\""), "{status}");
}

#[tokio::test]
async fn intermittent_refuses_the_configured_share() {
    let app = spawn_app().await;
    let mut w = window(Mode::Intermittent, Timestamp::now(), None);
    w.refuse_percent = 25;
    open_window(&app, w).await;
    let mut refused = 0;
    for _ in 0..20 {
        let answer = soap(&app).await;
        match answer.status {
            503 => {
                assert_maintenance_page(&answer.body);
                refused += 1;
            }
            200 => assert_eq!(return_text(&answer.body).as_deref(), Some("ping")),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(refused, 5);
}

#[tokio::test]
async fn nothing_of_a_refused_request_is_processed_or_stored() {
    let app = spawn_app().await;
    open_window(&app, window(Mode::Maintenance, Timestamp::now(), None)).await;
    let answer = call(
        &app,
        "application/soap+xml",
        submit_envelope(USER, PASSWORD, FACILITY, &vxu("MAINT-1", "MRN-M", "D-M")),
    )
    .await;
    assert_eq!(answer.status, 503);
    assert!(app
        .db
        .patient_by_identifier(ORG, "MRN-M")
        .await
        .expect("read")
        .is_none());
    assert_eq!(app.db.message_log_tail().await.expect("log").0, 0);

    app.db
        .stop_windows(Timestamp::now(), None)
        .await
        .expect("stop");
    app.maintenance().refresh(&app.db).await.expect("refresh");
    let (status, ack) = app.submit(&vxu("MAINT-1", "MRN-M", "D-M")).await;
    assert_eq!(status, 200);
    assert_eq!(
        hl7_field(&ack, "MSA", 1).as_deref(),
        Some("AA"),
        "the resend is processed"
    );
}

#[tokio::test]
async fn a_scheduled_window_starts_and_ends_by_itself() {
    let clock = ManualClock::new(ts("2024-05-31T23:00:00Z"));
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    // 7:00 p.m. Friday May 31 to 5:00 a.m. Saturday June 1, 2024, Central (CDT, UTC-5).
    let request = izport::maintenance::admin::WindowRequest {
        from: Some("2024-05-31 19:00".into()),
        to: Some("2024-06-01 05:00".into()),
        ..Default::default()
    };
    let w =
        izport::maintenance::admin::new_window(&request, clock.now_ts(), false).expect("window");
    open_window(&app, w).await;

    clock.set(ts("2024-05-31T23:59:59Z"));
    assert_eq!(soap(&app).await.status, 200);
    let (_, status) = app.get("/status").await;
    assert!(status.contains("\"state\":\"available\""), "{status}");
    assert!(
        status.contains("2024-05-31 19:00 CDT"),
        "upcoming window shown: {status}"
    );

    clock.set(ts("2024-06-01T00:00:00Z"));
    let answer = soap(&app).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.retry_after.as_deref(), Some("36000"));

    clock.set(ts("2024-06-01T09:59:59Z"));
    assert_eq!(soap(&app).await.retry_after.as_deref(), Some("1"));
    clock.set(ts("2024-06-01T10:00:00Z"));
    assert_eq!(soap(&app).await.status, 200);
}

#[tokio::test]
async fn windows_across_daylight_saving_changes_last_their_real_length() {
    let clock = ManualClock::new(ts("2024-03-01T00:00:00Z"));
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let schedule = |from: &str, to: &str| izport::maintenance::admin::WindowRequest {
        from: Some(from.into()),
        to: Some(to.into()),
        ..Default::default()
    };
    // Spring forward, 2024-03-10: 01:00 CST → 04:00 CDT is two real hours (07:00Z–09:00Z).
    let w = izport::maintenance::admin::new_window(
        &schedule("2024-03-10 01:00", "2024-03-10 04:00"),
        clock.now_ts(),
        false,
    )
    .expect("window");
    assert_eq!(
        (w.starts_at, w.ends_at),
        (ts("2024-03-10T07:00:00Z"), Some(ts("2024-03-10T09:00:00Z")))
    );
    open_window(&app, w).await;
    // Fall back, 2024-11-03: 00:00 CDT → 03:00 CST is four real hours (05:00Z–09:00Z).
    let w = izport::maintenance::admin::new_window(
        &schedule("2024-11-03 00:00", "2024-11-03 03:00"),
        clock.now_ts(),
        false,
    )
    .expect("window");
    assert_eq!(
        (w.starts_at, w.ends_at),
        (ts("2024-11-03T05:00:00Z"), Some(ts("2024-11-03T09:00:00Z")))
    );
    open_window(&app, w).await;

    clock.set(ts("2024-03-10T06:59:59Z"));
    assert_eq!(soap(&app).await.status, 200);
    clock.set(ts("2024-03-10T07:00:00Z"));
    assert_eq!(soap(&app).await.retry_after.as_deref(), Some("7200"));
    clock.set(ts("2024-03-10T09:00:00Z"));
    assert_eq!(soap(&app).await.status, 200);

    clock.set(ts("2024-11-03T05:00:00Z"));
    assert_eq!(soap(&app).await.retry_after.as_deref(), Some("14400"));
    // 01:30 happens twice that night; both are inside the window.
    clock.set(ts("2024-11-03T06:30:00Z"));
    assert_eq!(soap(&app).await.status, 503);
    clock.set(ts("2024-11-03T07:30:00Z"));
    assert_eq!(soap(&app).await.status, 503);
    clock.set(ts("2024-11-03T09:00:00Z"));
    assert_eq!(soap(&app).await.status, 200);
}

#[tokio::test]
async fn a_drill_for_one_organization_leaves_the_others_alone() {
    let app = spawn_app().await;
    app.db
        .create_organization("VENDOR", "Vendor test org", &["VFAC".to_string()], true)
        .await
        .expect("org");
    app.db
        .create_user(
            "VENDOR",
            "vendor-user",
            &izport::auth::hash_password(PASSWORD).expect("hash"),
        )
        .await
        .expect("user");
    let mut w = window(Mode::Maintenance, Timestamp::now(), None);
    w.organization = Some("VENDOR".into());
    open_window(&app, w).await;

    let (status, ack) = app.submit(&vxu("ORG-1", "MRN-O1", "D-O1")).await;
    assert_eq!(status, 200);
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"));
    let answer = call(
        &app,
        "application/soap+xml",
        submit_envelope(
            "vendor-user",
            PASSWORD,
            "VFAC",
            &vxu("ORG-2", "MRN-O2", "D-O2"),
        ),
    )
    .await;
    assert_eq!(answer.status, 503);
    assert_maintenance_page(&answer.body);
    // Connectivity tests carry no username: a drill does not stop them.
    assert_eq!(soap(&app).await.status, 200);
    // Drills are not announced on the public status page.
    let (_, status) = app.get("/status").await;
    assert!(status.contains("\"state\":\"available\""), "{status}");
    assert_eq!(
        app.db.message_log_tail().await.expect("log").0,
        1,
        "only CLINIC1's message"
    );
}

#[tokio::test]
async fn requests_in_flight_when_a_window_starts_finish_normally() {
    let app = spawn_app().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let envelope = submit_envelope(USER, PASSWORD, FACILITY, &vxu("FLIGHT-1", "MRN-F", "D-F"));
    let (head, tail) = envelope.split_at(envelope.len() / 2);
    let (head, tail) = (head.as_bytes().to_vec(), tail.as_bytes().to_vec());
    let stream = futures_stream(rx);
    let request = app
        .client
        .post(format!("{}/soap", app.base))
        .header("content-type", "application/soap+xml")
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let pending = tokio::spawn(request);
    tx.send(Ok(head)).await.expect("send head");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The request has been let in; maintenance starts while its body is still arriving.
    open_window(&app, window(Mode::Maintenance, Timestamp::now(), None)).await;
    tx.send(Ok(tail)).await.expect("send tail");
    drop(tx);
    let response = pending.await.expect("join").expect("response");
    assert_eq!(response.status().as_u16(), 200);
    let ack = return_text(&response.text().await.expect("body")).expect("return");
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"));
    assert_eq!(soap(&app).await.status, 503, "new requests are refused");
}

/// A byte stream fed from a channel, for reqwest's streaming body.
fn futures_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Whether `check` comes true within 2.5 s (another node polls every 100 ms in tests).
async fn eventually<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..50 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn two_nodes_on_one_database_agree() {
    let app = spawn_app_with(Options {
        admin_token: Some("operator-token".into()),
        ..Options::default()
    })
    .await;
    let second = izport::server::start(
        app.db.clone(),
        app.server_options("127.0.0.1:0".parse().expect("addr")),
    )
    .await
    .expect("second node");
    let second_url = format!("http://{}/soap", second.addr);
    let ask_second = || async {
        app.client
            .post(&second_url)
            .header("content-type", "application/soap+xml")
            .body(connectivity())
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    };
    assert_eq!(ask_second().await, 200);

    // Start maintenance through the first node's admin API; the second node follows by polling.
    let started = app
        .client
        .post(format!("{}/admin/maintenance/start", app.base))
        .bearer_auth("operator-token")
        .json(&serde_json::json!({ "reason": "release", "until": "+1h" }))
        .send()
        .await
        .expect("start");
    assert_eq!(started.status().as_u16(), 201);
    assert_eq!(
        soap(&app).await.status,
        503,
        "the node that was told applies it at once"
    );
    assert!(
        eventually(|| async { ask_second().await == 503 }).await,
        "the second node did not pick up the window"
    );

    let stopped = app
        .client
        .post(format!("{}/admin/maintenance/stop", app.base))
        .bearer_auth("operator-token")
        .send()
        .await
        .expect("stop");
    assert_eq!(stopped.status().as_u16(), 200);
    assert!(
        eventually(|| async { ask_second().await == 200 }).await,
        "the second node did not end the window"
    );
    second.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_needs_its_token() {
    let app = spawn_app_with(Options {
        admin_token: Some("operator-token".into()),
        ..Options::default()
    })
    .await;
    let url = format!("{}/admin/maintenance/windows", app.base);
    let status = app
        .client
        .get(&url)
        .send()
        .await
        .expect("req")
        .status()
        .as_u16();
    assert_eq!(status, 401);
    let status = app
        .client
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .expect("req")
        .status()
        .as_u16();
    assert_eq!(status, 401);

    let created = app
        .client
        .post(&url)
        .bearer_auth("operator-token")
        .json(&serde_json::json!({
            "from": "2031-12-01 19:00", "to": "2031-12-01 23:00", "reason": "Data fixes"
        }))
        .send()
        .await
        .expect("schedule");
    assert_eq!(created.status().as_u16(), 201);
    let created: serde_json::Value = created.json().await.expect("json");
    assert_eq!(created["starts_at"], "2031-12-02T01:00:00Z");
    assert_eq!(created["starts_local"], "2031-12-01 19:00 CST");
    let id = created["id"].as_i64().expect("id");

    let (_, status) = app.get("/status").await;
    assert!(
        status.contains("2031-12-02T01:00:00Z"),
        "upcoming: {status}"
    );

    let notice = app
        .client
        .get(format!("{url}/{id}/notice"))
        .bearer_auth("operator-token")
        .send()
        .await
        .expect("notice")
        .text()
        .await
        .expect("text");
    assert!(
        notice.contains("Monday, December 1, 2031, from 7:00 p.m. to 11:00 p.m. (CT)"),
        "{notice}"
    );
    // The notice tells partners the same sentence the 503 page carries.
    assert!(
        notice.contains(&format!(
            "\"503 Service Unavailable\" error and the message \"{NOTICE_SENTENCE}\""
        )),
        "{notice}"
    );

    let bad = app
        .client
        .post(&url)
        .bearer_auth("operator-token")
        .json(&serde_json::json!({ "from": "yesterday", "to": "2031-12-01 23:00" }))
        .send()
        .await
        .expect("bad");
    assert_eq!(bad.status().as_u16(), 400);

    let cancelled = app
        .client
        .delete(format!("{url}/{id}"))
        .bearer_auth("operator-token")
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status().as_u16(), 200);
    let (_, status) = app.get("/status").await;
    assert!(
        !status.contains("2031-12-02T01:00:00Z"),
        "cancelled window gone: {status}"
    );
}

#[tokio::test]
async fn without_a_token_the_admin_api_is_off() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/admin/maintenance/start", app.base))
        .bearer_auth("")
        .send()
        .await
        .expect("req");
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(soap(&app).await.status, 200);
}

#[tokio::test]
async fn stopped_and_finished_windows_form_the_downtime_log() {
    let app = spawn_app().await;
    // Whole seconds: the store keeps microseconds.
    let start = Timestamp::from_second(Timestamp::now().as_second() - 600).expect("ts");
    let id = open_window(&app, window(Mode::Outage, start, None)).await;
    let stopped_at = Timestamp::now();
    assert_eq!(
        app.db.stop_windows(stopped_at, None).await.expect("stop"),
        1
    );
    let log = app
        .db
        .downtime_between(
            start - Duration::from_secs(1),
            stopped_at + Duration::from_secs(1),
        )
        .await
        .expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].id, id);
    assert_eq!(log[0].starts_at, start);
    assert!(log[0].ends_at.is_some(), "the real end is recorded");
}

#[tokio::test]
async fn the_notice_of_a_window_stopped_early_gives_its_actual_end() {
    // Finding 9: planned 7:00-11:00 p.m. CT on Monday, December 1, 2031; stopped at 9:15 p.m.
    let clock = ManualClock::new(ts("2031-12-01T12:00:00Z"));
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        admin_token: Some("operator-token".into()),
        ..Options::default()
    })
    .await;
    let url = format!("{}/admin/maintenance/windows", app.base);
    let created: serde_json::Value = app
        .client
        .post(&url)
        .bearer_auth("operator-token")
        .json(&serde_json::json!({
            "from": "2031-12-01 19:00", "to": "2031-12-01 23:00", "reason": "Data fixes"
        }))
        .send()
        .await
        .expect("schedule")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_i64().expect("id");
    clock.set(ts("2031-12-02T03:15:00Z"));
    let stopped = app
        .client
        .post(format!("{}/admin/maintenance/stop", app.base))
        .bearer_auth("operator-token")
        .send()
        .await
        .expect("stop");
    assert_eq!(stopped.status().as_u16(), 200);
    let notice = app
        .client
        .get(format!("{url}/{id}/notice"))
        .bearer_auth("operator-token")
        .send()
        .await
        .expect("notice")
        .text()
        .await
        .expect("text");
    assert!(
        notice.contains("Monday, December 1, 2031, from 7:00 p.m. to 9:15 p.m. (CT)"),
        "{notice}"
    );
    assert!(
        notice.contains("before the planned end at 11:00 p.m. Monday, December 1, 2031"),
        "{notice}"
    );
}
