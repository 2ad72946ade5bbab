//! The ORDER groups: ORC, RXA, RXR and OBX of each immunization, checked when the group closes.

use crate::registry::codes::NdcCode;

use super::*;

/// The rows of one VIS group (OBX rows sharing an OBX-4).
struct VisGroup<'a> {
    sub: &'a str,
    /// Position and sequence of the group's first VIS row.
    first: (usize, u32),
    document: Option<(usize, u32, Cow<'a, str>)>,
    vaccine_type: Option<(usize, u32, Cow<'a, str>)>,
    published: bool,
    presented: Option<(usize, u32, Date)>,
    presented_seen: bool,
}

/// What CDC's NDC lists say about the products of one CVX code.
#[derive(Clone, Debug, Default)]
struct Products {
    /// The MVX codes of the manufacturers (upper case, each once).
    makers: Vec<String>,
    /// Some product is still listed as current.
    current: bool,
    /// The latest end date of a listed product.
    last_end: Option<Date>,
}

impl Products {
    fn add(&mut self, ndc: &NdcCode) {
        for m in &ndc.mvx {
            if !self.makers.iter().any(|k| k.eq_ignore_ascii_case(m)) {
                self.makers.push(m.to_ascii_uppercase());
            }
        }
        match ndc.end_date {
            None => self.current = true,
            Some(end) => self.last_end = Some(self.last_end.map_or(end, |e| e.max(end))),
        }
    }
}

/// The built-in tables' products by CVX code, computed once.
static BUILTIN_PRODUCTS: LazyLock<HashMap<String, Products>> = LazyLock::new(|| {
    let mut map: HashMap<String, Products> = HashMap::new();
    for ndc in CodeSets::builtin().ndc_codes() {
        for cvx in &ndc.cvx {
            map.entry(cvx.clone()).or_default().add(ndc);
        }
    }
    map
});

/// The products of a CVX code (canonical spelling): from the index for the built-in tables,
/// by a scan of the NDC list for any other code sets.
fn products(codes: &CodeSets, cvx: &str) -> Cow<'static, Products> {
    if std::ptr::eq(codes, CodeSets::builtin()) {
        return match BUILTIN_PRODUCTS.get(cvx) {
            Some(p) => Cow::Borrowed(p),
            None => Cow::Owned(Products::default()),
        };
    }
    let mut p = Products::default();
    for ndc in codes.ndc_codes().filter(|n| n.cvx.iter().any(|c| c == cvx)) {
        p.add(ndc);
    }
    Cow::Owned(p)
}

/// The last day an inactive CVX is known to have been in use: the later of its record's last
/// change and the end of the last NDC product CDC lists for it. `None` when a product is still
/// listed as current, or nothing is known.
fn in_use_until(codes: &CodeSets, rec: &CvxCode) -> Option<Date> {
    let p = products(codes, &rec.code);
    if p.current {
        return None;
    }
    match (rec.last_updated, p.last_end) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// How a route or a vaccine is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RouteClass {
    Injection,
    Oral,
    Nasal,
}

impl RouteClass {
    fn phrase(self) -> &'static str {
        match self {
            RouteClass::Injection => "by injection",
            RouteClass::Oral => "by mouth",
            RouteClass::Nasal => "in the nose",
        }
    }
}

fn route_class(code: &str) -> Option<RouteClass> {
    match code.to_ascii_uppercase().as_str() {
        "C28161" | "IM" | "C38238" | "ID" | "C38276" | "IV" | "C38299" | "SC" | "C38305" | "TD"
        | "C38676" => Some(RouteClass::Injection),
        "C38288" | "PO" => Some(RouteClass::Oral),
        "C38284" | "NS" | "IN" => Some(RouteClass::Nasal),
        _ => None,
    }
}

/// Oral vaccines whose CVX short name does not say so (adenovirus tablets, oral cholera).
const ORAL_CVX: &[&str] = &["54", "55", "143", "172", "173", "174"];

/// The rotavirus vaccine group: all oral.
const ROTAVIRUS_GROUP: &str = "122";

/// How a vaccine is given, as far as the CVX table tells: its name ("oral", "OPV", "nasal"),
/// its vaccine group (rotavirus), or the few oral vaccines named above. `None` when the code
/// does not tell (non-specific codes, vaccinia and BCG, which are given through the skin).
fn vaccine_route(cvx: &CvxCode) -> Option<RouteClass> {
    let name = cvx.short_name.to_ascii_lowercase();
    if name.contains("nasal") {
        return Some(RouteClass::Nasal);
    }
    if name.contains("oral")
        || name.starts_with("opv")
        || ORAL_CVX.contains(&cvx.code.as_str())
        || cvx.vaccine_groups.iter().any(|g| g.cvx == ROTAVIRUS_GROUP)
    {
        return Some(RouteClass::Oral);
    }
    if cvx.non_specific
        || name.contains("vaccinia")
        || name.contains("smallpox")
        || name.starts_with("bcg")
        || cvx.code == "998"
        || cvx.code == "999"
    {
        return None;
    }
    Some(RouteClass::Injection)
}

/// A CVX code and the CVX codes of its vaccine groups.
fn family(c: &CvxCode) -> impl Iterator<Item = &str> + '_ {
    std::iter::once(c.code.as_str()).chain(c.vaccine_groups.iter().map(|g| g.cvx.as_str()))
}

