//! The single pass over a message. Segments are read in order; patient segments are checked as
//! they come, an immunization (ORC, TQ1/TQ2, RXA, RXR, OBX/NTE) when its group closes, because
//! its rules look across the group (a lot is required only when RXA-9 says administered, a VIS
//! group spans several OBX). Findings carry a sort key (segment position, field, repetition,
//! component) so that they come out in message order however they were found.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use crate::hl7::{DtmPrecision, ErrLocation, Message, Segment, Severity};
use crate::registry::codes::{CodeSets, CodeStatus, CvxCode, Entry, EntryStatus, Table};
use crate::registry::finding::{Finding, Scope};

mod header;
mod orders;
mod patient;

use super::text::{
    comp, components, is_identifier_type, is_oid, is_us_country, is_us_state, is_us_zip,
    is_value_type, lot_problem, name_issue, number, shown, val, when, xtn_problem, NameIssue,
};
use super::vaccine::{resolve, ResolvedVaccine, VaccineError, VaccineSource};
use super::Context;
use crate::date::{age_years, next_day, Date};
use crate::registry::rules::R;

type Key = (usize, u32, u32, u32);

struct Pending {
    key: Key,
    rule: R,
    severity: Severity,
    location: ErrLocation,
    dose: Option<u32>,
    detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// After MSH, before PID.
    Header,
    /// After PID, before the first ORC or RXA.
    Patient,
    /// In the immunizations.
    Orders,
}

/// One ORDER group: ORC, [TQ1/TQ2], RXA, [RXR], (OBX [NTE])*.
struct Group<'a, 'm> {
    orc: Option<(Segment<'a, 'm>, u32)>,
    rxa: Option<(Segment<'a, 'm>, u32)>,
    rxr: Option<(Segment<'a, 'm>, u32)>,
    obx: Vec<(Segment<'a, 'm>, u32)>,
    last_was_obx: bool,
}

impl<'a, 'm> Group<'a, 'm> {
    fn new(orc: Option<(Segment<'a, 'm>, u32)>) -> Self {
        Group {
            orc,
            rxa: None,
            rxr: None,
            obx: Vec::new(),
            last_was_obx: false,
        }
    }
}

fn loc(segment: &str, seq: u32, field: u32) -> ErrLocation {
    ErrLocation::field(segment, seq, field)
}

/// FNV-1a: the table keys are a few bytes long, and not attacker-chosen (they are our tables).
#[derive(Clone, Copy, Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// The small tables indexed by code, in the order of [`Table::ALL`].
static TABLE_INDEX: LazyLock<Vec<FnvMap<&'static str, &'static Entry>>> = LazyLock::new(|| {
    Table::ALL
        .iter()
        .map(|t| {
            let mut index = FnvMap::default();
            for e in t.entries() {
                index.entry(e.code).or_insert(e);
            }
            index
        })
        .collect()
});

/// A code of a small table: exact (after trimming), else ignoring ASCII case.
fn lookup(table: Table, code: &str) -> Option<&'static Entry> {
    let code = code.trim();
    let exact = Table::ALL
        .iter()
        .position(|t| *t == table)
        .and_then(|i| TABLE_INDEX.get(i))
        .and_then(|index| index.get(code).copied());
    exact.or_else(|| table.code_table().lookup_ignore_case(code))
}

pub(crate) struct Engine<'a, 'm, 'x> {
    msg: &'m Message<'a>,
    ctx: &'x Context<'x>,
    pending: Vec<Pending>,
    /// The last date accepted as "not in the future": today plus one day.
    limit: Date,
    msg_date: Option<Date>,
    birth: Option<Date>,
    death: Option<Date>,
    phase: Phase,
    pid_index: Option<usize>,
    responsible_party: bool,
    occurrences: Vec<(&'a str, u32)>,
    group: Option<Group<'a, 'm>>,
    fillers: Vec<&'a str>,
    halted: bool,
}

impl<'a, 'm, 'x> Engine<'a, 'm, 'x> {
    pub(crate) fn new(msg: &'m Message<'a>, ctx: &'x Context<'x>) -> Self {
        Engine {
            msg,
            ctx,
            pending: Vec::new(),
            limit: next_day(ctx.today),
            msg_date: None,
            birth: None,
            death: None,
            phase: Phase::Header,
            pid_index: None,
            responsible_party: false,
            occurrences: Vec::with_capacity(12),
            group: None,
            fillers: Vec::new(),
            halted: false,
        }
    }

    pub(crate) fn run(mut self) -> Vec<Finding> {
        let msg = self.msg;
        let mut segments = msg.segments();
        if let Some(msh) = segments.next() {
            let seq = self.occurrence(msh.id());
            self.msh(msh, seq);
        }
        if !self.envelope_refused() {
            for seg in segments {
                self.segment(seg);
                if self.halted {
                    break;
                }
            }
            if !self.halted {
                self.close_group();
                self.end_of_message();
            }
        }
        self.finish()
    }

    // ---- bookkeeping -------------------------------------------------------------------------

