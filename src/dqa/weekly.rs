//! The weekly data quality report the server writes into each active organization's
//! `DQA-Reports` (`serve --dqa-weekly-report DAY@HH:MM`, UTC). At each scheduled time it covers
//! the seven UTC days before the scheduled day (with `mon@06:00`, Monday to Sunday of the week
//! before), for every organization that sent a message through either door in those days.
//!
//! Each (organization, week) is written once, however many nodes share the database: the files
//! are placed in the same transaction as a `dqa_weekly_reports` row whose key refuses a second
//! one. A node that starts after a scheduled time whose reports nobody wrote (all nodes were
//! down) writes them at once; only the latest scheduled week is looked at.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jiff::civil::Weekday;
use jiff::{SignedDuration, Timestamp, ToSpan};

use super::{html, period_report, to_json, Weights};
use crate::clock::Clock;
use crate::date::Date;
use crate::store::{Db, StoreError};

/// When the weekly report is written: a weekday and a time of day, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeeklySchedule {
    pub weekday: Weekday,
    pub hour: i8,
    pub minute: i8,
}

impl Default for WeeklySchedule {
    /// Mondays at 06:00 UTC.
    fn default() -> Self {
        WeeklySchedule {
            weekday: Weekday::Monday,
            hour: 6,
            minute: 0,
        }
    }
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

impl FromStr for WeeklySchedule {
    type Err = String;

    /// `DAY@HH:MM`: DAY one of mon, tue, wed, thu, fri, sat, sun; HH:MM a 24-hour UTC time.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("'{text}' is not DAY@HH:MM (for example mon@06:00, UTC) or off");
        let (day, time) = text.split_once('@').ok_or_else(bad)?;
        let weekday = DAYS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(day.trim()))
            .map(|(_, w)| *w)
            .ok_or_else(bad)?;
        let (h, m) = time.split_once(':').ok_or_else(bad)?;
        let number = |s: &str, max: i8| -> Result<i8, String> {
            if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse::<i8>()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(bad)
        };
        Ok(WeeklySchedule {
            weekday,
            hour: number(h, 23)?,
            minute: number(m, 59)?,
        })
    }
}

impl std::fmt::Display for WeeklySchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let day = DAYS
            .iter()
            .find(|(_, w)| *w == self.weekday)
            .map_or("mon", |(n, _)| n);
        write!(f, "{day}@{:02}:{:02}", self.hour, self.minute)
    }
}

impl WeeklySchedule {
    /// The latest scheduled instant at or before `now`.
    pub fn last_due(&self, now: Timestamp) -> Timestamp {
        let today = crate::clock::utc_date(now);
        let back = (today.weekday().to_monday_zero_offset() - self.weekday.to_monday_zero_offset())
            .rem_euclid(7);
        let at = |d: Date| {
            d.at(self.hour, self.minute, 0, 0)
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp())
        };
        let day = today.checked_sub(i64::from(back).days()).unwrap_or(today);
        match at(day) {
            Ok(t) if t <= now => t,
            Ok(t) => t
                .checked_sub(SignedDuration::from_hours(7 * 24))
                .unwrap_or(t),
            Err(_) => now,
        }
    }

    /// The first scheduled instant after `now`.
    pub fn next_due(&self, now: Timestamp) -> Timestamp {
        let last = self.last_due(now);
        last.checked_add(SignedDuration::from_hours(7 * 24))
            .unwrap_or(last)
    }

    /// The days (first, last; UTC, both included) the report written at `due` covers: the seven
    /// days before its day.
    pub fn week_of(due: Timestamp) -> (Date, Date) {
        let day = crate::clock::utc_date(due);
        let last = day.yesterday().unwrap_or(day);
        let first = last.checked_sub(6.days()).unwrap_or(last);
        (first, last)
    }
}

/// What the weekly report job needs.
#[derive(Clone, Debug)]
pub struct WeeklyOptions {
    pub schedule: WeeklySchedule,
    pub weights: Weights,
    /// How often the job looks at the clock between scheduled times (it sleeps until the next
    /// scheduled time, but never longer than this, so a clock that jumps is noticed).
    pub poll: Duration,
}

impl WeeklyOptions {
    pub fn new(schedule: WeeklySchedule, weights: Weights) -> Self {
        WeeklyOptions {
            schedule,
            weights,
            poll: Duration::from_secs(60),
        }
    }
}

