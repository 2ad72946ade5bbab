//! The request mix: which kinds of request a run sends, and in what proportion.

use std::fmt;
use std::str::FromStr;

use rand::Rng;

/// How many kinds of request there are.
pub const KINDS: usize = 4;

/// One kind of request the load generator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestKind {
    /// `submitSingleMessage` with a VXU^V04 for a new synthetic patient.
    Vxu,
    /// `submitSingleMessage` with a QBP^Q11 Z34 query for a patient.
    Z34,
    /// `connectivityTest` with a fixed `echoBack`.
    Connectivity,
    /// `submitSingleMessage` with a VXU and a wrong password (a new one each time): a
    /// password-guessing flood; `ok` when it is refused with a SecurityFault.
    WrongPassword,
}

impl RequestKind {
    /// Every kind, in report order.
    pub const ALL: [RequestKind; KINDS] = [
        RequestKind::Vxu,
        RequestKind::Z34,
        RequestKind::Connectivity,
        RequestKind::WrongPassword,
    ];

    /// The name used in a mix specification and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Vxu => "vxu",
            RequestKind::Z34 => "z34",
            RequestKind::Connectivity => "connectivity",
            RequestKind::WrongPassword => "wrong-password",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            RequestKind::Vxu => 0,
            RequestKind::Z34 => 1,
            RequestKind::Connectivity => 2,
            RequestKind::WrongPassword => 3,
        }
    }

    /// Whether requests of this kind authenticate (and so need a username and a facility ID).
    pub fn needs_credentials(self) -> bool {
        !matches!(self, RequestKind::Connectivity)
    }

    /// Whether requests of this kind need the user's password (a wrong-password flood makes
    /// up its own).
    pub fn needs_password(self) -> bool {
        matches!(self, RequestKind::Vxu | RequestKind::Z34)
    }

    fn from_name(name: &str) -> Option<RequestKind> {
        RequestKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Relative weights of the request kinds, e.g. `vxu=80,z34=20`.
///
/// Syntax: a comma-separated list of `kind` or `kind=weight` items, where kind is `vxu`,
/// `z34`, `connectivity` or `wrong-password` (case-insensitive) and weight a whole number; a kind without a
/// weight counts 100. Each kind may appear once; the weights must add up to more than 0.
/// Each request picks its kind at random with probability weight / total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Weight per kind, indexed by [`RequestKind::index`].
    weights: [u32; KINDS],
    total: u64,
}

/// Why a mix specification was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    #[error("the request mix is empty; give e.g. \"vxu=80,z34=20\" or \"connectivity\"")]
    Empty,
    #[error("the request mix has an empty item (check for a stray comma)")]
    EmptyItem,
    #[error(
        "unknown request kind '{0}' in the mix; the kinds are vxu, z34, connectivity and \
         wrong-password"
    )]
    UnknownKind(String),
    #[error("request kind '{0}' appears more than once in the mix")]
    Duplicate(&'static str),
    #[error("weight '{weight}' of '{kind}' in the mix is not a whole number from 0 to 1000000")]
    BadWeight { kind: &'static str, weight: String },
    #[error(
        "the weights of the request mix add up to 0; at least one kind needs a positive weight"
    )]
    ZeroTotal,
}

/// Largest weight accepted for one kind.
const MAX_WEIGHT: u32 = 1_000_000;

impl Mix {
    /// A mix of only `kind`.
    pub fn only(kind: RequestKind) -> Mix {
        let mut weights = [0; KINDS];
        weights[kind.index()] = 100;
        Mix {
            weights,
            total: 100,
        }
    }

    /// The weight of `kind` (0 when it is not in the mix).
    pub fn weight(&self, kind: RequestKind) -> u32 {
        self.weights[kind.index()]
    }

    /// The kinds with a positive weight, in report order.
    pub fn kinds(&self) -> impl Iterator<Item = RequestKind> + '_ {
        RequestKind::ALL.into_iter().filter(|k| self.weight(*k) > 0)
    }

    /// Whether any kind in the mix authenticates.
    pub fn needs_credentials(&self) -> bool {
        self.kinds().any(RequestKind::needs_credentials)
    }

    /// Whether any kind in the mix needs the user's password.
    pub fn needs_password(&self) -> bool {
        self.kinds().any(RequestKind::needs_password)
    }

    /// Picks a kind at random according to the weights.
    pub fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> RequestKind {
        let mut roll = rng.gen_range(0..self.total);
        for kind in RequestKind::ALL {
            let w = u64::from(self.weight(kind));
            if roll < w {
                return kind;
            }
            roll -= w;
        }
        // The weights add up to `total`, so the loop always returns; this keeps the
        // function total without a panic.
        RequestKind::Vxu
    }
}

impl Default for Mix {
    /// `vxu=80,z34=20`.
    fn default() -> Self {
        Mix {
            weights: [80, 20, 0, 0],
            total: 100,
        }
    }
}

impl FromStr for Mix {
    type Err = MixError;

