//! PostgreSQL's LISTEN/NOTIFY: a maintenance change written through one connection reaches
//! every server on the database within 100 ms, although the servers poll only every 60 s; and
//! a listener whose connection is killed connects again (counted in `/metrics`) and keeps doing
//! so. On SQLite (no notifications) the servers poll only and `/metrics` shows no listener.

use std::time::{Duration, Instant};

use crate::common::*;
use izport::maintenance::{Kind, Mode};
use izport::server::RunningServer;
use izport::store::{Backend, Db, NewWindow, LISTENER_APPLICATION_NAME};

/// What the issue asks: every node refuses (or serves again) within this long of the commit.
const WITHIN: Duration = Duration::from_millis(100);
/// Polling so slow that only a notification can explain an answer within [`WITHIN`].
const POLL: Duration = Duration::from_secs(60);
const CYCLES: usize = 5;

fn connectivity() -> String {
    format!(
        "<s:Envelope xmlns:s=\"{SOAP12}\"><s:Body><c:connectivityTest xmlns:c=\"urn:cdc:iisb:2011\">\
         <c:echoBack>ping</c:echoBack></c:connectivityTest></s:Body></s:Envelope>"
    )
}

fn window_now() -> NewWindow {
    NewWindow {
        kind: Kind::Unplanned,
        mode: Mode::Maintenance,
        starts_at: jiff::Timestamp::now(),
        ends_at: None,
        time_zone: "America/Chicago".into(),
        reason: "notify test".into(),
        organization: None,
        refuse_percent: 100,
    }
}

async fn status(client: &reqwest::Client, base: &str) -> u16 {
    client
        .post(format!("{base}/soap"))
        .header("content-type", "application/soap+xml; charset=utf-8")
        .body(connectivity())
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

/// How long after `since` the node at `base` first answers `want`; `None` if not within 2 s.
async fn time_until(
    client: &reqwest::Client,
    base: &str,
    want: u16,
    since: Instant,
) -> Option<Duration> {
    while since.elapsed() < Duration::from_secs(2) {
        if status(client, base).await == want {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

async fn scrape(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics body")
}

/// The value of an unlabelled sample, if the scrape has it.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Starts a window through `operator`, then times both nodes until they refuse; stops it and
/// times them until they serve again. Returns the four delays, each counted from the moment
/// the write began (its commit included), and the two writes' own durations.
async fn cycle(
    operator: &Db,
    client: &reqwest::Client,
    nodes: [&str; 2],
) -> ([Duration; 4], [Duration; 2]) {
    let since = Instant::now();
    operator.create_window(&window_now()).await.expect("window");
    let start_written = since.elapsed();
    let (a, b) = tokio::join!(
        time_until(client, nodes[0], 503, since),
        time_until(client, nodes[1], 503, since)
    );
    let started = [a, b].map(|d| d.expect("a node never refused (within 2 s)"));
    let since = Instant::now();
    let stopped = operator
        .stop_windows(jiff::Timestamp::now(), None)
        .await
        .expect("stop");
    let stop_written = since.elapsed();
    assert_eq!(stopped, 1, "one window was in force");
    let (a, b) = tokio::join!(
        time_until(client, nodes[0], 200, since),
        time_until(client, nodes[1], 200, since)
    );
    let ended = [a, b].map(|d| d.expect("a node kept refusing (for 2 s)"));
    (
        [started[0], started[1], ended[0], ended[1]],
        [start_written, stop_written],
    )
}

fn millis(d: &[Duration]) -> Vec<String> {
    d.iter()
        .map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
        .collect()
}

#[tokio::test]
async fn on_postgresql_a_window_reaches_every_node_within_100_ms() {
    let app = spawn_app_with(Options {
        poll: Some(POLL),
        ..Options::default()
    })
    .await;
    let second: RunningServer = izport::server::start(
        app.db.clone(),
        app.server_options("127.0.0.1:0".parse().expect("addr")),
    )
    .await
    .expect("second node");
    let second_base = format!("http://{}", second.addr);
    let nodes = [app.base.as_str(), second_base.as_str()];
    let client = &app.client;
    for node in nodes {
        assert_eq!(status(client, node).await, 200);
    }

    if app.db.backend() != Backend::Postgres {
        // SQLite has no notifications: no listener, and its metrics are not shown.
        for node in nodes {
            let text = scrape(client, node).await;
            assert!(text.contains("izport_db_pool_connections"), "{text}");
            assert!(!text.contains("izport_maintenance_listener"), "{text}");
        }
        eprintln!("LISTEN/NOTIFY needs PostgreSQL (IZPORT_TEST_DATABASE_URL): SQLite polls only");
        second.shutdown().await;
        return;
    }

    for node in nodes {
        let text = scrape(client, node).await;
        assert_eq!(
            sample(&text, "izport_maintenance_listener_connected"),
            Some(1.0),
            "{text}"
        );
    }
    // The operator's connection is neither node's (as `izport maintenance start` would be).
    let operator = Db::connect(&app.db_url).await.expect("operator connection");
    let mut all = Vec::new();
    for n in 0..CYCLES {
        let (delays, writes) = cycle(&operator, client, nodes).await;
        eprintln!(
            "cycle {n}: refused after {:?} ms, served again after {:?} ms (node 1, node 2; \
             the writes took {:?} ms)",
            &millis(&delays[..2]),
            &millis(&delays[2..]),
            &millis(&writes)
        );
        all.extend(delays);
    }
    let worst = all.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{} changes seen by 2 nodes: worst {:.1} ms",
        all.len() / 2,
        worst.as_secs_f64() * 1000.0
    );
    assert!(worst < WITHIN, "slowest {worst:?}; all: {:?}", millis(&all));

    // Kill both listeners' connections: each node notices, counts it, connects again (after
    // its first backoff), and changes reach it as fast as before.
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(LISTENER_APPLICATION_NAME)
    .fetch_all(&sqlx::PgPool::connect(&app.db_url).await.expect("pg pool"))
    .await
    .expect("terminate the listeners");
    assert_eq!(killed, [true, true], "one listener per node");
    for node in nodes {
        let mut text = String::new();
        let mut back = false;
        for _ in 0..100 {
            text = scrape(client, node).await;
            if sample(&text, "izport_maintenance_listener_reconnects_total") == Some(1.0)
                && sample(&text, "izport_maintenance_listener_connected") == Some(1.0)
            {
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(back, "the listener did not connect again: {text}");
        assert_eq!(
            sample(&text, "izport_maintenance_listener_failures_total"),
            Some(1.0),
            "the lost connection is counted: {text}"
        );
        assert!(
            sample(&text, "izport_maintenance_notifications_total").unwrap_or(0.0)
                >= (2 * CYCLES) as f64,
            "every start and stop was notified: {text}"
        );
    }
    let (delays, writes) = cycle(&operator, client, nodes).await;
    eprintln!(
        "after the reconnection: refused after {:?} ms, served again after {:?} ms (the writes \
         took {:?} ms)",
        &millis(&delays[..2]),
        &millis(&delays[2..]),
        &millis(&writes)
    );
    let worst = delays.iter().max().copied().unwrap_or_default();
    assert!(
        worst < WITHIN,
        "after the reconnection: {:?}",
        millis(&delays)
    );

    operator.close().await;
    second.shutdown().await;
}
