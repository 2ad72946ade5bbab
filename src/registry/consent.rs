//! Consent policy, pure: what may be kept and shown, given the registry's policy, what is on
//! file and what the message affirms.
//!
//! Field mapping (documented in the README):
//! - PD1-12 (protection indicator) = `N` with PD1-13 (its effective date) affirms consent as of
//!   that date (the date defaults to the day the message was received when PD1-13 is empty);
//! - PD1-12 = `Y` withdraws consent (opt-in) or protects the record (opt-out) as of PD1-13;
//! - PD1-12 empty says nothing: what is on file stands.
//! - PD1-16/17 (registry status and its date) are stored as sent.
//!
//! Disaster-related doses are kept without consent (opt-in): a dose whose CVX is in the
//! configured disaster set, or whose observation group carries OBX-3 `59785-6` (indication) with
//! OBX-5 code `DISASTER`.

use std::collections::HashSet;

use crate::date::Date;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Most states: records are shared unless PD1-12 = Y protects them.
    OptOut,
    /// Texas: nothing identifiable is kept without consent on file or affirmed in the message.
    OptIn,
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "opt-out" | "optout" => Ok(Policy::OptOut),
            "opt-in" | "optin" => Ok(Policy::OptIn),
            other => Err(format!(
                "unknown consent policy '{other}': use opt-out or opt-in"
            )),
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Policy::OptOut => "opt-out",
            Policy::OptIn => "opt-in",
        })
    }
}

#[derive(Clone, Debug)]
pub struct ConsentConfig {
    pub policy: Policy,
    /// CVX codes whose doses are disaster-related and kept without consent.
    pub disaster_cvx: HashSet<String>,
}

impl Default for ConsentConfig {
    fn default() -> Self {
        ConsentConfig {
            policy: Policy::OptOut,
            disaster_cvx: HashSet::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Nothing on file.
    None,
    Consented,
    /// Consent withdrawn (opt-in): the record is kept but hidden from queries.
    Withdrawn,
    /// Protected by PD1-12 = Y (opt-out): kept but not shared.
    Protected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::None => "none",
            Status::Consented => "consented",
            Status::Withdrawn => "withdrawn",
            Status::Protected => "protected",
        }
    }

    pub fn parse(text: &str) -> Status {
        match text {
            "consented" => Status::Consented,
            "withdrawn" => Status::Withdrawn,
            "protected" => Status::Protected,
            _ => Status::None,
        }
    }

    /// Whether queries may return the record.
    pub fn shareable(self) -> bool {
        matches!(self, Status::None | Status::Consented)
    }
}

/// Whether a query may return a record whose consent status is `status`: under opt-out unless
/// protected or withdrawn; under opt-in only with consent on file.
pub fn may_share(policy: Policy, status: Status) -> bool {
    match policy {
        Policy::OptOut => status.shareable(),
        Policy::OptIn => status == Status::Consented,
    }
}

/// What the message says about consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Affirmation {
    Given { date: Date },
    Withdrawn { date: Date },
    Silent,
}

/// Reads PD1-12 and PD1-13 (already read as a date, or None). `received_on` stands in for a
/// missing date.
pub fn affirmation(pd1_12: Option<&str>, pd1_13: Option<Date>, received_on: Date) -> Affirmation {
    let date = pd1_13.unwrap_or(received_on);
    match pd1_12.map(|v| v.trim().to_ascii_uppercase()).as_deref() {
        Some("N") => Affirmation::Given { date },
        Some("Y") => Affirmation::Withdrawn { date },
        _ => Affirmation::Silent,
    }
}

/// The consent decision for one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The status and date to record on the patient (None: leave as is).
    pub record: Option<(Status, Date)>,
    /// Keep nothing identifiable: the patient is rejected.
    pub reject_patient: bool,
    /// Keep only disaster-related doses (the others are rejected).
    pub disaster_only: bool,
}

