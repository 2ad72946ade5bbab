//! Maintenance windows: the shared source of truth every node polls, and on PostgreSQL the
//! notifications that tell every node of a change at once.

use std::time::Duration;

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::Row;

use super::records::timestamp_text;
use super::{now_text, Db, StoreError};
use crate::maintenance::{Kind, Mode, Snapshot, Window};

/// A window to be created.
#[derive(Clone, Debug)]
pub struct NewWindow {
    pub kind: Kind,
    pub mode: Mode,
    pub starts_at: Timestamp,
    pub ends_at: Option<Timestamp>,
    pub time_zone: String,
    pub reason: String,
    pub organization: Option<String>,
    pub refuse_percent: u8,
}

fn parse_ts(text: &str) -> Result<Timestamp, StoreError> {
    text.parse().map_err(|e| {
        StoreError::Corrupt(format!(
            "bad timestamp '{text}' in maintenance_windows: {e}"
        ))
    })
}

fn window_from(row: &AnyRow) -> Result<Window, StoreError> {
    let opt_ts = |column: &str| -> Result<Option<Timestamp>, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .map(|t| parse_ts(&t))
            .transpose()
    };
    let kind: String = row.try_get("kind")?;
    let mode: String = row.try_get("mode")?;
    let percent: i64 = row.try_get("refuse_percent")?;
    Ok(Window {
        id: row.try_get("id")?,
        kind: kind
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("maintenance window kind: {e}")))?,
        mode: mode
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("maintenance window mode: {e}")))?,
        starts_at: parse_ts(&row.try_get::<String, _>("starts_at")?)?,
        ends_at: opt_ts("ends_at")?,
        planned_ends_at: opt_ts("planned_ends_at")?,
        time_zone: row.try_get("time_zone")?,
        reason: row.try_get("reason")?,
        organization: row.try_get("organization_code")?,
        refuse_percent: percent.clamp(0, 100) as u8,
        cancelled: row.try_get::<Option<String>, _>("cancelled_at")?.is_some(),
    })
}

const COLUMNS: &str = "id, kind, mode, starts_at, ends_at, planned_ends_at, time_zone, reason, \
                       organization_code, refuse_percent, cancelled_at";

