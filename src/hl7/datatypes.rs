//! HL7 date/time values (DTM, and the first component of TS; DT is a DTM with day
//! precision at most).
//!
//! Format: `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`. Dates are checked against
//! the real calendar (leap years included); the year must be in 1000..=9999, hours
//! 0..=23, minutes and seconds 0..=59, the offset within ±14:00.

use std::fmt;

use crate::date::Date;

/// How much of a [`Dtm`] was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DtmPrecision {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

/// A parsed HL7 date/time. Parts finer than `precision` are `None` (and `nanos` is 0
/// unless a fraction of a second was given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dtm {
    pub year: i16,
    pub month: Option<u8>,
    pub day: Option<u8>,
    pub hour: Option<u8>,
    pub minute: Option<u8>,
    pub second: Option<u8>,
    /// Fraction of a second, in nanoseconds (at most 4 digits are accepted, so a
    /// multiple of 100 µs).
    pub nanos: u32,
    /// Offset from UTC in minutes when a `+ZZZZ`/`-ZZZZ` suffix was given.
    pub offset_minutes: Option<i16>,
    pub precision: DtmPrecision,
}

/// Why a date/time value was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtmError {
    /// The value is empty.
    Empty,
    /// An unexpected character at this byte position.
    UnexpectedCharacter { position: usize },
    /// The date/time part has a number of digits other than 4, 6, 8, 10, 12 or 14.
    BadLength { digits: usize },
    /// The year is outside 1000..=9999.
    YearOutOfRange { year: u16 },
    /// The month is outside 1..=12.
    MonthOutOfRange { month: u8 },
    /// The day does not exist in that month.
    DayOutOfRange { year: i16, month: u8, day: u8 },
    /// The hour is outside 0..=23.
    HourOutOfRange { hour: u8 },
    /// The minute is outside 0..=59.
    MinuteOutOfRange { minute: u8 },
    /// The second is outside 0..=59.
    SecondOutOfRange { second: u8 },
    /// A fraction of a second without seconds, or not 1 to 4 digits.
    BadFraction,
    /// The offset is not a sign followed by exactly 4 digits.
    BadOffset,
    /// The offset is beyond ±14:00 or its minutes exceed 59.
    OffsetOutOfRange { hours: u8, minutes: u8 },
}

impl fmt::Display for DtmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtmError::Empty => write!(f, "The date/time is empty."),
            DtmError::UnexpectedCharacter { position } => {
                write!(f, "The date/time has an unexpected character at position {}.", position + 1)
            }
            DtmError::BadLength { digits } => write!(
                f,
                "The date/time has {digits} digits; expected 4 (YYYY), 6, 8, 10, 12 or 14 (YYYYMMDDHHMMSS)."
            ),
            DtmError::YearOutOfRange { year } => {
                write!(f, "The year {year} is outside 1000 to 9999.")
            }
            DtmError::MonthOutOfRange { month } => write!(f, "The month {month} does not exist."),
            DtmError::DayOutOfRange { year, month, day } => {
                write!(f, "The date {year:04}-{month:02}-{day:02} does not exist.")
            }
            DtmError::HourOutOfRange { hour } => write!(f, "The hour {hour} is outside 00 to 23."),
            DtmError::MinuteOutOfRange { minute } => {
                write!(f, "The minute {minute} is outside 00 to 59.")
            }
            DtmError::SecondOutOfRange { second } => {
                write!(f, "The second {second} is outside 00 to 59.")
            }
            DtmError::BadFraction => write!(
                f,
                "The fraction of a second must follow the seconds and have 1 to 4 digits."
            ),
            DtmError::BadOffset => write!(
                f,
                "The time zone offset must be + or - followed by 4 digits (HHMM)."
            ),
            DtmError::OffsetOutOfRange { hours, minutes } => write!(
                f,
                "The time zone offset {hours:02}{minutes:02} is outside -1400 to +1400."
            ),
        }
    }
}

impl std::error::Error for DtmError {}

fn two(b: &[u8], at: usize) -> u8 {
    (b[at] - b'0') * 10 + (b[at + 1] - b'0')
}

