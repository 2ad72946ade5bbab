//! What the registry knows about a patient, as the query side needs it.
//!
//! The registry fills these views from storage; [`super::response`] encodes them into an RSP
//! and [`super::read`] reads them back out of one. Every text is plain (decoded) text: the
//! encoder escapes it. Dates are `YYYY-MM-DD`. An empty `String` means "not known" and is left
//! out of the message, as is `None`.

/// The two CDC query profiles (QPD-1 / MSH-21).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryProfile {
    /// `Z34^Request Immunization History^CDCPHINVS`.
    Z34,
    /// `Z44^Request Evaluated History and Forecast^CDCPHINVS`.
    Z44,
}

impl QueryProfile {
    /// `"Z34"` or `"Z44"`.
    pub fn code(self) -> &'static str {
        match self {
            QueryProfile::Z34 => "Z34",
            QueryProfile::Z44 => "Z44",
        }
    }

    /// The query name the CDC guide gives the profile.
    pub fn name(self) -> &'static str {
        match self {
            QueryProfile::Z34 => "Request Immunization History",
            QueryProfile::Z44 => "Request Evaluated History and Forecast",
        }
    }

    /// The profile for a code, compared without regard to case or surrounding spaces.
    pub fn from_code(code: &str) -> Option<QueryProfile> {
        let code = code.trim();
        if code.eq_ignore_ascii_case("Z34") {
            Some(QueryProfile::Z34)
        } else if code.eq_ignore_ascii_case("Z44") {
            Some(QueryProfile::Z44)
        } else {
            None
        }
    }
}

/// One patient identifier (CX): value (CX.1), assigning authority (CX.4, its namespace id) and
/// identifier type (CX.5: MR, SR, PI, MA, SS, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PatientId {
    pub value: String,
    pub authority: String,
    pub id_type: String,
}

impl PatientId {
    pub fn new(
        value: impl Into<String>,
        authority: impl Into<String>,
        id_type: impl Into<String>,
    ) -> Self {
        PatientId {
            value: value.into(),
            authority: authority.into(),
            id_type: id_type.into(),
        }
    }
}

/// A coded value (CE/CWE): code, text, coding system. When `system` is empty the encoder
/// writes the field's usual system (for example `CDCREC` for race, `MVX` for a manufacturer).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CodedValue {
    pub code: String,
    pub text: String,
    pub system: String,
}

impl CodedValue {
    pub fn new(
        code: impl Into<String>,
        text: impl Into<String>,
        system: impl Into<String>,
    ) -> Self {
        CodedValue {
            code: code.into(),
            text: text.into(),
            system: system.into(),
        }
    }

    /// Whether code and text are both empty (nothing to send).
    pub fn is_empty(&self) -> bool {
        self.code.is_empty() && self.text.is_empty()
    }
}

/// A postal address (XAD): street (XAD.1), other designation (XAD.2), city, state, zip,
/// country, address type (XAD.7, e.g. `L` legal, `M` mailing, `P` permanent, `H` home).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddressView {
    pub street: String,
    pub other_designation: String,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
    pub address_type: String,
}

impl AddressView {
    /// Whether every part is empty.
    pub fn is_empty(&self) -> bool {
        [
            &self.street,
            &self.other_designation,
            &self.city,
            &self.state,
            &self.zip,
            &self.country,
            &self.address_type,
        ]
        .iter()
        .all(|s| s.is_empty())
    }
}

/// A telephone number as the guide encodes it: `^PRN^PH^^^<area code>^<local number>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PhoneView {
    pub area_code: String,
    pub local_number: String,
}

impl PhoneView {
    pub fn new(area_code: impl Into<String>, local_number: impl Into<String>) -> Self {
        PhoneView {
            area_code: area_code.into(),
            local_number: local_number.into(),
        }
    }

    /// Reads a number written any way (`(734) 555-6712`, `+1 734 555 6712`, `5556712`): a
    /// North American number of 10 digits (11 with the leading 1) is split into area code and
    /// local number; any other digit string becomes the local number. `None` without digits.
    pub fn from_digits(text: &str) -> Option<PhoneView> {
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let national = match digits.len() {
            11 if digits.starts_with('1') => &digits[1..],
            _ => digits.as_str(),
        };
        match national.len() {
            0 => None,
            10 => Some(PhoneView::new(&national[..3], &national[3..])),
            _ => Some(PhoneView::new("", national)),
        }
    }

    /// Whether both parts are empty.
    pub fn is_empty(&self) -> bool {
        self.area_code.is_empty() && self.local_number.is_empty()
    }
}

