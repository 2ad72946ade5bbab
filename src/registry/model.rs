//! What the registry keeps of an accepted message: the patient, the identifiers that link reports
//! to them, doses, and the records that are not doses (refusals, "not administered", evidence of
//! immunity). [`super::vxu::extract`] fills these from a message; the storage port writes them.

use crate::date::Date;

use super::identity;

/// The authenticated sender of a message.
#[derive(Clone, Debug)]
pub struct Submitter {
    pub organization_id: i64,
    pub organization_code: String,
    pub user_id: i64,
    pub facility_code: String,
    /// Approved for production data (`izport org promote`); onboarding organizations may only
    /// send test (MSH-11 = T) messages.
    pub production: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatientRecord {
    pub family_name: String,
    pub given_name: String,
    pub middle_name: Option<String>,
    pub birth_date: Date,
    pub sex: Option<String>,
    pub mother_maiden_name: Option<String>,
    pub phone: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub race: Option<String>,
    pub ethnicity: Option<String>,
    pub multiple_birth: Option<bool>,
    pub birth_order: Option<u8>,
    pub death_date: Option<Date>,
    /// PD1-11
    pub publicity: Option<String>,
    /// PD1-12 and PD1-13
    pub protection: Option<String>,
    pub protection_date: Option<Date>,
    /// PD1-16
    pub registry_status: Option<String>,
}

impl PatientRecord {
    pub fn demographics(&self) -> identity::Demographics {
        identity::Demographics::new(
            &self.family_name,
            &self.given_name,
            self.birth_date,
            self.sex.as_deref(),
            self.mother_maiden_name.as_deref(),
            self.phone.as_deref(),
            self.zip.as_deref(),
            self.street.as_deref(),
            self.multiple_birth,
            self.birth_order,
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Identifier {
    pub value: String,
    pub authority: String,
    pub id_type: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoseAction {
    Upsert,
    Delete,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DoseRecord {
    pub action: DoseAction,
    /// ORC-3: the submitter's own id for the dose; with the organization, the dose's key.
    pub filler_order_id: String,
    pub administered_on: Date,
    pub cvx: String,
    /// The event key across submitters: the vaccine group(s) of the CVX.
    pub vaccine_group: String,
    pub vaccine_text: Option<String>,
    pub amount: Option<String>,
    pub amount_units: Option<String>,
    pub info_source: Option<String>,
    pub lot_number: Option<String>,
    /// RXA-16 as sent (an HL7 date, kept as text).
    pub lot_expiration: Option<String>,
    pub mvx: Option<String>,
    pub completion_status: Option<String>,
    pub action_code: Option<String>,
    pub route: Option<String>,
    pub site: Option<String>,
    /// OBX 59785-6 = DISASTER in the dose's observation group.
    pub disaster_indicated: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObservationKind {
    /// RXA-20 RE with the reason in RXA-18.
    Refusal,
    /// RXA-20 NA, or CVX 998.
    NotAdministered,
    /// OBX 59784-9: disease with presumed immunity (SNOMED).
    Immunity,
}

impl ObservationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObservationKind::Refusal => "refusal",
            ObservationKind::NotAdministered => "not_administered",
            ObservationKind::Immunity => "immunity",
        }
    }

    /// The kind [`ObservationKind::as_str`] names.
    pub fn parse(text: &str) -> Option<ObservationKind> {
        match text {
            "refusal" => Some(ObservationKind::Refusal),
            "not_administered" => Some(ObservationKind::NotAdministered),
            "immunity" => Some(ObservationKind::Immunity),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservationRecord {
    pub kind: ObservationKind,
    pub code: String,
    pub code_text: Option<String>,
    pub observed_on: Date,
    pub reason_code: Option<String>,
    pub reason_text: Option<String>,
}

/// The data changes one accepted message asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct PatientChanges {
    pub patient: PatientRecord,
    pub identifiers: Vec<Identifier>,
    pub doses: Vec<DoseRecord>,
    pub observations: Vec<ObservationRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_kinds_read_back() {
        for kind in [
            ObservationKind::Refusal,
            ObservationKind::NotAdministered,
            ObservationKind::Immunity,
        ] {
            assert_eq!(ObservationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ObservationKind::parse("dose"), None);
    }
}