/// Parses an HL7 DTM/TS/DT value such as `20240515`, `202405150930-0500` or
/// `20240515093012.1234+0100`.
pub fn parse_dtm(s: &str) -> Result<Dtm, DtmError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(DtmError::Empty);
    }
    let n = b
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len());
    if n == 0 {
        return Err(DtmError::UnexpectedCharacter { position: 0 });
    }
    let precision = match n {
        4 => DtmPrecision::Year,
        6 => DtmPrecision::Month,
        8 => DtmPrecision::Day,
        10 => DtmPrecision::Hour,
        12 => DtmPrecision::Minute,
        14 => DtmPrecision::Second,
        digits => return Err(DtmError::BadLength { digits }),
    };
    // All of b[..n] are ASCII digits.
    let year = u16::from(two(b, 0)) * 100 + u16::from(two(b, 2));
    if !(1000..=9999).contains(&year) {
        return Err(DtmError::YearOutOfRange { year });
    }
    let year_i = year as i16;
    let part = |at: usize| (n > at).then(|| two(b, at));
    let (month, day, hour, minute, second) = (part(4), part(6), part(8), part(10), part(12));
    if let Some(m) = month {
        if !(1..=12).contains(&m) {
            return Err(DtmError::MonthOutOfRange { month: m });
        }
        if let Some(d) = day {
            if crate::date::ymd(year_i, m, d).is_none() {
                return Err(DtmError::DayOutOfRange {
                    year: year_i,
                    month: m,
                    day: d,
                });
            }
        }
    }
    if let Some(h) = hour.filter(|&h| h > 23) {
        return Err(DtmError::HourOutOfRange { hour: h });
    }
    if let Some(m) = minute.filter(|&m| m > 59) {
        return Err(DtmError::MinuteOutOfRange { minute: m });
    }
    if let Some(sec) = second.filter(|&sec| sec > 59) {
        return Err(DtmError::SecondOutOfRange { second: sec });
    }

    let mut pos = n;
    let mut nanos = 0u32;
    if b.get(pos) == Some(&b'.') {
        if precision != DtmPrecision::Second {
            return Err(DtmError::BadFraction);
        }
        let digits = b[pos + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=4).contains(&digits) {
            return Err(DtmError::BadFraction);
        }
        let mut value = 0u32;
        for &c in &b[pos + 1..pos + 1 + digits] {
            value = value * 10 + u32::from(c - b'0');
        }
        nanos = value * 10u32.pow(9 - digits as u32);
        pos += 1 + digits;
    }

    let mut offset_minutes = None;
    if let Some(&sign) = b.get(pos).filter(|&&c| c == b'+' || c == b'-') {
        let digits = b[pos + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits != 4 {
            return Err(DtmError::BadOffset);
        }
        let (hours, minutes) = (two(b, pos + 1), two(b, pos + 3));
        let total = i16::from(hours) * 60 + i16::from(minutes);
        if minutes > 59 || total > 14 * 60 {
            return Err(DtmError::OffsetOutOfRange { hours, minutes });
        }
        offset_minutes = Some(if sign == b'-' { -total } else { total });
        pos += 5;
    }
    if pos != b.len() {
        return Err(DtmError::UnexpectedCharacter { position: pos });
    }
    Ok(Dtm {
        year: year_i,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        offset_minutes,
        precision,
    })
}

impl Dtm {
    /// The calendar date when the precision is at least a day.
    pub fn date(&self) -> Option<Date> {
        match (self.month, self.day) {
            // The parser checked the day against the calendar.
            (Some(m), Some(d)) => crate::date::ymd(self.year, m, d),
            _ => None,
        }
    }

    /// `(hour, minute, second)` when given, missing finer parts as 0.
    pub fn time(&self) -> Option<(u8, u8, u8)> {
        self.hour
            .map(|h| (h, self.minute.unwrap_or(0), self.second.unwrap_or(0)))
    }
}

impl std::str::FromStr for Dtm {
    type Err = DtmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_dtm(s)
    }
}

