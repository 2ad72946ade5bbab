//! A calendar date, just enough for code-set effective dates (no time zones, no arithmetic).

use std::fmt;

/// A valid proleptic-Gregorian date, years 1–9999. Displays as `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// `None` unless the date exists.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }

    /// `YYYY-MM-DD` (our TSV format).
    pub fn parse_iso(text: &str) -> Option<Date> {
        let mut parts = text.trim().split('-');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(y), Some(m), Some(d), None) if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
                Date::new(number(y)?, number(m)?, number(d)?)
            }
            _ => None,
        }
    }

    /// `M/D/YYYY` (CDC's XML files), one or two digits for month and day.
    pub fn parse_us(text: &str) -> Option<Date> {
        let mut parts = text.trim().split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(d), Some(y), None)
                if (1..=2).contains(&m.len()) && (1..=2).contains(&d.len()) && y.len() == 4 =>
            {
                Date::new(number(y)?, number(m)?, number(d)?)
            }
            _ => None,
        }
    }

    /// `YYYYMMDD` (CDC's NDC files, HL7 DT).
    pub fn parse_compact(text: &str) -> Option<Date> {
        let t = text.trim();
        if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // All ASCII digits, so these byte ranges are character boundaries.
        Date::new(number(&t[..4])?, number(&t[4..6])?, number(&t[6..])?)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn number<T: std::str::FromStr>(digits: &str) -> Option<T> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 0,
    }
}
