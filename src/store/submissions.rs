//! Recording a submission: the message log entry and the patient and dose changes, in one
//! transaction, so that the stored response and the stored data can never disagree.

use std::sync::Arc;

use sqlx::{Any, Row, Transaction};

use crate::registry::{
    DoseAction, DoseRecord, PatientChanges, Recorded, RegistryStore, Submission,
};

use super::{now_text, Backend, Db, StoreError};

/// A stable 64-bit FNV-1a hash, used as a PostgreSQL advisory-lock key.
fn lock_key(parts: &[&str]) -> i64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0x1f)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x100000001b3);
        }
    }
    hash as i64
}

impl Db {
    async fn record(&self, s: &Submission<'_>) -> Result<Recorded, StoreError> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let message_id: i64 = sqlx::query(
            "INSERT INTO message_log (organization_id, user_id, facility_code, control_id, \
               message_type, processing_id, outcome, received_at, responded_at, request, response) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(s.submitter.organization_id)
        .bind(s.submitter.user_id)
        .bind(&s.submitter.facility_code)
        .bind(s.log.control_id.as_deref())
        .bind(s.log.message_type.as_deref())
        .bind(s.log.processing_id.as_deref())
        .bind(s.log.outcome.as_str())
        .bind(&s.log.received_at)
        .bind(now_text())
        .bind(s.log.request)
        .bind(s.log.response)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;

        let patient_id = match s.changes {
            Some(changes) => Some(
                self.apply_patient(&mut tx, s.submitter.organization_id, message_id, changes)
                    .await?,
            ),
            None => None,
        };
        tx.commit().await?;
        Ok(Recorded {
            message_id,
            patient_id,
        })
    }

    async fn apply_patient(
        &self,
        tx: &mut Transaction<'static, Any>,
        org: i64,
        message_id: i64,
        changes: &PatientChanges,
    ) -> Result<i64, StoreError> {
        let now = now_text();
        if self.backend == Backend::Postgres {
            // Two concurrent first reports of the same identifier must not create two patients:
            // serialize them on the identifiers they carry (sorted, so locks never deadlock).
            let org_text = org.to_string();
            let mut keys: Vec<i64> = changes
                .identifiers
                .iter()
                .map(|i| lock_key(&[&org_text, &i.authority, &i.id_type, &i.value]))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(key)
                    .execute(&mut **tx)
                    .await?;
            }
        }

        let mut existing = None;
        for id in &changes.identifiers {
            existing = sqlx::query_scalar::<_, i64>(
                "SELECT patient_id FROM patient_identifiers WHERE organization_id = $1 \
                   AND assigning_authority = $2 AND id_type = $3 AND id_value = $4",
            )
            .bind(org)
            .bind(&id.authority)
            .bind(&id.id_type)
            .bind(&id.value)
            .fetch_optional(&mut **tx)
            .await?;
            if existing.is_some() {
                break;
            }
        }

