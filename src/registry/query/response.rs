//! RSP^K11: the answer to an immunization history query.
//!
//! [`build_rsp`] writes, always with the standard delimiters `|^~\&`:
//!
//! ```text
//! MSH|^~\&|<app>|<fac>|<query MSH-3>|<query MSH-4>|<ts>||RSP^K11^RSP_K11|<ctrl>|<P/T/D>|2.5.1|||NE|NE|||||<Z31/Z32/Z33>^CDCPHINVS|<query MSH-23>|<query MSH-22>
//! MSA|<AA/AE/AR>|<query MSH-10>
//! ERR|...                                   one per finding, as in the ACK
//! QAK|<QPD-2>|<OK/NF/TM/AE/AR/PD>|<QPD-1>
//! QPD|...                                   the query's QPD, verbatim (re-encoded if its delimiters differ)
//! Z32: PID, PD1, NK1*, then per dose ORC, RXA, RXR, OBX*, then per evidence of immunity ORC, RXA, OBX
//! Z42: as Z32, each dose's OBX rows followed by its evaluation (one OBX-4 per vaccine group),
//!      then per vaccine group forecast ORC|RE||9999, RXA (998, NA), OBX*
//! Z31: per candidate PID (PID-1 = 1..n), PD1, NK1*
//! Z33: nothing more
//! ```
//!
//! | outcome | MSH-21 | MSA-1 | QAK-2 |
//! |---|---|---|---|
//! | `Found` without a forecast (Z34) | Z32 | AA | OK |
//! | `Found` with a forecast (Z44) | Z42 | AA | OK |
//! | `Candidates` (non-empty) | Z31 | AA | OK |
//! | `NotFound`, `Candidates(vec![])` | Z33 | AA | NF |
//! | `TooMany` | Z33 | AA | TM |
//! | `Protected` | Z33 | AA | PD |
//! | `Rejected` | Z33 | AE or AR (from the findings) | AE or AR |
//!
//! The evaluation and forecast of a Z42 are computed by the caller (see
//! `registry::forecast`); this module only writes them. Z42 history rows: `30956-7` vaccine
//! group (CVX), `59779-9` schedule `VXC16^ACIP^CDCPHINVS`, `59781-5` validity `Y`/`N`, then
//! `30973-2` dose number (valid doses), `59780-7` series name, `30982-3` reason (not valid).
//! Forecast rows: `30979-9` vaccine group due next, `59779-9`, `30973-2` dose number,
//! `30981-5` earliest, `30980-7` recommended (due), `59777-3` latest, `59778-1` overdue (past
//! due), `59783-1` series status, `30982-3` the reason for that status (CE, local table
//! `99IZP`); a date not forecast is left out.
//! PD1 is written only when the patient has publicity, protection or registry-status data;
//! RXR only with a route or site.

use std::borrow::Cow;

use crate::hl7::{
    build_ack, reencode, AckCode, AckContext, AckParams, Delimiters, ErrEntry, Message,
    MessageBuilder, SegmentBuilder,
};
use crate::registry::finding::{ack_code, Finding};

use super::model::{
    AddressView, CodedValue, DoseEvaluationView, DoseKind, DoseView, Forecast, ForecastView,
    ImmunityView, NextOfKinView, PatientView, PhoneView, QueryProfile, VisDocument,
};
use super::request::QueryRequest;

/// What the registry found for a query.
#[derive(Clone, Debug)]
pub enum QueryOutcome {
    /// Exactly one patient, with their immunization history; for a Z44 also its evaluation
    /// (in each dose) and the forecast per vaccine group (`Some`, possibly empty: a Z42).
    Found {
        patient: Box<PatientView>,
        doses: Vec<DoseView>,
        immunity: Vec<ImmunityView>,
        forecast: Option<Forecast>,
    },
    /// Possible matches (no more than the query's maximum), without doses.
    Candidates(Vec<PatientView>),
    NotFound,
    /// More candidates than the query allows.
    TooMany,
    /// The patient's data may not be shared (PD1-12 = Y).
    Protected,
    /// The query was refused; the findings say why (at least one error).
    Rejected(Vec<Finding>),
}

