//! PID, PD1 and NK1: the patient and the people responsible for the patient.

use super::*;

impl<'a, 'm, 'x> Engine<'a, 'm, 'x> {
    pub(super) fn pid(&mut self, seg: Segment<'a, 'm>, seq: u32) {
        let i = seg.index();
        if seq > 1 {
            self.emit(
                R::PID_REPEATED,
                i,
                ErrLocation::segment("PID", seq),
                None,
                "The message has more than one PID segment; send one patient per message.".into(),
            );
            return;
        }
        if self.phase == Phase::Orders {
            self.misplaced("PID", seq, i, "right after MSH");
        } else {
            self.phase = Phase::Patient;
        }
        self.pid_index = Some(i);
        let l = |f| loc("PID", seq, f);

        let set_id = val(&seg, 1, 1);
        if set_id.as_deref() != Some("1") {
            self.emit(
                R::PID_1_INVALID,
                i,
                l(1),
                None,
                "The set ID (PID-1) should be 1.".into(),
            );
        }

        let mut any_id = false;
        for (r, rep) in (1u32..).zip(seg.field(3).repetitions()) {
            let [id, _, _, _, id_type]: [Option<Cow<'_, str>>; 5] = components(rep);
            if id.is_none() {
                continue;
            }
            any_id = true;
            match id_type {
                None => self.emit(
                    R::PID_3_TYPE_MISSING,
                    i,
                    l(3).with_repetition(r).with_component(5),
                    None,
                    format!(
                        "Patient identifier {r} (PID-3) has no identifier type (PID-3.5, e.g. MR)."
                    ),
                ),
                Some(t) if !is_identifier_type(&t) => self.emit(
                    R::PID_3_TYPE_UNKNOWN,
                    i,
                    l(3).with_repetition(r).with_component(5),
                    None,
                    format!(
                        "The type {} of patient identifier {r} (PID-3.5) is not an HL7 identifier \
                         type (table 0203, e.g. MR).",
                        shown(&t)
                    ),
                ),
                Some(_) => {}
            }
        }
        if !any_id {
            self.emit(
                R::PID_3_MISSING,
                i,
                l(3),
                None,
                "The patient identifier (PID-3) is missing.".into(),
            );
        }

        let names = seg.field(5);
        let legal = names
            .repetitions()
            .position(|r| comp(r.component(7)).as_deref() == Some("L"));
        let rep_no = legal.map_or(1, |p| p + 1);
        let name = names.repetition(rep_no);
        let r = rep_no as u32;
        let family = comp(name.component(1));
        let given = comp(name.component(2));
        if family.is_none() {
            self.emit(
                R::PID_5_FAMILY_MISSING,
                i,
                l(5).with_repetition(r).with_component(1),
                None,
                "The patient's last name (PID-5.1) is missing.".into(),
            );
        }
        if given.is_none() {
            self.emit(
                R::PID_5_GIVEN_MISSING,
                i,
                l(5).with_repetition(r).with_component(2),
                None,
                "The patient's first name (PID-5.2) is missing.".into(),
            );
        }
        if legal.is_none() && (family.is_some() || given.is_some()) {
            self.emit(
                R::PID_5_TYPE,
                i,
                l(5).with_component(7),
                None,
                "No patient name in PID-5 is marked as the legal name (name type L in PID-5.7)."
                    .into(),
            );
        }
        for (c, value, label) in [(1u32, &family, "last name"), (2, &given, "first name")] {
            let Some(v) = value else {
                continue;
            };
            let (rule, detail) = match name_issue(v) {
                None => continue,
                Some(NameIssue::Test(word)) => (
                    R::PID_5_TEST,
                    format!(
                        "The patient's {label} (PID-5.{c}) looks like a test or newborn \
                         placeholder ({word})."
                    ),
                ),
                Some(NameIssue::Junk(word)) => (
                    R::PID_5_JUNK,
                    format!(
                        "The patient's {label} (PID-5.{c}) is a placeholder ({word}), not a name."
                    ),
                ),
                Some(NameIssue::Invalid) => (
                    R::PID_5_INVALID,
                    format!("The patient's {label} (PID-5.{c}) contains digits or symbols."),
                ),
            };
            self.emit(
                rule,
                i,
                l(5).with_repetition(r).with_component(c),
                None,
                detail,
            );
        }

        match val(&seg, 7, 1) {
            None => self.emit(
                R::PID_7_MISSING,
                i,
                l(7),
                None,
                "The patient's birth date (PID-7) is missing.".into(),
            ),
            Some(raw) => match when(&raw) {
                None => self.emit(
                    R::PID_7_INVALID,
                    i,
                    l(7),
                    None,
                    format!(
                        "The patient's birth date (PID-7) {} is not a valid date (YYYYMMDD).",
                        shown(&raw)
                    ),
                ),
                Some(w) if w.precision < DtmPrecision::Day => self.emit(
                    R::PID_7_PRECISION,
                    i,
                    l(7),
                    None,
                    format!(
                        "The patient's birth date (PID-7) {} lacks the month or day; send YYYYMMDD.",
                        shown(&raw)
                    ),
                ),
                Some(w) if w.first > self.limit => self.emit(
                    R::PID_7_FUTURE,
                    i,
                    l(7),
                    None,
                    format!(
                        "The patient's birth date (PID-7) {} is in the future.",
                        w.first
                    ),
                ),
                Some(w) => {
                    if age_years(w.first, self.ctx.today) > 120 {
                        self.emit(
                            R::PID_7_TOO_OLD,
                            i,
                            l(7),
                            None,
                            format!(
                                "The patient's birth date (PID-7) {} is more than 120 years ago.",
                                w.first
                            ),
                        );
                    }
                    self.birth = Some(w.first);
                }
            },
        }

        match val(&seg, 8, 1) {
            None => self.emit(
                R::PID_8_MISSING,
                i,
                l(8),
                None,
                "The patient's sex (PID-8) is missing.".into(),
            ),
            Some(s) if !matches!(s.as_ref(), "F" | "M" | "U" | "X") => self.emit(
                R::PID_8_INVALID,
                i,
                l(8),
                None,
                format!(
                    "The patient's sex (PID-8) {} is not F, M, U or X.",
                    shown(&s)
                ),
            ),
            Some(_) => {}
        }

        self.race_or_ethnicity(
            seg,
            seq,
            10,
            Table::Race,
            (R::PID_10_UNKNOWN, R::PID_10_DEPRECATED),
        );

        for (r, rep) in (1u32..).zip(seg.field(11).repetitions()) {
            let [_, _, _, state, zip, country]: [Option<Cow<'_, str>>; 6] = components(rep);
            if !is_us_country(country.as_deref()) {
                continue;
            }
            if let Some(state) = state {
                if !is_us_state(&state) {
                    self.emit(
                        R::PID_11_STATE,
                        i,
                        l(11).with_repetition(r).with_component(4),
                        None,
                        format!(
                            "The state {} in patient address {r} (PID-11.4) is not a US state or \
                             territory code.",
                            shown(&state)
                        ),
                    );
                }
            }
            if let Some(zip) = zip {
                if !is_us_zip(&zip) {
                    self.emit(
                        R::PID_11_ZIP,
                        i,
                        l(11).with_repetition(r).with_component(5),
                        None,
                        format!(
                            "The ZIP code in patient address {r} (PID-11.5) is not 5 or 9 digits."
                        ),
                    );
                }
            }
        }

        self.phones(seg, "PID", seq, 13, R::PID_13_INVALID, "patient's");

        self.race_or_ethnicity(
            seg,
            seq,
            22,
            Table::Ethnicity,
            (R::PID_22_UNKNOWN, R::PID_22_DEPRECATED),
        );

        let multiple = val(&seg, 24, 1);
        if let Some(m) = &multiple {
            if !matches!(m.as_ref(), "Y" | "N") {
                self.emit(
                    R::PID_24_INVALID,
                    i,
                    l(24),
                    None,
                    format!(
                        "The multiple birth indicator (PID-24) {} is not Y or N.",
                        shown(m)
                    ),
                );
            }
        }
        match (multiple.as_deref(), val(&seg, 25, 1)) {
            (Some("Y"), None) => self.emit(
                R::PID_25_MISSING,
                i,
                l(25),
                None,
                "PID-24 says the patient is one of a multiple birth, but the birth order (PID-25) \
                 is missing."
                    .into(),
            ),
            (m, Some(order)) => {
                let n = order.parse::<u8>().ok().filter(|n| (1..=9).contains(n));
                let detail = match n {
                    None => Some(format!(
                        "The birth order (PID-25) {} is not a number from 1 to 9.",
                        shown(&order)
                    )),
                    Some(n) if n > 1 && m == Some("N") => Some(format!(
                        "The birth order (PID-25) is {n}, but PID-24 says a single birth."
                    )),
                    Some(_) => None,
                };
                if let Some(detail) = detail {
                    self.emit(R::PID_25_INVALID, i, l(25), None, detail);
                }
            }
            _ => {}
        }

        let death_raw = val(&seg, 29, 1);
        if let Some(raw) = &death_raw {
            match when(raw) {
                None => self.emit(
                    R::PID_29_INVALID,
                    i,
                    l(29),
                    None,
                    format!(
                        "The patient's death date (PID-29) {} is not a valid date.",
                        shown(raw)
                    ),
                ),
                Some(w) if w.first > self.limit || self.birth.is_some_and(|b| w.last < b) => self
                    .emit(
                        R::PID_29_ILLOGICAL,
                        i,
                        l(29),
                        None,
                        format!(
                            "The patient's death date (PID-29) {} is in the future or before the \
                             birth date.",
                            shown(raw)
                        ),
                    ),
                Some(w) => self.death = Some(w.last),
            }
        }
        let indicator = val(&seg, 30, 1);
        match indicator.as_deref() {
            None | Some("Y" | "N") => {
                if death_raw.is_some() && indicator.as_deref() != Some("Y") {
                    self.emit(
                        R::PID_30_INCONSISTENT,
                        i,
                        l(30),
                        None,
                        "A death date is given (PID-29) but the death indicator (PID-30) is not Y."
                            .into(),
                    );
                }
            }
            Some(other) => self.emit(
                R::PID_30_INVALID,
                i,
                l(30),
                None,
                format!(
                    "The death indicator (PID-30) {} is not Y or N.",
                    shown(other)
                ),
            ),
        }
    }

    fn race_or_ethnicity(
        &mut self,
        seg: Segment<'a, 'm>,
        seq: u32,
        field: u32,
        table: Table,
        (unknown, deprecated): (R, R),
    ) {
        let what = if table == Table::Race {
            "race"
        } else {
            "ethnicity"
        };
        for (r, rep) in (1u32..).zip(seg.field(field as usize).repetitions()) {
            let Some(code) = comp(rep.component(1)).or_else(|| comp(rep.component(4))) else {
                continue;
            };
            let location = loc("PID", seq, field).with_repetition(r).with_component(1);
            match lookup(table, &code) {
                None => self.emit(
                    unknown,
                    seg.index(),
                    location,
                    None,
                    format!(
                        "The {what} code {} (PID-{field}) is not a CDC race and ethnicity code \
                         (CDCREC).",
                        shown(&code)
                    ),
                ),
                Some(e) if e.status == EntryStatus::Deprecated => self.emit(
                    deprecated,
                    seg.index(),
                    location,
                    None,
                    format!(
                        "The {what} code {} (PID-{field}) is deprecated ({}); send the CDCREC code.",
                        shown(&code),
                        e.label
                    ),
                ),
                Some(_) => {}
            }
        }
    }

    fn phones(
        &mut self,
        seg: Segment<'a, 'm>,
        segment: &str,
        seq: u32,
        field: u32,
        rule: R,
        whose: &str,
    ) {
        for (r, rep) in (1u32..).zip(seg.field(field as usize).repetitions()) {
            let c: [Option<Cow<'_, str>>; 7] = components(rep);
            if c.iter().all(Option::is_none) {
                continue;
            }
            let problem = xtn_problem(
                c[1].as_deref(),
                c[2].as_deref(),
                c[3].as_deref(),
                c[5].as_deref(),
                c[6].as_deref(),
                c[0].as_deref(),
            );
            if let Some(problem) = problem {
                self.emit(
                    rule,
                    seg.index(),
                    loc(segment, seq, field).with_repetition(r),
                    None,
                    format!("The {whose} phone or e-mail {r} ({segment}-{field}): {problem}."),
                );
            }
        }
    }

    pub(super) fn pd1(&mut self, seg: Segment<'a, 'm>, seq: u32) {
        let i = seg.index();
        if seq > 1 {
            self.emit(
                R::PD1_REPEATED,
                i,
                ErrLocation::segment("PD1", seq),
                None,
                "More than one PD1 segment; only the first is read.".into(),
            );
            return;
        }
        if self.phase != Phase::Patient {
            self.misplaced("PD1", seq, i, "after PID and before the first ORC");
        }
        let l = |f| loc("PD1", seq, f);
        let publicity = val(&seg, 11, 1);
        if let Some(p) = &publicity {
            if lookup(Table::Publicity, p).is_none() {
                self.emit(
                    R::PD1_11_UNKNOWN,
                    i,
                    l(11).with_component(1),
                    None,
                    format!(
                        "The publicity code (PD1-11) {} is not in HL7 table 0215.",
                        shown(p)
                    ),
                );
            }
        }
        let protection = val(&seg, 12, 1);
        if let Some(p) = &protection {
            if !matches!(p.as_ref(), "Y" | "N") {
                self.emit(
                    R::PD1_12_INVALID,
                    i,
                    l(12),
                    None,
                    format!(
                        "The protection indicator (PD1-12) {} is not Y or N.",
                        shown(p)
                    ),
                );
            }
        }
        self.effective_date(
            seg,
            seq,
            13,
            protection.is_some(),
            (R::PD1_13_MISSING, R::PD1_13_INVALID),
            "protection indicator (PD1-12)",
        );
        let status = val(&seg, 16, 1);
        if let Some(s) = &status {
            let known =
                lookup(Table::RegistryStatus, s).filter(|e| e.status != EntryStatus::Invalid);
            if known.is_none() {
                self.emit(
                    R::PD1_16_UNKNOWN,
                    i,
                    l(16),
                    None,
                    format!(
                        "The registry status (PD1-16) {} is not one of A, I, L, M, P, U (HL7 table \
                         0441).",
                        shown(s)
                    ),
                );
            }
        }
        self.effective_date(
            seg,
            seq,
            17,
            status.is_some(),
            (R::PD1_17_MISSING, R::PD1_17_INVALID),
            "registry status (PD1-16)",
        );
        self.effective_date(
            seg,
            seq,
            18,
            publicity.is_some(),
            (R::PD1_18_MISSING, R::PD1_18_INVALID),
            "publicity code (PD1-11)",
        );
    }

    /// A PD1 effective date: required when `required`, a valid day when valued.
    fn effective_date(
        &mut self,
        seg: Segment<'a, 'm>,
        seq: u32,
        field: u32,
        required: bool,
        (missing, invalid): (R, R),
        of_what: &str,
    ) {
        let location = loc("PD1", seq, field);
        match val(&seg, field as usize, 1) {
            None if required => self.emit(
                missing,
                seg.index(),
                location,
                None,
                format!("The {of_what} is given without its effective date (PD1-{field})."),
            ),
            Some(raw) if when(&raw).and_then(|w| w.day()).is_none() => self.emit(
                invalid,
                seg.index(),
                location,
                None,
                format!(
                    "The effective date in PD1-{field} {} is not a valid date (YYYYMMDD).",
                    shown(&raw)
                ),
            ),
            _ => {}
        }
    }

    pub(super) fn nk1(&mut self, seg: Segment<'a, 'm>, seq: u32) {
        let i = seg.index();
        if self.phase != Phase::Patient {
            self.misplaced("NK1", seq, i, "after PID and before the first ORC");
        }
        let l = |f| loc("NK1", seq, f);
        let set_id = val(&seg, 1, 1);
        if set_id.as_deref() != Some(seq.to_string().as_str()) {
            self.emit(
                R::NK1_1_INVALID,
                i,
                l(1),
                None,
                format!("The set ID (NK1-1) of this NK1 segment should be {seq}."),
            );
        }
        let names = seg.field(2);
        let rep_no = names
            .repetitions()
            .position(|r| comp(r.component(7)).as_deref() == Some("L"))
            .map_or(1, |p| p + 1);
        let name = names.repetition(rep_no);
        let family = comp(name.component(1));
        let given = comp(name.component(2));
        let named = family.is_some() && given.is_some();
        if !named {
            let c = if family.is_none() { 1 } else { 2 };
            self.emit(
                R::NK1_2_MISSING,
                i,
                l(2).with_repetition(rep_no as u32).with_component(c),
                None,
                "The responsible person's last or first name (NK1-2) is missing.".into(),
            );
        }
        match val(&seg, 3, 1) {
            None => self.emit(
                R::NK1_3_MISSING,
                i,
                l(3),
                None,
                "The relationship to the patient (NK1-3) is missing.".into(),
            ),
            Some(code) => match lookup(Table::Relationship, &code) {
                None => self.emit(
                    R::NK1_3_UNKNOWN,
                    i,
                    l(3).with_component(1),
                    None,
                    format!(
                        "The relationship {} (NK1-3) is not in HL7 table 0063 (e.g. MTH, FTH, GRD).",
                        shown(&code)
                    ),
                ),
                Some(e) if e.status != EntryStatus::Valid => self.emit(
                    R::NK1_3_NOT_GUARDIAN,
                    i,
                    l(3).with_component(1),
                    None,
                    format!(
                        "The relationship {} ({}) in NK1-3 is not a parent, guardian or care giver.",
                        shown(&code),
                        e.label
                    ),
                ),
                Some(_) => self.responsible_party |= named,
            },
        }
        self.phones(seg, "NK1", seq, 5, R::NK1_5_INVALID, "responsible person's");
    }
}