/// `on_file`: the matched patient's status, `None` for a new patient.
pub fn decide(
    policy: Policy,
    on_file: Option<Status>,
    affirmation: &Affirmation,
    has_disaster_doses: bool,
) -> Decision {
    let keep = |record| Decision {
        record,
        reject_patient: false,
        disaster_only: false,
    };
    match (policy, affirmation) {
        (Policy::OptOut, Affirmation::Withdrawn { date }) => keep(Some((Status::Protected, *date))),
        (Policy::OptOut, Affirmation::Given { date }) => keep(Some((Status::Consented, *date))),
        (Policy::OptOut, Affirmation::Silent) => keep(None),
        (Policy::OptIn, Affirmation::Given { date }) => keep(Some((Status::Consented, *date))),
        (Policy::OptIn, Affirmation::Withdrawn { date }) => Decision {
            record: on_file.map(|_| (Status::Withdrawn, *date)),
            reject_patient: on_file.is_none() && !has_disaster_doses,
            disaster_only: true,
        },
        (Policy::OptIn, Affirmation::Silent) => match on_file {
            Some(Status::Consented) => keep(None),
            _ => Decision {
                record: None,
                reject_patient: !has_disaster_doses && on_file.is_none(),
                disaster_only: true,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn given() -> Affirmation {
        Affirmation::Given {
            date: date(2024, 5, 1),
        }
    }

    #[test]
    fn pd1_12_and_13_read_as_affirmations() {
        assert_eq!(
            affirmation(Some("N"), Some(date(2024, 5, 1)), date(2024, 6, 1)),
            given()
        );
        assert_eq!(
            affirmation(Some("y"), None, date(2024, 6, 1)),
            Affirmation::Withdrawn {
                date: date(2024, 6, 1)
            }
        );
        assert_eq!(
            affirmation(None, Some(date(2024, 5, 1)), date(2024, 6, 1)),
            Affirmation::Silent
        );
    }

    #[test]
    fn opt_in_needs_consent_on_file_or_in_the_message() {
        let none = decide(Policy::OptIn, None, &Affirmation::Silent, false);
        assert!(none.reject_patient);
        let disaster = decide(Policy::OptIn, None, &Affirmation::Silent, true);
        assert!(
            !disaster.reject_patient && disaster.disaster_only,
            "disaster doses are kept"
        );
        let affirmed = decide(Policy::OptIn, None, &given(), false);
        assert_eq!(affirmed.record, Some((Status::Consented, date(2024, 5, 1))));
        assert!(!affirmed.reject_patient && !affirmed.disaster_only);
        let on_file = decide(
            Policy::OptIn,
            Some(Status::Consented),
            &Affirmation::Silent,
            false,
        );
        assert!(!on_file.reject_patient && !on_file.disaster_only);
        let withdrawn = decide(
            Policy::OptIn,
            Some(Status::Consented),
            &Affirmation::Withdrawn {
                date: date(2024, 7, 1),
            },
            false,
        );
        assert_eq!(
            withdrawn.record,
            Some((Status::Withdrawn, date(2024, 7, 1)))
        );
        assert!(!Status::Withdrawn.shareable());
    }

    #[test]
    fn opt_out_keeps_everything_and_protects_on_request() {
        let protect = decide(
            Policy::OptOut,
            None,
            &Affirmation::Withdrawn {
                date: date(2024, 1, 1),
            },
            false,
        );
        assert_eq!(protect.record, Some((Status::Protected, date(2024, 1, 1))));
        assert!(!protect.reject_patient && !protect.disaster_only);
        assert!(!decide(Policy::OptOut, None, &Affirmation::Silent, false).reject_patient);
    }

    #[test]
    fn sharing_follows_the_policy() {
        use Status::*;
        let out: Vec<bool> = [None, Consented, Withdrawn, Protected]
            .map(|s| may_share(Policy::OptOut, s))
            .to_vec();
        assert_eq!(out, [true, true, false, false]);
        let opt_in: Vec<bool> = [None, Consented, Withdrawn, Protected]
            .map(|s| may_share(Policy::OptIn, s))
            .to_vec();
        assert_eq!(
            opt_in,
            [false, true, false, false],
            "opt-in shares only with consent"
        );
    }
}
