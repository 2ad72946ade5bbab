//! The registry's unit of work: one transaction per message in which the registry claims the
//! message key, matches the patient, writes the data and the message log, and commits.
//! PostgreSQL transactions run on a pooled connection and take advisory locks on the people they
//! touch; SQLite transactions run on the writer thread, grouped into shared commits
//! (`writer.rs`). The statements are the same text for both (`sql.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::Row as _;
use sqlx::{Any, Transaction};

use crate::registry::consent::Status;
use crate::registry::identity::{normalize_family, normalize_name, Demographics};
use crate::registry::{
    DoseAction, DoseRecord, Identifier, KeyClaim, LogEntry, ObservationRecord, PatientRecord,
    RegistryError, RegistryStore, RegistryTx, StoredPatient, StoredPerson, TxWork,
};

use super::sql::{any_rows, args, lite_execute, lite_rows, Arg, Cell, Row};
use super::{now_text, Backend, Db, StoreError};

/// A stable 64-bit FNV-1a hash, used as a PostgreSQL advisory-lock key.
fn lock_key(text: &str) -> i64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash as i64
}

/// Identifier types that link a report to a person. Social security numbers are left to
/// demographic matching: a mistyped SSN must not merge two people.
fn links(identifier: &Identifier) -> bool {
    !identifier.id_type.eq_ignore_ascii_case("SS") && !identifier.value.is_empty()
}

const PERSON_COLUMNS: &str = "id, family_name, given_name, birth_date, sex, mother_maiden_name, \
     phone, zip, street, multiple_birth, birth_order, consent_status";

fn person_from(row: &Row) -> Result<StoredPerson, StoreError> {
    let opt = |i: usize| row.get::<Option<String>>(i);
    let family: String = row.get(1)?;
    let given: String = row.get(2)?;
    let birth: String = row.get(3)?;
    let order: Option<i64> = row.get(10)?;
    Ok(StoredPerson {
        id: row.get(0)?,
        demographics: Demographics::new(
            &family,
            &given,
            &birth,
            opt(4)?.as_deref(),
            opt(5)?.as_deref(),
            opt(6)?.as_deref(),
            opt(7)?.as_deref(),
            opt(8)?.as_deref(),
            opt(9)?.map(|v| v == "Y"),
            order.and_then(|o| u8::try_from(o).ok()),
        ),
        consent: Status::parse(&row.get::<String>(11)?),
    })
}

/// The connection a transaction runs on.
enum Conn {
    /// A pooled sqlx transaction (PostgreSQL); dropping it rolls back.
    Pool(Transaction<'static, Any>),
    /// The SQLite writer thread's connection, inside the batch's transaction and this job's
    /// savepoint (both managed by the writer).
    Sqlite(rusqlite::Connection),
}

pub struct SqlTx {
    conn: Conn,
    backend: Backend,
}

impl SqlTx {
    pub(crate) fn sqlite(conn: rusqlite::Connection) -> SqlTx {
        SqlTx {
            conn: Conn::Sqlite(conn),
            backend: Backend::Sqlite,
        }
    }

    /// Transaction control on the writer connection (BEGIN, SAVEPOINT, COMMIT, …).
    pub(crate) fn sqlite_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match &mut self.conn {
            Conn::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Conn::Pool(_) => Err(StoreError::Writer(
                "transaction control on a pooled connection".into(),
            )),
        }
    }

    pub(crate) async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        match &mut self.conn {
            Conn::Pool(tx) => super::sql::any_execute(&mut **tx, sql, args).await,
            Conn::Sqlite(conn) => lite_execute(conn, sql, args),
        }
    }

    async fn rows(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        match &mut self.conn {
            Conn::Pool(tx) => any_rows(&mut **tx, sql, args).await,
            Conn::Sqlite(conn) => lite_rows(conn, sql, args),
        }
    }

    async fn row(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Row>, StoreError> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }

    /// The first column of every row.
    async fn column<T: Cell>(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, StoreError> {
        self.rows(sql, args)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// Follows merge pointers to the surviving record.
    async fn survivor(&mut self, mut id: i64) -> Result<i64, StoreError> {
        for _ in 0..16 {
            let next = self
                .row("SELECT merged_into FROM patients WHERE id = $1", &args![id])
                .await?;
            match next.map(|r| r.get::<Option<i64>>(0)).transpose()?.flatten() {
                Some(target) if target != id => id = target,
                _ => break,
            }
        }
        Ok(id)
    }

    async fn person(&mut self, id: i64) -> Result<Option<StoredPerson>, StoreError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM patients WHERE id = $1");
        let row = self.row(&sql, &args![id]).await?;
        row.as_ref().map(person_from).transpose()
    }
}

