//! Calendar dates: one type for the whole service, [`jiff::civil::Date`], and the few helpers the
//! registry needs on top of it (reading the text forms it meets, age and month arithmetic).
//!
//! Every date the service reasons about — a birth date, an administration date, "today", a code
//! set's effective date — is a [`Date`]. Text appears only at the edges: HL7 fields (read by
//! [`crate::hl7::parse_dtm`]), database columns (`YYYY-MM-DD`, [`parse_iso`]), CDC's files
//! ([`parse_us`], [`parse_compact`]). `Date` displays as `YYYY-MM-DD`.
//!
//! The service accepts years 1 to 9999 ([`ymd`]); jiff's wider range is never reached from input.

use jiff::{Span, ToSpan};

pub use jiff::civil::Date;

/// The date `year-month-day`, `None` unless it exists (years 1 to 9999).
pub fn ymd(year: i16, month: u8, day: u8) -> Option<Date> {
    if !(1..=9999).contains(&year) {
        return None;
    }
    let month = i8::try_from(month).ok()?;
    let day = i8::try_from(day).ok()?;
    Date::new(year, month, day).ok()
}

fn number<T: std::str::FromStr>(digits: &str) -> Option<T> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `YYYY-MM-DD`, exactly (the database's and the code tables' form).
pub fn parse_iso(text: &str) -> Option<Date> {
    let mut parts = text.trim().split('-');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d), None) if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            ymd(number(y)?, number(m)?, number(d)?)
        }
        _ => None,
    }
}

/// `M/D/YYYY`, one or two digits for month and day (CDC's XML files).
pub fn parse_us(text: &str) -> Option<Date> {
    let mut parts = text.trim().split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(d), Some(y), None)
            if (1..=2).contains(&m.len()) && (1..=2).contains(&d.len()) && y.len() == 4 =>
        {
            ymd(number(y)?, number(m)?, number(d)?)
        }
        _ => None,
    }
}

/// `YYYYMMDD` (CDC's NDC files; an HL7 DT of day precision without the rest of DTM's forms).
pub fn parse_compact(text: &str) -> Option<Date> {
    let t = text.trim();
    if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All ASCII digits, so these byte ranges are character boundaries.
    ymd(number(&t[..4])?, number(&t[4..6])?, number(&t[6..])?)
}

/// The first and the last day of a month, `None` unless the month exists.
pub fn month_bounds(year: i16, month: u8) -> Option<(Date, Date)> {
    let first = ymd(year, month, 1)?;
    Some((first, first.last_of_month()))
}

/// The day after `d` (the last representable day stays itself).
pub fn next_day(d: Date) -> Date {
    d.tomorrow().unwrap_or(d)
}

/// Whole years from `birth` to `on` (the birthday itself counts; a 29 February birthday comes
/// round on 1 March in other years). Negative when `on` is before `birth`.
pub fn age_years(birth: Date, on: Date) -> i32 {
    let mut years = i32::from(on.year()) - i32::from(birth.year());
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}

/// Whole months from `from` to `to`, counted as [`age_years`] counts years: the month is complete
/// on the same day of the month (or on the 1st after a month too short to have that day).
pub fn months_between(from: Date, to: Date) -> i32 {
    let mut months = (i32::from(to.year()) - i32::from(from.year())) * 12
        + (i32::from(to.month()) - i32::from(from.month()));
    if to.day() < from.day() {
        months -= 1;
    }
    months
}

/// `d` plus `months` (negative to go back). A day the target month does not have becomes that
/// month's last day (31 January + 1 month = 28 or 29 February). `None` beyond year 9999.
pub fn add_months(d: Date, months: i32) -> Option<Date> {
    shifted(d, months.months())
}

/// `d` plus `days` (negative to go back); `None` beyond year 9999.
pub fn add_days(d: Date, days: i32) -> Option<Date> {
    shifted(d, days.days())
}

fn shifted(d: Date, by: Span) -> Option<Date> {
    d.checked_add(by)
        .ok()
        .filter(|r| (1..=9999).contains(&r.year()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn text_forms() {
        assert_eq!(parse_iso("2025-07-01"), Some(date(2025, 7, 1)));
        assert_eq!(parse_iso(" 2024-02-29 "), Some(date(2024, 2, 29)));
        assert_eq!(parse_iso("2023-02-29"), None);
        assert_eq!(parse_iso("2025-7-01"), None);
        assert_eq!(parse_iso("0000-01-01"), None, "years start at 1");
        assert_eq!(parse_us("2/29/2024"), Some(date(2024, 2, 29)));
        assert_eq!(parse_us("12/31/2023"), Some(date(2023, 12, 31)));
        assert_eq!(parse_us("2/29/2023"), None);
        assert_eq!(parse_compact("20250701"), Some(date(2025, 7, 1)));
        assert_eq!(parse_compact("2025070"), None);
        assert_eq!(parse_compact("2025+701"), None);
        assert_eq!(ymd(2024, 13, 1), None);
        assert_eq!(ymd(2024, 200, 1), None);
        assert_eq!(date(2024, 5, 3).to_string(), "2024-05-03");
    }

    #[test]
    fn days_and_months() {
        assert_eq!(next_day(date(2024, 2, 28)), date(2024, 2, 29));
        assert_eq!(next_day(date(2023, 2, 28)), date(2023, 3, 1));
        assert_eq!(next_day(date(2023, 12, 31)), date(2024, 1, 1));
        assert_eq!(next_day(Date::MAX), Date::MAX);
        assert_eq!(
            month_bounds(2024, 2),
            Some((date(2024, 2, 1), date(2024, 2, 29)))
        );
        assert_eq!(month_bounds(2024, 0), None);
        assert_eq!(add_months(date(2024, 1, 31), 1), Some(date(2024, 2, 29)));
        assert_eq!(add_months(date(2024, 3, 15), -3), Some(date(2023, 12, 15)));
        assert_eq!(add_months(date(9999, 12, 1), 1), None);
        assert_eq!(add_days(date(2024, 2, 28), 2), Some(date(2024, 3, 1)));
        assert_eq!(add_days(date(1, 1, 1), -1), None);
    }

    #[test]
    fn ages() {
        assert_eq!(age_years(date(2000, 6, 15), date(2018, 6, 14)), 17);
        assert_eq!(age_years(date(2000, 6, 15), date(2018, 6, 15)), 18);
        assert_eq!(age_years(date(2000, 2, 29), date(2018, 2, 28)), 17);
        assert_eq!(age_years(date(2000, 2, 29), date(2018, 3, 1)), 18);
        assert_eq!(age_years(date(2020, 1, 1), date(2019, 1, 1)), -1);
        assert_eq!(months_between(date(2024, 1, 15), date(2024, 3, 14)), 1);
        assert_eq!(months_between(date(2024, 1, 15), date(2024, 3, 15)), 2);
        assert_eq!(months_between(date(2023, 11, 30), date(2024, 2, 29)), 2);
        assert_eq!(months_between(date(2023, 11, 30), date(2024, 3, 1)), 3);
    }
}