/// Whether an HL7 0163 site fits a route.
fn site_fits(site: &str, route: RouteClass) -> bool {
    let naris = matches!(site, "BN" | "LN" | "RN");
    let mouth = site == "MO";
    match route {
        RouteClass::Nasal => naris,
        RouteClass::Oral => mouth,
        RouteClass::Injection => !naris && !mouth,
    }
}

impl<'a, 'm, 'x> Engine<'a, 'm, 'x> {
    pub(super) fn close_group(&mut self) {
        let Some(g) = self.group.take() else {
            return;
        };
        match g.rxa {
            Some((rxa, n)) => self.dose(g.orc, rxa, n, g.rxr, &g.obx),
            None => {
                if let Some((orc, seq)) = g.orc {
                    self.emit(
                        R::ORC_NO_RXA,
                        orc.index(),
                        ErrLocation::segment("ORC", seq),
                        None,
                        "This ORC segment is not followed by its RXA segment.".into(),
                    );
                }
            }
        }
    }

    fn dose(
        &mut self,
        orc: Option<(Segment<'a, 'm>, u32)>,
        rxa: Segment<'a, 'm>,
        n: u32,
        rxr: Option<(Segment<'a, 'm>, u32)>,
        obx: &[(Segment<'a, 'm>, u32)],
    ) {
        let codes = self.ctx.codes;
        let d = Some(n);
        let i = rxa.index();
        let l = |f| loc("RXA", n, f);

        let completion = val(&rxa, 20, 1).map(|c| c.to_ascii_uppercase());
        let action = val(&rxa, 21, 1).map(|a| a.to_ascii_uppercase());
        let source = val(&rxa, 9, 1);
        let (vaccine, cvx_record) = match resolve(&rxa, codes) {
            Ok((v, record)) => (Ok(v), record),
            Err(e) => (Err(e), None),
        };
        let cvx = vaccine.as_ref().ok().map(|v| v.cvx.as_str());
        let is_998 = cvx == Some("998");
        let deleted = action.as_deref() == Some("D");
        let given = matches!(completion.as_deref(), None | Some("CP" | "PA"));
        let administered = given && !deleted && source.as_deref() == Some("00");
        let refused = completion.as_deref() == Some("RE");

        self.order_control(
            orc,
            d,
            is_998 || matches!(completion.as_deref(), Some("RE" | "NA")),
        );

        // RXA-1, RXA-2
        let give_sub_id = val(&rxa, 1, 1);
        if give_sub_id.as_deref() != Some("0") {
            self.emit(
                R::RXA_1_INVALID,
                i,
                l(1),
                d,
                format!(
                    "The give sub-ID counter (RXA-1) {} should be 0.",
                    shown(give_sub_id.as_deref().unwrap_or(""))
                ),
            );
        }
        let admin_sub_id = val(&rxa, 2, 1);
        if admin_sub_id.as_deref() != Some("1") {
            self.emit(
                R::RXA_2_INVALID,
                i,
                l(2),
                d,
                format!(
                    "The administration sub-ID counter (RXA-2) {} should be 1.",
                    shown(admin_sub_id.as_deref().unwrap_or(""))
                ),
            );
        }

        // RXA-3
        let mut in_future = false;
        let admin: Option<Date> = match val(&rxa, 3, 1) {
            None => {
                self.emit(
                    R::RXA_3_MISSING,
                    i,
                    l(3),
                    d,
                    "The administration date (RXA-3) is missing.".into(),
                );
                None
            }
            Some(raw) => match when(&raw).and_then(|w| w.day()) {
                None => {
                    self.emit(
                        R::RXA_3_INVALID,
                        i,
                        l(3),
                        d,
                        format!(
                            "The administration date (RXA-3) {} is not a valid date (YYYYMMDD).",
                            shown(&raw)
                        ),
                    );
                    None
                }
                Some(day) => {
                    let shown_day = day;
                    if day > self.limit {
                        self.emit(
                            R::RXA_3_FUTURE,
                            i,
                            l(3),
                            d,
                            format!(
                                "The administration date (RXA-3) {shown_day} is in the future."
                            ),
                        );
                        // Checks against a date that cannot be right would only add noise.
                        in_future = true;
                    } else if self.birth.is_some_and(|b| day < b) {
                        self.emit(
                            R::RXA_3_BEFORE_BIRTH,
                            i,
                            l(3),
                            d,
                            format!(
                                "The administration date (RXA-3) {shown_day} is before the \
                                 patient's birth date."
                            ),
                        );
                    } else if self.death.is_some_and(|dd| day > dd) {
                        self.emit(
                            R::RXA_3_AFTER_DEATH,
                            i,
                            l(3),
                            d,
                            format!(
                                "The administration date (RXA-3) {shown_day} is after the \
                                 patient's death date."
                            ),
                        );
                    } else if self.msg_date.is_some_and(|m| day > m) {
                        self.emit(
                            R::RXA_3_AFTER_MESSAGE,
                            i,
                            l(3),
                            d,
                            format!(
                                "The administration date (RXA-3) {shown_day} is after the message \
                                 date (MSH-7)."
                            ),
                        );
                    }
                    (!in_future).then_some(day)
                }
            },
        };

        // RXA-4
        if let (Some(raw), Some(a)) = (val(&rxa, 4, 1), admin) {
            if when(&raw).and_then(|w| w.day()) != Some(a) {
                self.emit(
                    R::RXA_4_MISMATCH,
                    i,
                    l(4),
                    d,
                    format!(
                        "The end of administration (RXA-4) {} should be empty or the same date as \
                         RXA-3.",
                        shown(&raw)
                    ),
                );
            }
        }

        self.vaccine_code(i, n, &vaccine, cvx_record, admin, administered, is_998);

        // RXA-6, RXA-7
        let amount = match val(&rxa, 6, 1) {
            None => {
                self.emit(
                    R::RXA_6_MISSING,
                    i,
                    l(6),
                    d,
                    "The administered amount (RXA-6) is missing; send 999 when it is not known."
                        .into(),
                );
                None
            }
            Some(a) => match number(&a) {
                Some(x) if x >= 0.0 => Some(x),
                _ => {
                    self.emit(
                        R::RXA_6_INVALID,
                        i,
                        l(6),
                        d,
                        format!(
                            "The administered amount (RXA-6) {} is not a number.",
                            shown(&a)
                        ),
                    );
                    None
                }
            },
        };
        let real_amount = amount.is_some_and(|x| x > 0.0 && (x - 999.0).abs() > f64::EPSILON);
        if given && real_amount && val(&rxa, 7, 1).is_none() {
            self.emit(
                R::RXA_7_MISSING,
                i,
                l(7),
                d,
                "The administered amount has no units (RXA-7, e.g. mL^mL^UCUM).".into(),
            );
        }

        // RXA-9
        match &source {
            None if given && !deleted => self.emit(
                R::RXA_9_MISSING,
                i,
                l(9),
                d,
                "The information source (RXA-9) is missing; send 00 for a vaccine given here or \
                 01 for a historical record."
                    .into(),
            ),
            Some(s) if lookup(Table::InformationSource, s).is_none() => self.emit(
                R::RXA_9_UNKNOWN,
                i,
                l(9).with_component(1),
                d,
                format!(
                    "The information source (RXA-9) {} is not in table NIP001 (00 administered, \
                     01-08 historical).",
                    shown(s)
                ),
            ),
            _ => {}
        }

        // RXA-15, RXA-16
        let lot = val(&rxa, 15, 1);
        match &lot {
            None if administered => self.emit(
                R::RXA_15_MISSING,
                i,
                l(15),
                d,
                "The lot number (RXA-15) is missing for a vaccine given here.".into(),
            ),
            Some(lot) => {
                if let Some(problem) = lot_problem(lot) {
                    self.emit(
                        R::RXA_15_INVALID,
                        i,
                        l(15),
                        d,
                        format!("The lot number (RXA-15) {} {problem}.", shown(lot)),
                    );
                }
            }
            None => {}
        }
        if let Some(raw) = val(&rxa, 16, 1) {
            match when(&raw) {
                None => self.emit(
                    R::RXA_16_INVALID,
                    i,
                    l(16),
                    d,
                    format!(
                        "The lot expiration date (RXA-16) {} is not a valid date.",
                        shown(&raw)
                    ),
                ),
                Some(w) => {
                    if given && !deleted && admin.is_some_and(|a| a > w.last) {
                        self.emit(
                            R::RXA_16_EXPIRED,
                            i,
                            l(16),
                            d,
                            format!(
                                "The lot had expired ({}) before the administration date.",
                                shown(&raw)
                            ),
                        );
                    }
                }
            }
        }

        self.manufacturer(rxa, n, &vaccine, cvx_record, admin, administered);

        // RXA-18
        match (refused, val(&rxa, 18, 1)) {
            (true, None) => self.emit(
                R::RXA_18_MISSING,
                i,
                l(18),
                d,
                "A refusal (RXA-20 = RE) needs its reason in RXA-18 (e.g. 00 parental decision)."
                    .into(),
            ),
            (false, Some(r)) => self.emit(
                R::RXA_18_NOT_ALLOWED,
                i,
                l(18),
                d,
                format!(
                    "The refusal reason (RXA-18) {} is only for refusals (RXA-20 = RE).",
                    shown(&r)
                ),
            ),
            (true, Some(r)) => {
                if lookup(Table::RefusalReason, &r).is_none() {
                    self.emit(
                        R::RXA_18_UNKNOWN,
                        i,
                        l(18).with_component(1),
                        d,
                        format!(
                            "The refusal reason (RXA-18) {} is not in table NIP002.",
                            shown(&r)
                        ),
                    );
                }
            }
            (false, None) => {}
        }

        // RXA-20, RXA-21
        if let Some(c) = &completion {
            if lookup(Table::CompletionStatus, c).is_none() {
                self.emit(
                    R::RXA_20_UNKNOWN,
                    i,
                    l(20),
                    d,
                    format!(
                        "The completion status (RXA-20) {} is not CP, PA, NA or RE.",
                        shown(c)
                    ),
                );
            }
        }
        if is_998 && completion.as_deref() != Some("NA") {
            self.emit(
                R::RXA_20_998_NOT_NA,
                i,
                l(20),
                d,
                "CVX 998 (no vaccine administered) needs completion status NA in RXA-20.".into(),
            );
        }
        if let Some(a) = &action {
            if lookup(Table::ActionCode, a).is_none() {
                self.emit(
                    R::RXA_21_INVALID,
                    i,
                    l(21),
                    d,
                    format!("The action code (RXA-21) {} is not A, U or D.", shown(a)),
                );
            }
        }

        self.route_and_site(rxr, d, cvx_record);

        self.observations(rxa, n, obx, administered, admin, cvx_record, is_998);
    }

