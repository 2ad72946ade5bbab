//! The tower layer in front of the SOAP routes, and the poller that keeps each node's snapshot
//! of the windows current.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use jiff::Timestamp;

use super::{pages, Clock, Mode, Snapshot};
use crate::soap::envelope::{self, Operation, SoapVersion};
use crate::store::Db;

/// How the 503 looks to a SOAP client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PageFormat {
    /// The classic HTML page, as the registry's notices describe.
    #[default]
    Html,
    /// A SOAP Fault (Receiver) with the same sentence, for SOAP requests.
    Soap,
}

impl std::str::FromStr for PageFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "html" => Ok(PageFormat::Html),
            "soap" => Ok(PageFormat::Soap),
            other => Err(format!(
                "unknown maintenance page format '{other}': use html or soap"
            )),
        }
    }
}

impl std::fmt::Display for PageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PageFormat::Html => "html",
            PageFormat::Soap => "soap",
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub struct MaintenanceConfig {
    pub page_format: PageFormat,
    /// How often the windows are re-read from the database.
    pub poll_interval: Duration,
    /// The largest body read when a request must be looked into (organization drills).
    pub max_body_bytes: usize,
    /// The HTTP status of the SOAP faults this layer sends on the handler's behalf.
    pub fault_status: crate::soap::fault::FaultStatus,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            page_format: PageFormat::Html,
            poll_interval: Duration::from_secs(2),
            max_body_bytes: 512 * 1024,
            fault_status: Default::default(),
        }
    }
}

/// One node's maintenance state: the snapshot, the clock, and the intermittent-mode counter.
pub struct Maintenance {
    clock: Arc<dyn Clock>,
    /// The snapshot and the sequence number of the refresh that produced it.
    snapshot: RwLock<(u64, Arc<Snapshot>)>,
    /// Refreshes are numbered when they start: a slow poll that began before a window was
    /// written must not overwrite the snapshot of a refresh that began after it.
    refreshes: AtomicU64,
    config: MaintenanceConfig,
    counter: AtomicU64,
    /// PostgreSQL: what the change listener has done (see [`super::listener`]).
    pub(super) listener_stats: Arc<super::listener::ListenerStats>,
}

impl Maintenance {
    pub fn new(clock: Arc<dyn Clock>, config: MaintenanceConfig) -> Self {
        Maintenance {
            clock,
            snapshot: RwLock::new((0, Arc::new(Snapshot::default()))),
            refreshes: AtomicU64::new(0),
            config,
            counter: AtomicU64::new(0),
            listener_stats: Arc::default(),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    fn replace(&self, sequence: u64, snapshot: Snapshot) {
        let mut current = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        if sequence > current.0 {
            *current = (sequence, Arc::new(snapshot));
        }
    }

    /// Re-reads the windows from the database.
    pub async fn refresh(&self, db: &Db) -> Result<(), crate::store::StoreError> {
        let sequence = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        let snapshot = db.maintenance_snapshot(self.clock.now()).await?;
        self.replace(sequence, snapshot);
        Ok(())
    }

    /// Keeps the snapshot current until the task is dropped. A failed poll keeps the last known
    /// state: a node that cannot reach its database should not invent a window or forget one.
    pub fn spawn_poller(self: &Arc<Self>, db: Arc<Db>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.config.poll_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = this.refresh(&db).await {
                    tracing::warn!(error = %e, "maintenance windows could not be refreshed");
                }
            }
        })
    }

    /// Whether the n-th intermittent request is refused: exactly `percent` of every 100
    /// consecutive requests, spread out, so drills are reproducible.
    fn refuse_intermittent(&self, percent: u8) -> bool {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let p = u64::from(percent.min(100));
        (n + 1) * p / 100 > n * p / 100
    }
}

