//! The one patient matcher, for submissions and queries alike.
//!
//! Identifiers already linked decide first; without one, demographic candidates (the same birth
//! date with the same family or given name, or the same normalized names: every pair
//! [`identity::judge`] can call a match or a possible match; at most [`CANDIDATE_LIMIT`]) are
//! judged by it.
//! The result is a [`Match`]; a VXU and a query then act on it differently (a VXU must write to
//! one record or create one, a query may answer with a list of candidates), but they never find
//! different people.

use super::identity::{self, Demographics, Verdict};
use super::model::Identifier;
use super::port::{RegistryTx, StorageError, StoredPerson};

/// The most demographic candidates read for one message.
pub const CANDIDATE_LIMIT: usize = 100;

/// Why a reported identifier did not link: it belongs to someone else by every other sign.
pub const LINKED_ELSEWHERE: &str =
    "identifier already linked to a person with a different name and birth date";
/// Why the other records named by one report's identifiers are put on the review list.
pub const SEVERAL_LINKED: &str = "identifiers of one report point at several records";

/// How the one record was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchedBy {
    /// An identifier already linked to the record.
    Identifier,
    /// The only candidate with the same names and birth date.
    Demographics,
}

/// Who the incoming person is, as far as the registry can tell.
#[derive(Clone, Debug)]
pub enum Match {
    /// Exactly one record.
    One { person: StoredPerson, by: MatchedBy },
    /// The identifiers of one report link to several records (a merge is due): the first (lowest
    /// id) and the others.
    Several {
        first: StoredPerson,
        others: Vec<StoredPerson>,
    },
    /// No record for sure. These may be the person, each with the reason (empty: nobody).
    Unsure { possible: Vec<(i64, String)> },
}

impl Match {
    /// Every record the match names, the sure one first.
    pub fn ids(&self) -> Vec<i64> {
        match self {
            Match::One { person, .. } => vec![person.id],
            Match::Several { first, others } => std::iter::once(first.id)
                .chain(others.iter().map(|p| p.id))
                .collect(),
            Match::Unsure { possible } => possible.iter().map(|(id, _)| *id).collect(),
        }
    }
}

/// Decides from the records the identifiers link to; `None` when they link to none (then the
/// demographic candidates decide, [`by_demographics`]).
pub fn by_identifiers(who: &Demographics, mut linked: Vec<StoredPerson>) -> Option<Match> {
    match linked.len() {
        0 => None,
        1 => {
            let one = linked.remove(0);
            let judged = identity::judge(who, &one.demographics);
            let dob_and_name_differ = one.demographics.birth_date != who.birth_date
                && one.demographics.family != who.family;
            Some(
                if dob_and_name_differ && judged.verdict == Verdict::NoMatch {
                    Match::Unsure {
                        possible: vec![(one.id, LINKED_ELSEWHERE.to_string())],
                    }
                } else {
                    Match::One {
                        person: one,
                        by: MatchedBy::Identifier,
                    }
                },
            )
        }
        _ => {
            let first = linked.remove(0);
            Some(Match::Several {
                first,
                others: linked,
            })
        }
    }
}

/// Decides among demographic candidates: one clear match links; several clear matches, or only
/// possible ones, are unsure.
pub fn by_demographics(who: &Demographics, candidates: Vec<StoredPerson>) -> Match {
    let pairs: Vec<(i64, Demographics)> = candidates
        .iter()
        .map(|p| (p.id, p.demographics.clone()))
        .collect();
    match identity::decide(who, &pairs) {
        identity::Decision::Link(id) => match candidates.into_iter().find(|p| p.id == id) {
            Some(person) => Match::One {
                person,
                by: MatchedBy::Demographics,
            },
            None => Match::Unsure {
                possible: Vec::new(),
            },
        },
        identity::Decision::New { review } => Match::Unsure { possible: review },
    }
}

/// Finds who a report or query is about: linked identifiers first, then demographics.
pub async fn find<Tx: RegistryTx>(
    tx: &mut Tx,
    organization_id: i64,
    identifiers: &[Identifier],
    who: &Demographics,
) -> Result<Match, StorageError> {
    let linked = tx.linked_patients(organization_id, identifiers).await?;
    if let Some(found) = by_identifiers(who, linked) {
        return Ok(found);
    }
    let candidates = tx.candidates(who, CANDIDATE_LIMIT).await?;
    Ok(by_demographics(who, candidates))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::consent::Status;
    use jiff::civil::date;

    fn person(id: i64, family: &str, given: &str, dob: crate::date::Date) -> StoredPerson {
        StoredPerson {
            id,
            demographics: Demographics::sketch(family, given, dob),
            consent: Status::None,
        }
    }

    fn who() -> Demographics {
        person(0, "Nuclear", "Nellie", date(2023, 4, 21)).demographics
    }

    #[test]
    fn one_linked_identifier_decides_even_with_a_new_name() {
        let linked = vec![person(7, "Married", "Nellie", date(2023, 4, 21))];
        let found = by_identifiers(&who(), linked).expect("decided");
        assert!(matches!(
            found,
            Match::One { ref person, by: MatchedBy::Identifier } if person.id == 7
        ));
    }

    #[test]
    fn an_identifier_of_somebody_else_by_every_other_sign_is_only_possible() {
        let linked = vec![person(7, "Other", "Olga", date(1990, 1, 1))];
        let found = by_identifiers(&who(), linked).expect("decided");
        match found {
            Match::Unsure { possible } => {
                assert_eq!(possible, [(7, LINKED_ELSEWHERE.to_string())])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn several_linked_records_keep_the_first() {
        let linked = vec![
            person(3, "Nuclear", "Nellie", date(2023, 4, 21)),
            person(9, "Nuclear", "Nellie", date(2023, 4, 21)),
        ];
        let found = by_identifiers(&who(), linked).expect("decided");
        assert_eq!(found.ids(), [3, 9]);
        assert!(matches!(found, Match::Several { .. }));
        assert!(by_identifiers(&who(), Vec::new()).is_none());
    }

    #[test]
    fn demographics_link_one_clear_match_and_list_the_rest() {
        let exact = person(4, "NUCLEAR", "nellie", date(2023, 4, 21));
        let sibling = person(5, "Nuclear", "Nora", date(2023, 4, 21));
        let stranger = person(6, "Else", "Body", date(2023, 4, 21));
        let found = by_demographics(&who(), vec![exact.clone(), sibling.clone(), stranger]);
        assert!(matches!(
            found,
            Match::One { ref person, by: MatchedBy::Demographics } if person.id == 4
        ));
        // Without the exact one, the sibling is only possible.
        let found = by_demographics(&who(), vec![sibling]);
        assert_eq!(found.ids(), [5]);
        // Two exact matches are never guessed between.
        let twin_record = person(8, "Nuclear", "Nellie", date(2023, 4, 21));
        let found = by_demographics(&who(), vec![exact, twin_record]);
        assert!(matches!(found, Match::Unsure { ref possible } if possible.len() == 2));
        assert!(by_demographics(&who(), Vec::new()).ids().is_empty());
    }
}
