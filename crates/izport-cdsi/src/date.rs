//! Calendar arithmetic of the CDSi logic (Table 3-6, CALCDT-1..6) and the typed offsets of the
//! supporting data (`6 months - 4 days`, `1 year`, `16 years - 4 months`, ...).
//!
//! jiff's own month arithmetic clamps to the end of the month (Jan 31 + 1 month = Feb 28/29); CDSi
//! moves a non-existent date forward to the first day of the next month instead, so months are
//! added here by hand.

use jiff::civil::Date;
use std::fmt;

/// A signed calendar offset: years and months are applied first (as one month count), then the
/// date is normalised, then weeks and days are applied as a day count (CALCDT-6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Offset {
    /// Signed years.
    pub years: i32,
    /// Signed months.
    pub months: i32,
    /// Signed days (weeks are stored as 7 days each).
    pub days: i32,
}

/// An offset string that could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetError(pub String);

impl fmt::Display for OffsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a CDSi offset: {:?}", self.0)
    }
}

impl std::error::Error for OffsetError {}

impl Offset {
    /// An offset of whole days.
    pub const fn days(days: i32) -> Offset {
        Offset {
            years: 0,
            months: 0,
            days,
        }
    }

    /// Parses a supporting-data offset such as `6 months - 4 days` or `1 years - 4 days`.
    /// Returns `Ok(None)` for an empty string (not applicable, which is not zero).
    ///
    /// Units: year(s), month(s), week(s), day(s), case-insensitive; terms are joined by `+` or `-`
    /// with or without spaces; a leading sign is allowed.
    pub fn parse(text: &str) -> Result<Option<Offset>, OffsetError> {
        let t = text.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("n/a") {
            return Ok(None);
        }
        let err = || OffsetError(text.to_string());
        let bytes = t.as_bytes();
        let mut i = 0usize;
        let mut out = Offset::default();
        let mut sign = 1i32;
        let mut terms = 0;
        let mut expect_term = true;
        while i < bytes.len() {
            let c = bytes[i];
            if c.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            if c == b'+' || c == b'-' {
                if !expect_term && terms == 0 {
                    return Err(err());
                }
                sign = if c == b'-' { -1 } else { 1 };
                expect_term = true;
                i += 1;
                continue;
            }
            if !c.is_ascii_digit() || !expect_term {
                return Err(err());
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let n: i32 = t[start..i].parse().map_err(|_| err())?;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let ustart = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit = t[ustart..i].to_ascii_lowercase();
            let v = sign.checked_mul(n).ok_or_else(err)?;
            let (field, v) = match unit.as_str() {
                "year" | "years" | "yr" | "yrs" | "y" => (&mut out.years, v),
                "month" | "months" | "mo" | "mos" | "m" => (&mut out.months, v),
                "week" | "weeks" | "wk" | "wks" | "w" => {
                    (&mut out.days, v.checked_mul(7).ok_or_else(err)?)
                }
                "day" | "days" | "d" => (&mut out.days, v),
                _ => return Err(err()),
            };
            *field = field.checked_add(v).ok_or_else(err)?;
            terms += 1;
            sign = 1;
            expect_term = false;
        }
        if terms == 0 || expect_term {
            return Err(err());
        }
        Ok(Some(out))
    }

    /// Total signed months (years × 12 + months).
    pub fn total_months(&self) -> i64 {
        i64::from(self.years) * 12 + i64::from(self.months)
    }

    /// `date + self` by CALCDT-1..6.
    pub fn add_to(&self, date: Date) -> Date {
        add_days(add_months(date, self.total_months()), self.days)
    }
}

impl fmt::Display for Offset {
    /// The canonical text of an offset, e.g. `6 months - 4 days`; `0 days` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut term = |f: &mut fmt::Formatter<'_>, v: i32, unit: &str| -> fmt::Result {
            if v == 0 {
                return Ok(());
            }
            let plural = if v.abs() == 1 { "" } else { "s" };
            if first {
                if v < 0 {
                    write!(f, "-")?;
                }
            } else if v < 0 {
                write!(f, " - ")?;
            } else {
                write!(f, " + ")?;
            }
            first = false;
            write!(f, "{} {unit}{plural}", v.abs())
        };
        term(f, self.years, "year")?;
        term(f, self.months, "month")?;
        term(f, self.days, "day")?;
        if first {
            write!(f, "0 days")?;
        }
        Ok(())
    }
}

const MIN_YEAR: i32 = 1;
const MAX_YEAR: i32 = 9998;
/// Results saturate at these dates.
const LOWEST: Date = jiff::civil::date(1, 1, 1);
const HIGHEST: Date = jiff::civil::date(9998, 12, 31);