/// A next of kin / responsible person (NK1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NextOfKinView {
    /// NK1-3, HL7 table 0063 (MTH, FTH, GRD, SEL, ...); system defaults to `HL70063`.
    pub relationship: CodedValue,
    pub family: String,
    pub given: String,
    /// NK1-4.
    pub address: Option<AddressView>,
    /// NK1-5.
    pub phone: Option<PhoneView>,
}

/// A patient as the registry knows it (PID, PD1, NK1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PatientView {
    /// The registry's own id for the patient; sent first in PID-3 with type `SR` and the
    /// registry's assigning authority.
    pub registry_id: String,
    /// Every other identifier known (PID-3 repetitions after the registry id). An entry with
    /// an empty value, or one equal to the registry id with type `SR`, is not sent.
    pub identifiers: Vec<PatientId>,
    /// PID-5 (legal name, type `L`).
    pub family: String,
    pub given: String,
    pub middle: Option<String>,
    /// PID-6 (type `M`).
    pub mother_maiden_family: Option<String>,
    /// PID-7, `YYYY-MM-DD`.
    pub birth_date: String,
    /// PID-8 (F, M, U, X).
    pub sex: Option<String>,
    /// PID-11.
    pub address: Option<AddressView>,
    /// PID-13.
    pub phone: Option<PhoneView>,
    /// PID-10; system defaults to `CDCREC`.
    pub race: Option<CodedValue>,
    /// PID-22; system defaults to `CDCREC`.
    pub ethnicity: Option<CodedValue>,
    /// PID-24 (Y/N).
    pub multiple_birth: Option<bool>,
    /// PID-25.
    pub birth_order: Option<u8>,
    /// PD1-11, HL7 table 0215 (e.g. `02` reminder/recall, any method); system defaults to
    /// `HL70215`.
    pub publicity: Option<CodedValue>,
    /// PD1-18, `YYYY-MM-DD`.
    pub publicity_date: Option<String>,
    /// PD1-12: `Some(true)` = protected (do not share), `Some(false)` = not protected.
    pub protection: Option<bool>,
    /// PD1-13, `YYYY-MM-DD`.
    pub protection_date: Option<String>,
    /// PD1-16, HL7 table 0441 (A active, I inactive, L lost to follow-up, M moved, P
    /// permanently inactive, U unknown).
    pub registry_status: Option<String>,
    /// PD1-17, `YYYY-MM-DD`.
    pub registry_status_date: Option<String>,
    /// NK1 segments, in order.
    pub next_of_kin: Vec<NextOfKinView>,
}

impl PatientView {
    /// Whether there is anything to put in PD1.
    pub fn has_pd1(&self) -> bool {
        self.publicity.as_ref().is_some_and(|c| !c.is_empty())
            || self.protection.is_some()
            || self
                .registry_status
                .as_deref()
                .is_some_and(|s| !s.is_empty())
            || [
                &self.publicity_date,
                &self.protection_date,
                &self.registry_status_date,
            ]
            .iter()
            .any(|d| d.as_deref().is_some_and(|s| !s.is_empty()))
    }
}

/// What a dose record says happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DoseKind {
    /// Given by the reporting provider (RXA-9 `00`).
    #[default]
    Administered,
    /// Reported from another source (RXA-9 `01`–`08`).
    Historical,
    /// Offered and refused (RXA-20 `RE`, reason in RXA-18).
    Refusal,
    /// Not administered (RXA-20 `NA`), e.g. CVX 998.
    NotAdministered,
}

/// The Vaccine Information Statement a VIS row group names (guide rule IZ-24).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VisDocument {
    /// OBX `69764-9`: the VIS document's GS1 barcode (`cdcgs1vis`).
    Barcode { code: String, text: String },
    /// OBX `30956-7` vaccine type (CVX) and `29768-9` edition date (`YYYY-MM-DD`).
    VaccineType {
        cvx: String,
        text: String,
        published: Option<String>,
    },
}

/// One VIS given to the patient: its document and OBX `29769-7`, the date presented.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VisView {
    pub document: VisDocument,
    pub presented: Option<String>,
}

