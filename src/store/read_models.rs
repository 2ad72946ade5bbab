//! The registry's read models outside a message's transaction: what operators' commands and
//! tests read (a patient's reports and events, consent, who looked at a record, counts).

use sqlx::Row as _;

use crate::registry::history::{consolidate, ConsolidatedDose, StoredDose, StoredObservation};

use super::records::{dose_from, doses_sql, observation_from, observations_sql};
use super::sql::{any_rows, args};
use super::{Db, StoreError};

impl Db {
    /// The surviving patient linked to an organization's identifier value, if any:
    /// (id, family, given, birth date).
    pub async fn patient_by_identifier(
        &self,
        org_code: &str,
        id_value: &str,
    ) -> Result<Option<(i64, String, String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(p.merged_into, p.id) AS survivor FROM patients p \
               JOIN patient_identifiers i ON i.patient_id = p.id \
               JOIN organizations o ON o.id = i.organization_id \
             WHERE o.code = $1 AND i.id_value = $2",
        )
        .bind(org_code)
        .bind(id_value)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("survivor")?;
        let row = sqlx::query(
            "SELECT id, family_name, given_name, birth_date FROM patients WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some((
            row.try_get("id")?,
            row.try_get("family_name")?,
            row.try_get("given_name")?,
            row.try_get("birth_date")?,
        )))
    }

    /// What a forecast needs of a patient: (the surviving record's id, birth date
    /// `YYYY-MM-DD`, sex), following a merge; `None` when there is no such patient.
    pub async fn patient_birth_and_sex(
        &self,
        patient_id: i64,
    ) -> Result<Option<(i64, String, Option<String>)>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id, s.birth_date, s.sex FROM patients p \
               JOIN patients s ON s.id = COALESCE(p.merged_into, p.id) WHERE p.id = $1",
        )
        .bind(patient_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((
            row.try_get("id")?,
            row.try_get("birth_date")?,
            row.try_get("sex")?,
        )))
    }

    /// Every dose report of a patient and of the records merged into it.
    pub async fn doses_of(&self, patient_id: i64) -> Result<Vec<StoredDose>, StoreError> {
        any_rows(&self.pool, &doses_sql(), &args![patient_id])
            .await?
            .iter()
            .map(dose_from)
            .collect()
    }

    /// The patient's vaccination events, one per (vaccine group, date), across all submitters.
    pub async fn history(&self, patient_id: i64) -> Result<Vec<ConsolidatedDose>, StoreError> {
        Ok(consolidate(self.doses_of(patient_id).await?))
    }

    pub async fn observations_of(
        &self,
        patient_id: i64,
    ) -> Result<Vec<StoredObservation>, StoreError> {
        any_rows(&self.pool, &observations_sql(), &args![patient_id])
            .await?
            .iter()
            .map(observation_from)
            .collect()
    }

    /// (consent status, consent date) of a patient.
    pub async fn consent_of(
        &self,
        patient_id: i64,
    ) -> Result<(String, Option<String>), StoreError> {
        let row = sqlx::query("SELECT consent_status, consent_date FROM patients WHERE id = $1")
            .bind(patient_id)
            .fetch_one(&self.pool)
            .await?;
        Ok((row.try_get("consent_status")?, row.try_get("consent_date")?))
    }

    /// Who looked at this record: (organization, username, when, what the query returned).
    pub async fn queries_of(
        &self,
        patient_id: i64,
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.code, u.username, q.queried_at, q.returned FROM query_audit q \
               JOIN organizations o ON o.id = q.organization_id JOIN users u ON u.id = q.user_id \
             WHERE q.patient_id = $1 ORDER BY q.id",
        )
        .bind(patient_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("code")?,
                    r.try_get("username")?,
                    r.try_get("queried_at")?,
                    r.try_get("returned")?,
                ))
            })
            .collect()
    }

    /// Patients not merged into another.
    pub async fn patient_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) AS n FROM patients WHERE merged_into IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The number of messages logged, and the stored response of the latest one.
    pub async fn message_log_tail(&self) -> Result<(i64, Option<String>), StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) AS n FROM message_log")
            .fetch_one(&self.pool)
            .await?;
        let last: Option<String> =
            sqlx::query_scalar("SELECT response FROM message_log ORDER BY id DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok((count, last))
    }
}
