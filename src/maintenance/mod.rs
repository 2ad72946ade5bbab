//! Maintenance mode and downtime drills.
//!
//! Windows live in the database so that every izport node behind a load balancer agrees. Each
//! node polls them into an in-memory [`Snapshot`] (and on PostgreSQL re-reads them as soon as a
//! change is notified, [`listener`]); the tower layer ([`layer`]) evaluates that
//! snapshot against the clock on every request, so a scheduled window starts and ends exactly at
//! its boundaries rather than at the next poll. Times are UTC instants; a window's time zone
//! matters only for reading and announcing it (CT in the registry's notices).

pub mod admin;
pub mod door;
pub mod layer;
pub mod listener;
pub mod notice;
pub mod pages;
pub mod time;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::Serialize;

/// The clock lives in [`crate::clock`] (the registry takes the same one); re-exported here for
/// the maintenance API's users.
pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use layer::{Maintenance, MaintenanceConfig, PageFormat};

/// The zone the registry's notices use ("CT").
pub const DEFAULT_TIME_ZONE: &str = "America/Chicago";

/// What partners get while a window is in force.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// 503 Service Unavailable with the maintenance sentence (the default).
    #[default]
    Maintenance,
    /// 502 Proxy Error, as partners saw during the April 2023 unplanned outage.
    Outage,
    /// A share of requests get the 503; the rest are served ("intermittent downtime").
    Intermittent,
}

/// Whether a window was announced ahead or happened to the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Scheduled,
    Unplanned,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ParseError(String);

impl FromStr for Mode {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "maintenance" => Ok(Mode::Maintenance),
            "outage" => Ok(Mode::Outage),
            "intermittent" => Ok(Mode::Intermittent),
            other => Err(ParseError(format!(
                "unknown mode '{other}': use maintenance, outage or intermittent"
            ))),
        }
    }
}

impl FromStr for Kind {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scheduled" => Ok(Kind::Scheduled),
            "unplanned" => Ok(Kind::Unplanned),
            other => Err(ParseError(format!(
                "unknown kind '{other}': use scheduled or unplanned"
            ))),
        }
    }
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Maintenance => "maintenance",
            Mode::Outage => "outage",
            Mode::Intermittent => "intermittent",
        }
    }
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Scheduled => "scheduled",
            Kind::Unplanned => "unplanned",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One maintenance window or drill, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub id: i64,
    pub kind: Kind,
    pub mode: Mode,
    pub starts_at: Timestamp,
    /// `None`: in force until someone stops it.
    pub ends_at: Option<Timestamp>,
    /// The end that was announced, before any early stop.
    pub planned_ends_at: Option<Timestamp>,
    pub time_zone: String,
    pub reason: String,
    /// A drill limited to one organization; `None` affects everyone.
    pub organization: Option<String>,
    /// For intermittent mode: the share of requests refused, 1–100.
    pub refuse_percent: u8,
    pub cancelled: bool,
}

impl Window {
    /// Whether the window is in force at `now` (start inclusive, end exclusive).
    pub fn active_at(&self, now: Timestamp) -> bool {
        !self.cancelled && self.starts_at <= now && self.ends_at.is_none_or(|end| now < end)
    }

    /// Seconds from `now` to the window's end, rounded up; `None` when open-ended.
    pub fn seconds_left(&self, now: Timestamp) -> Option<u64> {
        let end = self.ends_at?;
        let nanos = end.as_nanosecond() - now.as_nanosecond();
        if nanos <= 0 {
            return Some(0);
        }
        let seconds = (nanos + 999_999_999) / 1_000_000_000;
        Some(u64::try_from(seconds).unwrap_or(u64::MAX))
    }
}

/// A node's view of the windows that matter now or later, refreshed by polling the database.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Windows not cancelled whose end is in the future (or open), earliest start first.
    pub windows: Vec<Window>,
    /// Usernames of the organizations that have a drill among `windows`, with the org code.
    pub drill_users: Vec<(String, String)>,
}

impl Snapshot {
    /// The window in force at `now` for a request from `organization` (`None`: not known). A
    /// registry-wide window wins over an organization drill; among equals, the earliest start.
    pub fn active(&self, now: Timestamp, organization: Option<&str>) -> Option<&Window> {
        let mut candidates = self.windows.iter().filter(|w| w.active_at(now));
        let global = candidates.clone().find(|w| w.organization.is_none());
        global.or_else(|| {
            let org = organization?;
            candidates.find(|w| w.organization.as_deref() == Some(org))
        })
    }