fn soap_version_of(request: &Request) -> Option<SoapVersion> {
    if request.method() != Method::POST {
        return None;
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    Some(if content_type.starts_with("text/xml") {
        SoapVersion::V11
    } else {
        SoapVersion::V12
    })
}

/// The middleware: refuse, or pass the request on untouched. A request that passes is not looked
/// at again, so requests already in flight when a window starts finish normally.
pub async fn guard(
    State(maintenance): State<Arc<Maintenance>>,
    request: Request,
    next: Next,
) -> Response {
    let now = maintenance.now();
    let snapshot = maintenance.snapshot();
    let (request, organization) = if snapshot.drill_active(now) {
        match identify(&maintenance, &snapshot, request).await {
            Ok(pair) => pair,
            Err(response) => return response,
        }
    } else {
        (request, None)
    };
    let Some(window) = snapshot.active(now, organization.as_deref()) else {
        return next.run(request).await;
    };
    let refused = || {
        metrics::counter!(crate::telemetry::MAINTENANCE_REFUSALS, "mode" => window.mode.as_str())
            .increment(1);
    };
    let soap = match maintenance.config.page_format {
        PageFormat::Soap => soap_version_of(&request),
        PageFormat::Html => None,
    };
    let limit = maintenance.config.max_body_bytes;
    match window.mode {
        Mode::Maintenance => {
            refused();
            refuse(
                request,
                limit,
                pages::unavailable(window.seconds_left(now), soap),
            )
            .await
        }
        Mode::Outage => {
            refused();
            refuse(request, limit, pages::proxy_error()).await
        }
        Mode::Intermittent => {
            if maintenance.refuse_intermittent(window.refuse_percent) {
                refused();
                refuse(
                    request,
                    limit,
                    pages::unavailable(window.seconds_left(now), soap),
                )
                .await
            } else {
                next.run(request).await
            }
        }
    }
}

/// A refusal that leaves the client's connection in order: the request body is read (up to
/// `limit` bytes; a longer one is left unread) before the answer goes out, and the answer says
/// `Connection: close`, so a keep-alive client opens a new connection for its next request
/// instead of finding this one broken. (HTTP/2 drops the header; its streams are independent.)
async fn refuse(request: Request, limit: usize, mut response: Response) -> Response {
    // Bounded in time too: a client that sends slowly gets its answer after a few seconds.
    let _ =
        tokio::time::timeout(Duration::from_secs(5), to_bytes(request.into_body(), limit)).await;
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Reads the request body to learn which organization is asking (its SOAP username), then puts
/// the body back. Only done while an organization drill is in force.
async fn identify(
    maintenance: &Maintenance,
    snapshot: &Snapshot,
    request: Request,
) -> Result<(Request, Option<String>), Response> {
    if request.method() != Method::POST {
        return Ok((request, None));
    }
    let version = soap_version_of(&request).unwrap_or(SoapVersion::V12);
    let (parts, body) = request.into_parts();
    let limit = maintenance.config.max_body_bytes;
    let bytes = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        // The body is gone once read; answer as the SOAP handler would have.
        Err(_) => {
            return Err(crate::soap::body_too_large(
                version,
                maintenance.config.fault_status,
                limit,
            ))
        }
    };
    // A compressed body is looked into decompressed, and passed on as it came.
    let decoded = crate::soap::decompress(&parts.headers, bytes.clone(), limit).ok();
    let organization = match envelope::decode(decoded.as_deref().unwrap_or(&bytes)) {
        Ok(envelope::Request {
            operation:
                Operation::SubmitSingleMessage {
                    username: Some(user),
                    ..
                },
            ..
        }) => snapshot.organization_of(&user).map(str::to_string),
        _ => None,
    };
    Ok((Request::from_parts(parts, Body::from(bytes)), organization))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::SystemClock;

    #[test]
    fn a_refresh_that_started_earlier_never_overwrites_a_later_one() {
        let m = Maintenance::new(Arc::new(SystemClock), MaintenanceConfig::default());
        let newer = Snapshot {
            drill_users: vec![("u".into(), "ORG".into())],
            ..Snapshot::default()
        };
        m.replace(2, newer);
        m.replace(1, Snapshot::default());
        assert_eq!(m.snapshot().drill_users.len(), 1);
    }

    #[test]
    fn intermittent_refuses_exactly_the_share() {
        let m = Maintenance::new(Arc::new(SystemClock), MaintenanceConfig::default());
        for percent in [0u8, 1, 25, 50, 99, 100] {
            let refused = (0..1000).filter(|_| m.refuse_intermittent(percent)).count();
            assert_eq!(refused, usize::from(percent) * 10, "{percent}%");
        }
    }
}