/// The response profile (MSH-21.1 of the RSP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseProfile {
    /// Candidate list.
    Z31,
    /// Complete immunization history.
    Z32,
    /// Evaluated immunization history and forecast.
    Z42,
    /// No person record (not found, too many, protected, or the query was refused).
    Z33,
}

impl ResponseProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseProfile::Z31 => "Z31",
            ResponseProfile::Z32 => "Z32",
            ResponseProfile::Z42 => "Z42",
            ResponseProfile::Z33 => "Z33",
        }
    }
}

/// QAK-2, HL7 table 0208.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryStatus {
    /// `OK`: data found, no errors.
    Ok,
    /// `NF`: no data found, no errors.
    NotFound,
    /// `TM`: too many candidates found.
    TooMany,
    /// `AE`: application error.
    ApplicationError,
    /// `AR`: application reject.
    ApplicationReject,
    /// `PD`: protected data.
    Protected,
}

impl QueryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryStatus::Ok => "OK",
            QueryStatus::NotFound => "NF",
            QueryStatus::TooMany => "TM",
            QueryStatus::ApplicationError => "AE",
            QueryStatus::ApplicationReject => "AR",
            QueryStatus::Protected => "PD",
        }
    }
}

impl QueryOutcome {
    /// MSA-1: AA unless the query was rejected (then AR for envelope errors, else AE).
    pub fn ack_code(&self) -> AckCode {
        match self {
            QueryOutcome::Rejected(findings) => match ack_code(findings) {
                AckCode::AA => AckCode::AE,
                code => code,
            },
            _ => AckCode::AA,
        }
    }

    /// QAK-2.
    pub fn status(&self) -> QueryStatus {
        match self {
            QueryOutcome::Found { .. } => QueryStatus::Ok,
            QueryOutcome::Candidates(c) if !c.is_empty() => QueryStatus::Ok,
            QueryOutcome::Candidates(_) | QueryOutcome::NotFound => QueryStatus::NotFound,
            QueryOutcome::TooMany => QueryStatus::TooMany,
            QueryOutcome::Protected => QueryStatus::Protected,
            QueryOutcome::Rejected(_) => match self.ack_code() {
                AckCode::AR => QueryStatus::ApplicationReject,
                _ => QueryStatus::ApplicationError,
            },
        }
    }

    /// MSH-21.1 of the answer.
    pub fn response_profile(&self) -> ResponseProfile {
        match self {
            QueryOutcome::Found {
                forecast: Some(_), ..
            } => ResponseProfile::Z42,
            QueryOutcome::Found { .. } => ResponseProfile::Z32,
            QueryOutcome::Candidates(c) if !c.is_empty() => ResponseProfile::Z31,
            _ => ResponseProfile::Z33,
        }
    }
}

/// What the answer echoes of the query: QAK-1 (the tag), QAK-3 (QPD-1) and the QPD segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryEcho {
    /// The delimiters `query_name_raw` and `qpd_raw` are encoded with.
    pub delimiters: Delimiters,
    /// The profile asked for, when known.
    pub profile: Option<QueryProfile>,
    /// QPD-2, decoded.
    pub query_tag: String,
    /// QPD-1, encoded.
    pub query_name_raw: String,
    /// The QPD segment, encoded; `None` when the query had none.
    pub qpd_raw: Option<String>,
}

impl From<&QueryRequest> for QueryEcho {
    fn from(q: &QueryRequest) -> Self {
        QueryEcho {
            delimiters: q.delimiters,
            profile: Some(q.profile),
            query_tag: q.query_tag.clone(),
            query_name_raw: q.query_name_raw.clone(),
            qpd_raw: Some(q.qpd_raw.clone()),
        }
    }
}