    /// ORC-1 and ORC-3 of the immunization `d`.
    fn order_control(
        &mut self,
        orc: Option<(Segment<'a, 'm>, u32)>,
        d: Option<u32>,
        placeholder_allowed: bool,
    ) {
        if let Some((orc, oseq)) = orc {
            let oi = orc.index();
            let ol = |f| loc("ORC", oseq, f);
            let control = val(&orc, 1, 1);
            if control.as_deref() != Some("RE") {
                self.emit(
                    R::ORC_1_INVALID,
                    oi,
                    ol(1),
                    d,
                    format!(
                        "The order control (ORC-1) {} should be RE.",
                        shown(control.as_deref().unwrap_or(""))
                    ),
                );
            }
            match val(&orc, 3, 1) {
                None => self.emit(
                    R::ORC_3_MISSING,
                    oi,
                    ol(3),
                    d,
                    "The filler order number (ORC-3), the sender's own ID for this immunization, \
                     is missing."
                        .into(),
                ),
                Some(id) if id == "9999" => {
                    if !placeholder_allowed {
                        self.emit(
                            R::ORC_3_PLACEHOLDER,
                            oi,
                            ol(3).with_component(1),
                            d,
                            "The filler order number (ORC-3) is the placeholder 9999, which is \
                             only for CVX 998, refusals and not-administered records; send the \
                             sender's own ID for this immunization."
                                .into(),
                        );
                    }
                }
                Some(id) => {
                    let key = orc.field(3).component(1).raw().trim();
                    if self.fillers.contains(&key) {
                        self.emit(
                            R::ORC_3_DUPLICATE,
                            oi,
                            ol(3).with_component(1),
                            d,
                            format!(
                                "The filler order number (ORC-3) {} is also used by an earlier \
                                 immunization in this message; each needs its own ID.",
                                shown(&id)
                            ),
                        );
                    } else {
                        self.fillers.push(key);
                    }
                }
            }
        }
    }

