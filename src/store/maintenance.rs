//! Maintenance windows: the shared source of truth every node polls.

use jiff::Timestamp;
use sqlx::any::AnyRow;
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
