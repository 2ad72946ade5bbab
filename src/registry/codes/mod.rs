//! Vaccine code sets: CVX, MVX, NDC, CPT, vaccine groups, VIS editions, and the small HL7/CDC
//! tables (route, site, VFC eligibility, ...) that the VXU validator checks coded fields against.
//!
//! The built-in tables are the project's own tab-separated files under `data/codes/`, compiled in
//! with `include_str!` and parsed once, on first use ([`CodeSets::builtin`]). They are generated
//! from CDC's published code-set files by the parsers in [`cdc`] (see the ignored test
//! `generate_builtin_tables`), and the same parsers let a registry load CDC's monthly update
//! ([`cdc::read_cdc_dir`] → [`CodeSets::from_records`]) to layer over the built-in data.
//!
//! Lookups trim surrounding whitespace (senders pad codes). CVX codes compare without leading
//! zeros ("8" finds "08"), MVX codes compare case-insensitively, and NDCs compare in their
//! 11-digit 5-4-2 form (see [`normalize_ndc`]).

pub mod cdc;
pub mod tables;
mod tsv;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::LazyLock;

use crate::date::Date;

pub use cdc::{
    CdcRecords, CodesError, CptRecord, CvxRecord, CvxVisRecord, MvxRecord, NdcLinkRecord,
    NdcRecords, NdcSaleRecord, NdcUseRecord, ParseError, Vac2VgRecord, VisRecord,
};
pub use tables::{CodeTable, Entry, EntryStatus, Table};
pub use tsv::TsvTables;

/// The built-in tables, as shipped in `data/codes/`.
pub const BUILTIN_TSV: TsvTables<'static> = TsvTables {
    cvx: include_str!("../../../data/codes/cvx.tsv"),
    vaccine_groups: include_str!("../../../data/codes/vaccine_groups.tsv"),
    mvx: include_str!("../../../data/codes/mvx.tsv"),
    ndc: include_str!("../../../data/codes/ndc.tsv"),
    cpt: include_str!("../../../data/codes/cpt.tsv"),
    vis: include_str!("../../../data/codes/vis.tsv"),
    cvx_vis: include_str!("../../../data/codes/cvx_vis.tsv"),
};

/// Imported code sets, when the registry has them (see [`CodeSets::active`]).
static ACTIVE: std::sync::OnceLock<&'static CodeSets> = std::sync::OnceLock::new();

static BUILTIN: LazyLock<CodeSets> = LazyLock::new(|| match CodeSets::from_tsv(&BUILTIN_TSV) {
    Ok(sets) => sets,
    // The shipped tables are part of the program; the test `builtin_tables_load` guards them.
    Err(e) => panic!("built-in code tables in data/codes are malformed (a bug): {e}"),
});

/// Status of a CVX or MVX code as CDC publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CodeStatus {
    Active,
    Inactive,
    /// "Non-US": a vaccine not licensed in the US, for historical records.
    NonUs,
    /// "Never Active": reserved or withdrawn before use.
    NeverActive,
    Pending,
    /// Any other status text, kept verbatim.
    Other(String),
}

impl CodeStatus {
    /// Reads CDC's status text; case, spaces and hyphens do not matter. Never fails: unknown
    /// text becomes [`CodeStatus::Other`].
    pub fn parse(text: &str) -> CodeStatus {
        let key: String = text
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match key.as_str() {
            "active" => CodeStatus::Active,
            "inactive" => CodeStatus::Inactive,
            "nonus" => CodeStatus::NonUs,
            "neveractive" => CodeStatus::NeverActive,
            "pending" => CodeStatus::Pending,
            _ => CodeStatus::Other(collapse_whitespace(text)),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            CodeStatus::Active => "Active",
            CodeStatus::Inactive => "Inactive",
            CodeStatus::NonUs => "Non-US",
            CodeStatus::NeverActive => "Never Active",
            CodeStatus::Pending => "Pending",
            CodeStatus::Other(s) => s,
        }
    }

    pub fn is_active(&self) -> bool {
        *self == CodeStatus::Active
    }
}