impl QueryEcho {
    /// What can be echoed of any message, valid query or not: its first QPD, if it has one.
    pub fn from_message(msg: &Message<'_>) -> Self {
        let Some(qpd) = msg.segment("QPD") else {
            return QueryEcho {
                delimiters: msg.delimiters(),
                ..QueryEcho::default()
            };
        };
        QueryEcho {
            delimiters: msg.delimiters(),
            profile: QueryProfile::from_code(&qpd.field(1).component(1).value()),
            query_tag: qpd
                .get(2, 1)
                .map(|t| t.trim().to_string())
                .unwrap_or_default(),
            query_name_raw: qpd.field(1).raw().to_string(),
            qpd_raw: Some(qpd.raw().to_string()),
        }
    }
}

/// The RSP's own values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RspParams<'p> {
    /// MSH-3/4 defaults, MSH-7 and MSH-10, as for the ACK.
    pub ack: AckParams<'p>,
    /// The registry's assigning authority (plain text), written with its patient ids
    /// (`<id>^^^<authority>^SR`) and dose ids (`<id>^<authority>` in ORC-3).
    pub assigning_authority: &'p str,
}

const D: Delimiters = Delimiters::DEFAULT;

fn is_blank(raw: &str) -> bool {
    raw.is_empty() || raw == "\"\""
}

/// The ERR segments exactly as [`build_ack`] renders them (one per entry, standard
/// delimiters), so that an RSP and an ACK report findings identically.
fn err_segments(errors: &[ErrEntry]) -> Vec<String> {
    if errors.is_empty() {
        return Vec::new();
    }
    let ack = build_ack(
        &AckContext::unknown(),
        AckCode::AA,
        errors,
        &AckParams::default(),
    );
    ack.split('\r')
        .filter(|seg| seg.starts_with("ERR|") || *seg == "ERR")
        .map(str::to_string)
        .collect()
}

/// Builds the RSP; see the module documentation. `findings` are reported in ERR segments
/// (after those of a `Rejected` outcome); they do not change MSA-1. The result parses with
/// [`Message::parse`].
pub fn build_rsp(
    ctx: &AckContext<'_>,
    echo: &QueryEcho,
    outcome: &QueryOutcome,
    findings: &[Finding],
    params: &RspParams<'_>,
) -> String {
    let from = &ctx.delimiters;
    let copy = |raw| reencode(raw, from, &D);
    let or_default = |raw: &'_ str, default: &'_ str| -> String {
        if is_blank(raw) {
            default.to_string()
        } else {
            reencode(raw, from, &D).into_owned()
        }
    };
    let processing = match crate::hl7::unescape(ctx.processing_id, from).trim() {
        "T" => "T",
        "D" => "D",
        _ => "P",
    };
    let ack = outcome.ack_code();
    let status = outcome.status();
    let profile = outcome.response_profile();

    let mut m = MessageBuilder::new(D);
    let ack_params = &params.ack;
    m.msh(|s| {
        s.set_raw(
            3,
            or_default(ctx.receiving_application, ack_params.sending_application),
        )
        .set_raw(
            4,
            or_default(ctx.receiving_facility, ack_params.sending_facility),
        )
        .set_raw(5, copy(ctx.sending_application))
        .set_raw(6, copy(ctx.sending_facility))
        .set(7, ack_params.timestamp)
        .set_comp(9, 1, "RSP")
        .set_comp(9, 2, "K11")
        .set_comp(9, 3, "RSP_K11")
        .set(10, ack_params.control_id)
        .set(11, processing)
        .set(12, "2.5.1")
        .set(15, "NE")
        .set(16, "NE")
        .set_comp(21, 1, profile.as_str())
        .set_comp(21, 2, "CDCPHINVS")
        .set_raw(22, copy(ctx.receiving_responsible_org))
        .set_raw(23, copy(ctx.sending_responsible_org));
    });
    m.segment("MSA", |s| {
        s.set(1, ack.as_str()).set_raw(2, copy(ctx.control_id));
    });

    let mut errors: Vec<ErrEntry> = Vec::new();
    if let QueryOutcome::Rejected(rejected) = outcome {
        errors.extend(rejected.iter().map(Finding::to_err));
    }
    errors.extend(findings.iter().map(Finding::to_err));
    for err in err_segments(&errors) {
        m.push_raw(&err);
    }

    let echo_from = &echo.delimiters;
    m.segment("QAK", |s| {
        s.set(1, echo.query_tag.as_str())
            .set(2, status.as_str())
            .set_raw(3, reencode(&echo.query_name_raw, echo_from, &D));
    });
    if let Some(qpd) = echo.qpd_raw.as_deref().filter(|q| !q.is_empty()) {
        m.push_raw(&reencode(qpd, echo_from, &D));
    }

    let authority = params.assigning_authority;
    match outcome {
        QueryOutcome::Found {
            patient,
            doses,
            immunity,
            forecast,
        } => {
            push_patient(&mut m, patient, 1, authority);
            for dose in doses {
                push_dose(&mut m, dose, authority);
            }
            for evidence in immunity {
                push_immunity(&mut m, evidence);
            }
            if let Some(forecast) = forecast {
                for group in &forecast.groups {
                    push_forecast(&mut m, group, &forecast.assessed_on);
                }
            }
        }
        QueryOutcome::Candidates(candidates) => {
            for (i, candidate) in candidates.iter().enumerate() {
                push_patient(&mut m, candidate, i + 1, authority);
            }
        }
        QueryOutcome::NotFound
        | QueryOutcome::TooMany
        | QueryOutcome::Protected
        | QueryOutcome::Rejected(_) => {}
    }
    m.finish()
}