/// Adds a signed number of months holding the day constant; a day that does not exist in the
/// resulting month moves to the first of the following month (CALCDT-2, CALCDT-5).
pub fn add_months(date: Date, months: i64) -> Date {
    if months == 0 {
        return date;
    }
    let index = (i64::from(date.year()) * 12 + i64::from(date.month() - 1)).saturating_add(months);
    let year = index.div_euclid(12);
    let month = index.rem_euclid(12) + 1;
    if year < i64::from(MIN_YEAR) {
        return LOWEST;
    }
    if year > i64::from(MAX_YEAR) {
        return HIGHEST;
    }
    let (y, m) = (year as i16, month as i8);
    match Date::new(y, m, date.day()) {
        Ok(d) => d,
        Err(_) => {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Date::new(ny, nm, 1).unwrap_or(HIGHEST)
        }
    }
}

/// Adds a signed number of days (CALCDT-3, CALCDT-4), saturating at years 1 and 9998.
pub fn add_days(date: Date, days: i32) -> Date {
    if days == 0 {
        return date;
    }
    // Offsets of the supporting data are mostly a few days or weeks: walk the months.
    if days.unsigned_abs() <= 400 {
        let (mut y, mut m) = (date.year(), date.month());
        let mut d = i32::from(date.day()) + days;
        loop {
            if d < 1 {
                (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
                d += i32::from(days_in_month(y, m));
            } else {
                let dim = i32::from(days_in_month(y, m));
                if d <= dim {
                    break;
                }
                d -= dim;
                (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            }
        }
        if (MIN_YEAR..=MAX_YEAR).contains(&i32::from(y)) {
            if let Ok(r) = Date::new(y, m, d as i8) {
                return r;
            }
        }
    }
    let n = days_from_civil(date) + i64::from(days);
    civil_from_days(n)
}

/// Days in a month of the proleptic Gregorian calendar.
fn days_in_month(year: i16, month: i8) -> i8 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian calendar).
fn days_from_civil(d: Date) -> i64 {
    let (y, m, dd) = (
        i64::from(d.year()),
        i64::from(d.month()),
        i64::from(d.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(n: i64) -> Date {
    let z = n + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if y < i64::from(MIN_YEAR) {
        return LOWEST;
    }
    if y > i64::from(MAX_YEAR) {
        return HIGHEST;
    }
    Date::new(y as i16, m as i8, d as i8).unwrap_or(HIGHEST)
}

/// Parses a date written `YYYYMMDD`, `YYYY-MM-DD`, `MM/DD/YYYY` or `M/D/YYYY` (surrounding space
/// ignored). Returns `None` for anything else, including an empty string.
pub fn parse_date(text: &str) -> Option<Date> {
    let t = text.trim();
    let num = |s: &str| -> Option<i32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let (y, m, d) = if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        (num(&t[0..4])?, num(&t[4..6])?, num(&t[6..8])?)
    } else if t.contains('-') {
        let mut it = t.splitn(3, '-');
        let y = num(it.next()?)?;
        let m = num(it.next()?)?;
        let rest = it.next()?;
        // tolerate a time part (`2020-08-18T20:22:56`)
        let d = num(rest.split(['T', ' ']).next()?)?;
        (y, m, d)
    } else if t.contains('/') {
        let mut it = t.splitn(3, '/');
        let m = num(it.next()?)?;
        let d = num(it.next()?)?;
        let y = num(it.next()?)?;
        (y, m, d)
    } else {
        return None;
    };
    if !(MIN_YEAR..=MAX_YEAR).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Date::new(y as i16, m as i8, d as i8).ok()
}

/// `YYYYMMDD`.
pub fn format_compact_date(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
}

/// The last day of a month (for a lot expiration known only by month and year, CALCDTLOTEXP-1).
pub fn last_day_of_month(year: i16, month: i8) -> Option<Date> {
    let first = Date::new(year, month, 1).ok()?;
    Some(add_days(add_months(first, 1), -1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        parse_date(s).unwrap()
    }
    fn off(s: &str) -> Offset {
        Offset::parse(s).unwrap().unwrap()
    }

    // The month walk of add_days agrees with the day-count conversion everywhere it is used.
    #[test]
    fn add_days_walk_matches_day_count() {
        let mut day = d("1999-12-01");
        while day < d("2001-03-01") {
            for days in -400..=400 {
                let expected = civil_from_days(days_from_civil(day) + i64::from(days));
                assert_eq!(add_days(day, days), expected, "{day} + {days}");
            }
            day = civil_from_days(days_from_civil(day) + 1);
        }
        assert_eq!(add_days(d("2000-02-28"), 1), d("2000-02-29"));
        assert_eq!(add_days(d("2100-02-28"), 1), d("2100-03-01"));
    }

    // Facts from Table 3-6 of the logic specification.
    #[test]
    fn calcdt_examples() {
        assert_eq!(off("3 years").add_to(d("2000-01-01")), d("2003-01-01"));
        assert_eq!(off("6 months").add_to(d("2000-01-01")), d("2000-07-01"));
        assert_eq!(off("6 months").add_to(d("2000-11-01")), d("2001-05-01"));
        assert_eq!(off("3 days").add_to(d("2000-01-01")), d("2000-01-04"));
        assert_eq!(off("3 weeks").add_to(d("2000-01-01")), d("2000-01-22"));
        assert_eq!(off("5 weeks").add_to(d("2000-02-01")), d("2000-03-07"));
        assert_eq!(off("5 weeks").add_to(d("2001-02-01")), d("2001-03-08"));
        assert_eq!(add_days(d("2000-01-15"), -4), d("2000-01-11"));
        assert_eq!(off("6 months").add_to(d("2000-03-31")), d("2000-10-01"));
        assert_eq!(off("6 months").add_to(d("2000-08-31")), d("2001-03-01"));
        assert_eq!(
            off("6 months - 4 days").add_to(d("2000-01-31")),
            d("2000-07-27")
        );
        assert_eq!(off("1 year").add_to(d("2000-02-29")), d("2001-03-01"));
    }

    // Worked checks from the project's CDSi notes (4.64 data facts).
    #[test]
    fn worked_checks() {
        let dob = d("2025-11-10");
        assert_eq!(off("6 weeks").add_to(dob), d("2025-12-22"));
        assert_eq!(off("2 months").add_to(dob), d("2026-01-10"));
        assert_eq!(
            add_days(off("3 months + 4 weeks").add_to(dob), -1),
            d("2026-03-09")
        );
        assert_eq!(off("6 months").add_to(d("2025-08-29")), d("2026-03-01"));
    }

    #[test]
    fn negative_and_mixed() {
        assert_eq!(off("-1 month").add_to(d("2000-03-31")), d("2000-03-01"));
        assert_eq!(off("16 years - 4 months").total_months(), 188);
        assert_eq!(off("12 months").add_to(d("1999-12-31")), d("2000-12-31"));
        assert_eq!(off("1 month").add_to(d("2000-12-31")), d("2001-01-31"));
        assert_eq!(off("1 month").add_to(d("2001-01-31")), d("2001-03-01"));
    }

    #[test]
    fn offset_parsing() {
        assert_eq!(Offset::parse("").unwrap(), None);
        assert_eq!(Offset::parse("  ").unwrap(), None);
        assert_eq!(
            off("6 months - 4 days"),
            Offset {
                years: 0,
                months: 6,
                days: -4
            }
        );
        assert_eq!(
            off("1 years - 4 days"),
            Offset {
                years: 1,
                months: 0,
                days: -4
            }
        );
        assert_eq!(
            off("8 months + 1 day"),
            Offset {
                years: 0,
                months: 8,
                days: 1
            }
        );
        assert_eq!(
            off("13 years + 4 weeks"),
            Offset {
                years: 13,
                months: 0,
                days: 28
            }
        );
        assert_eq!(off("0 days"), Offset::default());
        assert_eq!(off("6 Weeks-4 Days"), off("6 weeks - 4 days"));
        assert!(Offset::parse("six weeks").is_err());
        assert!(Offset::parse("6 fortnights").is_err());
        assert!(Offset::parse("6 weeks -").is_err());
        assert!(Offset::parse("6").is_err());
        assert!(Offset::parse("2147483647 weeks").is_err());
        assert!(Offset::parse("2147483647 days + 1 day").is_err());
        // Absurd but valid offsets saturate instead of overflowing.
        let huge = Offset::parse("2147483647 years").unwrap().unwrap();
        assert_eq!(huge.add_to(d("2000-01-01")).year(), 9998);
    }

    #[test]
    fn offset_display_round_trip() {
        for s in [
            "6 months - 4 days",
            "1 year",
            "16 years - 4 months",
            "0 days",
            "8 months + 1 day",
            "-3 days",
        ] {
            let o = off(s);
            assert_eq!(off(&o.to_string()), o, "{s}");
        }
    }

    #[test]
    fn day_arithmetic_matches_jiff() {
        let mut day = d("1899-12-25");
        for step in [
            1, 7, 28, 31, 59, 365, 366, 1461, -3, -400, 100_000, -100_000,
        ] {
            let ours = add_days(day, step);
            let theirs = day
                .checked_add(jiff::Span::new().days(i64::from(step)))
                .unwrap();
            assert_eq!(ours, theirs, "{day} + {step}");
            day = ours;
        }
    }

    #[test]
    fn date_parsing() {
        assert_eq!(parse_date("20250701"), Some(d("2025-07-01")));
        assert_eq!(parse_date("01/01/1957"), Some(d("1957-01-01")));
        assert_eq!(parse_date("1/2/1957"), Some(d("1957-01-02")));
        assert_eq!(parse_date("2020-08-18T20:22:56"), Some(d("2020-08-18")));
        assert_eq!(parse_date("2025-02-30"), None);
        assert_eq!(parse_date(""), None);
        assert_eq!(last_day_of_month(2024, 2), Some(d("2024-02-29")));
    }
}
