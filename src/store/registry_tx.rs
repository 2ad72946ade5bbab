//! The registry's storage port on SQL: [`SqlTx`] implements [`RegistryTx`] (one transaction per
//! message: claim the message key, match, write the message log and the data) and `Arc<Db>`
//! implements [`RegistryStore`]. PostgreSQL transactions run on a pooled connection and take
//! advisory locks on the people they touch; SQLite transactions run on the writer thread, grouped
//! into shared commits (`writer.rs`). The statements are the same text for both (`sql.rs`); rows
//! become records in `records.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::{Any, Transaction};

use crate::registry::consent::Status;
use crate::registry::history::{StoredDose, StoredObservation};
use crate::registry::identity::{normalize_family, normalize_name, Demographics};
use crate::registry::validate::Level;
use crate::registry::{
    ConsentRecord, DoseAction, DoseRecord, Identifier, KeyClaim, LogEntry, ObservationRecord,
    PatientRecord, RegistryError, RegistryStore, RegistryTx, Stamp, StorageError, StoredPatient,
    StoredPerson, TxWork,
};

use super::records::{
    count, dose_from, doses_sql, identifier_from, observation_from, observations_sql, patient_from,
    person_from, timestamp_text, yes_no, MERGED_GROUP, PATIENT_COLUMNS, PERSON_COLUMNS,
};
use super::sql::{any_rows, args, lite_execute, lite_rows, Arg, Cell, Row};
use super::{Backend, Db, StoreError};

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
    /// Advisory-lock keys this transaction holds already (PostgreSQL): a transaction that
    /// applies several messages takes all their keys first, and the messages' own requests
    /// for them then cost no round trip.
    locked: HashSet<i64>,
}