    /// Whether any organization drill is in force at `now` (the layer must then look inside
    /// requests to learn who is asking).
    pub fn drill_active(&self, now: Timestamp) -> bool {
        self.windows
            .iter()
            .any(|w| w.organization.is_some() && w.active_at(now))
    }

    pub fn organization_of(&self, username: &str) -> Option<&str> {
        self.drill_users
            .iter()
            .find(|(user, _)| user == username)
            .map(|(_, org)| org.as_str())
    }

    /// Registry-wide windows that start after `now`.
    pub fn upcoming(&self, now: Timestamp) -> impl Iterator<Item = &Window> {
        self.windows
            .iter()
            .filter(move |w| !w.cancelled && w.organization.is_none() && w.starts_at > now)
    }

    /// The organizations whose drills appear in the snapshot.
    pub fn drill_organizations(&self) -> HashSet<&str> {
        self.windows
            .iter()
            .filter_map(|w| w.organization.as_deref())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn window(id: i64, start: &str, end: Option<&str>, org: Option<&str>) -> Window {
        Window {
            id,
            kind: Kind::Scheduled,
            mode: Mode::Maintenance,
            starts_at: ts(start),
            ends_at: end.map(ts),
            planned_ends_at: end.map(ts),
            time_zone: DEFAULT_TIME_ZONE.into(),
            reason: "release".into(),
            organization: org.map(str::to_string),
            refuse_percent: 100,
            cancelled: false,
        }
    }

    #[test]
    fn a_window_is_half_open() {
        let w = window(
            1,
            "2024-06-01T00:00:00Z",
            Some("2024-06-01T10:00:00Z"),
            None,
        );
        assert!(!w.active_at(ts("2024-05-31T23:59:59.999Z")));
        assert!(w.active_at(ts("2024-06-01T00:00:00Z")));
        assert!(w.active_at(ts("2024-06-01T09:59:59Z")));
        assert!(!w.active_at(ts("2024-06-01T10:00:00Z")));
        assert_eq!(w.seconds_left(ts("2024-06-01T09:59:58.5Z")), Some(2));
        let open = window(2, "2024-06-01T00:00:00Z", None, None);
        assert!(open.active_at(ts("2030-01-01T00:00:00Z")));
        assert_eq!(open.seconds_left(ts("2030-01-01T00:00:00Z")), None);
    }

    #[test]
    fn cancelled_windows_never_apply() {
        let mut w = window(1, "2024-06-01T00:00:00Z", None, None);
        w.cancelled = true;
        assert!(!w.active_at(ts("2024-06-02T00:00:00Z")));
    }

    #[test]
    fn drills_apply_only_to_their_organization() {
        let snap = Snapshot {
            windows: vec![window(1, "2024-06-01T00:00:00Z", None, Some("VENDOR"))],
            drill_users: vec![("vendor-user".into(), "VENDOR".into())],
        };
        let now = ts("2024-06-01T01:00:00Z");
        assert!(snap.active(now, None).is_none());
        assert!(snap.active(now, Some("OTHER")).is_none());
        assert_eq!(snap.active(now, Some("VENDOR")).map(|w| w.id), Some(1));
        assert!(snap.drill_active(now));
        assert_eq!(snap.organization_of("vendor-user"), Some("VENDOR"));
        assert_eq!(snap.organization_of("someone"), None);
    }

    #[test]
    fn registry_wide_windows_win_over_drills() {
        let snap = Snapshot {
            windows: vec![
                window(1, "2024-06-01T00:00:00Z", None, Some("VENDOR")),
                window(2, "2024-06-01T00:30:00Z", None, None),
            ],
            drill_users: vec![],
        };
        let now = ts("2024-06-01T01:00:00Z");
        assert_eq!(snap.active(now, Some("VENDOR")).map(|w| w.id), Some(2));
    }

    #[test]
    fn modes_and_kinds_parse() {
        assert_eq!("Outage".parse::<Mode>(), Ok(Mode::Outage));
        assert_eq!("unplanned".parse::<Kind>(), Ok(Kind::Unplanned));
        assert!("down".parse::<Mode>().is_err());
    }
}