/// `YYYY-MM-DD` → `YYYYMMDD`; anything else is sent as it is.
fn hl7_date(date: &str) -> Cow<'_, str> {
    let b = date.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if shaped {
        Cow::Owned(format!("{}{}{}", &date[..4], &date[5..7], &date[8..]))
    } else {
        Cow::Borrowed(date)
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn yes_no(v: bool) -> &'static str {
    if v {
        "Y"
    } else {
        "N"
    }
}

/// Writes a CE at `field`, repetition 1, components `first..first+2`.
fn set_ce<'v>(
    s: &mut SegmentBuilder<'v>,
    field: usize,
    first: usize,
    cv: &'v CodedValue,
    default_system: &'v str,
) {
    if cv.is_empty() {
        return;
    }
    let system = if cv.system.is_empty() {
        default_system
    } else {
        cv.system.as_str()
    };
    s.set_comp(field, first, cv.code.as_str())
        .set_comp(field, first + 1, cv.text.as_str())
        .set_comp(field, first + 2, system);
}

fn set_address<'v>(s: &mut SegmentBuilder<'v>, field: usize, a: &'v AddressView) {
    s.set_comp(field, 1, a.street.as_str())
        .set_comp(field, 2, a.other_designation.as_str())
        .set_comp(field, 3, a.city.as_str())
        .set_comp(field, 4, a.state.as_str())
        .set_comp(field, 5, a.zip.as_str())
        .set_comp(field, 6, a.country.as_str())
        .set_comp(field, 7, a.address_type.as_str());
}

fn set_phone<'v>(s: &mut SegmentBuilder<'v>, field: usize, p: &'v PhoneView) {
    if p.is_empty() {
        return;
    }
    s.set_comp(field, 2, "PRN")
        .set_comp(field, 3, "PH")
        .set_comp(field, 6, p.area_code.as_str())
        .set_comp(field, 7, p.local_number.as_str());
}