impl SqlTx {
    pub(crate) fn sqlite(conn: rusqlite::Connection) -> SqlTx {
        SqlTx {
            conn: Conn::Sqlite(conn),
            backend: Backend::Sqlite,
            locked: HashSet::new(),
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

    pub(crate) async fn rows(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        match &mut self.conn {
            Conn::Pool(tx) => any_rows(&mut **tx, sql, args).await,
            Conn::Sqlite(conn) => lite_rows(conn, sql, args),
        }
    }

    async fn row(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Row>, StoreError> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }

    /// The column `name` of every row.
    async fn column<T: Cell>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        name: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.rows(sql, args)
            .await?
            .iter()
            .map(|r| r.get(name))
            .collect()
    }

    /// The id an `INSERT … RETURNING id` gave.
    async fn insert_returning_id(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<i64, StoreError> {
        self.column(sql, args, "id")
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("INSERT … RETURNING gave no id".into()))
    }

    /// Follows merge pointers to the surviving record (`id` itself when it was not merged).
    async fn survivor(&mut self, mut id: i64) -> Result<i64, StoreError> {
        for _ in 0..16 {
            let next = self
                .row("SELECT merged_into FROM patients WHERE id = $1", &args![id])
                .await?;
            match next
                .map(|r| r.get::<Option<i64>>("merged_into"))
                .transpose()?
                .flatten()
            {
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

/// Where the record of a row read with its `id` and `merged_into` was merged to, if it was.
fn merged_into(row: &Row) -> Result<Option<i64>, StoreError> {
    let id: i64 = row.get("id")?;
    Ok(row
        .get::<Option<i64>>("merged_into")?
        .filter(|target| *target != id))
}

/// The patient columns both INSERT and UPDATE write, bound as $1..$21 by [`patient_args`].
const PATIENT_FIELDS: &str = "family_name, given_name, middle_name, birth_date, sex, \
     mother_maiden_name, family_norm, given_norm, phone, street, city, state, zip, race, ethnicity, \
     multiple_birth, birth_order, death_date, publicity, protection, registry_status";

/// The text a patient row stores besides the record's own strings: the normalized names and
/// the dates.
struct PatientText {
    family_norm: String,
    given_norm: String,
    birth_date: String,
    death_date: Option<String>,
}

impl PatientText {
    fn of(p: &PatientRecord) -> PatientText {
        PatientText {
            family_norm: normalize_family(&p.family_name),
            given_norm: normalize_name(&p.given_name),
            birth_date: p.birth_date.to_string(),
            death_date: p.death_date.map(|d| d.to_string()),
        }
    }
}

/// `$1..$21` for [`PATIENT_FIELDS`].
fn patient_args<'a>(p: &'a PatientRecord, text: &'a PatientText) -> Vec<Arg<'a>> {
    args![
        &p.family_name,
        &p.given_name,
        p.middle_name.as_deref(),
        &text.birth_date,
        p.sex.as_deref(),
        p.mother_maiden_name.as_deref(),
        &text.family_norm,
        &text.given_norm,
        p.phone.as_deref(),
        p.street.as_deref(),
        p.city.as_deref(),
        p.state.as_deref(),
        p.zip.as_deref(),
        p.race.as_deref(),
        p.ethnicity.as_deref(),
        yes_no(p.multiple_birth),
        p.birth_order.map(i64::from),
        text.death_date.as_deref(),
        p.publicity.as_deref(),
        p.protection.as_deref(),
        p.registry_status.as_deref(),
    ]
    .to_vec()
}

/// How every registry transaction begins on PostgreSQL, in one round trip. It runs the same
/// few statements again and again (a message, a file's group of them): each is planned once per
/// connection instead of at every execution, and never as a sequential scan. Connections
/// otherwise plan every execution (`plan_cache_mode = force_custom_plan`, see `Db::connect`),
/// because a plan cached while a table was small would be kept as it grows; planning was about
/// a third of the server's time a statement, and without sequential scans a plan made on a
/// small table still uses the indexes. Both settings end with the transaction.
const BEGIN_PLANNED_ONCE: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; \
     SET LOCAL enable_seqscan = off";

pub(crate) const STORED_RESPONSE: &str =
    "SELECT m.response FROM message_keys k JOIN message_log m ON m.id = k.message_id \
     WHERE k.organization_id = $1 AND k.control_id = $2 AND k.content_hash = $3";

/// A message log entry, `$1`..`$13` (see `log_message`).
const LOG_INSERT: &str = "INSERT INTO message_log (organization_id, user_id, facility_code, \
       control_id, message_type, processing_id, outcome, received_at, responded_at, request, \
       response, error_count, warning_count) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// A log entry's times as stored.
struct LogTimes {
    received_at: String,
    responded_at: String,
}

impl LogTimes {
    fn of(e: &LogEntry<'_>) -> LogTimes {
        LogTimes {
            received_at: timestamp_text(e.received_at),
            responded_at: timestamp_text(e.responded_at),
        }
    }
}

/// `$1`..`$13` for [`LOG_INSERT`].
fn log_args<'a>(e: &'a LogEntry<'_>, times: &'a LogTimes) -> Vec<Arg<'a>> {
    args![
        e.organization_id,
        e.user_id,
        e.facility_code,
        e.control_id,
        e.message_type,
        e.processing_id,
        e.outcome.as_str(),
        times.received_at.as_str(),
        times.responded_at.as_str(),
        e.request,
        e.response,
        count(e.errors),
        count(e.warnings),
    ]
    .to_vec()
}

/// How many messages of an organization used a control id with another content.
const OTHER_KEYS: &str = "SELECT COUNT(*) AS n FROM message_keys WHERE organization_id = $1 \
     AND control_id = $2 AND content_hash <> $3";

/// [`OTHER_KEYS`] and the claim itself in one statement (PostgreSQL: a data-modifying CTE).
const CLAIM_KEY_PG: &str = "WITH claimed AS ( \
       INSERT INTO message_keys (organization_id, control_id, content_hash) \
       VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1) \
     SELECT (SELECT COUNT(*) FROM claimed) AS inserted, \
       (SELECT COUNT(*) FROM message_keys WHERE organization_id = $1 \
          AND control_id = $2 AND content_hash <> $3) AS others";

/// A dose's soft delete: `$1` organization, `$2` filler order id, `$3` now, `$4` message id.
const DOSE_DELETE: &str = "UPDATE immunizations SET deleted_at = $3, updated_at = $3, \
     message_id = $4 WHERE organization_id = $1 AND filler_order_id = $2 RETURNING id, \
     message_id, updated_at";

/// A dose's insert or update, `$1`..`$20` (see `apply_dose`).
const DOSE_UPSERT: &str = "INSERT INTO immunizations (patient_id, organization_id, message_id, \
       filler_order_id, administered_on, cvx, vaccine_text, amount, amount_units, \
       info_source, lot_number, lot_expiration, mvx, completion_status, \
       action_code, route, site, created_at, updated_at, vaccine_group, \
       first_received_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
       $17, $18, $18, $19, $20) \
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
     RETURNING id, message_id, updated_at";

/// The change rows of the doses a `changed` CTE returned; the action is the statement's last
/// parameter (`$5` after a delete, `$21` after an upsert).
const DOSE_CHANGE_PG: &str = "INSERT INTO dose_changes (immunization_id, message_id, action, \
     changed_at) SELECT id, message_id, $ACTION, updated_at FROM changed RETURNING immunization_id AS id";

impl RegistryTx for SqlTx {
    async fn lock(&mut self, keys: &[String]) -> Result<(), StorageError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut hashed: Vec<i64> = keys
            .iter()
            .map(|k| lock_key(k))
            .filter(|k| !self.locked.contains(k))
            .collect();
        if hashed.is_empty() {
            return Ok(());
        }
        hashed.sort_unstable();
        hashed.dedup();
        // One round trip for all of them, taken in ascending order (PostgreSQL evaluates the
        // volatile lock call after the sort): every transaction takes its keys in one ordered
        // sweep, so two of them never wait for each other in a cycle.
        let list = format!(
            "{{{}}}",
            hashed
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        self.exec(
            "SELECT pg_advisory_xact_lock(k) FROM unnest($1::text::bigint[]) AS k ORDER BY k",
            &args![list.as_str()],
        )
        .await?;
        self.locked.extend(hashed);
        Ok(())
    }

    async fn claim_key(
        &mut self,
        organization_id: i64,
        control_id: &str,
        content_hash: &str,
    ) -> Result<KeyClaim, StorageError> {
        let key = args![organization_id, control_id, content_hash];
        // On PostgreSQL a concurrent twin's insert waits here until the first commits.
        let (inserted, others) = if self.backend == Backend::Postgres {
            // The claim and the count of other contents in one round trip.
            let row = self.row(CLAIM_KEY_PG, &key).await?.ok_or_else(|| {
                StoreError::Corrupt("the message key claim returned no row".into())
            })?;
            (row.get::<i64>("inserted")?, row.get::<i64>("others")?)
        } else {
            let inserted = self
                .exec(
                    "INSERT INTO message_keys (organization_id, control_id, content_hash) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &key,
                )
                .await?;
            let others = if inserted == 0 {
                0
            } else {
                self.column(OTHER_KEYS, &key, "n")
                    .await?
                    .first()
                    .copied()
                    .unwrap_or(0)
            };
            (i64::try_from(inserted).unwrap_or(i64::MAX), others)
        };
        if inserted == 0 {
            let stored: Vec<String> = self.column(STORED_RESPONSE, &key, "response").await?;
            return Ok(stored
                .into_iter()
                .next()
                .map(KeyClaim::Answered)
                .ok_or_else(|| {
                    StoreError::Corrupt("a message key without its response".into())
                })?);
        }
        Ok(KeyClaim::Claimed { reused: others > 0 })
    }

    async fn linked_patients(
        &mut self,
        organization_id: i64,
        identifiers: &[Identifier],
    ) -> Result<Vec<StoredPerson>, StorageError> {
        let mut people: Vec<StoredPerson> = Vec::new();
        for identifier in identifiers.iter().filter(|i| links(i)) {
            // The patients an identifier names, with what matching reads of them, in one round
            // trip; a record merged since is followed to the one kept.
            let sql = format!(
                "SELECT {PERSON_COLUMNS}, merged_into FROM patients WHERE id IN ( \
                   SELECT patient_id FROM patient_identifiers \
                   WHERE id_value = $1 AND id_type = $4 AND ( \
                     (assigning_authority <> '' AND assigning_authority = $2) \
                     OR (assigning_authority = '' AND $2 = '' AND organization_id = $3)))"
            );
            let rows = self
                .rows(
                    &sql,
                    &args![
                        &identifier.value,
                        &identifier.authority,
                        organization_id,
                        &identifier.id_type
                    ],
                )
                .await?;
            for row in &rows {
                let person = match merged_into(row)? {
                    None => person_from(row)?,
                    Some(target) => {
                        let survivor = self.survivor(target).await?;
                        if people.iter().any(|p| p.id == survivor) {
                            continue;
                        }
                        match self.person(survivor).await? {
                            Some(person) => person,
                            None => continue,
                        }
                    }
                };
                if !people.iter().any(|p| p.id == person.id) {
                    people.push(person);
                }
            }
        }
        people.sort_unstable_by_key(|p| p.id);
        Ok(people)
    }

    async fn candidates(
        &mut self,
        who: &Demographics,
        limit: usize,
    ) -> Result<Vec<StoredPerson>, StorageError> {
        // Only the pairs `identity::judge` can call a match or a possible match: the same birth
        // date with the same family or the same given name, or both names the same (a keying
        // slip in the birth date). Three lookups on one index (birth_date, family_norm,
        // given_norm) and one on the names, joined by UNION; a common birth date alone no
        // longer reads every patient born that day. "Not merged" is written so that no index
        // can serve it: given "merged_into IS NULL", both planners may walk the merged_into
        // index, which visits every patient (ids start at 1, so 0 is never a target).
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM patients WHERE id IN ( \
               SELECT id FROM patients WHERE birth_date = $1 AND family_norm = $2 AND $2 <> '' \
               UNION SELECT id FROM patients WHERE birth_date = $1 AND given_norm = $3 AND $3 <> '' \
               UNION SELECT id FROM patients \
                 WHERE family_norm = $2 AND given_norm = $3 AND $2 <> '' AND $3 <> '') \
             AND COALESCE(merged_into, 0) = 0 ORDER BY id LIMIT $4"
        );
        let birth_date = who.birth_date.to_string();
        let rows = self
            .rows(
                &sql,
                &args![&birth_date, &who.family, &who.given, count(limit)],
            )
            .await?;
        Ok(rows.iter().map(person_from).collect::<Result<_, _>>()?)
    }

    async fn log_message(&mut self, e: &LogEntry<'_>) -> Result<i64, StorageError> {
        let times = LogTimes::of(e);
        let mut bound = log_args(e, &times);
        let key = match (e.control_id, e.key_hash) {
            (Some(control_id), Some(hash)) => Some((control_id, hash)),
            _ => None,
        };
        let Some((control_id, hash)) = key else {
            return Ok(self
                .insert_returning_id(&format!("{LOG_INSERT} RETURNING id"), &bound)
                .await?);
        };
        if self.backend == Backend::Postgres {
            // The entry and its key's pointer in one round trip.
            bound.extend(args![hash]);
            let sql = format!(
                "WITH logged AS ({LOG_INSERT} RETURNING id), keyed AS ( \
                   UPDATE message_keys SET message_id = (SELECT id FROM logged) \
                   WHERE organization_id = $1 AND control_id = $4 AND content_hash = $14) \
                 SELECT id FROM logged"
            );
            return Ok(self.insert_returning_id(&sql, &bound).await?);
        }
        let id = self
            .insert_returning_id(&format!("{LOG_INSERT} RETURNING id"), &bound)
            .await?;
        self.exec(
            "UPDATE message_keys SET message_id = $4 \
             WHERE organization_id = $1 AND control_id = $2 AND content_hash = $3",
            &args![e.organization_id, control_id, hash, id],
        )
        .await?;
        Ok(id)
    }

    async fn create_patient(
        &mut self,
        stamp: &Stamp,
        p: &PatientRecord,
        consent: Option<&ConsentRecord>,
    ) -> Result<i64, StorageError> {
        let (status, date) = match consent {
            Some((status, date)) => (*status, Some(date.to_string())),
            None => (Status::None, None),
        };
        let text = PatientText::of(p);
        let now = timestamp_text(stamp.at);
        let mut bound = patient_args(p, &text);
        bound.extend(args![
            stamp.organization_id,
            now.as_str(),
            status.as_str(),
            date.as_deref()
        ]);
        let sql = format!(
            "INSERT INTO patients ({PATIENT_FIELDS}, created_by_org, created_at, updated_at, \
               consent_status, consent_date) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
               $18, $19, $20, $21, $22, $23, $23, $24, $25) RETURNING id"
        );
        Ok(self.insert_returning_id(&sql, &bound).await?)
    }