    /// RXA-5: the vaccine code and, when the CVX table has it, its status.
    #[allow(clippy::too_many_arguments)]
    fn vaccine_code(
        &mut self,
        i: usize,
        n: u32,
        vaccine: &Result<ResolvedVaccine, VaccineError>,
        cvx_record: Option<&CvxCode>,
        admin: Option<Date>,
        administered: bool,
        is_998: bool,
    ) {
        let codes = self.ctx.codes;
        let d = Some(n);
        let l = |f| loc("RXA", n, f);
        match vaccine {
            Err(VaccineError::Missing) => {
                self.emit(
                    R::RXA_5_MISSING,
                    i,
                    l(5),
                    d,
                    "The vaccine code (RXA-5) is missing.".into(),
                );
            }
            Err(VaccineError::Unknown {
                code,
                source,
                component,
            }) => {
                let (rule, detail) = match source {
                    VaccineSource::Cvx => (
                        R::RXA_5_UNKNOWN_CVX,
                        format!(
                            "The vaccine code {} (RXA-5) is not a known CVX code.",
                            shown(code)
                        ),
                    ),
                    VaccineSource::Ndc => (
                        R::RXA_5_UNKNOWN_NDC,
                        format!(
                            "The NDC {} (RXA-5) is not in CDC's vaccine NDC lists; send the CVX \
                             code.",
                            shown(code)
                        ),
                    ),
                    VaccineSource::Cpt => (
                        R::RXA_5_UNKNOWN_CPT,
                        format!(
                            "The CPT code {} (RXA-5) does not map to a CVX code; send the CVX \
                             code.",
                            shown(code)
                        ),
                    ),
                };
                self.emit(rule, i, l(5).with_component(*component), d, detail);
            }
            Err(VaccineError::UnsupportedSystem {
                code,
                system,
                component,
            }) => {
                let detail = if system.is_empty() {
                    format!(
                        "The vaccine code {} (RXA-5) has no coding system and is not a known CVX, \
                         NDC or CPT code.",
                        shown(code)
                    )
                } else {
                    format!(
                        "The vaccine code {} (RXA-5) is in coding system {}; send a CVX code (or \
                         an NDC).",
                        shown(code),
                        shown(system)
                    )
                };
                self.emit(
                    R::RXA_5_CODE_SYSTEM,
                    i,
                    l(5).with_component(component + 2),
                    d,
                    detail,
                );
            }
            Ok(v) => {
                let src = v.from.as_str();
                if v.system_inferred {
                    self.emit(
                        R::RXA_5_SYSTEM_MISSING,
                        i,
                        l(5).with_component(v.component + 2),
                        d,
                        format!(
                            "The coding system of vaccine code {} (RXA-5.{}) is blank; it was \
                             read as {src}.",
                            shown(&v.code),
                            v.component + 2
                        ),
                    );
                }
                if let Some(aside) = &v.set_aside {
                    let other_src = aside.source.as_str();
                    match &aside.maps_to {
                        Some(other) => self.emit(
                            R::RXA_5_CONFLICT,
                            i,
                            l(5).with_component(aside.component),
                            d,
                            format!(
                                "RXA-5 names two different vaccines: {src} {} (CVX {}) and \
                                 {other_src} {} (CVX {}); CVX {} was used.",
                                shown(&v.code),
                                v.cvx,
                                shown(&aside.code),
                                other,
                                v.cvx
                            ),
                        ),
                        None => self.emit(
                            R::RXA_5_ALTERNATE_UNKNOWN,
                            i,
                            l(5).with_component(aside.component),
                            d,
                            format!(
                                "The {other_src} code {} in RXA-5 is not known; the {src} code {} \
                                 was used.",
                                shown(&aside.code),
                                shown(&v.code)
                            ),
                        ),
                    }
                }
                if !v.other_cvx.is_empty() {
                    self.emit(
                        R::RXA_5_NDC_AMBIGUOUS,
                        i,
                        l(5).with_component(v.component),
                        d,
                        format!(
                            "The {src} {} (RXA-5) can mean CVX {} or {}; CVX {} was used. Send \
                             the CVX code as well.",
                            shown(&v.code),
                            v.cvx,
                            v.other_cvx.join(", "),
                            v.cvx
                        ),
                    );
                }
            }
        }
        if let (Some(rec), false) = (cvx_record, is_998) {
            let c = l(5).with_component(1);
            let admin_after_last_use = || match (admin, in_use_until(codes, rec)) {
                (Some(a), Some(until)) => a > until,
                _ => false,
            };
            match &rec.status {
                CodeStatus::NeverActive => self.emit(
                    R::RXA_5_CVX_NOT_USABLE,
                    i,
                    c.clone(),
                    d,
                    format!(
                        "CVX {} ({}) was never in use for a vaccine.",
                        rec.code, rec.short_name
                    ),
                ),
                CodeStatus::Inactive if !rec.non_specific && admin_after_last_use() => self.emit(
                    R::RXA_5_CVX_INACTIVE,
                    i,
                    c.clone(),
                    d,
                    format!(
                        "CVX {} ({}) was no longer in use on the administration date.",
                        rec.code, rec.short_name
                    ),
                ),
                CodeStatus::NonUs if administered => self.emit(
                    R::RXA_5_NON_US,
                    i,
                    c.clone(),
                    d,
                    format!(
                        "CVX {} ({}) is a vaccine not licensed in the US, but RXA-9 says it was \
                         given here.",
                        rec.code, rec.short_name
                    ),
                ),
                _ => {}
            }
            if administered && rec.non_specific {
                self.emit(
                    R::RXA_5_NON_SPECIFIC,
                    i,
                    c,
                    d,
                    format!(
                        "CVX {} ({}) does not say which product was given; for a vaccine given \
                         here (RXA-9 = 00) send the specific CVX code or the NDC.",
                        rec.code, rec.short_name
                    ),
                );
            }
        }
    }