        let p = &changes.patient;
        let patient_id = match existing {
            Some(id) => {
                sqlx::query(
                    "UPDATE patients SET family_name = $2, given_name = $3, middle_name = $4, \
                       birth_date = $5, sex = $6, mother_maiden_name = $7, updated_at = $8 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(&p.family_name)
                .bind(&p.given_name)
                .bind(p.middle_name.as_deref())
                .bind(&p.birth_date)
                .bind(p.sex.as_deref())
                .bind(p.mother_maiden_name.as_deref())
                .bind(&now)
                .execute(&mut **tx)
                .await?;
                id
            }
            None => sqlx::query(
                "INSERT INTO patients (family_name, given_name, middle_name, birth_date, sex, \
                   mother_maiden_name, created_by_org, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
            )
            .bind(&p.family_name)
            .bind(&p.given_name)
            .bind(p.middle_name.as_deref())
            .bind(&p.birth_date)
            .bind(p.sex.as_deref())
            .bind(p.mother_maiden_name.as_deref())
            .bind(org)
            .bind(&now)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?,
        };

        for id in &changes.identifiers {
            sqlx::query(
                "INSERT INTO patient_identifiers (patient_id, organization_id, id_value, \
                   assigning_authority, id_type) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(patient_id)
            .bind(org)
            .bind(&id.value)
            .bind(&id.authority)
            .bind(&id.id_type)
            .execute(&mut **tx)
            .await?;
        }

        for dose in &changes.doses {
            apply_dose(tx, org, patient_id, message_id, dose, &now).await?;
        }
        Ok(patient_id)
    }
}

async fn apply_dose(
    tx: &mut Transaction<'static, Any>,
    org: i64,
    patient_id: i64,
    message_id: i64,
    d: &DoseRecord,
    now: &str,
) -> Result<(), StoreError> {
    match d.action {
        // A delete is soft: the row stays for the audit trail and is hidden from reads.
        DoseAction::Delete => {
            sqlx::query(
                "UPDATE immunizations SET deleted_at = $3, updated_at = $3, message_id = $4 \
                 WHERE organization_id = $1 AND filler_order_id = $2",
            )
            .bind(org)
            .bind(&d.filler_order_id)
            .bind(now)
            .bind(message_id)
            .execute(&mut **tx)
            .await?;
        }
        DoseAction::Upsert => {
            sqlx::query(
                "INSERT INTO immunizations (patient_id, organization_id, message_id, filler_order_id, \
                   administered_on, cvx, vaccine_text, amount, amount_units, info_source, lot_number, \
                   lot_expiration, mvx, completion_status, action_code, route, site, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) \
                 ON CONFLICT (organization_id, filler_order_id) DO UPDATE SET \
                   patient_id = excluded.patient_id, message_id = excluded.message_id, \
                   administered_on = excluded.administered_on, cvx = excluded.cvx, \
                   vaccine_text = excluded.vaccine_text, amount = excluded.amount, \
                   amount_units = excluded.amount_units, info_source = excluded.info_source, \
                   lot_number = excluded.lot_number, lot_expiration = excluded.lot_expiration, \
                   mvx = excluded.mvx, completion_status = excluded.completion_status, \
                   action_code = excluded.action_code, route = excluded.route, site = excluded.site, \
                   deleted_at = NULL, updated_at = excluded.updated_at",
            )
            .bind(patient_id)
            .bind(org)
            .bind(message_id)
            .bind(&d.filler_order_id)
            .bind(&d.administered_on)
            .bind(&d.cvx)
            .bind(d.vaccine_text.as_deref())
            .bind(d.amount.as_deref())
            .bind(d.amount_units.as_deref())
            .bind(d.info_source.as_deref())
            .bind(d.lot_number.as_deref())
            .bind(d.lot_expiration.as_deref())
            .bind(d.mvx.as_deref())
            .bind(d.completion_status.as_deref())
            .bind(d.action_code.as_deref())
            .bind(d.route.as_deref())
            .bind(d.site.as_deref())
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

impl RegistryStore for Db {
    async fn record_submission(&self, submission: &Submission<'_>) -> Result<Recorded, StoreError> {
        self.record(submission).await
    }
}

impl RegistryStore for Arc<Db> {
    async fn record_submission(&self, submission: &Submission<'_>) -> Result<Recorded, StoreError> {
        self.record(submission).await
    }
}

/// Read side used by tests and operators: what the registry holds for a patient.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDose {
    pub filler_order_id: String,
    pub administered_on: String,
    pub cvx: String,
    pub deleted: bool,
}

impl Db {
    /// The patient linked to an organization's identifier, if any.
    pub async fn patient_by_identifier(
        &self,
        org_code: &str,
        id_value: &str,
    ) -> Result<Option<(i64, String, String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT p.id, p.family_name, p.given_name, p.birth_date FROM patients p \
               JOIN patient_identifiers i ON i.patient_id = p.id \
               JOIN organizations o ON o.id = i.organization_id \
             WHERE o.code = $1 AND i.id_value = $2",
        )
        .bind(org_code)
        .bind(id_value)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .transpose()
    }

    pub async fn doses_of(&self, patient_id: i64) -> Result<Vec<StoredDose>, StoreError> {
        let rows = sqlx::query(
            "SELECT filler_order_id, administered_on, cvx, deleted_at FROM immunizations \
             WHERE patient_id = $1 ORDER BY administered_on, filler_order_id",
        )
        .bind(patient_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredDose {
                    filler_order_id: r.try_get(0)?,
                    administered_on: r.try_get(1)?,
                    cvx: r.try_get(2)?,
                    deleted: r.try_get::<Option<String>, _>(3)?.is_some(),
                })
            })
            .collect()
    }

    /// The number of messages logged, and the stored response of the latest one.
    pub async fn message_log_tail(&self) -> Result<(i64, Option<String>), StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message_log")
            .fetch_one(&self.pool)
            .await?;
        let last: Option<String> =
            sqlx::query_scalar("SELECT response FROM message_log ORDER BY id DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok((count, last))
    }
}
