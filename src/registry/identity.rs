//! Who is this? Normalized demographics and the match decision, pure.
//!
//! Deterministic rules in the spirit of AIRA's MIROW practice: strip newborn placeholder names,
//! block candidates on birth date or name, guard against twins, and never merge silently on a
//! weak signal — a weak signal only puts the two records on a review list.

use crate::date::Date;

/// Tokens that are placeholders, not names ("BABY BOY", "TWIN A", "INFANT GIRL").
const NOISE: &[&str] = &[
    "BABY", "BABYBOY", "BABYGIRL", "BOY", "GIRL", "INFANT", "NEWBORN", "NB", "TWIN", "TRIPLET",
    "MALE", "FEMALE", "UNKNOWN", "UNK",
];

/// A family name reduced to what matching compares: upper-case letters only.
/// "O'Brien-Smith" → "OBRIENSMITH". (A family may really be called Twin or Baby.)
pub fn normalize_family(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_uppercase)
        .collect()
}

/// A given name reduced to what matching compares: upper-case letters, newborn placeholder
/// words removed. "Baby Boy" → "", "TWIN A" → "", "Baby Girl Ann" → "ANN".
pub fn normalize_name(name: &str) -> String {
    let upper = name.to_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = String::new();
    let mut after_placeholder = false;
    for word in words {
        let letters: String = word.chars().filter(|c| c.is_alphabetic()).collect();
        if NOISE.contains(&letters.as_str()) {
            after_placeholder = true;
            continue;
        }
        // "TWIN A", "BABY B": a single letter after a placeholder is an order, not a name.
        if after_placeholder && letters.chars().count() == 1 {
            continue;
        }
        after_placeholder = false;
        out.push_str(&letters);
    }
    out
}

/// Digits only (phones, zip codes).
pub fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// What matching knows about a person, incoming or stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Demographics {
    pub family: String,
    pub given: String,
    pub birth_date: Date,
    pub sex: Option<String>,
    pub mother_maiden: String,
    /// The last 10 digits of the phone number, if any.
    pub phone: String,
    /// First five digits of the zip code.
    pub zip: String,
    pub street: String,
    pub multiple_birth: Option<bool>,
    pub birth_order: Option<u8>,
}

impl Demographics {
    /// Builds the comparable form from raw values.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        family: &str,
        given: &str,
        birth_date: Date,
        sex: Option<&str>,
        mother_maiden: Option<&str>,
        phone: Option<&str>,
        zip: Option<&str>,
        street: Option<&str>,
        multiple_birth: Option<bool>,
        birth_order: Option<u8>,
    ) -> Demographics {
        let phone = digits(phone.unwrap_or(""));
        let phone = phone[phone.len().saturating_sub(10)..].to_string();
        Demographics {
            family: normalize_family(family),
            given: normalize_name(given),
            birth_date,
            sex: sex
                .map(|s| s.trim().to_ascii_uppercase())
                .filter(|s| s == "F" || s == "M"),
            mother_maiden: normalize_family(mother_maiden.unwrap_or("")),
            phone,
            zip: digits(zip.unwrap_or("")).chars().take(5).collect(),
            street: normalize_family(street.unwrap_or("")) + &digits(street.unwrap_or("")),
            multiple_birth,
            birth_order,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The same person: link.
    Match,
    /// Maybe the same person: create a new record and ask a person.
    Possible,
    NoMatch,
}

/// Why a pair was judged as it was (kept on the review list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
}

fn both<'a>(a: &'a str, b: &'a str) -> Option<(&'a str, &'a str)> {
    (!a.is_empty() && !b.is_empty()).then_some((a, b))
}