/// Renders the value back in HL7 form, with the same precision; a fraction of a second
/// is written with 4 digits.
impl fmt::Display for Dtm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        for part in [self.month, self.day, self.hour, self.minute, self.second]
            .into_iter()
            .map_while(|p| p)
        {
            write!(f, "{part:02}")?;
        }
        if self.second.is_some() && self.nanos > 0 {
            write!(f, ".{:04}", self.nanos / 100_000)?;
        }
        if let Some(off) = self.offset_minutes {
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.unsigned_abs();
            write!(f, "{sign}{:02}{:02}", a / 60, a % 60)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn ok(s: &str) -> Dtm {
        match parse_dtm(s) {
            Ok(d) => d,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn precisions() {
        let y = ok("2024");
        assert_eq!(y.precision, DtmPrecision::Year);
        assert_eq!((y.year, y.month, y.day), (2024, None, None));
        assert_eq!(y.date(), None);
        assert_eq!(ok("202405").precision, DtmPrecision::Month);
        assert_eq!(ok("202405").date(), None);
        let d = ok("20230421");
        assert_eq!(d.precision, DtmPrecision::Day);
        assert_eq!(d.date(), Some(date(2023, 4, 21)));
        assert_eq!(d.time(), None);
        assert_eq!(ok("2024051509").precision, DtmPrecision::Hour);
        assert_eq!(ok("2024051509").time(), Some((9, 0, 0)));
        assert_eq!(ok("202405150930").precision, DtmPrecision::Minute);
        let s = ok("20240515093012");
        assert_eq!(s.precision, DtmPrecision::Second);
        assert_eq!(s.time(), Some((9, 30, 12)));
        assert_eq!(s.offset_minutes, None);
        assert!(DtmPrecision::Year < DtmPrecision::Month);
        assert!(DtmPrecision::Day < DtmPrecision::Second);
    }

    #[test]
    fn fractions_and_offsets() {
        let t = ok("20240515093012-0400");
        assert_eq!(t.offset_minutes, Some(-240));
        assert_eq!(t.nanos, 0);
        assert_eq!(ok("20240515093012.5").nanos, 500_000_000);
        assert_eq!(ok("20240515093012.1234+0530").nanos, 123_400_000);
        assert_eq!(ok("20240515093012.1234+0530").offset_minutes, Some(330));
        assert_eq!(ok("20240515+1400").offset_minutes, Some(840));
        assert_eq!(ok("2024-1400").offset_minutes, Some(-840));
        assert_eq!(ok("202405150930-0000").offset_minutes, Some(0));
        assert_eq!(
            parse_dtm("20240515+1401"),
            Err(DtmError::OffsetOutOfRange {
                hours: 14,
                minutes: 1
            })
        );
        assert_eq!(
            parse_dtm("20240515+1500"),
            Err(DtmError::OffsetOutOfRange {
                hours: 15,
                minutes: 0
            })
        );
        assert_eq!(
            parse_dtm("20240515+0060"),
            Err(DtmError::OffsetOutOfRange {
                hours: 0,
                minutes: 60
            })
        );
        for bad in [
            "20240515+040",
            "20240515+04000",
            "20240515-",
            "20240515+ab00",
            "20240515+",
        ] {
            assert_eq!(parse_dtm(bad), Err(DtmError::BadOffset), "{bad}");
        }
        for bad in [
            "202405150930.5",
            "20240515093012.",
            "20240515093012.12345",
            "20240515.1",
            "20240515093012.+0100",
        ] {
            assert_eq!(parse_dtm(bad), Err(DtmError::BadFraction), "{bad}");
        }
    }

    #[test]
    fn calendar_validation() {
        assert_eq!(ok("20240229").date(), Some(date(2024, 2, 29)));
        assert_eq!(ok("20000229").date(), Some(date(2000, 2, 29)));
        assert_eq!(
            parse_dtm("20230229"),
            Err(DtmError::DayOutOfRange {
                year: 2023,
                month: 2,
                day: 29
            })
        );
        assert_eq!(
            parse_dtm("19000229"),
            Err(DtmError::DayOutOfRange {
                year: 1900,
                month: 2,
                day: 29
            })
        );
        assert_eq!(
            parse_dtm("20240230"),
            Err(DtmError::DayOutOfRange {
                year: 2024,
                month: 2,
                day: 30
            })
        );
        assert_eq!(
            parse_dtm("20240431"),
            Err(DtmError::DayOutOfRange {
                year: 2024,
                month: 4,
                day: 31
            })
        );
        assert_eq!(
            parse_dtm("20240100"),
            Err(DtmError::DayOutOfRange {
                year: 2024,
                month: 1,
                day: 0
            })
        );
        assert!(parse_dtm("20241231").is_ok());
        assert_eq!(
            parse_dtm("202413"),
            Err(DtmError::MonthOutOfRange { month: 13 })
        );
        assert_eq!(
            parse_dtm("20240015"),
            Err(DtmError::MonthOutOfRange { month: 0 })
        );
        assert_eq!(
            parse_dtm("2024051524"),
            Err(DtmError::HourOutOfRange { hour: 24 })
        );
        assert!(parse_dtm("2024051523").is_ok());
        assert_eq!(
            parse_dtm("202405152360"),
            Err(DtmError::MinuteOutOfRange { minute: 60 })
        );
        assert_eq!(
            parse_dtm("20240515235960"),
            Err(DtmError::SecondOutOfRange { second: 60 })
        );
        assert!(parse_dtm("20240515235959").is_ok());
        assert_eq!(
            parse_dtm("0999"),
            Err(DtmError::YearOutOfRange { year: 999 })
        );
        assert_eq!(parse_dtm("0000"), Err(DtmError::YearOutOfRange { year: 0 }));
        assert!(parse_dtm("1000").is_ok());
        assert!(parse_dtm("9999").is_ok());
        assert!(parse_dtm("21000229").is_err(), "2100 is not a leap year");
    }

    #[test]
    fn malformed() {
        assert_eq!(parse_dtm(""), Err(DtmError::Empty));
        assert_eq!(
            parse_dtm("abc"),
            Err(DtmError::UnexpectedCharacter { position: 0 })
        );
        assert_eq!(
            parse_dtm(" 2024"),
            Err(DtmError::UnexpectedCharacter { position: 0 })
        );
        assert_eq!(
            parse_dtm("2024 "),
            Err(DtmError::UnexpectedCharacter { position: 4 })
        );
        assert_eq!(
            parse_dtm("20240515x"),
            Err(DtmError::UnexpectedCharacter { position: 8 })
        );
        assert_eq!(
            parse_dtm("20240515-0500x"),
            Err(DtmError::UnexpectedCharacter { position: 13 })
        );
        assert_eq!(parse_dtm("2024-05-15"), Err(DtmError::BadOffset));
        for (s, n) in [
            ("202", 3),
            ("20240", 5),
            ("2024051", 7),
            ("202405150930123", 15),
            ("1", 1),
        ] {
            assert_eq!(parse_dtm(s), Err(DtmError::BadLength { digits: n }), "{s}");
        }
        assert_eq!(
            parse_dtm("２０２４"),
            Err(DtmError::UnexpectedCharacter { position: 0 })
        );
        for e in [
            DtmError::Empty,
            DtmError::BadOffset,
            DtmError::BadLength { digits: 3 },
        ] {
            assert!(e.to_string().ends_with('.'));
        }
    }

    #[test]
    fn display_round_trip() {
        for s in [
            "2024",
            "202405",
            "20240515",
            "2024051509",
            "202405150930",
            "20240515093012",
            "20240515093012.1234",
            "20240515093012.5000-0400",
            "20240515+0530",
            "1999-1400",
        ] {
            assert_eq!(ok(s).to_string(), s);
            assert_eq!(s.parse::<Dtm>(), Ok(ok(s)));
        }
        assert_eq!(ok("20240515093012.5").to_string(), "20240515093012.5000");
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            // No regression files: this module must not write outside src/hl7.
            failure_persistence: None,
            ..ProptestConfig::with_cases(1024)
        })]

        #[test]
        fn never_panics(s in any::<String>(), t in "[0-9.+\\-]{0,24}") {
            let _ = parse_dtm(&s);
            if let Ok(d) = parse_dtm(&t) {
                // Whatever parses renders back to something that parses to the same value.
                let again = parse_dtm(&d.to_string());
                prop_assert_eq!(again, Ok(d));
                prop_assert!(d.month.is_none_or(|m| (1..=12).contains(&m)));
            }
        }

        #[test]
        fn valid_dates_parse(y in 1000i16..=9999, m in 1u8..=12, d in 1u8..=31, h in 0u8..24) {
            let s = format!("{y:04}{m:02}{d:02}{h:02}");
            let r = parse_dtm(&s);
            if let Some(day) = crate::date::ymd(y, m, d) {
                prop_assert_eq!(r.map(|v| v.date()), Ok(Some(day)));
            } else {
                prop_assert_eq!(r, Err(DtmError::DayOutOfRange { year: y, month: m, day: d }));
            }
        }
    }
}
