//! Small value checks that need no code table: names, phone numbers, ZIP codes, US states, lot
//! numbers, OIDs, numbers and dates; and how an offending value is shown in a sentence.

use std::borrow::Cow;

use crate::hl7::{parse_dtm, Component, DtmPrecision, Repetition, Segment};

use crate::date::{month_bounds, Date};

/// Trims a value; `None` when nothing is left or it is the HL7 null `""`.
pub(crate) fn trimmed(v: Cow<'_, str>) -> Option<Cow<'_, str>> {
    match v {
        Cow::Borrowed(s) => {
            let t = s.trim();
            (!t.is_empty() && t != "\"\"").then_some(Cow::Borrowed(t))
        }
        Cow::Owned(s) => {
            let t = s.trim();
            if t.is_empty() || t == "\"\"" {
                None
            } else if t.len() == s.len() {
                Some(Cow::Owned(s))
            } else {
                Some(Cow::Owned(t.to_string()))
            }
        }
    }
}

/// The decoded, trimmed value of a component.
pub(crate) fn comp<'a>(c: Component<'a>) -> Option<Cow<'a, str>> {
    trimmed(c.value())
}

/// The decoded, trimmed components 1..=N of a repetition, read in one pass.
pub(crate) fn components<'a, const N: usize>(rep: Repetition<'a>) -> [Option<Cow<'a, str>>; N] {
    let mut out: [Option<Cow<'a, str>>; N] = std::array::from_fn(|_| None);
    for (slot, c) in out.iter_mut().zip(rep.components()) {
        *slot = comp(c);
    }
    out
}

/// Decoded, trimmed subcomponent 1 of `component` in the first repetition of `field`; `None`
/// when empty or the null `""`. The same as [`Segment::get`] followed by [`trimmed`] (for any
/// field but MSH-1 and MSH-2), with a fast path for a field without delimiters or escapes.
pub(crate) fn val<'a>(
    seg: &Segment<'a, '_>,
    field: usize,
    component: usize,
) -> Option<Cow<'a, str>> {
    let f = seg.field(field);
    let raw = f.raw();
    if component == 1 {
        // Delimiters are ASCII (the parser refuses others), so a byte scan is exact.
        let d = f.delimiters();
        let [r, c, s, e] = [d.repetition, d.component, d.subcomponent, d.escape].map(|x| x as u8);
        if !raw.bytes().any(|b| b == r || b == c || b == s || b == e) {
            return trimmed(Cow::Borrowed(raw));
        }
    }
    trimmed(f.repetition(1).component(component).subcomponent_value(1))
}

/// An offending value as shown in a sentence: quoted, at most 40 characters, control characters
/// replaced, so that a finding never carries a whole field of free text.
pub(crate) fn shown(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(44) + 2);
    out.push('\'');
    for (i, c) in value.chars().enumerate() {
        if i == 40 {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out.push('\'');
    out
}

/// A parsed HL7 date/time reduced to what the rules use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct When {
    /// The first day the value can mean.
    pub first: Date,
    /// The last day it can mean (the same day unless the precision is coarser than a day).
    pub last: Date,
    pub precision: DtmPrecision,
    pub has_offset: bool,
}

impl When {
    pub fn day(&self) -> Option<Date> {
        (self.precision >= DtmPrecision::Day).then_some(self.first)
    }
}

pub(crate) fn when(raw: &str) -> Option<When> {
    let dtm = parse_dtm(raw.trim()).ok()?;
    let y = dtm.year;
    let (first, last) = match (dtm.date(), dtm.month) {
        (Some(day), _) => (day, day),
        (None, Some(m)) => month_bounds(y, m)?,
        (None, None) => (month_bounds(y, 1)?.0, month_bounds(y, 12)?.1),
    };
    Some(When {
        first,
        last,
        precision: dtm.precision,
        has_offset: dtm.offset_minutes.is_some(),
    })
}

/// An HL7 NM: optional sign, digits, optional decimal point.
pub(crate) fn number(raw: &str) -> Option<f64> {
    let s = raw.trim();
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    let dots = body.bytes().filter(|&b| b == b'.').count();
    if digits == 0 || dots > 1 || digits + dots != body.len() {
        return None;
    }
    s.parse().ok()
}

