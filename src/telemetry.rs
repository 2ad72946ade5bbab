//! What operators see of a running server: the Prometheus metrics behind `GET /metrics`, and
//! the request id every HTTP request carries through the logs and back in `X-Request-Id`.
//!
//! Events (requests, acknowledgements, refused logins, commits) are recorded where they happen
//! with the `metrics` macros into one process-wide recorder, installed by the first server
//! started. State (maintenance, the file door's backlog, the writer's queue, the pool) is read
//! when `/metrics` is scraped and rendered from the server's own values, so two servers in one
//! process (tests) never show each other's state.
//!
//! No label carries patient data: labels are operation names, outcomes, acknowledgement codes,
//! organization codes and fixed words only.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// SOAP requests answered, by `operation` and `outcome` (counter).
pub const SOAP_REQUESTS: &str = "izport_soap_requests_total";
/// Time from the request's arrival at the SOAP handler to its answer, by `operation` (histogram).
pub const SOAP_DURATION: &str = "izport_soap_request_duration_seconds";
/// Acknowledgements sent for SOAP submissions, by `code` (AA, AE, AR) and `organization`.
pub const SOAP_ACKS: &str = "izport_soap_acks_total";
/// Logins refused, by `door` (`soap`, `sftp`).
pub const AUTH_FAILURES: &str = "izport_auth_failures_total";
/// Lockouts begun after too many failed logins, by `door` (`soap`, `sftp`); one per subject
/// locked (a username, an import code, a client address).
pub const AUTH_LOCKOUTS: &str = "izport_auth_lockouts_total";
/// Requests the maintenance layer refused, by `mode` (`maintenance`, `outage`, `intermittent`).
pub const MAINTENANCE_REFUSALS: &str = "izport_maintenance_refusals_total";
/// Registry transactions per SQLite commit (histogram).
pub const WRITER_BATCH: &str = "izport_writer_commit_batch_size";

/// Scrape-time gauges.
pub const MAINTENANCE_GAUGE: &str = "izport_maintenance_in_window";
pub const WRITER_QUEUE: &str = "izport_writer_queue_depth";
pub const FILES_WAITING: &str = "izport_file_door_files_waiting";
pub const MESSAGES_WAITING: &str = "izport_file_door_messages_waiting";
pub const POOL_CONNECTIONS: &str = "izport_db_pool_connections";
pub const LISTENER_CONNECTED: &str = "izport_maintenance_listener_connected";
pub const LISTENER_RECONNECTS: &str = "izport_maintenance_listener_reconnects_total";
pub const LISTENER_FAILURES: &str = "izport_maintenance_listener_failures_total";
pub const LISTENER_NOTIFICATIONS: &str = "izport_maintenance_notifications_total";

const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// How often the recorder drops the histogram samples it already summed.
const UPKEEP: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls do nothing). `None` when another
/// recorder was installed first: events then go there and `/metrics` shows only state.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(SOAP_DURATION.into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(WRITER_BATCH.into()), BATCH_BUCKETS)
                });
            let handle = match builder.map(PrometheusBuilder::install_recorder) {
                Ok(Ok(handle)) => handle,
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics shows state only");
                    return None;
                }
            };
            describe();
            let upkeep = handle.clone();
            let started = std::thread::Builder::new()
                .name("izport-metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP);
                    upkeep.run_upkeep();
                });
            if let Err(e) = started {
                tracing::warn!(error = %e, "metrics upkeep thread not started; scrapes do it");
            }
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        SOAP_REQUESTS,
        "SOAP requests answered, by operation and outcome"
    );
    describe_histogram!(
        SOAP_DURATION,
        Unit::Seconds,
        "Time to answer a SOAP request, by operation"
    );
    describe_counter!(
        SOAP_ACKS,
        "HL7 acknowledgements sent for SOAP submissions, by code and organization"
    );
    describe_counter!(AUTH_FAILURES, "Logins refused, by door");
    describe_counter!(
        AUTH_LOCKOUTS,
        "Lockouts begun after too many failed logins (one per username, import code or client address), by door"
    );
    describe_counter!(
        MAINTENANCE_REFUSALS,
        "Requests refused by a maintenance window, by mode"
    );
    describe_histogram!(
        WRITER_BATCH,
        Unit::Count,
        "Registry transactions per SQLite commit"
    );
}

/// The state a server reports at each scrape.
#[derive(Debug, Default, Clone, Copy)]
pub struct State {
    /// Whether a maintenance window (of any mode, for everyone) is in force.
    pub in_window: bool,
    /// Jobs waiting for the SQLite writer; `None` on PostgreSQL.
    pub writer_queue: Option<usize>,
    /// Files and messages waiting at the file door; `None` if the database could not say.
    pub backlog: Option<(u64, u64)>,
    /// Pool connections open and idle.
    pub pool: (u32, usize),
    /// PostgreSQL: the maintenance change listener's state; `None` on SQLite.
    pub listener: Option<ListenerState>,
}

