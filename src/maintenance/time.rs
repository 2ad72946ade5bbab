//! Reading the times operators type: RFC 3339 instants, local wall-clock times in a window's
//! zone, or offsets from now ("+30m"), and writing instants back in a zone.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeError {
    #[error("unknown time zone '{0}' (use an IANA name such as America/Chicago)")]
    Zone(String),
    #[error(
        "cannot read '{0}' as a time: use 2024-12-01T19:00 (local to --tz), an RFC 3339 instant \
         such as 2024-12-02T01:00:00Z, or an offset from now such as +30m or +2h"
    )]
    Unreadable(String),
}

pub fn zone(name: &str) -> Result<TimeZone, TimeError> {
    TimeZone::get(name).map_err(|_| TimeError::Zone(name.to_string()))
}

/// Parses an operator-supplied time. Local times are placed in `tz`; a local time that falls in
/// a daylight-saving gap moves forward past the gap, and one that occurs twice (the hour the
/// clocks fall back) means its first occurrence — jiff's "compatible" disambiguation, the same
/// rule RFC 5545 calendars use.
pub fn parse(input: &str, tz: &TimeZone, now: Timestamp) -> Result<Timestamp, TimeError> {
    let text = input.trim();
    let unreadable = || TimeError::Unreadable(text.to_string());
    if let Some(offset) = text.strip_prefix('+') {
        let span: Span = offset.parse().map_err(|_| unreadable())?;
        return now
            .to_zoned(tz.clone())
            .checked_add(span)
            .map(|z| z.timestamp())
            .map_err(|_| unreadable());
    }
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok(instant);
    }
    let civil: DateTime = text
        .replacen(' ', "T", 1)
        .parse()
        .map_err(|_| unreadable())?;
    civil
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|_| unreadable())
}

/// An instant as wall-clock time in `tz`, e.g. `2024-12-01 19:00 CST`.
pub fn local(at: Timestamp, tz: &TimeZone) -> Zoned {
    at.to_zoned(tz.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chicago() -> TimeZone {
        zone("America/Chicago").expect("tzdb")
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn local_times_follow_the_zone_offset_of_their_date() {
        let now = ts("2024-01-01T00:00:00Z");
        // December: CST, UTC-6. June: CDT, UTC-5.
        assert_eq!(
            parse("2023-12-01 19:00", &chicago(), now),
            Ok(ts("2023-12-02T01:00:00Z"))
        );
        assert_eq!(
            parse("2024-05-31T19:00", &chicago(), now),
            Ok(ts("2024-06-01T00:00:00Z"))
        );
    }

    #[test]
    fn spring_forward_gap_moves_forward_and_fall_back_takes_the_first() {
        let now = ts("2024-01-01T00:00:00Z");
        // 2024-03-10 02:30 does not exist in Chicago; it reads as 03:30 CDT.
        assert_eq!(
            parse("2024-03-10 02:30", &chicago(), now),
            Ok(ts("2024-03-10T08:30:00Z"))
        );
        // 2024-11-03 01:30 happens twice; the first is CDT (UTC-5).
        assert_eq!(
            parse("2024-11-03 01:30", &chicago(), now),
            Ok(ts("2024-11-03T06:30:00Z"))
        );
    }

    #[test]
    fn instants_and_offsets() {
        let now = ts("2024-06-01T12:00:00Z");
        assert_eq!(
            parse("2024-06-01T13:00:00Z", &chicago(), now),
            Ok(ts("2024-06-01T13:00:00Z"))
        );
        assert_eq!(
            parse("+30m", &chicago(), now),
            Ok(ts("2024-06-01T12:30:00Z"))
        );
        assert_eq!(
            parse("+2h", &chicago(), now),
            Ok(ts("2024-06-01T14:00:00Z"))
        );
        assert!(parse("tomorrow-ish", &chicago(), now).is_err());
        assert!(zone("Mars/Olympus").is_err());
    }
}