fn push_patient(m: &mut MessageBuilder, p: &PatientView, seq: usize, authority: &str) {
    let mut s = SegmentBuilder::new("PID");
    s.set(1, seq.to_string());
    let mut rep = 1;
    if !p.registry_id.is_empty() {
        s.set_rep_comp(3, 1, 1, p.registry_id.as_str())
            .set_rep_comp(3, 1, 4, authority)
            .set_rep_comp(3, 1, 5, "SR");
        rep = 2;
    }
    for id in &p.identifiers {
        let own = id.id_type == "SR" && id.value == p.registry_id;
        if id.value.is_empty() || own {
            continue;
        }
        s.set_rep_comp(3, rep, 1, id.value.as_str())
            .set_rep_comp(3, rep, 4, id.authority.as_str())
            .set_rep_comp(3, rep, 5, id.id_type.as_str());
        rep += 1;
    }
    s.set_comp(5, 1, p.family.as_str())
        .set_comp(5, 2, p.given.as_str())
        .set_comp(5, 3, p.middle.as_deref().unwrap_or(""))
        .set_comp(5, 7, "L");
    if let Some(maiden) = non_empty(&p.mother_maiden_family) {
        s.set_comp(6, 1, maiden).set_comp(6, 7, "M");
    }
    s.set(7, hl7_date(&p.birth_date));
    s.set(8, p.sex.as_deref().unwrap_or(""));
    if let Some(race) = &p.race {
        set_ce(&mut s, 10, 1, race, "CDCREC");
    }
    if let Some(address) = &p.address {
        set_address(&mut s, 11, address);
    }
    if let Some(phone) = &p.phone {
        set_phone(&mut s, 13, phone);
    }
    if let Some(ethnicity) = &p.ethnicity {
        set_ce(&mut s, 22, 1, ethnicity, "CDCREC");
    }
    if let Some(multiple) = p.multiple_birth {
        s.set(24, yes_no(multiple));
    }
    if let Some(order) = p.birth_order {
        s.set(25, order.to_string());
    }
    m.push(&s);

    if p.has_pd1() {
        let mut s = SegmentBuilder::new("PD1");
        if let Some(publicity) = &p.publicity {
            set_ce(&mut s, 11, 1, publicity, "HL70215");
        }
        if let Some(protection) = p.protection {
            s.set(12, yes_no(protection));
        }
        if let Some(d) = non_empty(&p.protection_date) {
            s.set(13, hl7_date(d));
        }
        s.set(16, p.registry_status.as_deref().unwrap_or(""));
        if let Some(d) = non_empty(&p.registry_status_date) {
            s.set(17, hl7_date(d));
        }
        if let Some(d) = non_empty(&p.publicity_date) {
            s.set(18, hl7_date(d));
        }
        m.push(&s);
    }

    for (i, nk) in p.next_of_kin.iter().enumerate() {
        m.push(&nk1(nk, i + 1));
    }
}

fn nk1(nk: &NextOfKinView, seq: usize) -> SegmentBuilder<'_> {
    let mut s = SegmentBuilder::new("NK1");
    s.set(1, seq.to_string())
        .set_comp(2, 1, nk.family.as_str())
        .set_comp(2, 2, nk.given.as_str())
        .set_comp(2, 7, "L");
    set_ce(&mut s, 3, 1, &nk.relationship, "HL70063");
    if let Some(address) = &nk.address {
        set_address(&mut s, 4, address);
    }
    if let Some(phone) = &nk.phone {
        set_phone(&mut s, 5, phone);
    }
    s
}

/// NIP001 text for an information-source code.
fn nip001_text(code: &str) -> &'static str {
    match code {
        "00" => "New immunization record",
        "01" => "Historical information - source unspecified",
        "02" => "Historical information - from other provider",
        "03" => "Historical information - from parent's written record",
        "04" => "Historical information - from parent's recall",
        "05" => "Historical information - from other registry",
        "06" => "Historical information - from birth certificate",
        "07" => "Historical information - from school record",
        "08" => "Historical information - from public agency",
        _ => "",
    }
}

/// ORC-3 used when a record is not a dose that was given (refusal, not administered,
/// evidence of immunity).
const NOT_GIVEN_ORDER: &str = "9999";