impl fmt::Display for CodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A vaccine group (CDC's "vaccine group" of vac2vg): named by the group's own, non-specific CVX.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VaccineGroup {
    /// CVX of the group, canonical form (e.g. "45" for HepB).
    pub cvx: String,
    /// CDC's group name (e.g. "HepB", "DTAP", "FLU").
    pub name: String,
}

/// One CVX code (vaccine administered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CvxCode {
    /// Canonical form, as CDC writes it ("08", "107").
    pub code: String,
    pub short_name: String,
    pub status: CodeStatus,
    /// An "unspecified formulation" / unknown code: fine for historical records, a warning on an
    /// administered dose. See [`CvxRecord::is_non_specific`].
    pub non_specific: bool,
    pub vaccine_groups: Vec<VaccineGroup>,
    pub last_updated: Option<Date>,
}

/// One MVX (manufacturer) code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MvxCode {
    pub code: String,
    pub name: String,
    pub status: CodeStatus,
    pub last_updated: Option<Date>,
}

/// Which CDC NDC list an NDC comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NdcKind {
    /// Unit of use: the dose container (syringe, vial) — what a clinic scans at the bedside.
    UnitOfUse,
    /// Unit of sale: the outer package (carton of 10 syringes).
    UnitOfSale,
    /// Listed in both (a package with no separate inner unit).
    Both,
}

impl NdcKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NdcKind::UnitOfUse => "use",
            NdcKind::UnitOfSale => "sale",
            NdcKind::Both => "both",
        }
    }

    pub fn parse(text: &str) -> Option<NdcKind> {
        match text.trim() {
            "use" => Some(NdcKind::UnitOfUse),
            "sale" => Some(NdcKind::UnitOfSale),
            "both" => Some(NdcKind::Both),
            _ => None,
        }
    }

    fn merge(self, other: NdcKind) -> NdcKind {
        if self == other {
            self
        } else {
            NdcKind::Both
        }
    }
}

/// One NDC (National Drug Code) of a vaccine package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NdcCode {
    /// 11 digits, 5-4-2, no dashes (e.g. "49281056005").
    pub ndc11: String,
    /// The 10-digit dashed form printed on the package (e.g. "49281-560-05").
    pub dashed: String,
    pub kind: NdcKind,
    /// CVX codes, canonical form, ascending. Usually one; a few products map to two
    /// (e.g. one Hep B product used at two dosages).
    pub cvx: Vec<String>,
    /// MVX codes from CDC's NDC linker, ascending; empty when the linker has none.
    pub mvx: Vec<String>,
    /// For a unit-of-sale NDC: the 11-digit NDCs of the units of use inside it.
    pub use_units: Vec<String>,
    /// Proprietary (trade) name.
    pub name: String,
    pub start_date: Option<Date>,
    /// `None` while the product is still listed as current.
    pub end_date: Option<Date>,
}

/// A CPT code and the CVX code(s) CDC maps it to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CptCode {
    pub code: String,
    /// Canonical CVX codes, ascending numerically. Usually one.
    pub cvx: Vec<String>,
}

/// Status of a VIS edition.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VisStatus {
    Current,
    Historic,
    Other(String),
}

impl VisStatus {
    pub fn parse(text: &str) -> VisStatus {
        let t = collapse_whitespace(text);
        if t.eq_ignore_ascii_case("current") {
            VisStatus::Current
        } else if t.eq_ignore_ascii_case("historic") {
            VisStatus::Historic
        } else {
            VisStatus::Other(t)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            VisStatus::Current => "Current",
            VisStatus::Historic => "Historic",
            VisStatus::Other(s) => s,
        }
    }
}

impl fmt::Display for VisStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One edition of a Vaccine Information Statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisDocument {
    /// The fully-encoded GS1 string of the edition (the barcode value sent in OBX-5 of 69764-9).
    pub gs1: String,
    /// The 13-digit GDTI document-type code (the same for all editions of one VIS).
    pub document_code: String,
    pub name: String,
    /// Edition date (the value of OBX 29768-9).
    pub edition: Date,
    pub status: VisStatus,
}

