//! Reads an RSP^K11 back into the query model: the inverse of [`super::response::build_rsp`]
//! for what that writes, and a best-effort reading of other registries' Z31/Z32 answers (rows
//! it does not know, such as Z42 evaluation and forecast OBX, are skipped).
//!
//! How records are recognized:
//! * PID starts a patient; PD1 and NK1 belong to the last PID.
//! * ORC starts an ORDER group; its RXA, RXR and OBX rows follow.
//! * An RXA with CVX 998 whose group has OBX `59784-9` rows is evidence of immunity (one
//!   [`ImmunityView`] per row, dated by RXA-3); any other RXA is a [`DoseView`]: RXA-20 `RE` a
//!   refusal, `NA` not administered, else RXA-9 `00` administered, anything else historical.
//! * OBX-4 groups VIS rows: `69764-9` or `30956-7` with `29768-9`/`29769-7` (a `30956-7`
//!   group holding other codes is an evaluation group, not a VIS).
//! * Dates `YYYYMMDD…` become `YYYY-MM-DD`; `999` in RXA-6 means no amount; the first `SR`
//!   identifier in PID-3 is the registry id. Texts are not trimmed.

use std::borrow::Cow;

use crate::hl7::{parse_dtm, DtmPrecision, Field, Message, Repetition, Segment};

use super::model::{
    AddressView, CodedValue, DoseKind, DoseView, ImmunityView, NextOfKinView, PatientId,
    PatientView, PhoneView, VisDocument, VisView,
};

/// A patient of an RSP with the records that follow their PID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RspPatient {
    pub patient: PatientView,
    pub doses: Vec<DoseView>,
    pub immunity: Vec<ImmunityView>,
}

/// What an RSP says. Header values are decoded and empty when absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RspContent {
    /// MSH-21.1 (`Z31`, `Z32`, `Z33`, `Z42`).
    pub profile: String,
    /// MSA-1 and MSA-2.
    pub ack_code: String,
    pub acknowledged_control_id: String,
    /// QAK-1 and QAK-2.
    pub query_tag: String,
    pub query_status: String,
    /// The ids of every segment, in order.
    pub segment_ids: Vec<String>,
    pub patients: Vec<RspPatient>,
}

fn value(v: Option<Cow<'_, str>>) -> String {
    v.map(Cow::into_owned).unwrap_or_default()
}

fn opt(s: Cow<'_, str>) -> Option<String> {
    (!s.is_empty()).then(|| s.into_owned())
}

/// Subcomponent 1 of component `n`, decoded, not trimmed.
fn comp(rep: &Repetition<'_>, n: usize) -> String {
    rep.component(n).value().into_owned()
}

fn date(raw: &str) -> String {
    match parse_dtm(raw.trim()) {
        Ok(dtm) if dtm.precision >= DtmPrecision::Day => match dtm.date() {
            Some(d) => d.to_string(),
            None => raw.to_string(),
        },
        _ => raw.to_string(),
    }
}

fn opt_date(field: Field<'_>) -> Option<String> {
    opt(field.value()).map(|d| date(&d))
}

fn coded(rep: &Repetition<'_>, first: usize) -> Option<CodedValue> {
    let cv = CodedValue {
        code: comp(rep, first),
        text: comp(rep, first + 1),
        system: comp(rep, first + 2),
    };
    (!cv.is_empty()).then_some(cv)
}

fn ce(field: Field<'_>) -> Option<CodedValue> {
    coded(&field.repetition(1), 1)
}

fn address(field: Field<'_>) -> Option<AddressView> {
    let rep = field.repetition(1);
    let a = AddressView {
        street: comp(&rep, 1),
        other_designation: comp(&rep, 2),
        city: comp(&rep, 3),
        state: comp(&rep, 4),
        zip: comp(&rep, 5),
        country: comp(&rep, 6),
        address_type: comp(&rep, 7),
    };
    (!a.is_empty()).then_some(a)
}

fn phone(field: Field<'_>) -> Option<PhoneView> {
    let rep = field.repetition(1);
    let p = PhoneView::new(comp(&rep, 6), comp(&rep, 7));
    if !p.is_empty() {
        return Some(p);
    }
    PhoneView::from_digits(&comp(&rep, 1))
}

fn yes_no(field: Field<'_>) -> Option<bool> {
    match field.value().trim() {
        "Y" | "y" => Some(true),
        "N" | "n" => Some(false),
        _ => None,
    }
}