    /// RXA-17: the manufacturer, its status, and whether it made the NDC sent.
    fn manufacturer(
        &mut self,
        rxa: Segment<'a, 'm>,
        n: u32,
        vaccine: &Result<ResolvedVaccine, VaccineError>,
        cvx_record: Option<&CvxCode>,
        admin: Option<Date>,
        administered: bool,
    ) {
        let codes = self.ctx.codes;
        let d = Some(n);
        let i = rxa.index();
        let l = |f| loc("RXA", n, f);
        let mvx = val(&rxa, 17, 1);
        match &mvx {
            None if administered => self.emit(
                R::RXA_17_MISSING,
                i,
                l(17),
                d,
                "The manufacturer (RXA-17, an MVX code) is missing for a vaccine given here."
                    .into(),
            ),
            None => {}
            Some(m) => match codes.mvx(m) {
                None => self.emit(
                    R::RXA_17_UNKNOWN,
                    i,
                    l(17).with_component(1),
                    d,
                    format!(
                        "The manufacturer code {} (RXA-17) is not a known MVX code.",
                        shown(m)
                    ),
                ),
                Some(rec) => {
                    let inactive = rec.status == CodeStatus::Inactive
                        && matches!((admin, rec.last_updated), (Some(a), Some(u)) if a > u);
                    let ndc = vaccine
                        .as_ref()
                        .ok()
                        .and_then(|v| v.ndc.as_deref())
                        .and_then(|n| codes.ndc(n));
                    if inactive {
                        self.emit(
                            R::RXA_17_INACTIVE,
                            i,
                            l(17).with_component(1),
                            d,
                            format!(
                                "The manufacturer {} ({}) was no longer active on the \
                                 administration date.",
                                rec.code, rec.name
                            ),
                        );
                    } else if matches!(rec.code.as_str(), "UNK" | "OTH") {
                        // "Unknown" and "other" manufacturer say nothing to compare.
                    } else if let Some(ndc) = ndc {
                        if !ndc.mvx.is_empty() && !ndc.mvx.iter().any(|x| x.eq_ignore_ascii_case(m))
                        {
                            self.emit(
                                R::RXA_17_NDC_MISMATCH,
                                i,
                                l(17).with_component(1),
                                d,
                                format!(
                                    "The manufacturer {} (RXA-17) is not the one CDC lists for NDC \
                                     {} ({}).",
                                    rec.code,
                                    ndc.dashed,
                                    ndc.mvx.join(", ")
                                ),
                            );
                        }
                    } else if let Some(vaccine) = cvx_record {
                        let p = products(codes, &vaccine.code);
                        if !p.makers.is_empty()
                            && !p.makers.iter().any(|x| x.eq_ignore_ascii_case(m))
                        {
                            self.emit(
                                R::RXA_17_VACCINE_MISMATCH,
                                i,
                                l(17).with_component(1),
                                d,
                                format!(
                                    "The manufacturer {} (RXA-17) is not one CDC lists as making {} \
                                     (CVX {}: {}).",
                                    rec.code,
                                    vaccine.short_name,
                                    vaccine.code,
                                    p.makers.join(", ")
                                ),
                            );
                        }
                    }
                }
            },
        }
    }