    fn from_str(s: &str) -> Result<Mix, MixError> {
        if s.trim().is_empty() {
            return Err(MixError::Empty);
        }
        let mut weights = [0u32; KINDS];
        let mut seen = [false; KINDS];
        for item in s.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(MixError::EmptyItem);
            }
            let (name, weight) = match item.split_once('=') {
                Some((n, w)) => (n.trim(), Some(w.trim())),
                None => (item, None),
            };
            let kind = RequestKind::from_name(name)
                .ok_or_else(|| MixError::UnknownKind(name.to_string()))?;
            if seen[kind.index()] {
                return Err(MixError::Duplicate(kind.as_str()));
            }
            seen[kind.index()] = true;
            weights[kind.index()] = match weight {
                None => 100,
                Some(w) => w
                    .parse::<u32>()
                    .ok()
                    .filter(|w| *w <= MAX_WEIGHT)
                    .ok_or_else(|| MixError::BadWeight {
                        kind: kind.as_str(),
                        weight: w.to_string(),
                    })?,
            };
        }
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        if total == 0 {
            return Err(MixError::ZeroTotal);
        }
        Ok(Mix { weights, total })
    }
}

impl fmt::Display for Mix {
    /// The canonical specification, e.g. `vxu=80,z34=20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for kind in self.kinds() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}={}", kind.as_str(), self.weight(kind))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_weights_and_bare_kinds() {
        let m: Mix = "vxu=80,z34=20".parse().unwrap();
        assert_eq!(m.weight(RequestKind::Vxu), 80);
        assert_eq!(m.weight(RequestKind::Z34), 20);
        assert_eq!(m.weight(RequestKind::Connectivity), 0);
        assert_eq!(m.to_string(), "vxu=80,z34=20");
        assert!(m.needs_credentials());

        let m: Mix = "connectivity".parse().unwrap();
        assert_eq!(m, Mix::only(RequestKind::Connectivity));
        assert!(!m.needs_credentials());
        assert_eq!(m.to_string(), "connectivity=100");

        let m: Mix = "vxu".parse().unwrap();
        assert_eq!(m.weight(RequestKind::Vxu), 100);
        assert_eq!(m.kinds().collect::<Vec<_>>(), vec![RequestKind::Vxu]);

        let m: Mix = " VXU = 3 , connectivity=0, z34 ".parse().unwrap();
        assert_eq!(m.weight(RequestKind::Vxu), 3);
        assert_eq!(m.weight(RequestKind::Z34), 100);
        assert_eq!(m.to_string(), "vxu=3,z34=100");
        assert_eq!(m.to_string().parse::<Mix>().unwrap(), m);
        assert_eq!(Mix::default().to_string(), "vxu=80,z34=20");

        let m: Mix = "wrong-password".parse().unwrap();
        assert_eq!(m, Mix::only(RequestKind::WrongPassword));
        assert!(m.needs_credentials() && !m.needs_password());
        assert!(Mix::default().needs_password());
    }

    #[test]
    fn refuses_bad_specifications_clearly() {
        let err = |s: &str| s.parse::<Mix>().unwrap_err();
        assert_eq!(err(""), MixError::Empty);
        assert_eq!(err("  "), MixError::Empty);
        assert_eq!(err("vxu,"), MixError::EmptyItem);
        assert_eq!(err("vxu=1,,z34=1"), MixError::EmptyItem);
        assert_eq!(err("vxx=10"), MixError::UnknownKind("vxx".into()));
        assert_eq!(err("=10"), MixError::UnknownKind("".into()));
        assert_eq!(err("vxu=10,vxu=20"), MixError::Duplicate("vxu"));
        assert_eq!(
            err("vxu=-1"),
            MixError::BadWeight {
                kind: "vxu",
                weight: "-1".into()
            }
        );
        assert_eq!(
            err("z34=1.5"),
            MixError::BadWeight {
                kind: "z34",
                weight: "1.5".into()
            }
        );
        assert_eq!(
            err("z34="),
            MixError::BadWeight {
                kind: "z34",
                weight: "".into()
            }
        );
        assert!(matches!(err("vxu=99999999999"), MixError::BadWeight { .. }));
        assert_eq!(err("vxu=0,z34=0"), MixError::ZeroTotal);
        // The messages name the problem and the fix.
        assert!(err("vxx")
            .to_string()
            .contains("vxu, z34, connectivity and wrong-password"));
        assert!(err("vxu=0").to_string().contains("add up to 0"));
    }

    #[test]
    fn picks_in_proportion() {
        let m: Mix = "vxu=75,z34=25".parse().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut counts = [0u32; KINDS];
        for _ in 0..40_000 {
            counts[m.pick(&mut rng).index()] += 1;
        }
        assert_eq!(counts[2], 0);
        assert!((29_000..31_000).contains(&counts[0]), "{counts:?}");
        assert!((9_000..11_000).contains(&counts[1]), "{counts:?}");
        let only = Mix::only(RequestKind::Z34);
        assert!((0..100).all(|_| only.pick(&mut rng) == RequestKind::Z34));
    }
}