    fn occurrence(&mut self, id: &'a str) -> u32 {
        if let Some(entry) = self.occurrences.iter_mut().find(|(s, _)| *s == id) {
            entry.1 += 1;
            return entry.1;
        }
        self.occurrences.push((id, 1));
        1
    }

    /// Records a finding located in the segment at position `index`.
    fn emit(
        &mut self,
        rule: R,
        index: usize,
        location: ErrLocation,
        dose: Option<u32>,
        detail: String,
    ) {
        let key = (
            index,
            location.field,
            location.repetition,
            location.component,
        );
        self.emit_keyed(rule, key, location, dose, detail);
    }

    fn emit_keyed(
        &mut self,
        rule: R,
        key: Key,
        location: ErrLocation,
        dose: Option<u32>,
        detail: String,
    ) {
        let Some(severity) = self.ctx.severity_of(rule.info()) else {
            return;
        };
        self.pending.push(Pending {
            key,
            rule,
            severity,
            location,
            dose,
            detail,
        });
    }

    fn envelope_refused(&self) -> bool {
        self.pending
            .iter()
            .any(|p| p.severity == Severity::Error && p.rule.info().scope == Scope::Envelope)
    }

    fn finish(mut self) -> Vec<Finding> {
        self.pending.sort_by_key(|p| p.key);
        if self.envelope_refused() {
            self.pending
                .retain(|p| p.rule.info().scope == Scope::Envelope);
        }
        let patient_rejected = self.pending.iter().any(|p| {
            p.severity == Severity::Error
                && matches!(p.rule.info().scope, Scope::Envelope | Scope::Patient)
        });
        self.pending
            .into_iter()
            .map(|p| {
                let info = p.rule.info();
                let mut message = String::with_capacity(p.detail.len() + 64);
                if let Some(n) = p.dose {
                    message.push_str("Immunization ");
                    message.push_str(&n.to_string());
                    message.push_str(": ");
                }
                message.push_str(&p.detail);
                if p.severity == Severity::Error {
                    message.push_str(match info.scope {
                        Scope::Envelope => " The message was not processed.",
                        Scope::Patient => {
                            " The patient was not saved, so nothing in this message was saved."
                        }
                        Scope::Dose if patient_rejected => " This immunization was not saved.",
                        Scope::Dose => {
                            " This immunization was not saved; the rest of the message was."
                        }
                        Scope::Note => " This segment was ignored.",
                    });
                }
                Finding {
                    rule: info.id,
                    severity: p.severity,
                    scope: info.scope,
                    location: Some(p.location),
                    hl7_code: info.hl7_code,
                    cdc_code: info.cdc_code,
                    message,
                    dose: p.dose,
                }
            })
            .collect()
    }

    // ---- text ------------------------------------------------------------------------------

    /// Control characters in a segment's values, sent raw or decoded from an escape (`\X00\`,
    /// `\X0D\`): an error in a patient identifier or name, which must not be stored altered;
    /// elsewhere a warning, and storage removes them ([`crate::registry::vxu`]). One finding per
    /// component; the sentence names the position, never the value.
    fn control_characters(&mut self, seg: Segment<'a, 'm>, seq: u32) {
        let raw = seg.raw();
        // Control characters are C0 (below 0x20), DEL and C1 (0xC2 0x80..0x9F in UTF-8), or come
        // from an escape sequence; a segment with none of those bytes has none.
        let escape = self.msg.delimiters().escape;
        if !raw
            .bytes()
            .any(|b| b < 0x20 || b == 0x7f || b == 0xC2 || char::from(b) == escape)
        {
            return;
        }
        let id = seg.id();
        let index = seg.index();
        for f in 1..=seg.field_count() {
            let field = seg.field(f);
            let fr = field.raw();
            if !fr
                .bytes()
                .any(|b| b < 0x20 || b == 0x7f || b == 0xC2 || char::from(b) == escape)
            {
                continue;
            }
            let f = f as u32;
            for (r, rep) in (1u32..).zip(field.repetitions()) {
                for (c, component) in (1u32..).zip(rep.components()) {
                    if !component.decoded().chars().any(char::is_control) {
                        continue;
                    }
                    let (rule, detail) = match (id, f) {
                        ("PID", 3) => (
                            R::PID_3_CONTROL,
                            format!(
                                "Patient identifier {r} (PID-3.{c}) contains control characters."
                            ),
                        ),
                        ("PID", 5) => (
                            R::PID_5_CONTROL,
                            format!("Patient name {r} (PID-5.{c}) contains control characters."),
                        ),
                        ("PID", 6) => (
                            R::PID_6_CONTROL,
                            format!(
                                "The mother's maiden name (PID-6.{c}) contains control characters."
                            ),
                        ),
                        _ => (
                            R::TEXT_CONTROL,
                            format!(
                                "{id}-{f}.{c} (repetition {r}) contains control characters; \
                                 they were removed before storage."
                            ),
                        ),
                    };
                    let location = loc(id, seq, f).with_repetition(r).with_component(c);
                    self.emit(rule, index, location, None, detail);
                }
            }
        }
    }

