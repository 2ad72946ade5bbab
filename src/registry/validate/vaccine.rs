//! Which vaccine an RXA names: RXA-5's two CE triplets (code^text^system^alt code^alt
//! text^alt system) read against the CVX, NDC and CPT tables.
//!
//! [`resolve_vaccine`] is the single place where a CVX is chosen, so that the validator judges and
//! storage records the same code. Precedence: a known CVX code (either triplet) wins; otherwise a
//! known NDC, mapped to its CVX; otherwise a known CPT, mapped to its CVX. A coding system that is
//! blank is inferred from the code's shape, when exactly that reading finds the code.

use std::borrow::Cow;

use crate::hl7::Segment;
use crate::registry::codes::{normalize_ndc, CodeSets, CvxCode};

use super::text::components;

/// The code system a CVX was taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VaccineSource {
    Cvx,
    Ndc,
    Cpt,
}

impl VaccineSource {
    pub fn as_str(self) -> &'static str {
        match self {
            VaccineSource::Cvx => "CVX",
            VaccineSource::Ndc => "NDC",
            VaccineSource::Cpt => "CPT",
        }
    }
}

/// The vaccine of one RXA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedVaccine {
    /// The CVX code, in the table's spelling (e.g. "08").
    pub cvx: String,
    /// Where the CVX came from.
    pub from: VaccineSource,
    /// The code that gave the CVX, as sent (trimmed): a CVX, an NDC or a CPT code.
    pub code: String,
    /// The text sent with that code (CE.2 or CE.5).
    pub text: Option<String>,
    /// RXA-5 component of that code: 1 (primary triplet) or 4 (alternate triplet).
    pub component: u32,
    /// The triplet's coding system was blank and was inferred.
    pub system_inferred: bool,
    /// An NDC sent in either triplet and found in the tables, in its 11-digit form.
    pub ndc: Option<String>,
    /// When the deciding NDC or CPT code maps to several CVX codes: the ones not chosen.
    pub other_cvx: Vec<String>,
    /// The other triplet, when it was not used because it disagrees or is unknown.
    pub set_aside: Option<SetAside>,
}

/// A code in RXA-5 that was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAside {
    pub code: String,
    pub source: VaccineSource,
    /// RXA-5 component of the code: 1 or 4.
    pub component: u32,
    /// The CVX it maps to, when it maps to a different one; `None` when it is unknown.
    pub maps_to: Option<String>,
}

/// Why RXA-5 gives no vaccine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VaccineError {
    /// No code in RXA-5.
    Missing,
    /// A CVX, NDC or CPT code the tables do not have (the first one sent).
    Unknown {
        code: String,
        source: VaccineSource,
        component: u32,
    },
    /// A code in another coding system (or a blank system and a code of no known shape).
    UnsupportedSystem {
        code: String,
        system: String,
        component: u32,
    },
}

/// The CVX codes a triplet maps to, borrowed from the code tables.
#[derive(Clone, Copy)]
enum CvxList<'c> {
    None,
    One(&'c str),
    Many(&'c [String]),
}

impl<'c> CvxList<'c> {
    fn iter(self) -> impl Iterator<Item = &'c str> {
        let (one, many): (Option<&'c str>, &'c [String]) = match self {
            CvxList::None => (None, &[]),
            CvxList::One(c) => (Some(c), &[]),
            CvxList::Many(list) => (None, list),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }

    fn is_empty(self) -> bool {
        self.iter().next().is_none()
    }

    fn contains(self, cvx: &str) -> bool {
        self.iter().any(|c| c == cvx)
    }
}

/// One triplet as read.
struct Triplet<'a, 'c> {
    code: Cow<'a, str>,
    text: Option<Cow<'a, str>>,
    system: Option<Cow<'a, str>>,
    component: u32,
    source: Option<VaccineSource>,
    inferred: bool,
    cvx: CvxList<'c>,
    ndc11: Option<&'c str>,
}

fn source_of(system: &str) -> Option<VaccineSource> {
    const CVX: [&str; 2] = ["CVX", "HL70292"];
    const CPT: [&str; 4] = ["CPT", "C4", "CPT4", "CPT-4"];
    if CVX.iter().any(|s| s.eq_ignore_ascii_case(system)) {
        Some(VaccineSource::Cvx)
    } else if system.eq_ignore_ascii_case("NDC") {
        Some(VaccineSource::Ndc)
    } else if CPT.iter().any(|s| s.eq_ignore_ascii_case(system)) {
        Some(VaccineSource::Cpt)
    } else {
        None
    }
}

fn lookup<'c>(
    codes: &'c CodeSets,
    source: VaccineSource,
    code: &str,
) -> (CvxList<'c>, Option<&'c str>) {
    match source {
        VaccineSource::Cvx => match codes.cvx(code) {
            Some(c) => (CvxList::One(&c.code), None),
            None => (CvxList::None, None),
        },
        VaccineSource::Ndc => match codes.ndc(code) {
            Some(n) => (CvxList::Many(&n.cvx), Some(n.ndc11.as_str())),
            None => (CvxList::None, None),
        },
        VaccineSource::Cpt => (CvxList::Many(codes.cpt_cvx_all(code)), None),
    }
}