/// Birth dates one keying slip apart: day and month swapped, one digit different, or two
/// adjacent digits transposed ("21" keyed as "12"). Slips happen to the digits as typed, so the
/// two dates are compared as `YYYY-MM-DD` text.
fn dates_close(a: Date, b: Date) -> bool {
    let (a, b) = (a.to_string(), b.to_string());
    if a.len() != 10 || b.len() != 10 {
        return false;
    }
    let swapped =
        a.get(0..4) == b.get(0..4) && a.get(5..7) == b.get(8..10) && a.get(8..10) == b.get(5..7);
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let differing: Vec<usize> = (0..10).filter(|&i| a[i] != b[i]).collect();
    let transposed =
        matches!(differing.as_slice(), [i, j] if *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i]);
    swapped || differing.len() == 1 || transposed
}

/// Compares an incoming person with one stored candidate.
pub fn judge(incoming: &Demographics, stored: &Demographics) -> Judgement {
    let verdict = |verdict, reason: &str| Judgement {
        verdict,
        reason: reason.to_string(),
    };
    let family_eq = both(&incoming.family, &stored.family).map(|(a, b)| a == b);
    let given_eq = both(&incoming.given, &stored.given).map(|(a, b)| a == b);
    let dob_eq = incoming.birth_date == stored.birth_date;
    let sex_conflict = matches!((&incoming.sex, &stored.sex), (Some(a), Some(b)) if a != b);
    let mmn_conflict =
        both(&incoming.mother_maiden, &stored.mother_maiden).is_some_and(|(a, b)| a != b);

    // Twins share a birth date, a family name, a mother and often an address: the birth order
    // or the given name tells them apart, and must.
    let multiple = incoming.multiple_birth == Some(true) || stored.multiple_birth == Some(true);
    if dob_eq && multiple {
        let order_differs =
            matches!((incoming.birth_order, stored.birth_order), (Some(a), Some(b)) if a != b);
        if order_differs || given_eq == Some(false) {
            return verdict(
                Verdict::NoMatch,
                "multiple birth with a different birth order or given name (twin guard)",
            );
        }
    }

    let names_eq = family_eq == Some(true) && given_eq == Some(true);
    if dob_eq && names_eq {
        if sex_conflict {
            return verdict(
                Verdict::Possible,
                "same name and birth date but a different sex",
            );
        }
        if mmn_conflict {
            return verdict(
                Verdict::Possible,
                "same name and birth date but a different mother's maiden name",
            );
        }
        return verdict(Verdict::Match, "same name and birth date");
    }
    if dob_eq && (family_eq == Some(true) || given_eq == Some(true)) {
        let supporting = (!incoming.phone.is_empty() && incoming.phone == stored.phone)
            || (!incoming.street.is_empty()
                && incoming.street == stored.street
                && incoming.zip == stored.zip)
            || (!incoming.mother_maiden.is_empty()
                && incoming.mother_maiden == stored.mother_maiden);
        let reason = if supporting {
            "same birth date, one name differs, phone/address/mother's maiden name agree"
        } else {
            "same birth date and one of the names"
        };
        return verdict(Verdict::Possible, reason);
    }
    if names_eq && dates_close(incoming.birth_date, stored.birth_date) {
        return verdict(
            Verdict::Possible,
            "same name, birth dates one keying slip apart",
        );
    }
    verdict(Verdict::NoMatch, "different person")
}

/// The overall decision over all candidates: one clear match links; several matches, or only
/// possible ones, create a new record and list the pairs for review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Link(i64),
    New { review: Vec<(i64, String)> },
}