/// One report this node wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub organization: String,
    pub from: Date,
    pub to: Date,
    /// The names the files were given in `DQA-Reports`.
    pub names: Vec<String>,
}

/// Writes the reports of the latest scheduled week at or before `now` that no node wrote yet:
/// one per organization with messages in the week. `node` names this node in the claim rows.
/// Returns what this node wrote (another node's share is not in it).
pub async fn write_due(
    db: &Db,
    options: &WeeklyOptions,
    node: &str,
    now: Timestamp,
) -> Result<Vec<Written>, StoreError> {
    let due = options.schedule.last_due(now);
    let (from, to) = WeeklySchedule::week_of(due);
    let end = to
        .tomorrow()
        .map_err(|e| StoreError::Corrupt(format!("the day after {to}: {e}")))?;
    let week_from = from.to_string();
    let mut written = Vec::new();
    for (id, code) in db
        .organizations_with_messages(&week_from, &end.to_string())
        .await?
    {
        if db.weekly_report_written(id, &week_from).await? {
            continue;
        }
        let report = period_report(db, &code, from, to, &options.weights, now).await?;
        let json = db.store_bytes(to_json(&report).as_bytes()).await?;
        let page = db.store_bytes(html::render(&report).as_bytes()).await?;
        let stem = format!("week-{from}-to-{to}");
        let files = [
            (format!("{stem}.dqa.json"), json),
            (format!("{stem}.dqa.html"), page),
        ];
        if let Some(names) = db
            .place_weekly_report(id, &week_from, &to.to_string(), node, &files)
            .await?
        {
            tracing::info!(org = %code, week = %week_from, "weekly data quality report written");
            written.push(Written {
                organization: code,
                from,
                to,
                names,
            });
        }
    }
    Ok(written)
}

/// The job: the due week at once (a missed week is written on start), then at every scheduled
/// time by `clock`. Failures are logged and tried again at the next look.
pub fn spawn(
    db: Arc<Db>,
    clock: Arc<dyn Clock>,
    options: WeeklyOptions,
) -> tokio::task::JoinHandle<()> {
    let node = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
    tokio::spawn(async move {
        let mut done: Option<Timestamp> = None;
        loop {
            let now = clock.now();
            let due = options.schedule.last_due(now);
            if done != Some(due) {
                match write_due(&db, &options, &node, now).await {
                    Ok(_) => done = Some(due),
                    Err(e) => tracing::warn!(error = %e, "weekly data quality reports failed"),
                }
            }
            let wait = options
                .schedule
                .next_due(now)
                .duration_since(now)
                .unsigned_abs()
                .min(options.poll)
                .max(Duration::from_millis(10));
            tokio::time::sleep(wait).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn schedules_parse_and_refuse() {
        let s: WeeklySchedule = "Mon@06:00".parse().unwrap();
        assert_eq!(s, WeeklySchedule::default());
        assert_eq!(s.to_string(), "mon@06:00");
        let s: WeeklySchedule = "sun@23:59".parse().unwrap();
        assert_eq!((s.weekday, s.hour, s.minute), (Weekday::Sunday, 23, 59));
        for bad in [
            "",
            "mon",
            "mon@6:00",
            "mon@24:00",
            "mon@06:60",
            "monday@06:00",
            "x@01:00",
        ] {
            let e = bad.parse::<WeeklySchedule>().unwrap_err();
            assert!(e.contains("DAY@HH:MM"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_due_time_and_its_week() {
        let s = WeeklySchedule::default();
        // 2026-11-30 is a Monday.
        assert_eq!(
            s.last_due(ts("2026-11-30T06:00:00Z")),
            ts("2026-11-30T06:00:00Z")
        );
        assert_eq!(
            s.last_due(ts("2026-11-30T05:59:59Z")),
            ts("2026-11-23T06:00:00Z")
        );
        assert_eq!(
            s.last_due(ts("2026-12-03T12:00:00Z")),
            ts("2026-11-30T06:00:00Z")
        );
        assert_eq!(
            s.next_due(ts("2026-12-03T12:00:00Z")),
            ts("2026-12-07T06:00:00Z")
        );
        let (from, to) = WeeklySchedule::week_of(ts("2026-11-30T06:00:00Z"));
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2026-11-23".into(), "2026-11-29".into())
        );
        let sat: WeeklySchedule = "sat@00:00".parse().unwrap();
        assert_eq!(
            sat.last_due(ts("2026-11-30T06:00:00Z")),
            ts("2026-11-28T00:00:00Z")
        );
    }
}