/// The value of an OBX row.
enum ObxValue<'v> {
    /// A CE: code, text, system.
    Coded(&'v str, &'v str, &'v str),
    Date(Cow<'v, str>),
    /// A plain value of another type (`NM`, `ID`, `ST`).
    Plain(&'static str, Cow<'v, str>),
}

impl<'v> ObxValue<'v> {
    fn coded(cv: &'v CodedValue, default_system: &'v str) -> Self {
        let system = if cv.system.is_empty() {
            default_system
        } else {
            cv.system.as_str()
        };
        ObxValue::Coded(cv.code.as_str(), cv.text.as_str(), system)
    }
}

/// One OBX row without its set id (OBX-1, numbered when the group is written).
fn obx<'v>(
    sub_id: usize,
    code: &'static str,
    name: &'static str,
    value: ObxValue<'v>,
) -> SegmentBuilder<'v> {
    let mut s = SegmentBuilder::new("OBX");
    s.set_comp(3, 1, code)
        .set_comp(3, 2, name)
        .set_comp(3, 3, "LN");
    s.set(4, sub_id.to_string());
    match value {
        ObxValue::Coded(code, text, system) => {
            s.set(2, "CE")
                .set_comp(5, 1, code)
                .set_comp(5, 2, text)
                .set_comp(5, 3, system);
        }
        ObxValue::Date(d) => {
            s.set(2, "DT").set(5, d);
        }
        ObxValue::Plain(kind, v) => {
            s.set(2, kind).set(5, v);
        }
    }
    s.set(11, "F");
    s
}

/// Writes an ORDER group's OBX rows with OBX-1 = 1..n.
fn push_observations(m: &mut MessageBuilder, rows: Vec<SegmentBuilder<'_>>) {
    for (i, mut row) in rows.into_iter().enumerate() {
        row.set(1, (i + 1).to_string());
        m.push(&row);
    }
}