/// Reads PID (PD1 and NK1 are added by [`read_rsp`]).
fn patient(pid: &Segment<'_, '_>) -> PatientView {
    let mut registry_id = None;
    let mut identifiers = Vec::new();
    for rep in pid.field(3).repetitions() {
        let id_type = comp(&rep, 5);
        let v = comp(&rep, 1);
        if registry_id.is_none() && id_type == "SR" {
            registry_id = Some(v);
            continue;
        }
        let authority = rep.component(4);
        let mut auth = authority.subcomponent_value(1).into_owned();
        if auth.is_empty() {
            auth = authority.subcomponent_value(2).into_owned();
        }
        if !v.is_empty() || !auth.is_empty() || !id_type.is_empty() {
            identifiers.push(PatientId::new(v, auth, id_type));
        }
    }
    let names = pid.field(5);
    let legal = names
        .repetitions()
        .find(|r| r.component(7).value() == "L")
        .unwrap_or_else(|| names.repetition(1));
    PatientView {
        registry_id: registry_id.unwrap_or_default(),
        identifiers,
        family: comp(&legal, 1),
        given: comp(&legal, 2),
        middle: opt(legal.component(3).value()),
        mother_maiden_family: opt(pid.field(6).value()),
        birth_date: date(&pid.field(7).value()),
        sex: opt(pid.field(8).value()),
        address: address(pid.field(11)),
        phone: phone(pid.field(13)),
        race: ce(pid.field(10)),
        ethnicity: ce(pid.field(22)),
        multiple_birth: yes_no(pid.field(24)),
        birth_order: pid.field(25).value().trim().parse().ok(),
        ..PatientView::default()
    }
}

fn add_pd1(p: &mut PatientView, pd1: &Segment<'_, '_>) {
    p.publicity = ce(pd1.field(11));
    p.protection = yes_no(pd1.field(12));
    p.protection_date = opt_date(pd1.field(13));
    p.registry_status = opt(pd1.field(16).value());
    p.registry_status_date = opt_date(pd1.field(17));
    p.publicity_date = opt_date(pd1.field(18));
}

fn next_of_kin(nk1: &Segment<'_, '_>) -> NextOfKinView {
    let name = nk1.field(2).repetition(1);
    NextOfKinView {
        relationship: ce(nk1.field(3)).unwrap_or_default(),
        family: comp(&name, 1),
        given: comp(&name, 2),
        address: address(nk1.field(4)),
        phone: phone(nk1.field(5)),
    }
}

/// One ORDER group as read so far.
struct Order<'a, 'm> {
    orc: Option<Segment<'a, 'm>>,
    rxa: Option<Segment<'a, 'm>>,
    rxr: Option<Segment<'a, 'm>>,
    obx: Vec<Segment<'a, 'm>>,
}

impl<'a, 'm> Order<'a, 'm> {
    fn new(orc: Option<Segment<'a, 'm>>) -> Self {
        Order {
            orc,
            rxa: None,
            rxr: None,
            obx: Vec::new(),
        }
    }

    fn obx_code(obx: &Segment<'_, '_>) -> String {
        obx.field(3).component(1).value().trim().to_string()
    }

    /// Adds the group's records to `into`.
    fn finish(self, into: &mut RspPatient) {
        let Some(rxa) = self.rxa else {
            return;
        };
        let (cvx, cvx_text, ndc) = vaccine(&rxa);
        let administered_on = date(&rxa.field(3).value());
        let immunity_rows: Vec<_> = self
            .obx
            .iter()
            .filter(|o| Self::obx_code(o) == "59784-9")
            .collect();
        if cvx == "998" && !immunity_rows.is_empty() {
            for row in immunity_rows {
                let rep = row.field(5).repetition(1);
                into.immunity.push(ImmunityView {
                    snomed_code: comp(&rep, 1),
                    text: comp(&rep, 2),
                    date: administered_on.clone(),
                });
            }
            return;
        }
        let completion = rxa.field(20).value().trim().to_ascii_uppercase();
        let source = rxa.field(9).value().into_owned();
        let kind = match completion.as_str() {
            "RE" => DoseKind::Refusal,
            "NA" => DoseKind::NotAdministered,
            _ if source.trim() == "00" => DoseKind::Administered,
            _ => DoseKind::Historical,
        };
        let orc3 = self.orc.map(|o| o.field(3).repetition(1));
        let amount = opt(rxa.field(6).value()).filter(|a| a.trim() != "999");
        let mut dose = DoseView {
            kind,
            registry_dose_id: String::new(),
            filler_order_id: orc3.and_then(|r| opt(r.component(1).value())),
            filler_namespace: orc3.and_then(|r| opt(r.component(2).value())),
            administered_on,
            cvx,
            cvx_text,
            ndc,
            units: amount.as_ref().and_then(|_| opt(rxa.field(7).value())),
            amount,
            info_source: (kind == DoseKind::Historical)
                .then(|| source.clone())
                .filter(|s| !s.is_empty()),
            lot: opt(rxa.field(15).value()),
            lot_expiration: opt_date(rxa.field(16)),
            mvx: ce(rxa.field(17)),
            completion_status: matches!(kind, DoseKind::Administered | DoseKind::Historical)
                .then_some(completion)
                .filter(|c| !c.is_empty()),
            refusal_reason: (kind == DoseKind::Refusal)
                .then(|| ce(rxa.field(18)))
                .flatten(),
            route: self.rxr.and_then(|r| ce(r.field(1))),
            site: self.rxr.and_then(|r| ce(r.field(2))),
            administering_org: opt(rxa.field(11).component(4).value()),
            ..DoseView::default()
        };
        read_observations(&self.obx, &mut dose);
        into.doses.push(dose);
    }
}