fn yes_no(value: Option<bool>) -> Option<&'static str> {
    value.map(|v| if v { "Y" } else { "N" })
}

/// The patient columns both INSERT and UPDATE write, bound as $1..$21 by [`patient_args`].
const PATIENT_FIELDS: &str = "family_name, given_name, middle_name, birth_date, sex, \
     mother_maiden_name, family_norm, given_norm, phone, street, city, state, zip, race, ethnicity, \
     multiple_birth, birth_order, death_date, publicity, protection, registry_status";

/// `$1..$21` for [`PATIENT_FIELDS`]; `norms` holds the normalized family and given names.
fn patient_args<'a>(p: &'a PatientRecord, norms: &'a (String, String)) -> Vec<Arg<'a>> {
    args![
        &p.family_name,
        &p.given_name,
        p.middle_name.as_deref(),
        &p.birth_date,
        p.sex.as_deref(),
        p.mother_maiden_name.as_deref(),
        &norms.0,
        &norms.1,
        p.phone.as_deref(),
        p.street.as_deref(),
        p.city.as_deref(),
        p.state.as_deref(),
        p.zip.as_deref(),
        p.race.as_deref(),
        p.ethnicity.as_deref(),
        yes_no(p.multiple_birth),
        p.birth_order.map(i64::from),
        p.death_date.as_deref(),
        p.publicity.as_deref(),
        p.protection.as_deref(),
        p.registry_status.as_deref(),
    ]
    .to_vec()
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

const STORED_RESPONSE: &str =
    "SELECT m.response FROM message_keys k JOIN message_log m ON m.id = k.message_id \
     WHERE k.organization_id = $1 AND k.control_id = $2 AND k.content_hash = $3";

impl RegistryTx for SqlTx {
    async fn lock(&mut self, keys: &[String]) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut hashed: Vec<i64> = keys.iter().map(|k| lock_key(k)).collect();
        hashed.sort_unstable();
        hashed.dedup();
        for key in hashed {
            self.exec("SELECT pg_advisory_xact_lock($1)", &args![key])
                .await?;
        }
        Ok(())
    }

    async fn claim_key(
        &mut self,
        organization_id: i64,
        control_id: &str,
        content_hash: &str,
    ) -> Result<KeyClaim, StoreError> {
        let key = args![organization_id, control_id, content_hash];
        // On PostgreSQL a concurrent twin's insert waits here until the first commits.
        let inserted = self
            .exec(
                "INSERT INTO message_keys (organization_id, control_id, content_hash) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &key,
            )
            .await?;
        if inserted == 0 {
            let stored: Vec<String> = self.column(STORED_RESPONSE, &key).await?;
            return stored
                .into_iter()
                .next()
                .map(KeyClaim::Answered)
                .ok_or_else(|| StoreError::Corrupt("a message key without its response".into()));
        }
        let others: Vec<i64> = self
            .column(
                "SELECT COUNT(*) FROM message_keys WHERE organization_id = $1 AND control_id = $2 \
                   AND content_hash <> $3",
                &key,
            )
            .await?;
        Ok(KeyClaim::Claimed {
            reused: others.first().copied().unwrap_or(0) > 0,
        })
    }

    async fn linked_patients(
        &mut self,
        organization_id: i64,
        identifiers: &[Identifier],
    ) -> Result<Vec<StoredPerson>, StoreError> {
        let mut ids = Vec::new();
        for identifier in identifiers.iter().filter(|i| links(i)) {
            let found: Vec<i64> = self
                .column(
                    "SELECT DISTINCT patient_id FROM patient_identifiers \
                     WHERE id_value = $1 AND id_type = $4 AND ( \
                       (assigning_authority <> '' AND assigning_authority = $2) \
                       OR (assigning_authority = '' AND $2 = '' AND organization_id = $3))",
                    &args![
                        &identifier.value,
                        &identifier.authority,
                        organization_id,
                        &identifier.id_type
                    ],
                )
                .await?;
            for id in found {
                let survivor = self.survivor(id).await?;
                if !ids.contains(&survivor) {
                    ids.push(survivor);
                }
            }
        }
        ids.sort_unstable();
        let mut people = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(p) = self.person(id).await? {
                people.push(p);
            }
        }
        Ok(people)
    }

    async fn candidates(
        &mut self,
        who: &Demographics,
        limit: usize,
    ) -> Result<Vec<StoredPerson>, StoreError> {
        // Two index lookups joined by UNION. "Not merged" is written so that no index can
        // serve it: given "merged_into IS NULL", both planners may walk the merged_into index,
        // which visits every patient (ids start at 1, so 0 is never a target).
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM patients WHERE id IN ( \
               SELECT id FROM patients WHERE birth_date = $1 \
               UNION SELECT id FROM patients \
                 WHERE family_norm = $2 AND given_norm = $3 AND $2 <> '' AND $3 <> '') \
             AND COALESCE(merged_into, 0) = 0 ORDER BY id LIMIT $4"
        );
        let rows = self
            .rows(
                &sql,
                &args![&who.birth_date, &who.family, &who.given, count(limit)],
            )
            .await?;
        rows.iter().map(person_from).collect()
    }

    async fn create_patient(
        &mut self,
        organization_id: i64,
        p: &PatientRecord,
        consent: Option<&(Status, String)>,
    ) -> Result<i64, StoreError> {
        let (status, date) = consent.map_or((Status::None, None), |(s, d)| (*s, Some(d.as_str())));
        let norms = (
            normalize_family(&p.family_name),
            normalize_name(&p.given_name),
        );
        let now = now_text();
        let mut bound = patient_args(p, &norms);
        bound.extend(args![organization_id, now.as_str(), status.as_str(), date]);
        let sql = format!(
            "INSERT INTO patients ({PATIENT_FIELDS}, created_by_org, created_at, updated_at, \
               consent_status, consent_date) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
               $18, $19, $20, $21, $22, $23, $23, $24, $25) RETURNING id"
        );
        self.column(&sql, &bound)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("INSERT … RETURNING gave no id".into()))
    }

    async fn update_patient(
        &mut self,
        patient_id: i64,
        p: &PatientRecord,
        consent: Option<&(Status, String)>,
    ) -> Result<(), StoreError> {
        let norms = (
            normalize_family(&p.family_name),
            normalize_name(&p.given_name),
        );
        let now = now_text();
        let mut bound = patient_args(p, &norms);
        bound.extend(args![now.as_str(), patient_id]);
        // The latest report names the person; optional facts it leaves out are kept.
        self.exec(
            "UPDATE patients SET family_name = $1, given_name = $2, \
               middle_name = COALESCE($3, middle_name), birth_date = $4, sex = COALESCE($5, sex), \
               mother_maiden_name = COALESCE($6, mother_maiden_name), family_norm = $7, \
               given_norm = $8, phone = COALESCE($9, phone), street = COALESCE($10, street), \
               city = COALESCE($11, city), state = COALESCE($12, state), zip = COALESCE($13, zip), \
               race = COALESCE($14, race), ethnicity = COALESCE($15, ethnicity), \
               multiple_birth = COALESCE($16, multiple_birth), \
               birth_order = COALESCE($17, birth_order), death_date = COALESCE($18, death_date), \
               publicity = COALESCE($19, publicity), protection = COALESCE($20, protection), \
               registry_status = COALESCE($21, registry_status), updated_at = $22 \
             WHERE id = $23",
            &bound,
        )
        .await?;
        if let Some((status, date)) = consent {
            self.exec(
                "UPDATE patients SET consent_status = $2, consent_date = $3 WHERE id = $1",
                &args![patient_id, status.as_str(), date],
            )
            .await?;
        }
        Ok(())
    }

    async fn link_identifiers(
        &mut self,
        patient_id: i64,
        organization_id: i64,
        identifiers: &[Identifier],
    ) -> Result<(), StoreError> {
        for id in identifiers {
            self.exec(
                "INSERT INTO patient_identifiers (patient_id, organization_id, id_value, \
                   assigning_authority, id_type) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &args![
                    patient_id,
                    organization_id,
                    &id.value,
                    &id.authority,
                    &id.id_type
                ],
            )
            .await?;
        }
        Ok(())
    }

    async fn add_review(
        &mut self,
        patient_id: i64,
        candidate_id: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        let now = now_text();
        self.exec(
            "INSERT INTO match_reviews (patient_id, candidate_id, reason, status, created_at) \
             VALUES ($1, $2, $3, 'open', $4)",
            &args![patient_id, candidate_id, reason, now.as_str()],
        )
        .await?;
        Ok(())
    }

    async fn log_message(&mut self, e: &LogEntry<'_>) -> Result<i64, StoreError> {
        let now = now_text();
        self.column(
            "INSERT INTO message_log (organization_id, user_id, facility_code, control_id, \
               message_type, processing_id, outcome, received_at, responded_at, request, response, \
               error_count, warning_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
            &args![
                e.organization_id,
                e.user_id,
                e.facility_code,
                e.control_id,
                e.message_type,
                e.processing_id,
                e.outcome.as_str(),
                e.received_at,
                now.as_str(),
                e.request,
                e.response,
                count(e.errors),
                count(e.warnings),
            ],
        )
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt("INSERT … RETURNING gave no id".into()))
    }

    async fn set_key_message(
        &mut self,
        organization_id: i64,
        control_id: &str,
        content_hash: &str,
        message_id: i64,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE message_keys SET message_id = $4 \
             WHERE organization_id = $1 AND control_id = $2 AND content_hash = $3",
            &args![organization_id, control_id, content_hash, message_id],
        )
        .await?;
        Ok(())
    }

    async fn apply_dose(
        &mut self,
        org: i64,
        patient_id: i64,
        message_id: i64,
        d: &DoseRecord,
    ) -> Result<(), StoreError> {
        let now = now_text();
        let changed: Vec<i64> = match d.action {
            // A delete is soft: the row stays for the audit trail and is hidden from reads.
            DoseAction::Delete => {
                self.column(
                    "UPDATE immunizations SET deleted_at = $3, updated_at = $3, message_id = $4 \
                     WHERE organization_id = $1 AND filler_order_id = $2 RETURNING id",
                    &args![org, &d.filler_order_id, now.as_str(), message_id],
                )
                .await?
            }
            DoseAction::Upsert => {
                self.column(
                    "INSERT INTO immunizations (patient_id, organization_id, message_id, \
                       filler_order_id, administered_on, cvx, vaccine_text, amount, amount_units, \
                       info_source, lot_number, lot_expiration, mvx, completion_status, \
                       action_code, route, site, created_at, updated_at, vaccine_group, \
                       first_received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                       $17, $18, $18, $19, $18) \
                     ON CONFLICT (organization_id, filler_order_id) DO UPDATE SET \
                       patient_id = excluded.patient_id, message_id = excluded.message_id, \
                       administered_on = excluded.administered_on, cvx = excluded.cvx, \
                       vaccine_text = excluded.vaccine_text, amount = excluded.amount, \
                       amount_units = excluded.amount_units, info_source = excluded.info_source, \
                       lot_number = excluded.lot_number, lot_expiration = excluded.lot_expiration, \
                       mvx = excluded.mvx, completion_status = excluded.completion_status, \
                       action_code = excluded.action_code, route = excluded.route, \
                       site = excluded.site, vaccine_group = excluded.vaccine_group, \
                       deleted_at = NULL, updated_at = excluded.updated_at \
                     RETURNING id",
                    &args![
                        patient_id,
                        org,
                        message_id,
                        &d.filler_order_id,
                        &d.administered_on,
                        &d.cvx,
                        d.vaccine_text.as_deref(),
                        d.amount.as_deref(),
                        d.amount_units.as_deref(),
                        d.info_source.as_deref(),
                        d.lot_number.as_deref(),
                        d.lot_expiration.as_deref(),
                        d.mvx.as_deref(),
                        d.completion_status.as_deref(),
                        d.action_code.as_deref(),
                        d.route.as_deref(),
                        d.site.as_deref(),
                        now.as_str(),
                        &d.vaccine_group,
                    ],
                )
                .await?
            }
        };
        let action = match d.action {
            DoseAction::Delete => "delete",
            DoseAction::Upsert if d.action_code.as_deref() == Some("U") => "update",
            DoseAction::Upsert => "add",
        };
        for id in changed {
            self.exec(
                "INSERT INTO dose_changes (immunization_id, message_id, action, changed_at) \
                 VALUES ($1, $2, $3, $4)",
                &args![id, message_id, action, now.as_str()],
            )
            .await?;
        }
        Ok(())
    }

    async fn add_observation(
        &mut self,
        org: i64,
        patient_id: i64,
        message_id: i64,
        o: &ObservationRecord,
    ) -> Result<(), StoreError> {
        let now = now_text();
        self.exec(
            "INSERT INTO patient_observations (patient_id, organization_id, message_id, kind, code, \
               code_text, observed_on, reason_code, reason_text, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (organization_id, patient_id, kind, code, observed_on) DO UPDATE SET \
               message_id = excluded.message_id, code_text = excluded.code_text, \
               reason_code = excluded.reason_code, reason_text = excluded.reason_text",
            &args![
                patient_id,
                org,
                message_id,
                o.kind.as_str(),
                &o.code,
                o.code_text.as_deref(),
                &o.observed_on,
                o.reason_code.as_deref(),
                o.reason_text.as_deref(),
                now.as_str(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn patient(&mut self, patient_id: i64) -> Result<Option<StoredPatient>, StoreError> {
        let id = self.survivor(patient_id).await?;
        let row = self
            .row(
                "SELECT family_name, given_name, middle_name, birth_date, sex, mother_maiden_name, \
                   phone, street, city, state, zip, race, ethnicity, multiple_birth, birth_order, \
                   death_date, publicity, protection, registry_status, consent_status, consent_date \
                 FROM patients WHERE id = $1",
                &args![id],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        let order: Option<i64> = r.get(14)?;
        let record = PatientRecord {
            family_name: r.get(0)?,
            given_name: r.get(1)?,
            middle_name: r.get(2)?,
            birth_date: r.get(3)?,
            sex: r.get(4)?,
            mother_maiden_name: r.get(5)?,
            phone: r.get(6)?,
            street: r.get(7)?,
            city: r.get(8)?,
            state: r.get(9)?,
            zip: r.get(10)?,
            race: r.get(11)?,
            ethnicity: r.get(12)?,
            multiple_birth: r.get::<Option<String>>(13)?.map(|v| v == "Y"),
            birth_order: order.and_then(|o| u8::try_from(o).ok()),
            death_date: r.get(15)?,
            publicity: r.get(16)?,
            protection: r.get(17)?,
            protection_date: r.get(20)?,
            registry_status: r.get(18)?,
        };
        let consent = Status::parse(&r.get::<String>(19)?);
        let sql = format!(
            "SELECT DISTINCT i.id_value, i.assigning_authority, i.id_type \
                 FROM patient_identifiers i WHERE i.patient_id IN ({MERGED_GROUP}) \
                 ORDER BY i.id_type, i.id_value"
        );
        let identifiers = self
            .rows(&sql, &args![id])
            .await?
            .iter()
            .map(|r| {
                Ok(Identifier {
                    value: r.get(0)?,
                    authority: r.get(1)?,
                    id_type: r.get(2)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(StoredPatient {
            id,
            record,
            identifiers,
            consent,
        }))
    }

    async fn history(
        &mut self,
        patient_id: i64,
    ) -> Result<(Vec<ConsolidatedDose>, Vec<StoredObservation>), StoreError> {
        let doses = self.rows(&doses_sql(), &args![patient_id]).await?;
        let observations = self.rows(&observations_sql(), &args![patient_id]).await?;
        Ok((
            consolidate(doses.iter().map(dose_from).collect::<Result<_, _>>()?),
            observations
                .iter()
                .map(observation_from)
                .collect::<Result<_, _>>()?,
        ))
    }

    async fn audit_query(
        &mut self,
        entry: &LogEntry<'_>,
        message_id: i64,
        patient_id: i64,
        returned: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO query_audit (message_id, organization_id, user_id, patient_id, returned, \
               queried_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &args![
                message_id,
                entry.organization_id,
                entry.user_id,
                patient_id,
                returned,
                entry.received_at
            ],
        )
        .await?;
        Ok(())
    }
}

impl RegistryStore for Arc<Db> {
    type Tx = SqlTx;

    async fn rule_overrides(
        &self,
        organization_id: i64,
    ) -> Result<std::collections::HashMap<String, crate::registry::validate::Level>, StoreError>
    {
        let mut map = std::collections::HashMap::new();
        for (rule, level) in Db::rule_overrides(self, organization_id).await? {
            // A level that no longer parses is ignored rather than failing every message.
            if let Ok(level) = level.parse() {
                map.insert(rule, level);
            }
        }
        Ok(map)
    }

    async fn transact<T: Send + 'static>(
        &self,
        work: TxWork<SqlTx, T>,
    ) -> Result<T, RegistryError> {
        if let Some(writer) = &self.writer {
            return writer.transact(work).await;
        }
        let mut tx = SqlTx {
            conn: Conn::Pool(self.pool.begin().await.map_err(StoreError::from)?),
            backend: self.backend,
        };
        let value = work(&mut tx).await?;
        match tx.conn {
            Conn::Pool(pool_tx) => pool_tx.commit().await.map_err(StoreError::from)?,
            Conn::Sqlite(_) => {}
        }
        Ok(value)
    }

    async fn stored_response(
        &self,
        organization_id: i64,
        control_id: &str,
        content_hash: &str,
    ) -> Result<Option<String>, StoreError> {
        let rows = any_rows(
            &self.pool,
            STORED_RESPONSE,
            &args![organization_id, control_id, content_hash],
        )
        .await?;
        rows.first().map(|r| r.get(0)).transpose()
    }
}

/// One dose report as stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredDose {
    pub id: i64,
    pub organization_id: i64,
    /// The reporting organization's code (the namespace of its ORC-3).
    pub organization_code: String,
    pub filler_order_id: String,
    pub administered_on: String,
    pub cvx: String,
    pub vaccine_text: Option<String>,
    pub vaccine_group: String,
    pub amount: Option<String>,
    pub amount_units: Option<String>,
    pub info_source: Option<String>,
    pub lot_number: Option<String>,
    pub lot_expiration: Option<String>,
    pub mvx: Option<String>,
    pub completion_status: Option<String>,
    pub route: Option<String>,
    pub site: Option<String>,
    pub deleted: bool,
    pub first_received_at: Option<String>,
}

/// The ids of a patient and of the records merged into it, as two index lookups (an OR over
/// the two columns would scan the table on a million-patient registry).
const MERGED_GROUP: &str =
    "SELECT id FROM patients WHERE id = $1 UNION SELECT id FROM patients WHERE merged_into = $1";

const DOSE_COLUMNS: &str = "i.id, i.organization_id, o.code, i.filler_order_id, i.administered_on, \
     i.cvx, i.vaccine_text, i.vaccine_group, i.amount, i.amount_units, i.info_source, i.lot_number, \
     i.lot_expiration, i.mvx, i.completion_status, i.route, i.site, i.deleted_at, i.first_received_at";

fn dose_from(r: &Row) -> Result<StoredDose, StoreError> {
    Ok(StoredDose {
        id: r.get(0)?,
        organization_id: r.get(1)?,
        organization_code: r.get(2)?,
        filler_order_id: r.get(3)?,
        administered_on: r.get(4)?,
        cvx: r.get(5)?,
        vaccine_text: r.get(6)?,
        vaccine_group: r.get(7)?,
        amount: r.get(8)?,
        amount_units: r.get(9)?,
        info_source: r.get(10)?,
        lot_number: r.get(11)?,
        lot_expiration: r.get(12)?,
        mvx: r.get(13)?,
        completion_status: r.get(14)?,
        route: r.get(15)?,
        site: r.get(16)?,
        deleted: r.get::<Option<String>>(17)?.is_some(),
        first_received_at: r.get(18)?,
    })
}

/// Every dose report of a patient ($1) and of the records merged into it.
fn doses_sql() -> String {
    format!(
        "SELECT {DOSE_COLUMNS} FROM immunizations i JOIN organizations o ON o.id = i.organization_id \
         WHERE i.patient_id IN ({MERGED_GROUP}) ORDER BY i.administered_on, i.id"
    )
}

/// Every observation of a patient ($1) and of the records merged into it.
fn observations_sql() -> String {
    format!(
        "SELECT o.kind, o.code, o.observed_on, o.reason_code, o.code_text, o.reason_text \
         FROM patient_observations o WHERE o.patient_id IN ({MERGED_GROUP}) \
         ORDER BY o.observed_on, o.id"
    )
}

fn observation_from(r: &Row) -> Result<StoredObservation, StoreError> {
    Ok(StoredObservation {
        kind: r.get(0)?,
        code: r.get(1)?,
        observed_on: r.get(2)?,
        reason_code: r.get(3)?,
        code_text: r.get(4)?,
        reason_text: r.get(5)?,
    })
}

/// A vaccination event: the preferred report of one (vaccine group, date), and how many
/// reports (sources) said so.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsolidatedDose {
    pub dose: StoredDose,
    pub sources: usize,
}

/// Administered (RXA-9 00) with lot and MVX beats administered, which beats historical; then
/// the first report.
fn preference(d: &StoredDose) -> (u8, i64) {
    let administered = d.info_source.as_deref() == Some("00");
    let complete = d.lot_number.is_some() && d.mvx.is_some();
    let rank = match (administered, complete) {
        (true, true) => 0,
        (true, false) => 1,
        (false, true) => 2,
        (false, false) => 3,
    };
    (rank, d.id)
}

pub fn consolidate(doses: Vec<StoredDose>) -> Vec<ConsolidatedDose> {
    let mut events: BTreeMap<(String, String), Vec<StoredDose>> = BTreeMap::new();
    for d in doses.into_iter().filter(|d| !d.deleted) {
        events
            .entry((d.administered_on.clone(), d.vaccine_group.clone()))
            .or_default()
            .push(d);
    }
    events
        .into_values()
        .filter_map(|mut reports| {
            reports.sort_by_key(preference);
            let sources = reports.len();
            reports
                .into_iter()
                .next()
                .map(|dose| ConsolidatedDose { dose, sources })
        })
        .collect()
}

/// A stored observation (refusal, not administered, immunity).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObservation {
    pub kind: String,
    pub code: String,
    pub observed_on: String,
    pub reason_code: Option<String>,
    pub code_text: Option<String>,
    pub reason_text: Option<String>,
}

impl Db {
    /// The surviving patient linked to an organization's identifier value, if any:
    /// (id, family, given, birth date).
    pub async fn patient_by_identifier(
        &self,
        org_code: &str,
        id_value: &str,
    ) -> Result<Option<(i64, String, String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(p.merged_into, p.id) FROM patients p \
               JOIN patient_identifiers i ON i.patient_id = p.id \
               JOIN organizations o ON o.id = i.organization_id \
             WHERE o.code = $1 AND i.id_value = $2",
        )
        .bind(org_code)
        .bind(id_value)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get(0)?;
        let row = sqlx::query(
            "SELECT id, family_name, given_name, birth_date FROM patients WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some((
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
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
        Ok((row.try_get(0)?, row.try_get(1)?))
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
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// Patients not merged into another.
    pub async fn patient_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM patients WHERE merged_into IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dose(id: i64, date: &str, group: &str, source: &str, lot: bool) -> StoredDose {
        StoredDose {
            id,
            organization_id: 1,
            filler_order_id: format!("F{id}"),
            administered_on: date.into(),
            cvx: "08".into(),
            vaccine_group: group.into(),
            info_source: Some(source.into()),
            lot_number: lot.then(|| "LOT".into()),
            mvx: lot.then(|| "MSD".into()),
            ..StoredDose::default()
        }
    }

    #[test]
    fn one_event_per_group_and_date_preferring_administered_with_lot() {
        let events = consolidate(vec![
            dose(1, "2024-01-01", "45", "01", false),
            dose(2, "2024-01-01", "45", "00", true),
            dose(3, "2024-01-01", "45", "00", false),
            dose(4, "2024-02-01", "45", "01", false),
        ]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].dose.id, 2);
        assert_eq!(events[0].sources, 3);
        assert_eq!(events[1].sources, 1);
    }

    #[test]
    fn deleted_reports_do_not_count() {
        let mut d = dose(1, "2024-01-01", "45", "00", true);
        d.deleted = true;
        assert!(consolidate(vec![d]).is_empty());
    }
}
