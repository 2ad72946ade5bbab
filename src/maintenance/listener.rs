//! PostgreSQL: maintenance changes reach every node at once. Each server keeps a connection
//! that `LISTEN`s on the channel the database's triggers notify whenever the windows change
//! (migration 0016), and re-reads the windows on each notification. Polling
//! (`--maintenance-poll-ms`) keeps running beside it as the fallback. A lost connection is
//! logged, counted in `/metrics`, and made again after a backoff; the windows are re-read after
//! every new connection, since notifications sent while none was listening are lost.
//! SQLite has no notifications: its servers poll only.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::Maintenance;
use crate::store::{ChangeListener, Db, StoreError};

/// The first wait before connecting again; it doubles after each failure up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts to connect.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A connection that stayed up this long starts the backoff over when it is lost.
const STABLE: Duration = Duration::from_secs(30);

/// What a node's listener has done, read by `/metrics`.
#[derive(Debug, Default)]
pub struct ListenerStats {
    connected: AtomicBool,
    reconnects: AtomicU64,
    failures: AtomicU64,
    notifications: AtomicU64,
}

/// A copy of [`ListenerStats`] at one moment (what `/metrics` shows).
pub use crate::telemetry::ListenerState as ListenerReport;

impl ListenerStats {
    pub fn report(&self) -> ListenerReport {
        ListenerReport {
            connected: self.connected.load(Ordering::SeqCst),
            reconnects: self.reconnects.load(Ordering::SeqCst),
            failures: self.failures.load(Ordering::SeqCst),
            notifications: self.notifications.load(Ordering::SeqCst),
        }
    }
}

/// The wait after `previous` (none yet: [`FIRST_BACKOFF`]): doubled, at most [`MAX_BACKOFF`].
pub fn next_backoff(previous: Option<Duration>) -> Duration {
    previous.map_or(FIRST_BACKOFF, |d| (d * 2).min(MAX_BACKOFF))
}

/// A listener's lifetime: connected (with when), or waiting to try again.
struct Listening {
    stats: Arc<ListenerStats>,
    ever_connected: bool,
    backoff: Option<Duration>,
}

impl Listening {
    async fn connect(&mut self, db: &Db) -> Option<ChangeListener> {
        match db.listen_for_maintenance_changes().await {
            Ok(Some(listener)) => {
                if self.ever_connected {
                    self.stats.reconnects.fetch_add(1, Ordering::SeqCst);
                    tracing::info!("maintenance listener connected again");
                } else {
                    tracing::info!("listening for maintenance changes (PostgreSQL NOTIFY)");
                }
                self.ever_connected = true;
                self.stats.connected.store(true, Ordering::SeqCst);
                Some(listener)
            }
            Ok(None) => None,
            Err(e) => {
                self.stats.failures.fetch_add(1, Ordering::SeqCst);
                let wait = next_backoff(self.backoff);
                self.backoff = Some(wait);
                tracing::warn!(
                    error = %e,
                    retry_in_ms = wait.as_millis() as u64,
                    "maintenance listener could not connect; polling continues"
                );
                None
            }
        }
    }

    fn lost(&mut self, error: &StoreError, up_for: Duration) -> Duration {
        self.stats.connected.store(false, Ordering::SeqCst);
        self.stats.failures.fetch_add(1, Ordering::SeqCst);
        if up_for >= STABLE {
            self.backoff = None;
        }
        let wait = next_backoff(self.backoff);
        self.backoff = Some(wait);
        tracing::warn!(
            error = %error,
            retry_in_ms = wait.as_millis() as u64,
            "maintenance listener lost its connection; polling continues"
        );
        wait
    }
}

impl Maintenance {
    /// PostgreSQL: starts listening (the first connection is made before this returns, so a
    /// change committed afterwards reaches this node) and keeps listening until the task is
    /// dropped. `None` on SQLite.
    pub async fn spawn_listener(self: &Arc<Self>, db: Arc<Db>) -> Option<JoinHandle<()>> {
        if db.backend() != crate::store::Backend::Postgres {
            return None;
        }
        let this = self.clone();
        let mut state = Listening {
            stats: self.listener_stats.clone(),
            ever_connected: false,
            backoff: None,
        };
        let first = state.connect(&db).await;
        Some(tokio::spawn(async move {
            let mut listener = first;
            loop {
                let Some(mut connected) = listener.take() else {
                    tokio::time::sleep(state.backoff.unwrap_or(FIRST_BACKOFF)).await;
                    listener = state.connect(&db).await;
                    continue;
                };
                let since = Instant::now();
                // Whatever changed before this connection listened.
                this.refresh_logged(&db, "after the listener connected")
                    .await;
                let error = loop {
                    match connected.next_change().await {
                        Ok(taken) => {
                            state.stats.notifications.fetch_add(taken, Ordering::SeqCst);
                            this.refresh_logged(&db, "on a notification").await;
                        }
                        Err(e) => break e,
                    }
                };
                drop(connected);
                let wait = state.lost(&error, since.elapsed());
                tokio::time::sleep(wait).await;
                listener = state.connect(&db).await;
            }
        }))
    }

    async fn refresh_logged(&self, db: &Db, when: &'static str) {
        if let Err(e) = self.refresh(db).await {
            tracing::warn!(error = %e, when, "maintenance windows could not be refreshed");
        }
    }

    /// What this node's listener has done (all zero on SQLite, which has none).
    pub fn listener_report(&self) -> ListenerReport {
        self.listener_stats.report()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_ceiling() {
        let mut wait = None;
        let mut seen = Vec::new();
        for _ in 0..12 {
            let next = next_backoff(wait);
            seen.push(next.as_millis());
            wait = Some(next);
        }
        assert_eq!(
            seen,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]
        );
    }
}
