//! Retention: what the file door leaves in an organization's folders is kept for a while, then
//! removed. Reports, acknowledgement files and consent notification files (`DQA-Reports`,
//! `Receive`) after `reports`; originals in `Accepted` after `accepted`, counted from their
//! receipt or the end of their last run, whichever is later, and never while a run of them is
//! unfinished. Every batch worker does this at its start and then periodically (its
//! housekeeping, with the removal of abandoned uploads), by its [`Clock`]; several nodes doing it
//! at once remove each file once (see [`Db::remove_expired_files`]).
//!
//! Each removal is logged with the organization's code, the folder and the file name, never
//! the content.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::store::{Db, RemovedFile, StoreError};

const DAY: u64 = 24 * 60 * 60;

/// How long files are kept, and how often a worker looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Files in DQA-Reports and Receive.
    pub reports: Duration,
    /// Originals in Accepted.
    pub accepted: Duration,
    /// Time between two housekeeping passes of a worker (the first is at its start).
    pub every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            reports: Duration::from_secs(Self::DEFAULT_REPORTS_DAYS * DAY),
            accepted: Duration::from_secs(Self::DEFAULT_ACCEPTED_DAYS * DAY),
            every: Duration::from_secs(60 * 60),
        }
    }
}

impl Retention {
    pub const DEFAULT_REPORTS_DAYS: u64 = 90;
    pub const DEFAULT_ACCEPTED_DAYS: u64 = 30;

    /// Whole days, as the serve flags give them.
    pub fn days(reports: u64, accepted: u64) -> Self {
        Retention {
            reports: Duration::from_secs(reports * DAY),
            accepted: Duration::from_secs(accepted * DAY),
            ..Retention::default()
        }
    }
}

/// Files removed, by folder: what one pass removed, or a worker's total since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    pub reports: u64,
    pub receive: u64,
    pub accepted: u64,
}

impl Removed {
    pub fn total(&self) -> u64 {
        self.reports + self.receive + self.accepted
    }

    fn of(files: &[RemovedFile]) -> Removed {
        let mut r = Removed::default();
        for f in files {
            match f.folder.as_str() {
                "reports" => r.reports += 1,
                "receive" => r.receive += 1,
                _ => r.accepted += 1,
            }
        }
        r
    }
}

/// A running total of removals (a worker's, since it started).
#[derive(Debug, Default)]
pub struct RemovedCounter {
    reports: AtomicU64,
    receive: AtomicU64,
    accepted: AtomicU64,
}

impl RemovedCounter {
    pub fn add(&self, r: Removed) {
        self.reports.fetch_add(r.reports, Ordering::Relaxed);
        self.receive.fetch_add(r.receive, Ordering::Relaxed);
        self.accepted.fetch_add(r.accepted, Ordering::Relaxed);
    }

    pub fn get(&self) -> Removed {
        Removed {
            reports: self.reports.load(Ordering::Relaxed),
            receive: self.receive.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
        }
    }
}

/// The folder as partners see it over SFTP.
pub fn folder_label(folder: &str) -> &str {
    match folder {
        "reports" => "DQA-Reports",
        "receive" => "Receive",
        "accepted" => "Accepted",
        other => other,
    }
}

fn before(now: Timestamp, keep: Duration) -> String {
    let keep = SignedDuration::try_from(keep).unwrap_or(SignedDuration::MAX);
    let at = now.checked_sub(keep).unwrap_or(Timestamp::MIN);
    crate::store::timestamp_text(at)
}

/// One pass at `now`: removes what `retention` has expired, logs each file, returns the files.
pub async fn remove_expired(
    db: &Db,
    retention: &Retention,
    now: Timestamp,
) -> Result<Vec<RemovedFile>, StoreError> {
    let files = db
        .remove_expired_files(
            &before(now, retention.reports),
            &before(now, retention.accepted),
        )
        .await?;
    for f in &files {
        tracing::info!(org = %f.organization, folder = folder_label(&f.folder), file = %f.name,
            "removed after the retention period");
    }
    Ok(files)
}

/// Counts a pass's removals by folder.
pub fn count(files: &[RemovedFile]) -> Removed {
    Removed::of(files)
}