/// An ISO OID: `0`, `1` or `2`, then dot-separated numbers without leading zeros.
pub(crate) fn is_oid(s: &str) -> bool {
    let mut arcs = s.split('.');
    let first_ok = matches!(arcs.next(), Some("0" | "1" | "2"));
    let mut count = 1;
    let rest_ok = arcs.all(|a| {
        count += 1;
        !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) && (a == "0" || !a.starts_with('0'))
    });
    first_ok && rest_ok && count >= 2
}

/// What a name component looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameIssue {
    /// A test patient or a newborn placeholder; the word is returned.
    Test(&'static str),
    /// A placeholder such as UNKNOWN.
    Junk(&'static str),
    /// Digits or symbols.
    Invalid,
}

const TEST_WORDS: &[&str] = &[
    "TEST",
    "TESTING",
    "TESTPATIENT",
    "DUMMY",
    "BABY",
    "BABYBOY",
    "BABYGIRL",
    "INFANT",
    "NEWBORN",
    "NB",
];

const JUNK_WORDS: &[&str] = &[
    "UNKNOWN",
    "UNK",
    "NONE",
    "NULL",
    "NA",
    "N/A",
    "X",
    "XX",
    "XXX",
    "XXXX",
    "ZZZ",
    "NFN",
    "NLN",
    "FNU",
    "LNU",
    "NOFIRSTNAME",
    "NOLASTNAME",
    "NONAME",
    "NOTGIVEN",
    "?",
];

/// Checks one name component (family or given name). Allocates nothing.
pub(crate) fn name_issue(name: &str) -> Option<NameIssue> {
    // The name without whitespace, upper-cased, when it is short ASCII: only such a name can be
    // one of the words.
    let mut buf = [0u8; 16];
    let mut len = 0;
    let mut fits = true;
    for c in name.chars().filter(|c| !c.is_whitespace()) {
        if !c.is_ascii() || len == buf.len() {
            fits = false;
            break;
        }
        buf[len] = c.to_ascii_uppercase() as u8;
        len += 1;
    }
    if fits {
        let compact = &buf[..len];
        if let Some(w) = TEST_WORDS.iter().find(|w| w.as_bytes() == compact) {
            return Some(NameIssue::Test(w));
        }
    }
    let first_word = name.split_whitespace().next().unwrap_or("");
    for w in ["BABY", "TEST"] {
        if first_word.eq_ignore_ascii_case(w) {
            return Some(NameIssue::Test(w));
        }
    }
    if fits {
        let compact = &buf[..len];
        if let Some(w) = JUNK_WORDS.iter().find(|w| w.as_bytes() == compact) {
            return Some(NameIssue::Junk(w));
        }
    }
    let ok = name
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '.' | ',' | '\u{2019}'));
    (!ok).then_some(NameIssue::Invalid)
}

/// Whether a CX.5 identifier type is in HL7 table 0203.
pub(crate) fn is_identifier_type(t: &str) -> bool {
    matches!(
        t,
        "AM" | "AN"
            | "ANON"
            | "BA"
            | "BR"
            | "BRN"
            | "DI"
            | "DL"
            | "DN"
            | "DR"
            | "DS"
            | "EI"
            | "EN"
            | "FI"
            | "GI"
            | "GN"
            | "HC"
            | "JHN"
            | "LN"
            | "LR"
            | "MA"
            | "MC"
            | "MCN"
            | "MR"
            | "MS"
            | "NE"
            | "NH"
            | "NI"
            | "NPI"
            | "PEN"
            | "PI"
            | "PN"
            | "PRN"
            | "PT"
            | "RRI"
            | "RN"
            | "SL"
            | "SR"
            | "SS"
            | "TAX"
            | "U"
            | "UPIN"
            | "VN"
            | "VS"
            | "WC"
            | "WCN"
            | "XX"
    )
}

/// USPS state, district, territory and military codes.
const US_STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY", "AS", "GU", "MP", "PR", "VI", "UM", "FM", "MH", "PW", "AA", "AE", "AP",
];

pub(crate) fn is_us_state(s: &str) -> bool {
    US_STATES.iter().any(|st| st.eq_ignore_ascii_case(s))
}

