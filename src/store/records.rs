//! Rows ↔ the registry's records: the column lists the registry's reads select, and how each row
//! becomes a record (columns read by name). Dates are `YYYY-MM-DD` text in every backend and
//! instants RFC 3339 text in UTC with microseconds; a stored value that does not read back is
//! [`StoreError::Corrupt`].

use jiff::Timestamp;

use crate::date::{self, Date};
use crate::registry::consent::Status;
use crate::registry::history::{StoredDose, StoredObservation};
use crate::registry::identity::Demographics;
use crate::registry::{Identifier, ObservationKind, PatientRecord, StoredPerson};

use super::sql::Row;
use super::StoreError;

/// An instant as stored: RFC 3339, UTC, microseconds.
pub(crate) fn timestamp_text(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A date column.
pub(crate) fn date_from(row: &Row, column: &str) -> Result<Date, StoreError> {
    let text: String = row.get(column)?;
    date::parse_iso(&text)
        .ok_or_else(|| StoreError::Corrupt(format!("{column} is not a date: '{text}'")))
}

/// A date column that may be NULL.
pub(crate) fn optional_date_from(row: &Row, column: &str) -> Result<Option<Date>, StoreError> {
    match row.get::<Option<String>>(column)? {
        None => Ok(None),
        Some(text) => date::parse_iso(&text)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("{column} is not a date: '{text}'"))),
    }
}

pub(crate) fn yes_no(value: Option<bool>) -> Option<&'static str> {
    value.map(|v| if v { "Y" } else { "N" })
}

fn birth_order(row: &Row) -> Result<Option<u8>, StoreError> {
    let order: Option<i64> = row.get("birth_order")?;
    Ok(order.and_then(|o| u8::try_from(o).ok()))
}