    async fn update_patient(
        &mut self,
        stamp: &Stamp,
        patient_id: i64,
        p: &PatientRecord,
        consent: Option<&ConsentRecord>,
    ) -> Result<(), StorageError> {
        let text = PatientText::of(p);
        let now = timestamp_text(stamp.at);
        let mut bound = patient_args(p, &text);
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
            let date = date.to_string();
            self.exec(
                "UPDATE patients SET consent_status = $2, consent_date = $3 WHERE id = $1",
                &args![patient_id, status.as_str(), date.as_str()],
            )
            .await?;
        }
        Ok(())
    }

    async fn link_identifiers(
        &mut self,
        stamp: &Stamp,
        patient_id: i64,
        identifiers: &[Identifier],
    ) -> Result<(), StorageError> {
        for id in identifiers {
            self.exec(
                "INSERT INTO patient_identifiers (patient_id, organization_id, id_value, \
                   assigning_authority, id_type) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &args![
                    patient_id,
                    stamp.organization_id,
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
        stamp: &Stamp,
        patient_id: i64,
        candidate_id: i64,
        reason: &str,
    ) -> Result<(), StorageError> {
        let now = timestamp_text(stamp.at);
        self.exec(
            "INSERT INTO match_reviews (patient_id, candidate_id, reason, status, created_at) \
             VALUES ($1, $2, $3, 'open', $4)",
            &args![patient_id, candidate_id, reason, now.as_str()],
        )
        .await?;
        Ok(())
    }

    async fn apply_dose(
        &mut self,
        stamp: &Stamp,
        patient_id: i64,
        d: &DoseRecord,
    ) -> Result<(), StorageError> {
        let now = timestamp_text(stamp.at);
        let received = timestamp_text(stamp.received_at);
        let (org, message_id) = (stamp.organization_id, stamp.message_id);
        let action = match d.action {
            DoseAction::Delete => "delete",
            DoseAction::Upsert if d.action_code.as_deref() == Some("U") => "update",
            DoseAction::Upsert => "add",
        };
        // On PostgreSQL the change row is written by the same statement (a data-modifying CTE):
        // one round trip per dose.
        let pg = self.backend == Backend::Postgres;
        let changed: Vec<i64> = match d.action {
            // A delete is soft: the row stays for the audit trail and is hidden from reads.
            DoseAction::Delete => {
                let sql = if pg {
                    format!(
                        "WITH changed AS ({DOSE_DELETE}) {}",
                        DOSE_CHANGE_PG.replace("$ACTION", "$5")
                    )
                } else {
                    DOSE_DELETE.to_string()
                };
                let bound = args![org, &d.filler_order_id, now.as_str(), message_id, action];
                let bound = if pg { &bound[..] } else { &bound[..4] };
                self.column(&sql, bound, "id").await?
            }
            DoseAction::Upsert => {
                let administered_on = d.administered_on.to_string();
                let sql = if pg {
                    format!(
                        "WITH changed AS ({DOSE_UPSERT}) {}",
                        DOSE_CHANGE_PG.replace("$ACTION", "$21")
                    )
                } else {
                    DOSE_UPSERT.to_string()
                };
                let bound = args![
                    patient_id,
                    org,
                    message_id,
                    &d.filler_order_id,
                    &administered_on,
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
                    received.as_str(),
                    action,
                ];
                let bound = if pg { &bound[..] } else { &bound[..20] };
                self.column(&sql, bound, "id").await?
            }
        };
        if !pg {
            for id in changed {
                self.exec(
                    "INSERT INTO dose_changes (immunization_id, message_id, action, changed_at) \
                     VALUES ($1, $2, $3, $4)",
                    &args![id, message_id, action, now.as_str()],
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn add_observation(
        &mut self,
        stamp: &Stamp,
        patient_id: i64,
        o: &ObservationRecord,
    ) -> Result<(), StorageError> {
        let now = timestamp_text(stamp.at);
        let observed_on = o.observed_on.to_string();
        self.exec(
            "INSERT INTO patient_observations (patient_id, organization_id, message_id, kind, code, \
               code_text, observed_on, reason_code, reason_text, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (organization_id, patient_id, kind, code, observed_on) DO UPDATE SET \
               message_id = excluded.message_id, code_text = excluded.code_text, \
               reason_code = excluded.reason_code, reason_text = excluded.reason_text",
            &args![
                patient_id,
                stamp.organization_id,
                stamp.message_id,
                o.kind.as_str(),
                &o.code,
                o.code_text.as_deref(),
                &observed_on,
                o.reason_code.as_deref(),
                o.reason_text.as_deref(),
                now.as_str(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn patient(&mut self, patient_id: i64) -> Result<Option<StoredPatient>, StorageError> {
        // The record, whether it was merged since, and its identifiers and those of the
        // records merged into it, in one round trip (a row per identifier); a merged record is
        // followed to the one kept.
        let sql = format!(
            "SELECT id, {PATIENT_COLUMNS}, merged_into, id_value, assigning_authority, id_type \
             FROM patients LEFT JOIN ( \
               SELECT DISTINCT id_value, assigning_authority, id_type FROM patient_identifiers \
               WHERE patient_id IN ({MERGED_GROUP})) ids ON 1 = 1 \
             WHERE id = $1 ORDER BY id_type, id_value"
        );
        let mut rows = self.rows(&sql, &args![patient_id]).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        if let Some(target) = merged_into(first)? {
            let survivor = self.survivor(target).await?;
            rows = self.rows(&sql, &args![survivor]).await?;
        }
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let id: i64 = first.get("id")?;
        let (record, consent) = patient_from(first)?;
        let mut identifiers = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.get::<Option<String>>("id_value")?.is_some() {
                identifiers.push(identifier_from(row)?);
            }
        }
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
    ) -> Result<(Vec<StoredDose>, Vec<StoredObservation>), StorageError> {
        let doses = self.rows(&doses_sql(), &args![patient_id]).await?;
        let observations = self.rows(&observations_sql(), &args![patient_id]).await?;
        Ok((
            doses.iter().map(dose_from).collect::<Result<_, _>>()?,
            observations
                .iter()
                .map(observation_from)
                .collect::<Result<_, _>>()?,
        ))
    }

    async fn log_query(
        &mut self,
        e: &LogEntry<'_>,
        shown: &[(i64, &'static str)],
    ) -> Result<i64, StorageError> {
        if let ([(patient_id, returned)], Backend::Postgres, None) =
            (shown, self.backend, e.key_hash)
        {
            // The usual answer, one patient shown: the entry and its audit row in one round
            // trip.
            let sql = format!(
                "WITH logged AS ({LOG_INSERT} \
                   RETURNING id, organization_id, user_id, received_at), \
                 audited AS (INSERT INTO query_audit (message_id, organization_id, user_id, \
                   patient_id, returned, queried_at) \
                   SELECT id, organization_id, user_id, $14, $15, received_at FROM logged) \
                 SELECT id FROM logged"
            );
            let times = LogTimes::of(e);
            let mut bound = log_args(e, &times);
            bound.extend(args![*patient_id, *returned]);
            return Ok(self.insert_returning_id(&sql, &bound).await?);
        }
        let message_id = self.log_message(e).await?;
        let queried_at = timestamp_text(e.received_at);
        for (patient_id, returned) in shown {
            self.exec(
                "INSERT INTO query_audit (message_id, organization_id, user_id, patient_id, \
                   returned, queried_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &args![
                    message_id,
                    e.organization_id,
                    e.user_id,
                    *patient_id,
                    *returned,
                    queried_at.as_str()
                ],
            )
            .await?;
        }
        Ok(message_id)
    }
}

impl Db {
    /// A registry transaction in a transaction of its own even on SQLite, where the writer
    /// otherwise groups transactions under savepoints of one: for work that is already a large
    /// commit (a file's group of messages).
    pub async fn transact_alone<T: Send + 'static>(
        &self,
        work: TxWork<SqlTx, T>,
    ) -> Result<T, RegistryError> {
        self.run_transaction(work, true).await
    }

    async fn run_transaction<T: Send + 'static>(
        &self,
        work: TxWork<SqlTx, T>,
        alone: bool,
    ) -> Result<T, RegistryError> {
        if let Some(writer) = &self.writer {
            return writer.transact(work, alone).await;
        }
        let begun = match self.backend {
            Backend::Postgres => self.pool.begin_with(BEGIN_PLANNED_ONCE).await,
            Backend::Sqlite => self.pool.begin().await,
        };
        let mut tx = SqlTx {
            conn: Conn::Pool(begun.map_err(StoreError::from)?),
            backend: self.backend,
            locked: HashSet::new(),
        };
        let value = work(&mut tx).await?;
        match tx.conn {
            Conn::Pool(pool_tx) => pool_tx.commit().await.map_err(StoreError::from)?,
            Conn::Sqlite(_) => {}
        }
        Ok(value)
    }
}

impl RegistryStore for Arc<Db> {
    type Tx = SqlTx;

    async fn rule_overrides(
        &self,
        organization_id: i64,
    ) -> Result<HashMap<String, Level>, StorageError> {
        let mut map = HashMap::new();
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
        self.run_transaction(work, false).await
    }

    async fn stored_response(
        &self,
        organization_id: i64,
        control_id: &str,
        content_hash: &str,
    ) -> Result<Option<String>, StorageError> {
        let rows = any_rows(
            &self.pool,
            STORED_RESPONSE,
            &args![organization_id, control_id, content_hash],
        )
        .await?;
        Ok(rows.first().map(|r| r.get("response")).transpose()?)
    }
}