    // ---- structure ---------------------------------------------------------------------------

    fn segment(&mut self, seg: Segment<'a, 'm>) {
        let id = seg.id();
        let seq = self.occurrence(id);
        let index = seg.index();
        if id != "MSH" {
            self.control_characters(seg, seq);
        }
        match id {
            "MSH" => {
                self.emit(
                    R::MSG_MULTIPLE,
                    index,
                    ErrLocation::segment("MSH", seq),
                    None,
                    "The request holds more than one message (a second MSH segment); send one \
                     message per request."
                        .into(),
                );
                self.halted = true;
            }
            "SFT" => {
                if self.phase != Phase::Header {
                    self.misplaced(id, seq, index, "right after MSH");
                }
            }
            "PID" => self.pid(seg, seq),
            "PD1" => self.pd1(seg, seq),
            "NK1" => self.nk1(seg, seq),
            "PV1" | "PV2" | "GT1" | "IN1" | "IN2" | "IN3" => {
                if self.phase != Phase::Patient {
                    self.misplaced(id, seq, index, "after PID and before the first ORC");
                }
            }
            "ORC" => {
                self.close_group();
                self.phase = Phase::Orders;
                self.group = Some(Group::new(Some((seg, seq))));
            }
            "TQ1" | "TQ2" => {
                let fits = self
                    .group
                    .as_ref()
                    .is_some_and(|g| g.orc.is_some() && g.rxa.is_none());
                if !fits {
                    self.misplaced(id, seq, index, "between an ORC and its RXA");
                }
            }
            "RXA" => {
                let fits = self
                    .group
                    .as_ref()
                    .is_some_and(|g| g.orc.is_some() && g.rxa.is_none());
                if !fits {
                    self.close_group();
                    self.group = Some(Group::new(None));
                    self.emit(
                        R::RXA_NO_ORC,
                        index,
                        ErrLocation::segment("RXA", seq),
                        Some(seq),
                        "This RXA segment is not preceded by its own ORC segment, so it has no \
                         filler order number (ORC-3)."
                            .into(),
                    );
                }
                self.phase = Phase::Orders;
                if let Some(g) = self.group.as_mut() {
                    g.rxa = Some((seg, seq));
                }
            }
            "RXR" => {
                let slot = self
                    .group
                    .as_mut()
                    .filter(|g| g.rxa.is_some() && g.rxr.is_none() && g.obx.is_empty());
                match slot {
                    Some(g) => g.rxr = Some((seg, seq)),
                    None => self.misplaced(id, seq, index, "right after its RXA, once"),
                }
            }
            "OBX" => {
                let slot = self.group.as_mut().filter(|g| g.rxa.is_some());
                match slot {
                    Some(g) => {
                        g.obx.push((seg, seq));
                        g.last_was_obx = true;
                        return;
                    }
                    None => self.misplaced(id, seq, index, "after an RXA (and its RXR)"),
                }
            }
            "NTE" => {
                let fits = self.group.as_ref().is_some_and(|g| g.last_was_obx);
                if !fits {
                    self.misplaced(id, seq, index, "right after an OBX");
                }
                // An NTE does not end the OBX run.
                return;
            }
            _ => {
                self.emit(
                    R::SEG_UNEXPECTED,
                    index,
                    ErrLocation::segment(id, seq),
                    None,
                    format!(
                        "Segment {} has no place in a VXU^V04 message; it was ignored.",
                        shown(id)
                    ),
                );
            }
        }
        if let Some(g) = self.group.as_mut() {
            g.last_was_obx = false;
        }
    }

    fn misplaced(&mut self, id: &str, seq: u32, index: usize, place: &str) {
        self.emit(
            R::SEG_ORDER,
            index,
            ErrLocation::segment(id, seq),
            None,
            format!("The {id} segment is out of place; it belongs {place}."),
        );
    }

    fn end_of_message(&mut self) {
        let Some(pid_index) = self.pid_index else {
            self.emit_keyed(
                R::PID_MISSING,
                (1, 0, 0, 0),
                ErrLocation::segment("PID", 1),
                None,
                "The message has no PID segment, so there is no patient to record.".into(),
            );
            return;
        };
        if let Some(birth) = self.birth {
            if age_years(birth, self.ctx.today) < 18 && !self.responsible_party {
                self.emit_keyed(
                    R::NK1_MINOR_MISSING,
                    (pid_index, u32::MAX, 0, 0),
                    ErrLocation::segment("NK1", 1),
                    None,
                    "The patient is under 18 and no parent, guardian or care giver is given (an \
                     NK1 segment with a name and a relationship such as MTH, FTH or GRD)."
                        .into(),
                );
            }
        }
    }

    // ---- MSH ---------------------------------------------------------------------------------

    // ---- patient -----------------------------------------------------------------------------

    // ---- immunizations -----------------------------------------------------------------------
}