pub fn decide(incoming: &Demographics, candidates: &[(i64, Demographics)]) -> Decision {
    let mut matches = Vec::new();
    let mut possible = Vec::new();
    for (id, stored) in candidates {
        let j = judge(incoming, stored);
        match j.verdict {
            Verdict::Match => matches.push((*id, j.reason)),
            Verdict::Possible => possible.push((*id, j.reason)),
            Verdict::NoMatch => {}
        }
    }
    match matches.len() {
        1 => Decision::Link(matches[0].0),
        0 => Decision::New { review: possible },
        _ => Decision::New {
            review: matches
                .into_iter()
                .map(|(id, _)| {
                    (
                        id,
                        "several records with the same name and birth date".to_string(),
                    )
                })
                .chain(possible)
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(family: &str, given: &str, dob: &str) -> Demographics {
        Demographics::new(
            family,
            given,
            crate::date::parse_iso(dob).expect("test date"),
            Some("F"),
            None,
            None,
            None,
            None,
            None,
            None,
        )
    }

    #[test]
    fn placeholder_names_are_noise() {
        assert_eq!(normalize_name("Baby Boy"), "");
        assert_eq!(normalize_name("TWIN A"), "");
        assert_eq!(normalize_name("Baby Girl Ann"), "ANN");
        assert_eq!(normalize_family("Twin"), "TWIN", "a surname is never noise");
        assert_eq!(normalize_name("O'Brien-Smith"), "OBRIENSMITH");
        assert_eq!(normalize_name("  josé "), "JOSÉ");
        assert_eq!(
            normalize_name("Anna B"),
            "ANNAB",
            "a single letter is noise only after a placeholder"
        );
    }

    #[test]
    fn same_name_and_birth_date_match() {
        let a = person("Nuclear", "Nellie", "2023-04-21");
        let b = person("NUCLEAR", "nellie", "2023-04-21");
        assert_eq!(judge(&a, &b).verdict, Verdict::Match);
        assert_eq!(decide(&a, &[(7, b)]), Decision::Link(7));
    }

    #[test]
    fn weak_signals_only_ask_for_review() {
        let a = person("Nuclear", "Nellie", "2023-04-21");
        // One name differs.
        assert_eq!(
            judge(&a, &person("Nuclear", "Nelly", "2023-04-21")).verdict,
            Verdict::Possible
        );
        // Day and month swapped, or one digit off.
        let b = person("Nuclear", "Nellie", "2023-04-05");
        assert_eq!(
            judge(&b, &person("Nuclear", "Nellie", "2023-05-04")).verdict,
            Verdict::Possible
        );
        assert_eq!(
            judge(&a, &person("Nuclear", "Nellie", "2023-04-12")).verdict,
            Verdict::Possible
        );
        assert_eq!(
            judge(&a, &person("Nuclear", "Nellie", "2019-11-30")).verdict,
            Verdict::NoMatch
        );
        // A newborn placeholder name never matches on its own.
        let baby = person("Nuclear", "Baby Girl", "2023-04-21");
        assert_eq!(judge(&baby, &a).verdict, Verdict::Possible);
        // Different sex.
        let mut m = a.clone();
        m.sex = Some("M".into());
        assert_eq!(judge(&a, &m).verdict, Verdict::Possible);
        assert!(matches!(decide(&a, &[(1, m)]), Decision::New { review } if review.len() == 1));
    }

    #[test]
    fn twins_stay_two() {
        let mut a = person("Twin", "Ann", "2024-01-01");
        a.multiple_birth = Some(true);
        a.birth_order = Some(1);
        let mut b = person("Twin", "Beth", "2024-01-01");
        b.multiple_birth = Some(true);
        b.birth_order = Some(2);
        assert_eq!(judge(&a, &b).verdict, Verdict::NoMatch);
        // Same given name but a different birth order: still two.
        let mut c = a.clone();
        c.birth_order = Some(2);
        assert_eq!(judge(&a, &c).verdict, Verdict::NoMatch);
        // The same twin reported again matches.
        assert_eq!(judge(&a, &a.clone()).verdict, Verdict::Match);
    }

    #[test]
    fn two_clear_matches_are_not_guessed_between() {
        let a = person("Same", "Name", "2020-02-02");
        let decision = decide(&a, &[(1, a.clone()), (2, a.clone())]);
        assert!(matches!(decision, Decision::New { review } if review.len() == 2));
    }

    #[test]
    fn phones_keep_the_last_ten_digits() {
        let d = Demographics::new(
            "A",
            "B",
            jiff::civil::date(2020, 1, 1),
            None,
            None,
            Some("+1 (616) 555-9999"),
            Some("48846-1234"),
            None,
            None,
            None,
        );
        assert_eq!(d.phone, "6165559999");
        assert_eq!(d.zip, "48846");
    }
}