/// A node's maintenance change listener (PostgreSQL), as `/metrics` shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerState {
    /// Whether the listener holds a listening connection now.
    pub connected: bool,
    /// Connections made after the first one (after a loss or a failed attempt).
    pub reconnects: u64,
    /// Connections lost, and attempts to connect that failed.
    pub failures: u64,
    /// Notifications received.
    pub notifications: u64,
}

/// The scrape: the process's events, then this server's state, in the Prometheus text format.
pub fn render(state: &State) -> String {
    let mut out = match install() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    };
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        use metrics::{describe_gauge, gauge};
        describe_gauge!(
            MAINTENANCE_GAUGE,
            "1 while a maintenance window (any mode, for everyone) is in force, else 0"
        );
        gauge!(MAINTENANCE_GAUGE).set(if state.in_window { 1.0 } else { 0.0 });
        if let Some(depth) = state.writer_queue {
            describe_gauge!(
                WRITER_QUEUE,
                "Registry transactions waiting for the SQLite writer"
            );
            gauge!(WRITER_QUEUE).set(depth as f64);
        }
        if let Some((files, messages)) = state.backlog {
            describe_gauge!(FILES_WAITING, "Uploaded files not yet processed");
            describe_gauge!(
                MESSAGES_WAITING,
                "Messages of files being processed, not yet applied"
            );
            gauge!(FILES_WAITING).set(files as f64);
            gauge!(MESSAGES_WAITING).set(messages as f64);
        }
        let (open, idle) = state.pool;
        let open = open as usize;
        describe_gauge!(POOL_CONNECTIONS, "Database pool connections, by state");
        gauge!(POOL_CONNECTIONS, "state" => "idle").set(idle as f64);
        gauge!(POOL_CONNECTIONS, "state" => "in_use").set(open.saturating_sub(idle) as f64);
        if let Some(listener) = state.listener {
            use metrics::{counter, describe_counter};
            describe_gauge!(
                LISTENER_CONNECTED,
                "1 while this node listens for maintenance changes (PostgreSQL), else 0"
            );
            describe_counter!(
                LISTENER_RECONNECTS,
                "Times the maintenance listener connected again after a loss or a failed attempt"
            );
            describe_counter!(
                LISTENER_FAILURES,
                "Maintenance listener connections lost, and attempts to connect that failed"
            );
            describe_counter!(
                LISTENER_NOTIFICATIONS,
                "Maintenance change notifications received"
            );
            gauge!(LISTENER_CONNECTED).set(if listener.connected { 1.0 } else { 0.0 });
            counter!(LISTENER_RECONNECTS).absolute(listener.reconnects);
            counter!(LISTENER_FAILURES).absolute(listener.failures);
            counter!(LISTENER_NOTIFICATIONS).absolute(listener.notifications);
        }
    });
    out.push_str(&handle.render());
    out
}

/// The request id header, read from the request and written on the response.
pub const REQUEST_ID: &str = "x-request-id";

/// Whether a caller's request id may be kept: 1 to 64 letters, digits, `-`, `_`, `.` or `:`
/// (a UUID, a proxy's hex id), so it can go into logs and headers as it is.
pub fn safe_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// A new request id: 128 random bits in hex.
pub fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The middleware around every route: the request's id (the caller's when safe, else a new
/// one) in a span that every log line of the request carries, and in the response header.
pub async fn request_id(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| safe_request_id(v))
        .map_or_else(new_request_id, str::to_string);
    // The path only: a query string is the caller's text.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path()
    );
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(safe_request_id("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(safe_request_id("a"));
        for unsafe_id in [
            "",
            "with space",
            "tab\there",
            "<script>",
            "é",
            &"x".repeat(65),
        ] {
            assert!(!safe_request_id(unsafe_id), "{unsafe_id:?}");
        }
        let made = new_request_id();
        assert!(safe_request_id(&made) && made.len() == 32, "{made}");
        assert_ne!(made, new_request_id());
    }

    #[test]
    fn state_is_rendered_as_gauges() {
        let text = render(&State {
            in_window: true,
            writer_queue: Some(3),
            backlog: Some((2, 40)),
            pool: (5, 4),
            listener: Some(ListenerState {
                connected: true,
                reconnects: 2,
                failures: 3,
                notifications: 17,
            }),
        });
        for line in [
            "izport_maintenance_in_window 1",
            "izport_writer_queue_depth 3",
            "izport_file_door_files_waiting 2",
            "izport_file_door_messages_waiting 40",
            "izport_db_pool_connections{state=\"idle\"} 4",
            "izport_db_pool_connections{state=\"in_use\"} 1",
            "izport_maintenance_listener_connected 1",
            "izport_maintenance_listener_reconnects_total 2",
            "izport_maintenance_listener_failures_total 3",
            "izport_maintenance_notifications_total 17",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        let text = render(&State::default());
        assert!(text.lines().any(|l| l == "izport_maintenance_in_window 0"));
        assert!(!text.contains(WRITER_QUEUE), "no writer, no gauge:\n{text}");
        assert!(
            !text.contains("izport_maintenance_listener"),
            "no listener (SQLite), no listener metrics:\n{text}"
        );
    }
}