fn push_dose(m: &mut MessageBuilder, d: &DoseView, authority: &str) {
    let given = matches!(d.kind, DoseKind::Administered | DoseKind::Historical);

    m.segment("ORC", |s| {
        s.set(1, "RE");
        if !given {
            s.set(3, NOT_GIVEN_ORDER);
        } else if let Some(filler) = non_empty(&d.filler_order_id) {
            s.set_comp(3, 1, filler)
                .set_comp(3, 2, d.filler_namespace.as_deref().unwrap_or(""));
        } else {
            s.set_comp(3, 1, d.registry_dose_id.as_str())
                .set_comp(3, 2, authority);
        }
    });

    let info_source = match d.kind {
        DoseKind::Administered => Some("00"),
        DoseKind::Historical => Some(
            non_empty(&d.info_source)
                .filter(|c| c.trim() != "00")
                .unwrap_or("01"),
        ),
        DoseKind::Refusal | DoseKind::NotAdministered => None,
    };
    let completion = match d.kind {
        DoseKind::Refusal => "RE",
        DoseKind::NotAdministered => "NA",
        _ if d.completion_status.as_deref() == Some("PA") => "PA",
        _ => "CP",
    };
    let amount = non_empty(&d.amount);
    m.segment("RXA", |s| {
        s.set(1, "0")
            .set(2, "1")
            .set(3, hl7_date(&d.administered_on));
        s.set_comp(5, 1, d.cvx.as_str())
            .set_comp(5, 2, d.cvx_text.as_str())
            .set_comp(5, 3, "CVX");
        if let Some(ndc) = non_empty(&d.ndc) {
            s.set_comp(5, 4, ndc).set_comp(5, 6, "NDC");
        }
        s.set(6, amount.unwrap_or("999"));
        if let (Some(_), Some(units)) = (amount, non_empty(&d.units)) {
            s.set_comp(7, 1, units).set_comp(7, 3, "UCUM");
        }
        if let Some(code) = info_source {
            s.set_comp(9, 1, code)
                .set_comp(9, 2, nip001_text(code))
                .set_comp(9, 3, "NIP001");
        }
        if let Some(org) = non_empty(&d.administering_org) {
            s.set_comp(11, 4, org);
        }
        if let Some(lot) = non_empty(&d.lot) {
            s.set(15, lot);
        }
        if let Some(exp) = non_empty(&d.lot_expiration) {
            s.set(16, hl7_date(exp));
        }
        if let Some(mvx) = &d.mvx {
            set_ce(s, 17, 1, mvx, "MVX");
        }
        if let (DoseKind::Refusal, Some(reason)) = (d.kind, &d.refusal_reason) {
            set_ce(s, 18, 1, reason, "NIP002");
        }
        s.set(20, completion).set(21, "A");
    });

    let route = d.route.as_ref().filter(|c| !c.is_empty());
    let site = d.site.as_ref().filter(|c| !c.is_empty());
    if route.is_some() || site.is_some() {
        m.segment("RXR", |s| {
            if let Some(route) = route {
                set_ce(s, 1, 1, route, "NCIT");
            }
            if let Some(site) = site {
                set_ce(s, 2, 1, site, "HL70163");
            }
        });
    }

    // Each observation (VFC eligibility, funding source, each VIS) has its own OBX-4; the rows
    // of one VIS share it.
    let mut rows = Vec::new();
    let mut sub_id = 0;
    let date = hl7_date(&d.administered_on);
    if let Some(vfc) = d.vfc_eligibility.as_ref().filter(|c| !c.is_empty()) {
        sub_id += 1;
        let mut s = obx(
            sub_id,
            "64994-7",
            "Vaccine funding program eligibility category",
            ObxValue::coded(vfc, "HL70064"),
        );
        s.set(14, date.clone());
        s.set_comp(17, 1, "VXC40")
            .set_comp(17, 2, "Eligibility captured at the immunization level")
            .set_comp(17, 3, "CDCPHINVS");
        rows.push(s);
    }
    if let Some(funding) = d.funding_source.as_ref().filter(|c| !c.is_empty()) {
        sub_id += 1;
        let mut s = obx(
            sub_id,
            "30963-3",
            "Vaccine funding source",
            ObxValue::coded(funding, "CDCPHINVS"),
        );
        s.set(14, date.clone());
        rows.push(s);
    }
    for vis in &d.vis {
        sub_id += 1;
        match &vis.document {
            VisDocument::Barcode { code, text } => rows.push(obx(
                sub_id,
                "69764-9",
                "Document type",
                ObxValue::Coded(code, text, "cdcgs1vis"),
            )),
            VisDocument::VaccineType {
                cvx,
                text,
                published,
            } => {
                rows.push(obx(
                    sub_id,
                    "30956-7",
                    "Vaccine type",
                    ObxValue::Coded(cvx, text, "CVX"),
                ));
                if let Some(published) = non_empty(published) {
                    rows.push(obx(
                        sub_id,
                        "29768-9",
                        "Date vaccine information statement published",
                        ObxValue::Date(hl7_date(published)),
                    ));
                }
            }
        }
        if let Some(presented) = non_empty(&vis.presented) {
            rows.push(obx(
                sub_id,
                "29769-7",
                "Date vaccine information statement presented",
                ObxValue::Date(hl7_date(presented)),
            ));
        }
    }
    for evaluation in &d.evaluation {
        sub_id += 1;
        push_evaluation(&mut rows, sub_id, evaluation);
    }
    push_observations(m, rows);
}

/// The schedule every evaluation and forecast follows (OBX `59779-9`).
fn schedule_row<'v>(sub_id: usize) -> SegmentBuilder<'v> {
    obx(
        sub_id,
        "59779-9",
        "Immunization schedule used",
        ObxValue::Coded("VXC16", "ACIP", "CDCPHINVS"),
    )
}