/// Whether an address's country (XAD.6) means the US (blank counts as US).
pub(crate) fn is_us_country(country: Option<&str>) -> bool {
    match country {
        None => true,
        Some(c) => matches!(c.to_ascii_uppercase().as_str(), "USA" | "US" | "840"),
    }
}

/// A US ZIP code: 5 digits, 5+4 with a hyphen, or 9 digits.
pub(crate) fn is_us_zip(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 | 9 => digits(b),
        10 => digits(&b[..5]) && b[5] == b'-' && digits(&b[6..]),
        _ => false,
    }
}

const TELECOM_USE: &[&str] = &[
    "ASN", "BPN", "EMR", "NET", "ORN", "PRN", "PRS", "VHN", "WPN",
];
const TELECOM_EQUIPMENT: &[&str] = &[
    "BP", "CP", "FX", "INTERNET", "MD", "PH", "SAT", "TDD", "TTY", "X.400",
];

/// Checks one XTN repetition against the guide's format; the problem as a phrase.
pub(crate) fn xtn_problem(
    use_code: Option<&str>,
    equipment: Option<&str>,
    email: Option<&str>,
    area: Option<&str>,
    local: Option<&str>,
    legacy_number: Option<&str>,
) -> Option<&'static str> {
    let is = |v: Option<&str>, w: &str| v.is_some_and(|v| v.eq_ignore_ascii_case(w));
    if let Some(u) = use_code {
        if !TELECOM_USE.iter().any(|k| k.eq_ignore_ascii_case(u)) {
            return Some("its use code (XTN.2) is not in HL7 table 0201");
        }
    }
    if let Some(e) = equipment {
        if !TELECOM_EQUIPMENT.iter().any(|k| k.eq_ignore_ascii_case(e)) {
            return Some("its equipment type (XTN.3) is not in HL7 table 0202");
        }
    }
    let is_email = is(use_code, "NET") || is(equipment, "INTERNET") || is(equipment, "X.400");
    if is_email {
        return match email {
            Some(e) if e.contains('@') && !e.starts_with('@') && !e.ends_with('@') => None,
            _ => Some("the e-mail address (XTN.4) is missing or not an address"),
        };
    }
    if area.is_none() && local.is_none() {
        return Some(match legacy_number {
            Some(_) => {
                "the number is in XTN.1; send the area code in XTN.6 and the number in XTN.7"
            }
            None => "the phone number (XTN.6 and XTN.7) is missing",
        });
    }
    if use_code.is_none() {
        return Some("its use code (XTN.2, e.g. PRN) is missing");
    }
    // `n` digits; separators are ignored.
    let digits_only = |s: &str, n: usize| {
        let mut count = 0;
        for c in s.chars() {
            match c {
                '0'..='9' => count += 1,
                '-' | ' ' | '.' | '(' | ')' => {}
                _ => return false,
            }
        }
        count == n
    };
    match (area, local) {
        (Some(a), Some(l)) => {
            let ok = digits_only(a, 3) && digits_only(l, 7);
            (!ok).then_some("the area code (XTN.6) must have 3 digits and the number (XTN.7) 7")
        }
        (None, _) => Some("the area code (XTN.6) is missing"),
        (Some(_), None) => Some("the local number (XTN.7) is missing"),
    }
}

const LOT_PLACEHOLDERS: &[&str] = &[
    "UNK", "UNKNOWN", "NA", "N/A", "NONE", "NULL", "TEST", "?", "0", "00", "000", "X", "XX", "XXX",
    "LOT", "NOLOT", "NO LOT",
];

/// Why a lot number looks wrong, as a phrase.
pub(crate) fn lot_problem(lot: &str) -> Option<&'static str> {
    let upper = lot.to_ascii_uppercase();
    if LOT_PLACEHOLDERS.contains(&upper.as_str()) {
        return Some("is a placeholder, not a lot number");
    }
    if !lot
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ' ' | '.' | '/'))
    {
        return Some("has characters lot numbers do not have");
    }
    if lot.chars().filter(char::is_ascii_alphanumeric).count() < 3 {
        return Some("is too short to be a lot number");
    }
    None
}