/// A count as a database integer.
pub(crate) fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The ids of a patient and of the records merged into it, as two index lookups (an OR over
/// the two columns would scan the table on a million-patient registry).
pub(crate) const MERGED_GROUP: &str =
    "SELECT id FROM patients WHERE id = $1 UNION SELECT id FROM patients WHERE merged_into = $1";

/// What matching reads of a patient ([`person_from`]).
pub(crate) const PERSON_COLUMNS: &str = "id, family_name, given_name, birth_date, sex, \
     mother_maiden_name, phone, zip, street, multiple_birth, birth_order, consent_status";

pub(crate) fn person_from(row: &Row) -> Result<StoredPerson, StoreError> {
    let opt = |column: &str| row.get::<Option<String>>(column);
    let family: String = row.get("family_name")?;
    let given: String = row.get("given_name")?;
    Ok(StoredPerson {
        id: row.get("id")?,
        demographics: Demographics::new(
            &family,
            &given,
            date_from(row, "birth_date")?,
            opt("sex")?.as_deref(),
            opt("mother_maiden_name")?.as_deref(),
            opt("phone")?.as_deref(),
            opt("zip")?.as_deref(),
            opt("street")?.as_deref(),
            opt("multiple_birth")?.map(|v| v == "Y"),
            birth_order(row)?,
        ),
        consent: Status::parse(&row.get::<String>("consent_status")?),
    })
}

/// What a query answer shows of a patient ([`patient_from`]).
pub(crate) const PATIENT_COLUMNS: &str = "family_name, given_name, middle_name, birth_date, sex, \
     mother_maiden_name, phone, street, city, state, zip, race, ethnicity, multiple_birth, \
     birth_order, death_date, publicity, protection, registry_status, consent_status, \
     consent_date";

/// A patient row ([`PATIENT_COLUMNS`]) as a record and its consent status.
pub(crate) fn patient_from(r: &Row) -> Result<(PatientRecord, Status), StoreError> {
    let record = PatientRecord {
        family_name: r.get("family_name")?,
        given_name: r.get("given_name")?,
        middle_name: r.get("middle_name")?,
        birth_date: date_from(r, "birth_date")?,
        sex: r.get("sex")?,
        mother_maiden_name: r.get("mother_maiden_name")?,
        phone: r.get("phone")?,
        street: r.get("street")?,
        city: r.get("city")?,
        state: r.get("state")?,
        zip: r.get("zip")?,
        race: r.get("race")?,
        ethnicity: r.get("ethnicity")?,
        multiple_birth: r.get::<Option<String>>("multiple_birth")?.map(|v| v == "Y"),
        birth_order: birth_order(r)?,
        death_date: optional_date_from(r, "death_date")?,
        publicity: r.get("publicity")?,
        protection: r.get("protection")?,
        protection_date: optional_date_from(r, "consent_date")?,
        registry_status: r.get("registry_status")?,
    };
    Ok((record, Status::parse(&r.get::<String>("consent_status")?)))
}

pub(crate) fn identifier_from(r: &Row) -> Result<Identifier, StoreError> {
    Ok(Identifier {
        value: r.get("id_value")?,
        authority: r.get("assigning_authority")?,
        id_type: r.get("id_type")?,
    })
}

const DOSE_COLUMNS: &str = "i.id, i.organization_id, o.code, i.filler_order_id, i.administered_on, \
     i.cvx, i.vaccine_text, i.vaccine_group, i.amount, i.amount_units, i.info_source, i.lot_number, \
     i.lot_expiration, i.mvx, i.completion_status, i.route, i.site, i.deleted_at, i.first_received_at";

pub(crate) fn dose_from(r: &Row) -> Result<StoredDose, StoreError> {
    Ok(StoredDose {
        id: r.get("id")?,
        organization_id: r.get("organization_id")?,
        organization_code: r.get("code")?,
        filler_order_id: r.get("filler_order_id")?,
        administered_on: date_from(r, "administered_on")?,
        cvx: r.get("cvx")?,
        vaccine_text: r.get("vaccine_text")?,
        vaccine_group: r.get("vaccine_group")?,
        amount: r.get("amount")?,
        amount_units: r.get("amount_units")?,
        info_source: r.get("info_source")?,
        lot_number: r.get("lot_number")?,
        lot_expiration: r.get("lot_expiration")?,
        mvx: r.get("mvx")?,
        completion_status: r.get("completion_status")?,
        route: r.get("route")?,
        site: r.get("site")?,
        deleted: r.get::<Option<String>>("deleted_at")?.is_some(),
        first_received_at: r.get("first_received_at")?,
    })
}

/// Every dose report of a patient ($1) and of the records merged into it.
pub(crate) fn doses_sql() -> String {
    format!(
        "SELECT {DOSE_COLUMNS} FROM immunizations i JOIN organizations o ON o.id = i.organization_id \
         WHERE i.patient_id IN ({MERGED_GROUP}) ORDER BY i.administered_on, i.id"
    )
}

/// Every observation of a patient ($1) and of the records merged into it.
pub(crate) fn observations_sql() -> String {
    format!(
        "SELECT o.kind, o.code, o.observed_on, o.reason_code, o.code_text, o.reason_text \
         FROM patient_observations o WHERE o.patient_id IN ({MERGED_GROUP}) \
         ORDER BY o.observed_on, o.id"
    )
}

pub(crate) fn observation_from(r: &Row) -> Result<StoredObservation, StoreError> {
    let kind: String = r.get("kind")?;
    Ok(StoredObservation {
        kind: ObservationKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown observation kind '{kind}'")))?,
        code: r.get("code")?,
        observed_on: date_from(r, "observed_on")?,
        reason_code: r.get("reason_code")?,
        code_text: r.get("code_text")?,
        reason_text: r.get("reason_text")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_stored_in_utc_with_microseconds() {
        let at: Timestamp = "2024-05-15T09:30:12.123456789-05:00".parse().unwrap();
        assert_eq!(timestamp_text(at), "2024-05-15T14:30:12.123456Z");
    }
}