/// A Z42 history row group: how the dose counts for one vaccine group.
fn push_evaluation<'v>(
    rows: &mut Vec<SegmentBuilder<'v>>,
    sub_id: usize,
    e: &'v DoseEvaluationView,
) {
    rows.push(obx(
        sub_id,
        "30956-7",
        "Vaccine type",
        ObxValue::coded(&e.vaccine_group, "CVX"),
    ));
    rows.push(schedule_row(sub_id));
    rows.push(obx(
        sub_id,
        "59781-5",
        "Dose validity",
        ObxValue::Plain("ID", Cow::Borrowed(yes_no(e.valid))),
    ));
    if let Some(n) = e.dose_number {
        rows.push(obx(
            sub_id,
            "30973-2",
            "Dose number in series",
            ObxValue::Plain("NM", Cow::Owned(n.to_string())),
        ));
    }
    if !e.series.is_empty() {
        rows.push(obx(
            sub_id,
            "59780-7",
            "Immunization series name",
            ObxValue::Plain("ST", Cow::Borrowed(&e.series)),
        ));
    }
    if !e.reason.is_empty() {
        rows.push(obx(
            sub_id,
            "30982-3",
            "Reason applied by forecast logic to project this vaccine",
            ObxValue::Plain("ST", Cow::Borrowed(&e.reason)),
        ));
    }
}

/// A Z42 forecast ORDER group for one vaccine group: `ORC|RE||9999`, an RXA "no vaccine
/// administered" dated the assessment date, and the forecast's OBX rows (OBX-4 = 1).
fn push_forecast(m: &mut MessageBuilder, f: &ForecastView, assessed_on: &str) {
    m.segment("ORC", |s| {
        s.set(1, "RE").set(3, NOT_GIVEN_ORDER);
    });
    let date = hl7_date(assessed_on);
    m.segment("RXA", |s| {
        s.set(1, "0")
            .set(2, "1")
            .set(3, date.clone())
            .set(4, date.clone());
        s.set_comp(5, 1, "998")
            .set_comp(5, 2, "No vaccine administered")
            .set_comp(5, 3, "CVX");
        s.set(6, "999").set(20, "NA");
    });
    let mut rows = vec![
        obx(
            1,
            "30979-9",
            "Vaccines due next",
            ObxValue::coded(&f.vaccine_group, "CVX"),
        ),
        schedule_row(1),
    ];
    if let Some(n) = f.dose_number {
        rows.push(obx(
            1,
            "30973-2",
            "Dose number in series",
            ObxValue::Plain("NM", Cow::Owned(n.to_string())),
        ));
    }
    for (date, code, name) in [
        (&f.earliest, "30981-5", "Earliest date to give"),
        (&f.recommended, "30980-7", "Date vaccine due"),
        (&f.latest, "59777-3", "Latest date next dose may be given"),
        (&f.past_due, "59778-1", "Date dose is overdue"),
    ] {
        if let Some(d) = non_empty(date) {
            rows.push(obx(1, code, name, ObxValue::Date(hl7_date(d))));
        }
    }
    if !f.status.is_empty() {
        rows.push(obx(
            1,
            "59783-1",
            "Status in immunization series",
            ObxValue::coded(&f.status, "LN"),
        ));
    }
    if !f.reason.is_empty() {
        rows.push(obx(
            1,
            "30982-3",
            "Reason applied by forecast logic to project this vaccine",
            ObxValue::coded(&f.reason, "99IZP"),
        ));
    }
    push_observations(m, rows);
}

fn push_immunity(m: &mut MessageBuilder, evidence: &ImmunityView) {
    m.segment("ORC", |s| {
        s.set(1, "RE").set(3, NOT_GIVEN_ORDER);
    });
    m.segment("RXA", |s| {
        s.set(1, "0").set(2, "1").set(3, hl7_date(&evidence.date));
        s.set_comp(5, 1, "998")
            .set_comp(5, 2, "No vaccine administered")
            .set_comp(5, 3, "CVX");
        s.set(6, "999").set(20, "NA").set(21, "A");
    });
    let row = obx(
        1,
        "59784-9",
        "Disease with presumed immunity",
        ObxValue::Coded(&evidence.snomed_code, &evidence.text, "SCT"),
    );
    push_observations(m, vec![row]);
}

#[cfg(test)]
mod tests;