impl Db {
    pub async fn create_window(&self, w: &NewWindow) -> Result<i64, StoreError> {
        if let Some(org) = &w.organization {
            let known: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM organizations WHERE code = $1")
                    .bind(org)
                    .fetch_one(&self.pool)
                    .await?;
            if known == 0 {
                return Err(StoreError::NotFound(format!("no organization {org}")));
            }
        }
        let _guard = self.write_guard().await;
        let id = sqlx::query(
            "INSERT INTO maintenance_windows (kind, mode, starts_at, ends_at, planned_ends_at, \
               time_zone, reason, organization_code, refuse_percent, created_at) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(w.kind.as_str())
        .bind(w.mode.as_str())
        .bind(timestamp_text(w.starts_at))
        .bind(w.ends_at.map(timestamp_text))
        .bind(&w.time_zone)
        .bind(&w.reason)
        .bind(w.organization.as_deref())
        .bind(i64::from(w.refuse_percent))
        .bind(now_text())
        .fetch_one(&self.pool)
        .await?
        .try_get("id")?;
        Ok(id)
    }

    /// Ends every window in force at `now` (registry-wide ones, or one organization's drills):
    /// their end becomes `now`, which is what the downtime log then shows. Returns how many.
    pub async fn stop_windows(
        &self,
        now: Timestamp,
        organization: Option<&str>,
    ) -> Result<u64, StoreError> {
        let _guard = self.write_guard().await;
        let now = timestamp_text(now);
        let done = sqlx::query(
            "UPDATE maintenance_windows SET ends_at = $1 \
             WHERE cancelled_at IS NULL AND starts_at <= $1 AND (ends_at IS NULL OR ends_at > $1) \
               AND ((organization_code IS NULL AND $2 IS NULL) OR organization_code = $2)",
        )
        .bind(&now)
        .bind(organization)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Cancels a window that has not started; one that has started is stopped instead.
    pub async fn cancel_window(&self, id: i64, now: Timestamp) -> Result<Window, StoreError> {
        let window = self
            .window(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no maintenance window {id}")))?;
        if window.cancelled {
            return Err(StoreError::Conflict(format!(
                "window {id} is already cancelled"
            )));
        }
        let _guard = self.write_guard().await;
        if window.starts_at > now {
            sqlx::query("UPDATE maintenance_windows SET cancelled_at = $2 WHERE id = $1")
                .bind(id)
                .bind(timestamp_text(now))
                .execute(&self.pool)
                .await?;
        } else if window.ends_at.is_none_or(|end| end > now) {
            sqlx::query("UPDATE maintenance_windows SET ends_at = $2 WHERE id = $1")
                .bind(id)
                .bind(timestamp_text(now))
                .execute(&self.pool)
                .await?;
        } else {
            return Err(StoreError::Conflict(format!(
                "window {id} has already ended"
            )));
        }
        drop(_guard);
        self.window(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no maintenance window {id}")))
    }

    pub async fn window(&self, id: i64) -> Result<Option<Window>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM maintenance_windows WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(window_from).transpose()
    }

    /// All windows, newest start first (the downtime log and `maintenance list --all`).
    pub async fn windows(&self) -> Result<Vec<Window>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM maintenance_windows ORDER BY starts_at DESC, id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(window_from).collect()
    }

    /// What a node needs to decide requests from `now` on: windows not cancelled and not over,
    /// and the usernames of organizations with drills among them.
    pub async fn maintenance_snapshot(&self, now: Timestamp) -> Result<Snapshot, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM maintenance_windows \
             WHERE cancelled_at IS NULL AND (ends_at IS NULL OR ends_at > $1) \
             ORDER BY starts_at, id"
        ))
        .bind(timestamp_text(now))
        .fetch_all(&self.pool)
        .await?;
        let windows = rows
            .iter()
            .map(window_from)
            .collect::<Result<Vec<_>, _>>()?;
        let mut snapshot = Snapshot {
            windows,
            drill_users: Vec::new(),
        };
        let orgs: Vec<String> = snapshot
            .drill_organizations()
            .into_iter()
            .map(str::to_string)
            .collect();
        for org in orgs {
            let users: Vec<String> = sqlx::query_scalar(
                "SELECT u.username FROM users u JOIN organizations o ON o.id = u.organization_id \
                 WHERE o.code = $1",
            )
            .bind(&org)
            .fetch_all(&self.pool)
            .await?;
            snapshot
                .drill_users
                .extend(users.into_iter().map(|u| (u, org.clone())));
        }
        Ok(snapshot)
    }

    /// Downtime (registry-wide windows that actually happened) overlapping [from, to): what
    /// timeliness reports excuse.
    pub async fn downtime_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Window>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM maintenance_windows \
             WHERE cancelled_at IS NULL AND organization_code IS NULL \
               AND starts_at < $2 AND (ends_at IS NULL OR ends_at > $1) \
             ORDER BY starts_at, id"
        ))
        .bind(timestamp_text(from))
        .bind(timestamp_text(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(window_from).collect()
    }

    /// Downtime that concerns organization `org` (registry-wide windows and the organization's
    /// own) and actually happened, overlapping [from, to): what its DQA timeliness excuses.
    pub async fn downtime_for(
        &self,
        org: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Window>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM maintenance_windows \
             WHERE cancelled_at IS NULL AND (organization_code IS NULL OR organization_code = $3) \
               AND starts_at < $2 AND (ends_at IS NULL OR ends_at > $1) \
             ORDER BY starts_at, id"
        ))
        .bind(timestamp_text(from))
        .bind(timestamp_text(to))
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(window_from).collect()
    }
}

/// The PostgreSQL channel on which every change of the maintenance windows (or of the users an
/// organization drill applies to) is announced, by triggers (migration 0016): a notification
/// arrives when the writing transaction commits.
pub const MAINTENANCE_CHANNEL: &str = "izport_maintenance";

/// The `application_name` of a listener's connection, as `pg_stat_activity` shows it.
pub const LISTENER_APPLICATION_NAME: &str = "izport-maintenance-listener";

/// A connection of its own that waits for maintenance changes (PostgreSQL only).
pub struct ChangeListener {
    listener: PgListener,
}

impl Db {
    /// A new connection listening on [`MAINTENANCE_CHANNEL`]; `None` on SQLite, which has no
    /// notifications (its nodes poll). Only changes committed after this returns are announced.
    pub async fn listen_for_maintenance_changes(
        &self,
    ) -> Result<Option<ChangeListener>, StoreError> {
        let Some(options) = &self.listen_options else {
            return Ok(None);
        };
        // One connection, no idle or lifetime limit: it only waits. A server that cannot be
        // reached is given up on after a few seconds (the caller retries with a backoff).
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        // A lost connection is reported (`None`), not mended behind the caller's back: the
        // caller counts it and re-reads the windows, since notifications sent meanwhile are lost.
        listener.eager_reconnect(false);
        listener.ignore_pool_close_event(true);
        listener.listen(MAINTENANCE_CHANNEL).await?;
        Ok(Some(ChangeListener { listener }))
    }
}

impl ChangeListener {
    /// Waits for the next change and returns how many notifications it took in (those already
    /// waiting are taken too, so a burst costs one re-read). An error means the connection is
    /// gone: make a new listener.
    pub async fn next_change(&mut self) -> Result<u64, StoreError> {
        match self.listener.try_recv().await? {
            Some(_) => {
                let mut taken = 1;
                while self.listener.next_buffered().is_some() {
                    taken += 1;
                }
                Ok(taken)
            }
            None => Err(StoreError::Database(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the listening connection to PostgreSQL was lost",
            )))),
        }
    }
}