    /// RXR-1 and RXR-2: route and site, and whether they fit the vaccine and each other.
    fn route_and_site(
        &mut self,
        rxr: Option<(Segment<'a, 'm>, u32)>,
        d: Option<u32>,
        cvx_record: Option<&CvxCode>,
    ) {
        if let Some((rxr, rseq)) = rxr {
            let ri = rxr.index();
            let rl = |f| loc("RXR", rseq, f);
            let route = match val(&rxr, 1, 1) {
                None => {
                    self.emit(
                        R::RXR_1_MISSING,
                        ri,
                        rl(1),
                        d,
                        "The route (RXR-1) is missing.".into(),
                    );
                    None
                }
                Some(code) => match lookup(Table::Route, &code) {
                    None => {
                        self.emit(
                            R::RXR_1_UNKNOWN,
                            ri,
                            rl(1).with_component(1),
                            d,
                            format!(
                                "The route {} (RXR-1) is not an NCIT route code (e.g. C28161 \
                                 intramuscular).",
                                shown(&code)
                            ),
                        );
                        None
                    }
                    Some(e) => {
                        if e.status == EntryStatus::Deprecated {
                            self.emit(
                                R::RXR_1_DEPRECATED,
                                ri,
                                rl(1).with_component(1),
                                d,
                                format!(
                                    "The route code {} (RXR-1) is deprecated; send the NCIT code.",
                                    shown(&code)
                                ),
                            );
                        }
                        Some(e)
                    }
                },
            };
            let route_kind = route.and_then(|e| route_class(e.code));
            if let (Some(e), Some(kind), Some(rec)) = (route, route_kind, cvx_record) {
                if let Some(want) = vaccine_route(rec).filter(|w| *w != kind) {
                    self.emit(
                        R::RXR_1_VACCINE,
                        ri,
                        rl(1).with_component(1),
                        d,
                        format!(
                            "The route {} ({}) does not fit {} (CVX {}), which is given {}.",
                            e.code,
                            e.label.to_lowercase(),
                            rec.short_name,
                            rec.code,
                            want.phrase()
                        ),
                    );
                }
            }
            if let Some(site) = val(&rxr, 2, 1) {
                match lookup(Table::Site, &site) {
                    None => self.emit(
                        R::RXR_2_UNKNOWN,
                        ri,
                        rl(2).with_component(1),
                        d,
                        format!(
                            "The administration site {} (RXR-2) is not in HL7 table 0163.",
                            shown(&site)
                        ),
                    ),
                    Some(s) => {
                        if let (Some(kind), Some(e)) = (route_kind, route) {
                            if !site_fits(s.code, kind) {
                                self.emit(
                                    R::RXR_2_ROUTE,
                                    ri,
                                    rl(2).with_component(1),
                                    d,
                                    format!(
                                        "The site {} ({}) does not fit the route {} ({}).",
                                        s.code,
                                        s.label.to_lowercase(),
                                        e.code,
                                        e.label.to_lowercase()
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn observations(
        &mut self,
        rxa: Segment<'a, 'm>,
        n: u32,
        obx: &[(Segment<'a, 'm>, u32)],
        administered: bool,
        admin: Option<Date>,
        cvx_record: Option<&CvxCode>,
        is_998: bool,
    ) {
        let d = Some(n);
        let mut sequence_reported = false;
        let mut vfc_seen = false;
        let mut vis: Vec<VisGroup<'a>> = Vec::new();

        for (pos, &(seg, seq)) in (1u32..).zip(obx) {
            let i = seg.index();
            let l = |f| loc("OBX", seq, f);
            let set_id = val(&seg, 1, 1);
            let in_order = set_id
                .as_deref()
                .and_then(|s| s.parse::<u32>().ok())
                .is_some_and(|s| s == pos || s == seq);
            if !in_order && !sequence_reported {
                sequence_reported = true;
                self.emit(
                    R::OBX_1_SEQUENCE,
                    i,
                    l(1),
                    d,
                    format!(
                        "The set ID (OBX-1) {} is out of sequence; number the observations of \
                         each immunization 1, 2, 3, ...",
                        shown(set_id.as_deref().unwrap_or(""))
                    ),
                );
            }
            let value_type = val(&seg, 2, 1).map(|t| t.to_ascii_uppercase());
            let type_ok = match &value_type {
                None => {
                    self.emit(
                        R::OBX_2_MISSING,
                        i,
                        l(2),
                        d,
                        "The value type (OBX-2) is missing.".into(),
                    );
                    false
                }
                Some(t) if !is_value_type(t) => {
                    self.emit(
                        R::OBX_2_INVALID,
                        i,
                        l(2),
                        d,
                        format!(
                            "The value type (OBX-2) {} is not an HL7 value type.",
                            shown(t)
                        ),
                    );
                    false
                }
                Some(_) => true,
            };
            let code = val(&seg, 3, 1);
            let entry = match &code {
                None => {
                    self.emit(
                        R::OBX_3_MISSING,
                        i,
                        l(3),
                        d,
                        "The observation identifier (OBX-3) is missing.".into(),
                    );
                    None
                }
                Some(c) => {
                    let e = lookup(Table::Observation, c);
                    if e.is_none() {
                        self.emit(
                            R::OBX_3_UNKNOWN,
                            i,
                            l(3).with_component(1),
                            d,
                            format!(
                                "The observation {} (OBX-3) is not one the registry uses; it was \
                                 not read.",
                                shown(c)
                            ),
                        );
                    }
                    e
                }
            };
            if let (Some(e), Some(t), true) = (entry, &value_type, type_ok) {
                if !e.accepts_value_type(t) {
                    self.emit(
                        R::OBX_2_MISMATCH,
                        i,
                        l(2),
                        d,
                        format!(
                            "Observation {} ({}) should have value type {} in OBX-2, not {}.",
                            e.code,
                            e.label.to_lowercase(),
                            e.expected_value_type().unwrap_or(""),
                            t
                        ),
                    );
                }
            }
            let sub = seg.field(4).raw().trim();
            if sub.is_empty() {
                self.emit(
                    R::OBX_4_MISSING,
                    i,
                    l(4),
                    d,
                    "The observation sub-ID (OBX-4), which groups related observations, is \
                     missing."
                        .into(),
                );
            }
            let value = comp(seg.field(5).component(1));
            let obs = entry.map(|e| e.code);
            match &value {
                None => self.emit(
                    R::OBX_5_MISSING,
                    i,
                    l(5),
                    d,
                    "The observation value (OBX-5) is missing.".into(),
                ),
                Some(v) => {
                    let format_ok = match value_type.as_deref().filter(|_| type_ok) {
                        Some("DT" | "TS" | "DTM") => when(v).is_some(),
                        Some("NM") => number(v).is_some(),
                        _ => true,
                    };
                    if !format_ok {
                        self.emit(
                            R::OBX_5_INVALID,
                            i,
                            l(5),
                            d,
                            format!(
                                "The observation value (OBX-5) {} is not a valid {}.",
                                shown(v),
                                if value_type.as_deref() == Some("NM") {
                                    "number"
                                } else {
                                    "date"
                                }
                            ),
                        );
                    }
                    self.coded_value(obs, v, i, l(5).with_component(1), d);
                }
            }
            if val(&seg, 11, 1).as_deref() != Some("F") {
                self.emit(
                    R::OBX_11_INVALID,
                    i,
                    l(11),
                    d,
                    "The observation result status (OBX-11) should be F.".into(),
                );
            }
            if let Some(raw) = val(&seg, 14, 1) {
                if when(&raw).is_none() {
                    self.emit(
                        R::OBX_14_INVALID,
                        i,
                        l(14),
                        d,
                        format!(
                            "The observation date (OBX-14) {} is not a valid date.",
                            shown(&raw)
                        ),
                    );
                }
            }
            if obs == Some("64994-7") {
                vfc_seen = true;
                match val(&seg, 17, 1) {
                    None => self.emit(
                        R::OBX_17_MISSING,
                        i,
                        l(17),
                        d,
                        "The VFC eligibility observation has no capture method (OBX-17: VXC40 per \
                         immunization, VXC41 per visit)."
                            .into(),
                    ),
                    Some(m) => {
                        if lookup(Table::VfcObservationMethod, &m).is_none() {
                            self.emit(
                                R::OBX_17_UNKNOWN,
                                i,
                                l(17).with_component(1),
                                d,
                                format!(
                                    "The VFC eligibility capture method (OBX-17) {} is not VXC40 \
                                     or VXC41.",
                                    shown(&m)
                                ),
                            );
                        }
                    }
                }
            }
            if let Some(obs @ ("69764-9" | "30956-7" | "29768-9" | "29769-7")) = obs {
                let slot = match vis.iter().position(|g| g.sub == sub) {
                    Some(p) => p,
                    None => {
                        vis.push(VisGroup {
                            sub,
                            first: (i, seq),
                            document: None,
                            vaccine_type: None,
                            published: false,
                            presented: None,
                            presented_seen: false,
                        });
                        vis.len() - 1
                    }
                };
                let g = &mut vis[slot];
                match (obs, value) {
                    ("69764-9", Some(v)) => g.document = Some((i, seq, v)),
                    ("30956-7", Some(v)) => g.vaccine_type = Some((i, seq, v)),
                    ("29768-9", _) => g.published = true,
                    ("29769-7", v) => {
                        g.presented_seen = true;
                        if let Some(day) = v.as_deref().and_then(when).map(|w| w.first) {
                            g.presented = Some((i, seq, day));
                        }
                    }
                    _ => {}
                }
            }
        }

        let rxa_key = |rxa: &Segment<'_, '_>| (rxa.index(), u32::MAX, 0, 0);
        if administered && !vfc_seen {
            self.emit_keyed(
                R::OBX_VFC_MISSING,
                rxa_key(&rxa),
                ErrLocation::segment("RXA", n),
                d,
                "No VFC eligibility observation (OBX 64994-7) was sent for this vaccine given \
                 here."
                    .into(),
            );
        }
        let any_vis = vis
            .iter()
            .any(|g| g.document.is_some() || g.vaccine_type.is_some());
        if administered && !any_vis && !is_998 {
            self.emit_keyed(
                R::OBX_VIS_MISSING,
                rxa_key(&rxa),
                ErrLocation::segment("RXA", n),
                d,
                "No VIS (vaccine information statement) observation was sent for this vaccine \
                 given here."
                    .into(),
            );
        }
        for g in &vis {
            let missing = if g.document.is_some() {
                (!g.presented_seen).then_some("the date the VIS was presented (29769-7)")
            } else if g.vaccine_type.is_some() {
                match (g.published, g.presented_seen) {
                    (true, true) => None,
                    (false, true) => Some("the VIS edition date (29768-9)"),
                    (true, false) => Some("the date the VIS was presented (29769-7)"),
                    (false, false) => Some(
                        "the VIS edition date (29768-9) and the date it was presented (29769-7)",
                    ),
                }
            } else {
                Some("the VIS document (69764-9) or vaccine type (30956-7) its dates belong to")
            };
            if let Some(missing) = missing {
                let (gi, gseq) = g.first;
                self.emit(
                    R::OBX_VIS_INCOMPLETE,
                    gi,
                    ErrLocation::segment("OBX", gseq),
                    d,
                    format!(
                        "The VIS observations with sub-ID (OBX-4) {} lack {missing}.",
                        shown(g.sub)
                    ),
                );
            }
            if let (Some((pi, pseq, day)), Some(a)) = (g.presented, admin) {
                if day > a {
                    self.emit(
                        R::OBX_VIS_LATE,
                        pi,
                        loc("OBX", pseq, 5),
                        d,
                        format!(
                            "The VIS was presented ({}) after the administration date.",
                            day
                        ),
                    );
                }
            }
        }
        if let (Some(rec), false) = (cvx_record, is_998) {
            self.vis_fits_vaccine(&vis, rec, d);
        }
    }

    /// OBX-5 of a coded observation, checked against its value set.
    fn coded_value(
        &mut self,
        observation: Option<&'static str>,
        value: &str,
        index: usize,
        location: ErrLocation,
        dose: Option<u32>,
    ) {
        let codes = self.ctx.codes;
        let problem = match observation {
            Some("64994-7") => match lookup(Table::VfcEligibility, value) {
                Some(e) if e.status == EntryStatus::Invalid => Some((
                    R::OBX_5_VFC_UNKNOWN,
                    format!(
                        "The VFC eligibility {} ({}) is not allowed; send the patient's \
                         eligibility.",
                        shown(value),
                        e.label
                    ),
                )),
                Some(_) => None,
                None => Some((
                    R::OBX_5_VFC_UNKNOWN,
                    format!(
                        "The VFC eligibility {} (OBX-5) is not a known eligibility code (HL7 \
                         0064, e.g. V01 to V08).",
                        shown(value)
                    ),
                )),
            },
            Some("30963-3") => lookup(Table::FundingSource, value).is_none().then(|| {
                (
                    R::OBX_5_FUNDING_UNKNOWN,
                    format!(
                        "The funding source {} (OBX-5) is not a known funding source code (e.g. \
                         VXC50 public, PHC70 private).",
                        shown(value)
                    ),
                )
            }),
            Some("69764-9") => codes.vis_document(value).is_none().then(|| {
                (
                    R::OBX_5_VIS_UNKNOWN,
                    format!(
                        "The VIS document barcode {} (OBX-5) is not a known VIS edition.",
                        shown(value)
                    ),
                )
            }),
            Some("30956-7") => codes.cvx(value).is_none().then(|| {
                (
                    R::OBX_5_VIS_UNKNOWN,
                    format!(
                        "The VIS vaccine type {} (OBX-5) is not a known CVX code.",
                        shown(value)
                    ),
                )
            }),
            Some("59784-9" | "75505-8") => {
                lookup(Table::ImmunityEvidence, value).is_none().then(|| {
                    (
                        R::OBX_5_CODE_UNKNOWN,
                        format!(
                            "The evidence of immunity {} (OBX-5) is not a known SNOMED code for \
                             it.",
                            shown(value)
                        ),
                    )
                })
            }
            Some("30945-0") => lookup(Table::Contraindication, value).is_none().then(|| {
                (
                    R::OBX_5_CODE_UNKNOWN,
                    format!(
                        "The contraindication {} (OBX-5) is not a known contraindication code.",
                        shown(value)
                    ),
                )
            }),
            _ => None,
        };
        if let Some((rule, detail)) = problem {
            self.emit(rule, index, location, dose, detail);
        }
    }

    /// Whether the VIS documents (or vaccine types) sent are ones CDC lists for the vaccine.
    fn vis_fits_vaccine(&mut self, vis: &[VisGroup<'a>], rec: &CvxCode, dose: Option<u32>) {
        let codes = self.ctx.codes;
        let expected = codes.vis_for_cvx(&rec.code);
        let documents: Vec<_> = vis.iter().filter_map(|g| g.document.as_ref()).collect();
        let known: Vec<_> = documents
            .iter()
            .filter_map(|(i, s, gs1)| codes.vis_document(gs1).map(|doc| (*i, *s, doc)))
            .collect();
        if let (false, Some(&(i, s, _))) = (expected.is_empty(), known.first()) {
            let fits = known.iter().any(|(_, _, doc)| {
                expected
                    .iter()
                    .any(|e| e.document_code == doc.document_code)
            });
            if !fits {
                self.emit(
                    R::OBX_VIS_VACCINE,
                    i,
                    loc("OBX", s, 5).with_component(1),
                    dose,
                    format!(
                        "None of the VIS documents sent is one CDC lists for {} (CVX {}).",
                        rec.short_name, rec.code
                    ),
                );
                return;
            }
        }
        let types: Vec<_> = vis
            .iter()
            .filter_map(|g| g.vaccine_type.as_ref())
            .filter_map(|(i, s, code)| codes.cvx(code).map(|c| (*i, *s, c)))
            .collect();
        let Some(&(i, s, t)) = types.first() else {
            return;
        };
        let fits = types
            .iter()
            .any(|(_, _, t)| family(t).any(|c| family(rec).any(|d| d == c)));
        if !fits {
            self.emit(
                R::OBX_VIS_VACCINE,
                i,
                loc("OBX", s, 5).with_component(1),
                dose,
                format!(
                    "The VIS vaccine type {} ({}) does not match {} (CVX {}).",
                    t.code, t.short_name, rec.short_name, rec.code
                ),
            );
        }
    }
}