/// One immunization record (ORC + RXA + RXR + OBX).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DoseView {
    pub kind: DoseKind,
    /// The registry's own id for the dose: ORC-3 (with the registry's assigning authority)
    /// when the submitter's id is not known.
    pub registry_dose_id: String,
    /// The submitter's id for the dose (the ORC-3 it was reported with) and its namespace.
    pub filler_order_id: Option<String>,
    pub filler_namespace: Option<String>,
    /// RXA-3, `YYYY-MM-DD`.
    pub administered_on: String,
    /// RXA-5 (CVX triplet).
    pub cvx: String,
    pub cvx_text: String,
    /// RXA-5 alternate triplet (NDC).
    pub ndc: Option<String>,
    /// RXA-6; when unknown `999` is sent.
    pub amount: Option<String>,
    /// RXA-7 UCUM code (sent only with an amount).
    pub units: Option<String>,
    /// RXA-9 for historical doses: NIP001 `01`–`08` (default `01`). Administered doses
    /// always send `00`; refusals and "not administered" send nothing.
    pub info_source: Option<String>,
    /// RXA-15, RXA-16 (`YYYY-MM-DD`), RXA-17 (system defaults to `MVX`).
    pub lot: Option<String>,
    pub lot_expiration: Option<String>,
    pub mvx: Option<CodedValue>,
    /// RXA-20 for administered and historical doses: `PA` (partially administered) or, by
    /// default, `CP`. Refusals always send `RE`, "not administered" `NA`.
    pub completion_status: Option<String>,
    /// RXA-18, NIP002 (refusals only; system defaults to `NIP002`).
    pub refusal_reason: Option<CodedValue>,
    /// RXR-1 (e.g. `C28161^Intramuscular^NCIT`) and RXR-2 (e.g. `LD^Left Deltoid^HL70163`);
    /// systems default to `NCIT` and `HL70163`.
    pub route: Option<CodedValue>,
    pub site: Option<CodedValue>,
    /// RXA-11.4: the facility where the dose was given.
    pub administering_org: Option<String>,
    /// OBX `64994-7`, HL7 table 0064 (V01...); system defaults to `HL70064`.
    pub vfc_eligibility: Option<CodedValue>,
    /// OBX `30963-3` (VXC1, PHC70, ...); system defaults to `CDCPHINVS`.
    pub funding_source: Option<CodedValue>,
    /// VIS row groups.
    pub vis: Vec<VisView>,
    /// A Z42's evaluation of the dose: one entry per vaccine group the dose counts for (none in
    /// a Z32, and none for a record that is not a dose given).
    pub evaluation: Vec<DoseEvaluationView>,
}

/// How a dose counts for one vaccine group (a Z42 history row group: OBX `30956-7`, `59779-9`,
/// `59781-5`, and `30973-2`, `59780-7`, `30982-3` when known). A dose of a vaccine the schedule
/// does not know gets one such group naming the dose's own CVX, not valid, with the reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DoseEvaluationView {
    /// OBX `30956-7`: the vaccine group, as a CVX code (system defaults to `CVX`); for a dose
    /// not evaluated, the dose's own vaccine.
    pub vaccine_group: CodedValue,
    /// OBX `59781-5`: `Y` when the dose is valid for every antigen of the group.
    pub valid: bool,
    /// OBX `30973-2`: the dose's number in the series (valid doses only).
    pub dose_number: Option<u32>,
    /// OBX `59780-7`: the series the dose was evaluated in.
    pub series: String,
    /// OBX `30982-3`: why the dose is not valid (empty when it is).
    pub reason: String,
}

/// A Z42's forecast: the assessment date (RXA-3 of each forecast ORDER group) and one entry
/// per vaccine group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Forecast {
    /// `YYYY-MM-DD`.
    pub assessed_on: String,
    pub groups: Vec<ForecastView>,
}

/// The forecast for one vaccine group (a Z42 forecast ORDER group: `ORC|RE||9999`, an RXA with
/// CVX 998, then OBX `30979-9`, `59779-9`, `30973-2`, the dates, `59783-1`, `30982-3`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ForecastView {
    /// OBX `30979-9`: the vaccine group due next, as a CVX code (system defaults to `CVX`).
    pub vaccine_group: CodedValue,
    /// OBX `30973-2`: the number of the dose due next (a series not complete only).
    pub dose_number: Option<u32>,
    /// OBX `30981-5`, `30980-7`, `59777-3`, `59778-1`: earliest, recommended (due), latest and
    /// overdue (past-due) dates, `YYYY-MM-DD`; `None` is left out.
    pub earliest: Option<String>,
    pub recommended: Option<String>,
    pub latest: Option<String>,
    pub past_due: Option<String>,
    /// OBX `59783-1`: the series status.
    pub status: CodedValue,
    /// OBX `30982-3`: why the forecast logic gave that status (system defaults to `99IZP`);
    /// empty is left out.
    pub reason: CodedValue,
}

/// Evidence of immunity (history of disease): OBX `59784-9` under `ORC|RE||9999` and an RXA
/// with CVX 998, RXA-20 `NA`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ImmunityView {
    /// SNOMED CT code, e.g. `38907003` (varicella).
    pub snomed_code: String,
    pub text: String,
    /// When it was recorded (`YYYY-MM-DD`); sent in RXA-3.
    pub date: String,
}
