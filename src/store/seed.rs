//! Bulk writes for `izport-load seed`: synthetic patients and histories in large batches, straight
//! into the tables the registry reads. (The registry's own path does one message per
//! transaction; a million patients that way would take an hour.)

use sqlx::Row;

use super::{now_text, Db, StoreError};
use crate::registry::identity::{normalize_family, normalize_name};
use crate::registry::PatientRecord;

/// One synthetic patient and its doses.
pub struct SeedPatient {
    pub record: PatientRecord,
    pub mrn: String,
    pub doses: Vec<SeedDose>,
}

pub struct SeedDose {
    pub filler: String,
    /// YYYY-MM-DD
    pub date: String,
    pub cvx: &'static str,
    pub group: String,
    pub lot: String,
    pub mvx: &'static str,
}

/// Rows per multi-row INSERT: 100 doses × 21 columns stays far below both backends' limits on
/// bound parameters.
const ROWS_PER_STATEMENT: usize = 100;

impl Db {
    /// The organization, user and message-log entry seeded data hangs from, created if missing:
    /// (organization id, user id, message id).
    pub async fn seed_anchor(
        &self,
        org_code: &str,
        password_hash: &str,
    ) -> Result<(i64, i64, i64), StoreError> {
        let org: Option<i64> = sqlx::query_scalar("SELECT id FROM organizations WHERE code = $1")
            .bind(org_code)
            .fetch_optional(&self.pool)
            .await?;
        let org = match org {
            Some(id) => id,
            None => {
                self.create_organization(
                    org_code,
                    "Synthetic seed data",
                    &["SEEDFAC".to_string()],
                    true,
                )
                .await?
            }
        };
        let user_name = format!("{}-seed", org_code.to_ascii_lowercase());
        let user: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(&user_name)
            .fetch_optional(&self.pool)
            .await?;
        let user = match user {
            Some(id) => id,
            None => {
                self.create_user(org_code, &user_name, password_hash)
                    .await?
            }
        };
        let _guard = self.write_guard().await;
        let now = now_text();
        let message: i64 = sqlx::query(
            "INSERT INTO message_log (organization_id, user_id, facility_code, control_id, \
               message_type, processing_id, outcome, received_at, responded_at, request, response) \
             VALUES ($1, $2, 'SEEDFAC', NULL, 'SEED', 'P', 'AA', $3, $3, 'izport seed', '') RETURNING id",
        )
        .bind(org)
        .bind(user)
        .bind(&now)
        .fetch_one(&self.pool)
        .await?
        .try_get("id")?;
        Ok((org, user, message))
    }

    /// Writes one batch of patients, their identifiers and doses in one transaction.
    pub async fn seed_batch(
        &self,
        org: i64,
        message: i64,
        patients: &[SeedPatient],
    ) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let now = now_text();
        let mut ids = Vec::with_capacity(patients.len());
        for p in patients {
            let r = &p.record;
            let id: i64 = sqlx::query(
                "INSERT INTO patients (family_name, given_name, middle_name, birth_date, sex, \
                   mother_maiden_name, created_by_org, created_at, updated_at, family_norm, \
                   given_norm, phone, street, city, state, zip, race, ethnicity, multiple_birth, \
                   birth_order, consent_status) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                   $17, $18, $19, 'none') RETURNING id",
            )
            .bind(&r.family_name)
            .bind(&r.given_name)
            .bind(r.middle_name.as_deref())
            .bind(r.birth_date.to_string())
            .bind(r.sex.as_deref())
            .bind(r.mother_maiden_name.as_deref())
            .bind(org)
            .bind(&now)
            .bind(normalize_family(&r.family_name))
            .bind(normalize_name(&r.given_name))
            .bind(r.phone.as_deref())
            .bind(r.street.as_deref())
            .bind(r.city.as_deref())
            .bind(r.state.as_deref())
            .bind(r.zip.as_deref())
            .bind(r.race.as_deref())
            .bind(r.ethnicity.as_deref())
            .bind(r.multiple_birth.map(|m| if m { "Y" } else { "N" }))
            .bind(r.birth_order.map(i64::from))
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            ids.push(id);
        }
        for chunk in patients
            .iter()
            .zip(&ids)
            .collect::<Vec<_>>()
            .chunks(ROWS_PER_STATEMENT)
        {
            let mut sql = String::from(
                "INSERT INTO patient_identifiers (patient_id, organization_id, id_value, \
                 assigning_authority, id_type) VALUES ",
            );
            for (n, _) in chunk.iter().enumerate() {
                let b = n * 3;
                if n > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, 'SEEDEHR', 'MR')",
                    b + 1,
                    b + 2,
                    b + 3
                ));
            }
            let mut q = sqlx::query(&sql);
            for (p, id) in chunk {
                q = q.bind(**id).bind(org).bind(&p.mrn);
            }
            q.execute(&mut *tx).await?;
        }
        let doses: Vec<(i64, &SeedDose)> = patients
            .iter()
            .zip(&ids)
            .flat_map(|(p, id)| p.doses.iter().map(move |d| (*id, d)))
            .collect();
        for chunk in doses.chunks(ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO immunizations (patient_id, organization_id, message_id, filler_order_id, \
                   administered_on, cvx, vaccine_group, lot_number, mvx, info_source, amount, \
                   amount_units, completion_status, action_code, route, created_at, updated_at, \
                   first_received_at) VALUES ",
            );
            for (n, _) in chunk.iter().enumerate() {
                let b = n * 10;
                if n > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, '00', '0.5', 'mL', 'CP', 'A', \
                     'C28161', ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10,
                    b + 10,
                    b + 10
                ));
            }
            let mut q = sqlx::query(&sql);
            for (id, d) in chunk {
                q = q
                    .bind(*id)
                    .bind(org)
                    .bind(message)
                    .bind(&d.filler)
                    .bind(&d.date)
                    .bind(d.cvx)
                    .bind(&d.group)
                    .bind(&d.lot)
                    .bind(d.mvx)
                    .bind(&now);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `n` random seeded patients of an organization for query benchmarks:
    /// (MRN, family, given, birth date YYYYMMDD, sex).
    pub async fn sample_patients(
        &self,
        org_code: &str,
        n: usize,
    ) -> Result<Vec<(String, String, String, String, String)>, StoreError> {
        let (lo, hi): (Option<i64>, Option<i64>) = {
            let row = sqlx::query(
                "SELECT MIN(p.id) AS lo, MAX(p.id) AS hi FROM patients p \
                   JOIN organizations o ON o.id = p.created_by_org \
                 WHERE o.code = $1",
            )
            .bind(org_code)
            .fetch_one(&self.pool)
            .await?;
            (row.try_get("lo")?, row.try_get("hi")?)
        };
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(n);
        let mut tries = 0;
        while out.len() < n && tries < n * 4 {
            tries += 1;
            let id = lo + (rand::random::<u64>() % ((hi - lo + 1) as u64)) as i64;
            let row = sqlx::query(
                "SELECT i.id_value, p.family_name, p.given_name, p.birth_date, \
                   COALESCE(p.sex, 'U') AS sex \
                 FROM patients p JOIN patient_identifiers i ON i.patient_id = p.id WHERE p.id = $1 \
                 AND i.assigning_authority = 'SEEDEHR'",
            )
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = row {
                let dob: String = r.try_get("birth_date")?;
                out.push((
                    r.try_get("id_value")?,
                    r.try_get("family_name")?,
                    r.try_get("given_name")?,
                    dob.replace('-', ""),
                    r.try_get("sex")?,
                ));
            }
        }
        Ok(out)
    }
}