/// RXA-5: the CVX triplet (primary or alternate) and an NDC triplet.
fn vaccine(rxa: &Segment<'_, '_>) -> (String, String, Option<String>) {
    let rep = rxa.field(5).repetition(1);
    let (mut cvx, mut text, mut ndc) = (None, String::new(), None);
    for base in [1usize, 4] {
        let system = rep.component(base + 2).value();
        if system.trim().eq_ignore_ascii_case("CVX") && cvx.is_none() {
            cvx = Some(comp(&rep, base));
            text = comp(&rep, base + 1);
        } else if system.trim().eq_ignore_ascii_case("NDC") && ndc.is_none() {
            ndc = opt(rep.component(base).value());
        }
    }
    (cvx.unwrap_or_default(), text, ndc)
}

const VIS_CODES: [&str; 4] = ["69764-9", "30956-7", "29768-9", "29769-7"];

fn read_observations(rows: &[Segment<'_, '_>], dose: &mut DoseView) {
    // OBX-4 values in order of first appearance, with their rows.
    let mut groups: Vec<(String, Vec<&Segment<'_, '_>>)> = Vec::new();
    for row in rows {
        match Order::obx_code(row).as_str() {
            "64994-7" => dose.vfc_eligibility = ce(row.field(5)),
            "30963-3" => dose.funding_source = ce(row.field(5)),
            _ => {
                let sub = row.field(4).value().trim().to_string();
                match groups.iter_mut().find(|(s, _)| *s == sub) {
                    Some((_, g)) => g.push(row),
                    None => groups.push((sub, vec![row])),
                }
            }
        }
    }
    for (_, group) in groups {
        let codes: Vec<String> = group.iter().map(|r| Order::obx_code(r)).collect();
        if !codes.iter().all(|c| VIS_CODES.contains(&c.as_str())) {
            continue;
        }
        let row = |code: &str| {
            codes
                .iter()
                .position(|c| c == code)
                .map(|i| group[i].field(5))
        };
        let document = if let Some(f) = row("69764-9") {
            let rep = f.repetition(1);
            VisDocument::Barcode {
                code: comp(&rep, 1),
                text: comp(&rep, 2),
            }
        } else if let Some(f) = row("30956-7") {
            let rep = f.repetition(1);
            VisDocument::VaccineType {
                cvx: comp(&rep, 1),
                text: comp(&rep, 2),
                published: row("29768-9").and_then(opt_date),
            }
        } else {
            continue;
        };
        dose.vis.push(VisView {
            document,
            presented: row("29769-7").and_then(opt_date),
        });
    }
}

/// Reads an RSP: the header values and every patient with their records.
pub fn read_rsp(msg: &Message<'_>) -> RspContent {
    let mut out = RspContent {
        profile: value(msg.msh().get(21, 1)),
        ack_code: value(msg.get("MSA-1")),
        acknowledged_control_id: value(msg.get("MSA-2")),
        query_tag: value(msg.get("QAK-1")),
        query_status: value(msg.get("QAK-2")),
        segment_ids: msg.segments().map(|s| s.id().to_string()).collect(),
        patients: Vec::new(),
    };
    let mut current: Option<RspPatient> = None;
    let mut order: Option<Order<'_, '_>> = None;
    let close_order = |order: &mut Option<Order<'_, '_>>, current: &mut Option<RspPatient>| {
        if let (Some(o), Some(p)) = (order.take(), current.as_mut()) {
            o.finish(p);
        }
    };
    for seg in msg.segments() {
        match seg.id() {
            "PID" => {
                close_order(&mut order, &mut current);
                out.patients.extend(current.take());
                current = Some(RspPatient {
                    patient: patient(&seg),
                    ..RspPatient::default()
                });
            }
            "PD1" => {
                if let Some(p) = current.as_mut() {
                    add_pd1(&mut p.patient, &seg);
                }
            }
            "NK1" => {
                if let Some(p) = current.as_mut() {
                    p.patient.next_of_kin.push(next_of_kin(&seg));
                }
            }
            "ORC" => {
                close_order(&mut order, &mut current);
                order = Some(Order::new(Some(seg)));
            }
            "RXA" => {
                // An RXA without its ORC still counts as a group of its own.
                if order.as_ref().is_some_and(|o| o.rxa.is_some()) {
                    close_order(&mut order, &mut current);
                }
                order.get_or_insert_with(|| Order::new(None)).rxa = Some(seg);
            }
            "RXR" => {
                if let Some(o) = order.as_mut() {
                    o.rxr = Some(seg);
                }
            }
            "OBX" => {
                if let Some(o) = order.as_mut() {
                    o.obx.push(seg);
                }
            }
            _ => {}
        }
    }
    close_order(&mut order, &mut current);
    out.patients.extend(current);
    out
}
