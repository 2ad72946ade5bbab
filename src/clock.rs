//! Where "now" and fresh identifiers come from. These are the service's two sources of
//! non-determinism, so they are injected rather than called: the server passes the system
//! clock and random control ids; tests pass a [`ManualClock`] (to step across maintenance
//! windows and daylight-saving changes without waiting, or to run the registry on a fixed day)
//! and [`SequentialIds`].
//!
//! The maintenance layer and the registry take the same [`Clock`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

use crate::date::Date;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;

    /// Today's date in UTC, the registry's "today" for date checks.
    fn today_utc(&self) -> Date {
        utc_date(self.now())
    }
}

/// The UTC calendar date of an instant.
pub fn utc_date(at: Timestamp) -> Date {
    at.to_zoned(jiff::tz::TimeZone::UTC).date()
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until told otherwise.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    pub fn set(&self, to: Timestamp) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }

    /// The clock's current reading (the same as `Clock::now`, without importing the trait).
    pub fn now_ts(&self) -> Timestamp {
        self.now()
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now = now.checked_add(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Fresh message control ids for the registry's responses (MSH-10 of an ACK or RSP).
pub trait IdSource: Send + Sync + 'static {
    fn control_id(&self) -> String;
}

/// `IZ` and 16 random hex digits: unique without coordination between nodes.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn control_id(&self) -> String {
        format!("IZ{:016X}", rand::random::<u64>())
    }
}

/// `<prefix>1`, `<prefix>2`, …: predictable ids for tests.
#[derive(Debug)]
pub struct SequentialIds {
    prefix: String,
    next: AtomicU64,
}

impl SequentialIds {
    pub fn new(prefix: impl Into<String>) -> Self {
        SequentialIds {
            prefix: prefix.into(),
            next: AtomicU64::new(1),
        }
    }
}

impl IdSource for SequentialIds {
    fn control_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}{n}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_gives_its_utc_date() {
        let clock = ManualClock::new("2024-05-31T23:30:00-05:00".parse().unwrap());
        assert_eq!(clock.today_utc(), jiff::civil::date(2024, 6, 1));
        clock.advance(SignedDuration::from_hours(-1));
        assert_eq!(clock.today_utc(), jiff::civil::date(2024, 6, 1));
        clock.advance(SignedDuration::from_hours(-4));
        assert_eq!(clock.today_utc(), jiff::civil::date(2024, 5, 31));
    }

    #[test]
    fn ids_are_fresh() {
        let ids = SequentialIds::new("T-");
        assert_eq!(
            (ids.control_id(), ids.control_id()),
            ("T-1".into(), "T-2".into())
        );
        let random = RandomIds.control_id();
        assert!(random.starts_with("IZ") && random.len() == 18, "{random}");
        assert_ne!(random, RandomIds.control_id());
    }
}