/// Whether an OBX-2 value type (upper case) is in HL7 table 0125.
pub(crate) fn is_value_type(t: &str) -> bool {
    matches!(
        t,
        "AD" | "CE"
            | "CF"
            | "CK"
            | "CN"
            | "CNE"
            | "CP"
            | "CQ"
            | "CWE"
            | "CX"
            | "DR"
            | "DT"
            | "DTM"
            | "ED"
            | "EI"
            | "FN"
            | "FT"
            | "HD"
            | "ID"
            | "IS"
            | "LA2"
            | "MA"
            | "MO"
            | "NA"
            | "NM"
            | "PN"
            | "RP"
            | "SAD"
            | "SI"
            | "SN"
            | "ST"
            | "TM"
            | "TN"
            | "TS"
            | "TX"
            | "XAD"
            | "XCN"
            | "XON"
            | "XPN"
            | "XTN"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert!(is_oid("2.16.840.1.113883.3.72"));
        assert!(!is_oid("2"));
        assert!(!is_oid("3.1"));
        assert!(!is_oid("2.16.08"));
        assert!(!is_oid("RIIIS"));
        assert_eq!(number("0.5"), Some(0.5));
        assert_eq!(number("-1"), Some(-1.0));
        assert_eq!(number("999"), Some(999.0));
        assert_eq!(number("1e5"), None);
        assert_eq!(number("."), None);
        assert_eq!(number("0.5mL"), None);
        assert!(is_us_zip("59715") && is_us_zip("59715-1234") && is_us_zip("597151234"));
        assert!(!is_us_zip("5971") && !is_us_zip("59715-12") && !is_us_zip("K1A 0B1"));
        assert_eq!(name_issue("Richardson"), None);
        assert_eq!(name_issue("O'Brien-Smith"), None);
        assert_eq!(name_issue("José"), None);
        assert_eq!(name_issue("Baby Boy"), Some(NameIssue::Test("BABYBOY")));
        assert_eq!(name_issue("TEST"), Some(NameIssue::Test("TEST")));
        assert_eq!(name_issue("unknown"), Some(NameIssue::Junk("UNKNOWN")));
        assert_eq!(name_issue("J0hn"), Some(NameIssue::Invalid));
        assert_eq!(lot_problem("Z0860BB"), None);
        assert_eq!(lot_problem("68736"), None);
        assert!(lot_problem("Y5841RR(P)").is_some());
        assert!(lot_problem("N/A").is_some());
        assert!(lot_problem("A1").is_some());
        assert_eq!(shown("abc"), "'abc'");
        assert_eq!(shown(&"x".repeat(50)).chars().count(), 43);
        let w = when("202405").expect("month");
        assert_eq!(
            (w.first, w.last, w.day()),
            (
                jiff::civil::date(2024, 5, 1),
                jiff::civil::date(2024, 5, 31),
                None
            )
        );
        assert!(when("20240515093012-0500").is_some_and(|w| w.has_offset));
        assert!(when("2024-05-15").is_none());
    }

    #[test]
    fn phones() {
        let p = |u, e, m, a, l, x| xtn_problem(u, e, m, a, l, x);
        assert_eq!(
            p(
                Some("PRN"),
                Some("PH"),
                None,
                Some("406"),
                Some("5557690"),
                None
            ),
            None
        );
        assert_eq!(
            p(
                Some("PRN"),
                Some("CP"),
                None,
                Some("406"),
                Some("555-7690"),
                None
            ),
            None
        );
        assert_eq!(
            p(Some("NET"), None, Some("a@b.org"), None, None, None),
            None
        );
        assert_eq!(
            p(
                Some("NET"),
                Some("Internet"),
                Some("a@b.org"),
                None,
                None,
                None
            ),
            None
        );
        assert!(p(Some("NET"), None, Some("ab.org"), None, None, None).is_some());
        assert!(p(
            Some("XYZ"),
            Some("PH"),
            None,
            Some("406"),
            Some("5557690"),
            None
        )
        .is_some());
        assert!(p(
            Some("PRN"),
            Some("PH"),
            None,
            Some("40"),
            Some("5557690"),
            None
        )
        .is_some());
        assert!(p(None, None, None, None, None, Some("(406)555-7690")).is_some());
        assert!(p(
            Some("PRN"),
            Some("PH"),
            None,
            None,
            None,
            Some("(406)555-7690")
        )
        .is_some());
    }
}