/// CVX, MVX, NDC, CPT, vaccine-group and VIS lookups, plus the small HL7/CDC tables.
///
/// Build it from the shipped tables ([`CodeSets::builtin`]), from CDC's files
/// ([`CodeSets::from_records`]), or from our TSV format ([`CodeSets::from_tsv`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CodeSets {
    /// Key: CVX without leading zeros.
    cvx: HashMap<String, CvxCode>,
    /// Key: upper-case MVX.
    mvx: HashMap<String, MvxCode>,
    /// Key: 11-digit NDC.
    ndc: HashMap<String, NdcCode>,
    /// Key: upper-case CPT.
    cpt: HashMap<String, CptCode>,
    /// Key: GS1 string.
    vis: HashMap<String, VisDocument>,
    /// Key: CVX without leading zeros. Sorted by edition date, then GS1.
    cvx_vis: HashMap<String, Vec<VisDocument>>,
}

impl CodeSets {
    /// The built-in tables (`data/codes/*.tsv`), parsed on first use.
    pub fn builtin() -> &'static CodeSets {
        &BUILTIN
    }

    /// The code sets in force: those a registry imported from CDC's files (installed at start-up
    /// with [`CodeSets::install`]), else the built-in ones.
    pub fn active() -> &'static CodeSets {
        ACTIVE.get().copied().unwrap_or_else(CodeSets::builtin)
    }

    /// Puts imported code sets in force for the rest of the process. Only the first call
    /// counts (a process installs once, at start-up); returns whether this one did.
    pub fn install(sets: CodeSets) -> bool {
        ACTIVE.set(Box::leak(Box::new(sets))).is_ok()
    }

    /// Builds the code sets from records returned by the CDC parsers in [`cdc`].
    ///
    /// Long descriptions are dropped; names are whitespace-collapsed. Duplicate records merge
    /// (first name wins, code lists are united). Vaccine-group rows for a CVX missing from `cvx`
    /// are dropped. VIS data is added with [`CodeSets::with_vis`].
    pub fn from_records(
        cvx: &[CvxRecord],
        mvx: &[MvxRecord],
        vac2vg: &[Vac2VgRecord],
        ndc: &NdcRecords,
        cpt: &[CptRecord],
    ) -> CodeSets {
        let mut sets = CodeSets::default();
        for r in cvx {
            let key = cvx_key(&r.code);
            if key.is_empty() || sets.cvx.contains_key(&key) {
                continue;
            }
            sets.cvx.insert(
                key,
                CvxCode {
                    code: r.code.trim().to_string(),
                    short_name: collapse_whitespace(&r.short_description),
                    status: r.status.clone(),
                    non_specific: r.is_non_specific(),
                    vaccine_groups: Vec::new(),
                    last_updated: r.last_updated,
                },
            );
        }
        for r in vac2vg {
            let group = VaccineGroup {
                cvx: sets.canonical_cvx(&r.group_cvx),
                name: collapse_whitespace(&r.group_name),
            };
            if let Some(code) = sets.cvx.get_mut(&cvx_key(&r.cvx)) {
                if !code.vaccine_groups.iter().any(|g| g.cvx == group.cvx) {
                    code.vaccine_groups.push(group);
                }
            }
        }
        for code in sets.cvx.values_mut() {
            code.vaccine_groups
                .sort_by(|a, b| cmp_codes(&a.cvx, &b.cvx));
        }
        for r in mvx {
            let key = r.code.trim().to_ascii_uppercase();
            if key.is_empty() || sets.mvx.contains_key(&key) {
                continue;
            }
            sets.mvx.insert(
                key.clone(),
                MvxCode {
                    code: key,
                    name: collapse_whitespace(&r.name),
                    status: r.status.clone(),
                    last_updated: r.last_updated,
                },
            );
        }
        sets.add_ndc(ndc);
        for r in cpt {
            let Some(cvx) = r.cvx.as_deref() else {
                continue;
            };
            let key = r.code.trim().to_ascii_uppercase();
            if key.is_empty() {
                continue;
            }
            let cvx = sets.canonical_cvx(cvx);
            let entry = sets.cpt.entry(key.clone()).or_insert_with(|| CptCode {
                code: key,
                cvx: Vec::new(),
            });
            if !entry.cvx.contains(&cvx) {
                entry.cvx.push(cvx);
            }
        }
        for code in sets.cpt.values_mut() {
            code.cvx.sort_by(|a, b| cmp_codes(a, b));
        }
        sets
    }

    /// Adds VIS editions (from `vis.xml`) and the CVX → VIS mapping (from `cvxvis.xml`).
    /// A mapping whose GS1 string is not among `documents` adds that edition from its own data.
    pub fn with_vis(mut self, documents: &[VisRecord], cvx_vis: &[CvxVisRecord]) -> CodeSets {
        for r in documents {
            let gs1 = r.gs1.trim().to_string();
            if gs1.is_empty() || self.vis.contains_key(&gs1) {
                continue;
            }
            self.vis.insert(
                gs1.clone(),
                VisDocument {
                    gs1,
                    document_code: r.document_code.trim().to_string(),
                    name: collapse_whitespace(&r.name),
                    edition: r.edition,
                    status: r.status.clone(),
                },
            );
        }
        for r in cvx_vis {
            let gs1 = r.gs1.trim().to_string();
            let key = cvx_key(&r.cvx);
            if gs1.is_empty() || key.is_empty() {
                continue;
            }
            let doc = self
                .vis
                .entry(gs1.clone())
                .or_insert_with(|| VisDocument {
                    document_code: gdti_document_code(&gs1),
                    gs1: gs1.clone(),
                    name: collapse_whitespace(&r.document_name),
                    edition: r.edition,
                    status: r.status.clone(),
                })
                .clone();
            let list = self.cvx_vis.entry(key).or_default();
            if !list.iter().any(|d| d.gs1 == doc.gs1) {
                list.push(doc);
            }
        }
        for list in self.cvx_vis.values_mut() {
            list.sort_by(|a, b| (a.edition, &a.gs1).cmp(&(b.edition, &b.gs1)));
        }
        self
    }

    fn add_ndc(&mut self, ndc: &NdcRecords) {
        let use_by_id: HashMap<&str, Vec<&NdcUseRecord>> =
            ndc.unit_of_use.iter().fold(HashMap::new(), |mut m, r| {
                m.entry(r.id.as_str()).or_default().push(r);
                m
            });
        let mut mvx_by_use: HashMap<&str, BTreeSet<String>> = HashMap::new();
        let mut mvx_by_sale: HashMap<&str, BTreeSet<String>> = HashMap::new();
        let mut uses_by_sale: HashMap<&str, BTreeSet<String>> = HashMap::new();
        for link in &ndc.links {
            let mvx = link.mvx.trim().to_ascii_uppercase();
            if !mvx.is_empty() {
                mvx_by_use
                    .entry(link.inner_id.as_str())
                    .or_default()
                    .insert(mvx.clone());
                mvx_by_sale
                    .entry(link.outer_id.as_str())
                    .or_default()
                    .insert(mvx);
            }
            for inner in use_by_id.get(link.inner_id.as_str()).into_iter().flatten() {
                uses_by_sale
                    .entry(link.outer_id.as_str())
                    .or_default()
                    .insert(inner.ndc11.clone());
            }
        }
        let empty = BTreeSet::new();
        for r in &ndc.unit_of_use {
            let mvx = mvx_by_use.get(r.id.as_str()).unwrap_or(&empty);
            self.merge_ndc(NdcCode {
                ndc11: r.ndc11.clone(),
                dashed: r.dashed.clone(),
                kind: NdcKind::UnitOfUse,
                cvx: vec![self.canonical_cvx(&r.cvx)],
                mvx: mvx.iter().cloned().collect(),
                use_units: Vec::new(),
                name: collapse_whitespace(&r.proprietary_name),
                start_date: r.start_date,
                end_date: r.end_date,
            });
        }
        for r in &ndc.unit_of_sale {
            let mvx = mvx_by_sale.get(r.id.as_str()).unwrap_or(&empty);
            let uses = uses_by_sale.get(r.id.as_str()).unwrap_or(&empty);
            self.merge_ndc(NdcCode {
                ndc11: r.ndc11.clone(),
                dashed: r.dashed.clone(),
                kind: NdcKind::UnitOfSale,
                cvx: vec![self.canonical_cvx(&r.cvx)],
                mvx: mvx.iter().cloned().collect(),
                use_units: uses.iter().filter(|u| **u != r.ndc11).cloned().collect(),
                name: collapse_whitespace(&r.proprietary_name),
                start_date: r.start_date,
                end_date: r.end_date,
            });
        }
        for code in self.ndc.values_mut() {
            code.cvx.sort_by(|a, b| cmp_codes(a, b));
            code.cvx.dedup();
            code.mvx.sort();
            code.mvx.dedup();
            code.use_units.sort();
            code.use_units.dedup();
        }
    }

    fn merge_ndc(&mut self, new: NdcCode) {
        match self.ndc.get_mut(&new.ndc11) {
            None => {
                self.ndc.insert(new.ndc11.clone(), new);
            }
            Some(old) => {
                old.kind = old.kind.merge(new.kind);
                old.cvx.extend(new.cvx);
                old.mvx.extend(new.mvx);
                old.use_units.extend(new.use_units);
                if old.name.is_empty() {
                    old.name = new.name;
                }
                old.start_date = match (old.start_date, new.start_date) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                old.end_date = match (old.end_date, new.end_date) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
        }
    }

    /// The canonical form of a CVX code: the table's spelling if known, else the trimmed input.
    fn canonical_cvx(&self, code: &str) -> String {
        match self.cvx.get(&cvx_key(code)) {
            Some(c) => c.code.clone(),
            None => code.trim().to_string(),
        }
    }

    /// A CVX code; "8", "08" and " 08 " all find CVX 08.
    pub fn cvx(&self, code: &str) -> Option<&CvxCode> {
        self.cvx.get(&cvx_key(code))
    }

    /// An MVX code, case-insensitively ("msd" finds MSD).
    pub fn mvx(&self, code: &str) -> Option<&MvxCode> {
        self.mvx.get(&code.trim().to_ascii_uppercase())
    }

    /// An NDC in any of its usual spellings: 10-digit dashed (4-4-2, 5-3-2, 5-4-1), 11-digit
    /// with dashes (5-4-2) or without. A 10-digit NDC without dashes is ambiguous; it is found
    /// only if exactly one of its three possible 11-digit forms is known.
    pub fn ndc(&self, code: &str) -> Option<&NdcCode> {
        if let Some(ndc11) = normalize_ndc(code) {
            return self.ndc.get(&ndc11);
        }
        let s = code.trim();
        if s.len() != 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // All ASCII digits, so byte offsets are character boundaries.
        let candidates = [
            format!("0{s}"),
            format!("{}0{}", &s[..5], &s[5..]),
            format!("{}0{}", &s[..9], &s[9..]),
        ];
        let mut found = candidates.iter().filter_map(|c| self.ndc.get(c));
        match (found.next(), found.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    /// The CVX a CPT code maps to. When CDC maps a CPT to several CVX codes this is the
    /// numerically lowest; use [`CodeSets::cpt_cvx_all`] for a CVX/CPT conflict check.
    pub fn cpt(&self, code: &str) -> Option<&str> {
        self.cpt_cvx_all(code).first().map(String::as_str)
    }

    /// All CVX codes a CPT code maps to (empty if the CPT is unknown).
    pub fn cpt_cvx_all(&self, code: &str) -> &[String] {
        self.cpt
            .get(&code.trim().to_ascii_uppercase())
            .map(|c| c.cvx.as_slice())
            .unwrap_or(&[])
    }

    /// The vaccine groups of a CVX code (empty if unknown or ungrouped).
    pub fn vaccine_groups(&self, cvx: &str) -> &[VaccineGroup] {
        self.cvx(cvx)
            .map(|c| c.vaccine_groups.as_slice())
            .unwrap_or(&[])
    }

    /// A VIS edition by its fully-encoded GS1 string (OBX 69764-9).
    pub fn vis_document(&self, gs1: &str) -> Option<&VisDocument> {
        self.vis.get(gs1.trim())
    }

    /// The VIS editions that CDC lists for a CVX code, oldest first.
    pub fn vis_for_cvx(&self, cvx: &str) -> &[VisDocument] {
        self.cvx_vis
            .get(&cvx_key(cvx))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// One of the small HL7/CDC tables.
    pub fn table(&self, table: Table) -> CodeTable {
        table.code_table()
    }

    pub fn cvx_codes(&self) -> impl Iterator<Item = &CvxCode> {
        self.cvx.values()
    }

    pub fn mvx_codes(&self) -> impl Iterator<Item = &MvxCode> {
        self.mvx.values()
    }

    pub fn ndc_codes(&self) -> impl Iterator<Item = &NdcCode> {
        self.ndc.values()
    }

    pub fn cpt_codes(&self) -> impl Iterator<Item = &CptCode> {
        self.cpt.values()
    }

    pub fn vis_documents(&self) -> impl Iterator<Item = &VisDocument> {
        self.vis.values()
    }

    /// All vaccine groups that some CVX code belongs to, by group CVX.
    pub fn vaccine_group_list(&self) -> Vec<VaccineGroup> {
        let mut groups: Vec<VaccineGroup> = self
            .cvx
            .values()
            .flat_map(|c| c.vaccine_groups.iter().cloned())
            .collect();
        groups.sort_by(|a, b| cmp_codes(&a.cvx, &b.cvx).then_with(|| a.name.cmp(&b.name)));
        groups.dedup();
        groups
    }
}

/// Normalizes an NDC to its 11-digit 5-4-2 form without dashes, the standard way:
/// 4-4-2 gets a leading zero on the labeler, 5-3-2 a zero before the product, 5-4-1 a zero
/// before the package; 5-4-2 and 11 plain digits pass through. Anything else (including 10
/// digits without dashes, which are ambiguous) gives `None`.
pub fn normalize_ndc(code: &str) -> Option<String> {
    let s = code.trim();
    if !s.contains('-') {
        return (s.len() == 11 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.to_string());
    }
    let mut parts = s.split('-');
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if [a, b, c]
        .iter()
        .any(|p| p.is_empty() || !p.bytes().all(|x| x.is_ascii_digit()))
    {
        return None;
    }
    match (a.len(), b.len(), c.len()) {
        (4, 4, 2) => Some(format!("0{a}{b}{c}")),
        (5, 3, 2) => Some(format!("{a}0{b}{c}")),
        (5, 4, 1) => Some(format!("{a}{b}0{c}")),
        (5, 4, 2) => Some(format!("{a}{b}{c}")),
        _ => None,
    }
}

/// Lookup key of a CVX code: trimmed, without leading zeros ("08" → "8", "0" stays "0").
/// Empty for blank input.
fn cvx_key(code: &str) -> String {
    let s = code.trim();
    let stripped = s.trim_start_matches('0');
    if stripped.is_empty() && !s.is_empty() {
        "0".to_string()
    } else {
        stripped.to_string()
    }
}

/// Orders codes numerically when both are numbers, else as text.
fn cmp_codes(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

/// Trims and collapses every run of whitespace (tabs and line breaks included) to one space.
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The 13-digit GDTI document-type code inside a fully-encoded VIS GS1 string
/// ("253" + 13-digit GDTI + edition serial), or "" if the string has another shape.
fn gdti_document_code(gs1: &str) -> String {
    match gs1.strip_prefix("253") {
        Some(rest) if rest.len() >= 13 && rest.bytes().all(|b| b.is_ascii_digit()) => {
            rest[..13].to_string()
        }
        _ => String::new(),
    }
}