/// Reads a blank-system code by its shape: 1–3 digits → CVX, an NDC spelling → NDC, five
/// characters → CPT; the reading counts only when the table has the code.
fn infer(codes: &CodeSets, code: &str) -> Option<VaccineSource> {
    let digits = code.bytes().all(|b| b.is_ascii_digit());
    if digits && code.len() <= 3 && codes.cvx(code).is_some() {
        return Some(VaccineSource::Cvx);
    }
    let ndc_shaped = normalize_ndc(code).is_some() || (digits && code.len() == 10);
    if ndc_shaped && codes.ndc(code).is_some() {
        return Some(VaccineSource::Ndc);
    }
    if code.len() == 5 && !codes.cpt_cvx_all(code).is_empty() {
        return Some(VaccineSource::Cpt);
    }
    None
}

fn read_triplet<'a, 'c>(
    codes: &'c CodeSets,
    parts: &mut [Option<Cow<'a, str>>; 6],
    component: u32,
) -> Option<Triplet<'a, 'c>> {
    let base = (component - 1) as usize;
    let code = parts[base].take()?;
    let text = parts[base + 1].take();
    let system = parts[base + 2].take();
    let (source, inferred) = match &system {
        None => (infer(codes, &code), true),
        Some(s) => (source_of(s), false),
    };
    let (cvx, ndc11) = match source {
        Some(s) => lookup(codes, s, &code),
        None => (CvxList::None, None),
    };
    Some(Triplet {
        code,
        text,
        system,
        component,
        source,
        inferred,
        cvx,
        ndc11,
    })
}

/// The vaccine RXA-5 names; see the module documentation for the precedence. Pure and cheap:
/// the planner calls it to store the CVX the validator judged.
pub fn resolve_vaccine(
    rxa: &Segment<'_, '_>,
    codes: &CodeSets,
) -> Result<ResolvedVaccine, VaccineError> {
    resolve(rxa, codes).map(|(v, _)| v)
}

/// [`resolve_vaccine`], and the CVX table entry of the chosen code when the table has it.
pub(crate) fn resolve<'c>(
    rxa: &Segment<'_, '_>,
    codes: &'c CodeSets,
) -> Result<(ResolvedVaccine, Option<&'c CvxCode>), VaccineError> {
    let mut parts: [Option<Cow<'_, str>>; 6] = components(rxa.field(5).repetition(1));
    let triplets = [
        read_triplet(codes, &mut parts, 1),
        read_triplet(codes, &mut parts, 4),
    ];
    let rank = |s: Option<VaccineSource>| match s {
        Some(VaccineSource::Cvx) => 0,
        Some(VaccineSource::Ndc) => 1,
        Some(VaccineSource::Cpt) => 2,
        None => 3,
    };
    let chosen = triplets
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.as_ref().map(|t| (i, t)))
        .filter(|(_, t)| !t.cvx.is_empty())
        .min_by_key(|(i, t)| (rank(t.source), *i))
        .map(|(i, _)| i);
    let Some(chosen) = chosen else {
        // Nothing usable: report the first triplet in a known system, else the first one.
        let present = || triplets.iter().flatten();
        let first = present()
            .find(|t| t.source.is_some())
            .or_else(|| present().next());
        return Err(match first {
            None => VaccineError::Missing,
            Some(t) => match t.source {
                Some(source) => VaccineError::Unknown {
                    code: t.code.to_string(),
                    source,
                    component: t.component,
                },
                None => VaccineError::UnsupportedSystem {
                    code: t.code.to_string(),
                    system: t.system.as_deref().unwrap_or("").to_string(),
                    component: t.component,
                },
            },
        });
    };
    let [first_triplet, second_triplet] = triplets;
    let (main, other) = if chosen == 0 {
        (first_triplet, second_triplet)
    } else {
        (second_triplet, first_triplet)
    };
    let Some(main) = main else {
        return Err(VaccineError::Missing);
    };
    // When the other triplet names one of this code's CVX codes, that one is meant.
    let confirmed = other
        .as_ref()
        .and_then(|o| o.cvx.iter().find(|c| main.cvx.contains(c)));
    let Some(cvx) = confirmed.or_else(|| main.cvx.iter().next()) else {
        return Err(VaccineError::Missing);
    };
    let other_cvx: Vec<String> = if main.source == Some(VaccineSource::Cvx) || confirmed.is_some() {
        Vec::new()
    } else {
        main.cvx
            .iter()
            .filter(|c| *c != cvx)
            .map(str::to_string)
            .collect()
    };
    let set_aside = other.as_ref().and_then(|o| {
        let source = o.source?;
        if o.cvx.contains(cvx) {
            return None;
        }
        Some(SetAside {
            code: o.code.to_string(),
            source,
            component: o.component,
            maps_to: o.cvx.iter().next().map(str::to_string),
        })
    });
    let ndc = main
        .ndc11
        .or_else(|| other.as_ref().and_then(|o| o.ndc11))
        .map(str::to_string);
    let record = codes.cvx(cvx);
    Ok((
        ResolvedVaccine {
            cvx: cvx.to_string(),
            from: main.source.unwrap_or(VaccineSource::Cvx),
            code: main.code.into_owned(),
            text: main.text.map(Cow::into_owned),
            component: main.component,
            system_inferred: main.inferred,
            ndc,
            other_cvx,
            set_aside,
        },
        record,
    ))
}
