//! The file door's storage: data exchange accounts and keys, the SFTP host key, the four folders'
//! files (contents in 1 MiB chunks, so that every node sees the same folders), and the runs that
//! process batch files. Everything a node needs is here; nothing is kept on a node's disk.

use std::collections::HashSet;

use sqlx::any::AnyRow;
use sqlx::Row;

use futures_util::StreamExt;

use super::sql::{args, Arg, Row as SqlRow};
use super::{now_text, Backend, Db, SqlTx, StoreError};

/// Size of one stored chunk of a file.
pub const CHUNK_BYTES: usize = 1 << 20;

/// An organization's data exchange account, as authentication and the worker need it.
#[derive(Clone, Debug)]
pub struct ExchangeAccount {
    pub organization_id: i64,
    pub organization_code: String,
    pub import_code: String,
    pub user_id: i64,
    pub password_hash: String,
    pub production: bool,
    /// `all` or `errors`.
    pub ack_mode: String,
    pub strict_counts: bool,
}

/// A file as a folder listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub id: i64,
    pub name: String,
    pub size: u64,
    pub blob_id: i64,
    pub content_hash: String,
    pub received_at: String,
    pub modified_at: String,
    /// Drop-off files: when the worker may pick it up (`None`: a temporary name).
    pub ready_at: Option<String>,
}

/// A run the worker has claimed (or resumed).
#[derive(Clone, Debug)]
pub struct ClaimedBatch {
    pub id: i64,
    pub organization_id: i64,
    pub organization_code: String,
    pub file_id: i64,
    pub blob_id: i64,
    pub original_name: String,
    pub accepted_name: String,
    pub content_hash: String,
    pub size: u64,
    pub received_at: String,
    pub structure: Option<String>,
    pub next_message: u64,
    pub attempts: i64,
    pub reprocess_of: Option<i64>,
    pub operator_import: bool,
}

/// A run as operators see it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BatchSummary {
    pub id: i64,
    pub organization: String,
    pub original_name: String,
    pub accepted_name: String,
    pub size: u64,
    pub state: String,
    pub reason: Option<String>,
    pub received_at: String,
    pub claimed_at: String,
    pub finished_at: Option<String>,
    pub total_messages: Option<u64>,
    pub processed_messages: u64,
    pub count_aa: u64,
    pub count_ae: u64,
    pub count_ar: u64,
    pub duplicate_of: Option<i64>,
    pub reprocess_of: Option<i64>,
    pub operator_import: bool,
    pub lease_owner: Option<String>,
}

/// What is waiting for the worker, for `/status`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, PartialEq, Eq)]
pub struct Backlog {
    /// Complete uploads not yet picked up, and runs not finished.
    pub files_waiting: u64,
    /// Messages of started runs not yet processed (files not yet read are not counted).
    pub messages_waiting: u64,
}

/// A stored content: its id, size and BLAKE2b-256 hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub id: i64,
    pub size: u64,
    pub hash: String,
}

/// One message of a run, recorded with its response (see [`SqlTx::record_run_messages`]).
#[derive(Clone, Debug)]
pub struct RunMessage {
    pub index: u64,
    pub offset: u64,
    pub control_id: Option<String>,
    pub ack_code: String,
    pub message_id: Option<i64>,
    pub response: String,
    pub facts: Option<String>,
    pub submitter_id: Option<String>,
    pub submitter_authority: Option<String>,
    pub patient_id: Option<i64>,
}

/// What is recorded with a message of a run besides its response: the DQA report's facts
/// (JSON), and for the consent notification file the patient as the sender named it (PID-3.1,
/// PID-3.4) and the registry record it was kept on.
#[derive(Clone, Copy, Debug, Default)]
pub struct MessageNotes<'a> {
    pub facts: Option<&'a str>,
    pub submitter_id: Option<&'a str>,
    pub submitter_authority: Option<&'a str>,
    pub patient_id: Option<i64>,
}

/// One message of a run as the consent notification file reads it.
#[derive(Clone, Debug)]
pub struct RunPatientRow {
    pub index: u64,
    pub control_id: Option<String>,
    pub ack_code: String,
    pub facts: Option<String>,
    pub submitter_id: Option<String>,
    pub submitter_authority: Option<String>,
    /// The record kept (the survivor, when it was merged since).
    pub registry_id: Option<i64>,
    pub consent_status: Option<String>,
    pub consent_date: Option<String>,
}

/// A [`RunPatientRow`] from a row with its columns (`control_id`, `ack_code`, `facts`,
/// `submitter_id`, `submitter_authority`, `registry_id`, `consent_status`, `consent_date`).
pub(super) fn run_patient_row(r: &SqlRow, index: u64) -> Result<RunPatientRow, StoreError> {
    Ok(RunPatientRow {
        index,
        control_id: r.get("control_id")?,
        ack_code: r.get("ack_code")?,
        facts: r.get("facts")?,
        submitter_id: r.get("submitter_id")?,
        submitter_authority: r.get("submitter_authority")?,
        registry_id: r.get("registry_id")?,
        consent_status: r.get("consent_status")?,
        consent_date: r.get("consent_date")?,
    })
}

/// A file retention removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedFile {
    pub organization: String,
    /// `reports`, `receive` or `accepted`.
    pub folder: String,
    pub name: String,
}

/// A file to write into an organization's folder.
pub struct NewFile<'a> {
    pub folder: &'a str,
    pub name: &'a str,
    pub content: &'a [u8],
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(super) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Hex BLAKE2b-256 of a file's content.
pub fn content_hash(bytes: &[u8]) -> String {
    let mut hasher = ContentHasher::default();
    hasher.update(bytes);
    hasher.finish()
}

/// Incremental [`content_hash`], for contents read or written a chunk at a time.
#[derive(Default)]
pub struct ContentHasher(blake2::Blake2b<blake2::digest::consts::U32>);

impl ContentHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        use blake2::Digest;
        self.0.update(bytes);
    }

    pub fn finish(self) -> String {
        use blake2::Digest;
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn file_entry(row: &AnyRow) -> Result<FileEntry, StoreError> {
    Ok(FileEntry {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        size: to_u64(row.try_get("size")?),
        blob_id: row.try_get("blob_id")?,
        content_hash: row.try_get("content_hash")?,
        received_at: row.try_get("received_at")?,
        modified_at: row.try_get("modified_at")?,
        ready_at: row.try_get("ready_at")?,
    })
}

const FILE_COLUMNS: &str =
    "id, name, size, blob_id, content_hash, received_at, modified_at, ready_at";

const BATCH_COLUMNS: &str = "b.id, b.organization_id, o.code, b.file_id, f.blob_id, \
     b.original_name, b.accepted_name, b.content_hash, b.size, b.received_at, b.structure, \
     b.next_message, b.attempts, b.reprocess_of, b.operator_import";

fn claimed(row: &AnyRow) -> Result<ClaimedBatch, StoreError> {
    Ok(ClaimedBatch {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        organization_code: row.try_get("code")?,
        file_id: row.try_get("file_id")?,
        blob_id: row.try_get("blob_id")?,
        original_name: row.try_get("original_name")?,
        accepted_name: row.try_get("accepted_name")?,
        content_hash: row.try_get("content_hash")?,
        size: to_u64(row.try_get("size")?),
        received_at: row.try_get("received_at")?,
        structure: row.try_get("structure")?,
        next_message: to_u64(row.try_get("next_message")?),
        attempts: row.try_get("attempts")?,
        reprocess_of: row.try_get("reprocess_of")?,
        operator_import: row.try_get::<i64, _>("operator_import")? != 0,
    })
}

fn summary(row: &AnyRow) -> Result<BatchSummary, StoreError> {
    let total: Option<i64> = row.try_get("total_messages")?;
    Ok(BatchSummary {
        id: row.try_get("id")?,
        organization: row.try_get("code")?,
        original_name: row.try_get("original_name")?,
        accepted_name: row.try_get("accepted_name")?,
        size: to_u64(row.try_get("size")?),
        state: row.try_get("state")?,
        reason: row.try_get("reason")?,
        received_at: row.try_get("received_at")?,
        claimed_at: row.try_get("claimed_at")?,
        finished_at: row.try_get("finished_at")?,
        total_messages: total.map(to_u64),
        processed_messages: to_u64(row.try_get("next_message")?),
        count_aa: to_u64(row.try_get("count_aa")?),
        count_ae: to_u64(row.try_get("count_ae")?),
        count_ar: to_u64(row.try_get("count_ar")?),
        duplicate_of: row.try_get("duplicate_of")?,
        reprocess_of: row.try_get("reprocess_of")?,
        operator_import: row.try_get::<i64, _>("operator_import")? != 0,
        lease_owner: row.try_get("lease_owner")?,
    })
}

impl Db {
    // ---- Accounts ----------------------------------------------------------------------------

    /// Creates an organization's data exchange account, or changes its import code and password.
    pub async fn set_exchange_account(
        &self,
        org_code: &str,
        import_code: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let org: Option<i64> = sqlx::query_scalar("SELECT id FROM organizations WHERE code = $1")
            .bind(org_code)
            .fetch_optional(&mut *tx)
            .await?;
        let org = org.ok_or_else(|| StoreError::NotFound(format!("no organization {org_code}")))?;
        let now = now_text();
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM exchange_accounts WHERE organization_id = $1")
                .bind(org)
                .fetch_optional(&mut *tx)
                .await?;
        let user_id = match existing {
            Some(id) => id,
            None => {
                // The users row messages from files are logged under; '!' never verifies, so it
                // cannot be used on the web service.
                let username = format!("sftp:{import_code}");
                let row = sqlx::query(
                    "INSERT INTO users (organization_id, username, password_hash, status, \
                       created_at, updated_at) VALUES ($1, $2, '!', 'file-door', $3, $3) \
                     RETURNING id",
                )
                .bind(org)
                .bind(&username)
                .bind(&now)
                .fetch_one(&mut *tx)
                .await;
                match row {
                    Ok(row) => row.try_get(0)?,
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict(format!(
                            "a user named {username} already exists"
                        )))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let written = sqlx::query(
            "INSERT INTO exchange_accounts (organization_id, import_code, user_id, password_hash, \
               created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (organization_id) DO UPDATE SET import_code = excluded.import_code, \
               password_hash = excluded.password_hash, updated_at = excluded.updated_at",
        )
        .bind(org)
        .bind(import_code)
        .bind(user_id)
        .bind(password_hash)
        .bind(&now)
        .execute(&mut *tx)
        .await;
        match written {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "import code {import_code} belongs to another organization"
                )))
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(())
    }

    /// Changes an account's options: `ack_mode` (`all`/`errors`) and strict batch counts.
    pub async fn set_exchange_options(
        &self,
        org_code: &str,
        ack_mode: Option<&str>,
        strict_counts: Option<bool>,
    ) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        let done = sqlx::query(
            "UPDATE exchange_accounts SET ack_mode = COALESCE($2, ack_mode), \
               strict_counts = COALESCE($3, strict_counts), updated_at = $4 \
             WHERE organization_id = (SELECT id FROM organizations WHERE code = $1)",
        )
        .bind(org_code)
        .bind(ack_mode)
        .bind(strict_counts.map(i64::from))
        .bind(now_text())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "organization {org_code} has no data exchange account"
            )));
        }
        Ok(())
    }

    async fn exchange_account_where(
        &self,
        condition: &str,
        value: &str,
    ) -> Result<Option<ExchangeAccount>, StoreError> {
        let sql = format!(
            "SELECT a.organization_id, o.code, a.import_code, a.user_id, a.password_hash, \
               o.status, a.ack_mode, a.strict_counts \
             FROM exchange_accounts a JOIN organizations o ON o.id = a.organization_id \
             WHERE {condition}"
        );
        let row = sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(ExchangeAccount {
                organization_id: r.try_get("organization_id")?,
                organization_code: r.try_get("code")?,
                import_code: r.try_get("import_code")?,
                user_id: r.try_get("user_id")?,
                password_hash: r.try_get("password_hash")?,
                production: r.try_get::<String, _>("status")? == "production",
                ack_mode: r.try_get("ack_mode")?,
                strict_counts: r.try_get::<i64, _>("strict_counts")? != 0,
            })
        })
        .transpose()
    }

    /// The account whose import code this is (import codes are kept upper-case).
    pub async fn exchange_account(
        &self,
        import_code: &str,
    ) -> Result<Option<ExchangeAccount>, StoreError> {
        self.exchange_account_where("a.import_code = $1", &import_code.to_ascii_uppercase())
            .await
    }

    pub async fn exchange_account_of(
        &self,
        org_code: &str,
    ) -> Result<Option<ExchangeAccount>, StoreError> {
        self.exchange_account_where("o.code = $1", org_code).await
    }

    pub async fn add_exchange_key(
        &self,
        org_code: &str,
        public_key: &str,
        fingerprint: &str,
        comment: Option<&str>,
    ) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        let done = sqlx::query(
            "INSERT INTO exchange_keys (organization_id, public_key, fingerprint, comment, \
               created_at) \
             SELECT organization_id, $2, $3, $4, $5 FROM exchange_accounts \
             WHERE organization_id = (SELECT id FROM organizations WHERE code = $1) \
             ON CONFLICT DO NOTHING",
        )
        .bind(org_code)
        .bind(public_key)
        .bind(fingerprint)
        .bind(comment)
        .bind(now_text())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 && self.exchange_account_of(org_code).await?.is_none() {
            return Err(StoreError::NotFound(format!(
                "organization {org_code} has no data exchange account: create it first"
            )));
        }
        Ok(())
    }

    /// The public keys (OpenSSH one-line form) registered for an account.
    pub async fn exchange_keys(&self, organization_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT public_key FROM exchange_keys WHERE organization_id = $1 ORDER BY id",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?)
    }

    // ---- Host key ----------------------------------------------------------------------------

    /// The SFTP host key (OpenSSH private key text), if one was made.
    pub async fn sftp_host_key(&self) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT private_key, fingerprint FROM sftp_host_keys WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("private_key")?, r.try_get("fingerprint")?)))
            .transpose()
    }

    /// Stores a newly made host key unless another node stored one first; returns the key in
    /// force (which every node then uses).
    pub async fn keep_sftp_host_key(
        &self,
        private_key: &str,
        fingerprint: &str,
    ) -> Result<(String, String), StoreError> {
        {
            let _guard = self.write_guard().await;
            sqlx::query(
                "INSERT INTO sftp_host_keys (id, private_key, fingerprint, created_at) \
                 VALUES (1, $1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(private_key)
            .bind(fingerprint)
            .bind(now_text())
            .execute(&self.pool)
            .await?;
        }
        self.sftp_host_key()
            .await?
            .ok_or_else(|| StoreError::Corrupt("the SFTP host key was not kept".into()))
    }

    // ---- Contents ----------------------------------------------------------------------------

    /// Stores what `reader` yields, up to its end, as a new blob in chunks of [`CHUNK_BYTES`],
    /// written in several short transactions so that a large file does not hold SQLite's write
    /// lock for long. The blob is not visible in any folder until a file row points at it.
    pub async fn store_blob<R>(&self, reader: &mut R) -> Result<Blob, StoreError>
    where
        R: tokio::io::AsyncRead + Unpin + Send,
    {
        use tokio::io::AsyncReadExt;
        let now = now_text();
        let blob_id: i64 = {
            let _guard = self.write_guard().await;
            sqlx::query_scalar(
                "INSERT INTO blobs (size, content_hash, created_at) VALUES (0, '', $1) RETURNING id",
            )
            .bind(&now)
            .fetch_one(&self.pool)
            .await?
        };
        let mut hasher = ContentHasher::default();
        let mut size = 0u64;
        let mut seq = 0i64;
        let mut pending: Vec<Vec<u8>> = Vec::new();
        let mut pending_bytes = 0usize;
        loop {
            let mut chunk = vec![0u8; CHUNK_BYTES];
            let mut filled = 0;
            while filled < chunk.len() {
                let n = reader
                    .read(&mut chunk[filled..])
                    .await
                    .map_err(|e| StoreError::Writer(format!("reading a file to store: {e}")))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            chunk.truncate(filled);
            let done = filled < CHUNK_BYTES;
            if !chunk.is_empty() {
                hasher.update(&chunk);
                size += chunk.len() as u64;
                pending_bytes += chunk.len();
                pending.push(chunk);
            }
            if !pending.is_empty() && (done || pending_bytes >= 16 * CHUNK_BYTES) {
                let _guard = self.write_guard().await;
                let mut tx = self.pool.begin().await?;
                for data in pending.drain(..) {
                    sqlx::query("INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)")
                        .bind(blob_id)
                        .bind(seq)
                        .bind(data)
                        .execute(&mut *tx)
                        .await?;
                    seq += 1;
                }
                tx.commit().await?;
                pending_bytes = 0;
            }
            if done {
                break;
            }
        }
        let hash = hasher.finish();
        let _guard = self.write_guard().await;
        sqlx::query("UPDATE blobs SET size = $2, content_hash = $3 WHERE id = $1")
            .bind(blob_id)
            .bind(to_i64(size))
            .bind(&hash)
            .execute(&self.pool)
            .await?;
        Ok(Blob {
            id: blob_id,
            size,
            hash,
        })
    }

    /// Stores a content held in memory.
    pub async fn store_bytes(&self, content: &[u8]) -> Result<Blob, StoreError> {
        let mut reader = content;
        self.store_blob(&mut reader).await
    }

    /// Chunk `seq` of a blob (`None` past its end).
    pub async fn blob_chunk(&self, blob_id: i64, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2")
                .bind(blob_id)
                .bind(to_i64(seq))
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Removes blobs no file points at and that are older than `before` (uploads abandoned when
    /// a node stopped, replaced files); returns how many.
    pub async fn remove_orphan_blobs(&self, before: &str) -> Result<u64, StoreError> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let orphans = "SELECT id FROM blobs WHERE created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM files f WHERE f.blob_id = blobs.id)";
        sqlx::query(&format!(
            "DELETE FROM blob_chunks WHERE blob_id IN ({orphans})"
        ))
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let removed = sqlx::query(&format!("DELETE FROM blobs WHERE id IN ({orphans})"))
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(removed)
    }

    // ---- Folders -----------------------------------------------------------------------------

    pub async fn folder_files(
        &self,
        organization_id: i64,
        folder: &str,
    ) -> Result<Vec<FileEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE organization_id = $1 AND folder = $2 \
             ORDER BY name"
        ))
        .bind(organization_id)
        .bind(folder)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(file_entry).collect()
    }

    pub async fn folder_file(
        &self,
        organization_id: i64,
        folder: &str,
        name: &str,
    ) -> Result<Option<FileEntry>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {FILE_COLUMNS} FROM files \
             WHERE organization_id = $1 AND folder = $2 AND name_key = $3"
        ))
        .bind(organization_id)
        .bind(folder)
        .bind(name.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(file_entry).transpose()
    }

    /// Puts a completed upload into HL7-Dropoff under `name`, replacing a file of that name not
    /// yet picked up. `ready_at` is `None` for a temporary name. Returns whether a waiting file
    /// was replaced.
    pub async fn publish_upload(
        &self,
        organization_id: i64,
        name: &str,
        blob: &Blob,
        ready_at: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = now_text();
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let replaced = sqlx::query(
            "DELETE FROM files WHERE organization_id = $1 AND folder = 'dropoff' AND name_key = $2",
        )
        .bind(organization_id)
        .bind(name.to_lowercase())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        insert_file(
            &mut tx,
            organization_id,
            "dropoff",
            name,
            blob,
            ready_at,
            &now,
        )
        .await?;
        tx.commit().await?;
        Ok(replaced)
    }

    /// Renames a file in HL7-Dropoff. Fails with `Conflict` when the target exists (SFTP v3
    /// RENAME never overwrites) and `NotFound` when the source does not.
    pub async fn rename_upload(
        &self,
        organization_id: i64,
        from: &str,
        to: &str,
        ready_at: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_text();
        let _guard = self.write_guard().await;
        let result = sqlx::query(
            "UPDATE files SET name = $3, name_key = $4, ready_at = $5, received_at = $6 \
             WHERE organization_id = $1 AND folder = 'dropoff' AND name_key = $2",
        )
        .bind(organization_id)
        .bind(from.to_lowercase())
        .bind(to)
        .bind(to.to_lowercase())
        .bind(ready_at)
        .bind(&now)
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) if done.rows_affected() == 0 => {
                Err(StoreError::NotFound(format!("no file {from}")))
            }
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "a file named {to} already exists"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a file from HL7-Dropoff (only files not yet picked up are there).
    pub async fn remove_upload(&self, organization_id: i64, name: &str) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        let done = sqlx::query(
            "DELETE FROM files WHERE organization_id = $1 AND folder = 'dropoff' AND name_key = $2",
        )
        .bind(organization_id)
        .bind(name.to_lowercase())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no file {name}")));
        }
        Ok(())
    }

    /// Sets a drop-off file's modification time (clients such as WinSCP set it after an upload).
    pub async fn touch_upload(
        &self,
        organization_id: i64,
        name: &str,
        modified_at: &str,
    ) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        sqlx::query(
            "UPDATE files SET modified_at = $3 \
             WHERE organization_id = $1 AND folder = 'dropoff' AND name_key = $2",
        )
        .bind(organization_id)
        .bind(name.to_lowercase())
        .bind(modified_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the upload lock on a drop-off name for `owner` until `expires_at`; `false` when
    /// another live upload holds it.
    pub async fn lock_upload(
        &self,
        organization_id: i64,
        name: &str,
        owner: &str,
        expires_at: &str,
    ) -> Result<bool, StoreError> {
        let now = now_text();
        let _guard = self.write_guard().await;
        let done = sqlx::query(
            "INSERT INTO upload_locks (organization_id, name_key, owner, expires_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (organization_id, name_key) DO UPDATE SET owner = excluded.owner, \
               expires_at = excluded.expires_at \
             WHERE upload_locks.owner = excluded.owner OR upload_locks.expires_at < $5",
        )
        .bind(organization_id)
        .bind(name.to_lowercase())
        .bind(owner)
        .bind(expires_at)
        .bind(&now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn unlock_upload(
        &self,
        organization_id: i64,
        name: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        sqlx::query(
            "DELETE FROM upload_locks WHERE organization_id = $1 AND name_key = $2 AND owner = $3",
        )
        .bind(organization_id)
        .bind(name.to_lowercase())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes files into an organization's folders (reports, acknowledgements, consent
    /// notifications). A name already taken in the folder gets `~2`, `~3`, … before its
    /// extension. Returns the names used.
    pub async fn write_files(
        &self,
        organization_id: i64,
        files: &[NewFile<'_>],
    ) -> Result<Vec<String>, StoreError> {
        let mut stored = Vec::with_capacity(files.len());
        for f in files {
            stored.push(self.store_bytes(f.content).await?);
        }
        let now = now_text();
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let mut names = Vec::with_capacity(files.len());
        for (f, blob) in files.iter().zip(stored) {
            let name = place_file(&mut tx, organization_id, f.folder, f.name, &blob, &now)
                .await?
                .1;
            names.push(name);
        }
        tx.commit().await?;
        Ok(names)
    }

    // ---- Runs --------------------------------------------------------------------------------

    /// The row-locking clause of a queue claim: `FOR UPDATE OF <alias> SKIP LOCKED` on
    /// PostgreSQL (several nodes claim side by side); nothing on SQLite, whose one writer makes
    /// claims serial.
    fn skip_locked(&self, alias: &str) -> String {
        match self.backend {
            Backend::Postgres => format!("FOR UPDATE OF {alias} SKIP LOCKED"),
            Backend::Sqlite => String::new(),
        }
    }

    /// Claims the oldest complete upload (by receipt time) of an organization that `paused` does
    /// not hold back: in one transaction it moves the file to Accepted (a taken name gets `~2`
    /// before its extension) and starts a run leased to `owner` until `lease_until`. Several
    /// nodes never claim the same file (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
    /// writer).
    pub async fn claim_upload(
        &self,
        now: &str,
        owner: &str,
        lease_until: &str,
        paused: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Option<ClaimedBatch>, StoreError> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let lock = self.skip_locked("f");
        // Nothing is ready while a write handle is open on the name (a resumed upload).
        let rows = sqlx::query(&format!(
            "SELECT f.id, f.organization_id, o.code, f.name, f.blob_id, f.size, f.content_hash, \
               f.received_at FROM files f JOIN organizations o ON o.id = f.organization_id \
             WHERE f.folder = 'dropoff' AND f.ready_at IS NOT NULL AND f.ready_at <= $1 \
               AND NOT EXISTS (SELECT 1 FROM upload_locks l WHERE l.organization_id = \
                 f.organization_id AND l.name_key = f.name_key AND l.expires_at > $1) \
             ORDER BY f.received_at, f.id LIMIT 64 {lock}"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let Some(row) = first_not_paused(&rows, paused)? else {
            return Ok(None);
        };
        let file_id: i64 = row.try_get("id")?;
        let org: i64 = row.try_get("organization_id")?;
        let name: String = row.try_get("name")?;
        let accepted = free_name(&mut tx, org, "accepted", &name).await?;
        sqlx::query(
            "UPDATE files SET folder = 'accepted', name = $2, name_key = $3, ready_at = NULL \
             WHERE id = $1",
        )
        .bind(file_id)
        .bind(&accepted)
        .bind(accepted.to_lowercase())
        .execute(&mut *tx)
        .await?;
        let batch_id: i64 = sqlx::query_scalar(
            "INSERT INTO batches (organization_id, file_id, original_name, accepted_name, \
               content_hash, size, received_at, claimed_at, state, lease_owner, lease_until, \
               attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'processing', $9, $10, 1) RETURNING id",
        )
        .bind(org)
        .bind(file_id)
        .bind(&name)
        .bind(&accepted)
        .bind(row.try_get::<String, _>("content_hash")?)
        .bind(row.try_get::<i64, _>("size")?)
        .bind(row.try_get::<String, _>("received_at")?)
        .bind(now)
        .bind(owner)
        .bind(lease_until)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        drop(_guard);
        self.batch_claimed(batch_id).await
    }

    async fn batch_claimed(&self, id: i64) -> Result<Option<ClaimedBatch>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches b JOIN organizations o ON o.id = \
               b.organization_id JOIN files f ON f.id = b.file_id WHERE b.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(claimed).transpose()
    }

    /// Takes over a run whose lease ran out (its node stopped, or it was released for a
    /// maintenance window), oldest first, unless `paused` holds its organization back.
    pub async fn resume_run(
        &self,
        now: &str,
        owner: &str,
        lease_until: &str,
        paused: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Option<ClaimedBatch>, StoreError> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let lock = self.skip_locked("b");
        let rows = sqlx::query(&format!(
            "SELECT b.id, o.code FROM batches b JOIN organizations o ON o.id = b.organization_id \
             WHERE b.state = 'processing' AND (b.lease_until IS NULL OR b.lease_until < $1) \
             ORDER BY b.received_at, b.id LIMIT 64 {lock}"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let Some(id) = first_not_paused(&rows, paused)?
            .map(|row| row.try_get::<i64, _>("id"))
            .transpose()?
        else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE batches SET lease_owner = $2, lease_until = $3, attempts = attempts + 1 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(owner)
        .bind(lease_until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        drop(_guard);
        self.batch_claimed(id).await
    }

    /// Takes one run (an operator's import) unless another worker holds a live lease on it.
    pub async fn take_run(
        &self,
        id: i64,
        now: &str,
        owner: &str,
        lease_until: &str,
    ) -> Result<Option<ClaimedBatch>, StoreError> {
        let taken = {
            let _guard = self.write_guard().await;
            sqlx::query(
                "UPDATE batches SET lease_owner = $2, lease_until = $3, attempts = attempts + 1 \
                 WHERE id = $1 AND state = 'processing' \
                   AND (lease_until IS NULL OR lease_until < $4 OR lease_owner = $2)",
            )
            .bind(id)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected()
                > 0
        };
        if !taken {
            return Ok(None);
        }
        self.batch_claimed(id).await
    }

    /// The messages of a run already recorded (a resumed run skips them).
    pub async fn run_recorded(&self, batch_id: i64) -> Result<HashSet<u64>, StoreError> {
        let rows: Vec<i64> =
            sqlx::query_scalar("SELECT idx FROM batch_messages WHERE batch_id = $1")
                .bind(batch_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(to_u64).collect())
    }

    /// Extends a lease, and brings the run's progress count up to date; `false` when the run is
    /// no longer this owner's.
    pub async fn renew_lease(
        &self,
        batch_id: i64,
        owner: &str,
        lease_until: &str,
    ) -> Result<bool, StoreError> {
        let _guard = self.write_guard().await;
        let done = sqlx::query(
            "UPDATE batches SET lease_until = $3, \
               next_message = (SELECT COUNT(*) FROM batch_messages WHERE batch_id = $1) \
             WHERE id = $1 AND lease_owner = $2 AND state = 'processing'",
        )
        .bind(batch_id)
        .bind(owner)
        .bind(lease_until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives a run back (a maintenance window began): any node may resume it when allowed.
    pub async fn release_run(&self, batch_id: i64, owner: &str) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        sqlx::query(
            "UPDATE batches SET lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(batch_id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records what the file holds, read before processing.
    pub async fn set_run_structure(
        &self,
        batch_id: i64,
        structure: &str,
        total_messages: u64,
    ) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        sqlx::query("UPDATE batches SET structure = $2, total_messages = $3 WHERE id = $1")
            .bind(batch_id)
            .bind(structure)
            .bind(to_i64(total_messages))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// An earlier run of the same content for the organization (not a reprocessing of it).
    pub async fn earlier_run_of_content(
        &self,
        batch: &ClaimedBatch,
    ) -> Result<Option<BatchSummary>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM batches b JOIN organizations o ON o.id = \
               b.organization_id WHERE b.organization_id = $1 AND b.content_hash = $2 AND b.id < $3 \
               AND b.state IN ('processing', 'done') ORDER BY b.id LIMIT 1"
        ))
        .bind(batch.organization_id)
        .bind(&batch.content_hash)
        .bind(batch.id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(summary).transpose()
    }

    /// Ends a run in one transaction: the files it leaves (folder `reports` or `receive`, name,
    /// contents already stored as blobs; a taken name gets `~2`), its state, a reason for operators, and its
    /// counts by acknowledgement code. Returns the names the files were given.
    pub async fn complete_run(
        &self,
        batch_id: i64,
        state: &str,
        reason: Option<&str>,
        duplicate_of: Option<i64>,
        files: &[(&str, String, Blob)],
    ) -> Result<Vec<String>, StoreError> {
        let now = now_text();
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let org: i64 = sqlx::query_scalar("SELECT organization_id FROM batches WHERE id = $1")
            .bind(batch_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut names = Vec::with_capacity(files.len());
        for (folder, name, blob) in files {
            names.push(place_file(&mut tx, org, folder, name, blob, &now).await?.1);
        }
        sqlx::query(
            "UPDATE batches SET state = $2, reason = $3, duplicate_of = $4, finished_at = $5, \
               lease_owner = NULL, lease_until = NULL, \
               next_message = (SELECT COUNT(*) FROM batch_messages WHERE batch_id = $1), \
               count_aa = (SELECT COUNT(*) FROM batch_messages WHERE batch_id = $1 AND ack_code = 'AA'), \
               count_ae = (SELECT COUNT(*) FROM batch_messages WHERE batch_id = $1 AND ack_code = 'AE'), \
               count_ar = (SELECT COUNT(*) FROM batch_messages WHERE batch_id = $1 AND ack_code = 'AR') \
             WHERE id = $1",
        )
        .bind(batch_id)
        .bind(state)
        .bind(reason)
        .bind(duplicate_of)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(names)
    }

    /// Removes, in every organization's folders, the files retention has expired: those in
    /// `reports` and `receive` received (written) before `reports_before`, and those in
    /// `accepted` received before `accepted_before` whose runs all ended before it too (a file
    /// of an unfinished run is never removed). A removed original's runs stay, without their
    /// file. Returns what was removed; the contents go with the next orphan sweep
    /// ([`Db::remove_orphan_blobs`]).
    ///
    /// Several nodes may do this at once: on PostgreSQL each takes the rows it removes with
    /// `FOR UPDATE SKIP LOCKED`, so no file is removed (or counted) twice, and an accepted
    /// file's runs are looked at again once its row is locked, which a new run of it (whose
    /// insert must lock the row too) cannot slip past.
    pub async fn remove_expired_files(
        &self,
        reports_before: &str,
        accepted_before: &str,
    ) -> Result<Vec<RemovedFile>, StoreError> {
        const CHUNK: i64 = 200;
        let mut removed = Vec::new();
        let mut after = 0i64;
        loop {
            let _guard = self.write_guard().await;
            let mut tx = self.pool.begin().await?;
            let lock = self.skip_locked("f");
            let rows = sqlx::query(&format!(
                "SELECT f.id, f.folder, f.name, o.code FROM files f \
                   JOIN organizations o ON o.id = f.organization_id \
                 WHERE f.id > $3 AND ( \
                   (f.folder IN ('reports', 'receive') AND f.received_at < $1) \
                   OR (f.folder = 'accepted' AND f.received_at < $2 AND NOT EXISTS ( \
                     SELECT 1 FROM batches b WHERE b.file_id = f.id AND (b.state = 'processing' \
                       OR b.finished_at IS NULL OR b.finished_at >= $2)))) \
                 ORDER BY f.id LIMIT {CHUNK} {lock}"
            ))
            .bind(reports_before)
            .bind(accepted_before)
            .bind(after)
            .fetch_all(&mut *tx)
            .await?;
            let selected = rows.len();
            for row in &rows {
                let id: i64 = row.try_get("id")?;
                after = after.max(id);
                let folder: String = row.try_get("folder")?;
                if folder == "accepted" {
                    // A fresh look now that the row is locked (a new statement sees runs
                    // committed since the candidates were read).
                    let needed: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM batches WHERE file_id = $1 AND (state = \
                           'processing' OR finished_at IS NULL OR finished_at >= $2)",
                    )
                    .bind(id)
                    .bind(accepted_before)
                    .fetch_one(&mut *tx)
                    .await?;
                    if needed > 0 {
                        continue;
                    }
                    sqlx::query("UPDATE batches SET file_id = NULL WHERE file_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                let done = sqlx::query("DELETE FROM files WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if done == 1 {
                    removed.push(RemovedFile {
                        organization: row.try_get("code")?,
                        folder,
                        name: row.try_get("name")?,
                    });
                }
            }
            tx.commit().await?;
            if selected < CHUNK as usize {
                break;
            }
        }
        Ok(removed)
    }

    /// A run's responses in the file's order: index, MSA-1 and the response. Streamed (one
    /// ordered read: pages of it re-planned on a table whose statistics lag behind a large run
    /// each read the rest of the run again on PostgreSQL).
    pub fn run_responses(
        &self,
        batch_id: i64,
    ) -> impl futures_util::Stream<Item = Result<(u64, String, String), StoreError>> + '_ {
        self.bulk_rows(
            "SELECT idx, ack_code, response FROM batch_messages WHERE batch_id = $1 ORDER BY idx",
            vec![batch_id.into()],
        )
        .map(|r| {
            let r = r?;
            Ok((
                to_u64(r.get("idx")?),
                r.get("ack_code")?,
                r.get("response")?,
            ))
        })
    }

    /// What the DQA report reads of a run's messages, in the file's order: index, MSH-10,
    /// MSA-1 and the recorded facts (JSON). Streamed, as [`Db::run_responses`].
    #[allow(clippy::type_complexity)]
    pub fn run_facts(
        &self,
        batch_id: i64,
    ) -> impl futures_util::Stream<
        Item = Result<(u64, Option<String>, String, Option<String>), StoreError>,
    > + '_ {
        self.bulk_rows(
            "SELECT idx, control_id, ack_code, facts FROM batch_messages \
             WHERE batch_id = $1 ORDER BY idx",
            vec![batch_id.into()],
        )
        .map(|r| {
            let r = r?;
            Ok((
                to_u64(r.get("idx")?),
                r.get("control_id")?,
                r.get("ack_code")?,
                r.get("facts")?,
            ))
        })
    }

    /// A run's VXU messages with the patient each named and that record's consent now, patient
    /// by patient: each patient's (PID-3.1, PID-3.4) messages together in file order, patients
    /// in the order of their first message. Streamed, so a file of any size is never held in
    /// memory (the database sorts).
    pub fn run_patients_by_patient(
        &self,
        batch_id: i64,
    ) -> impl futures_util::Stream<Item = Result<RunPatientRow, StoreError>> + '_ {
        self.bulk_rows(
            "SELECT m.idx, m.control_id, m.ack_code, m.facts, m.submitter_id, \
               m.submitter_authority, s.id AS registry_id, s.consent_status, s.consent_date, \
               MIN(m.idx) OVER (PARTITION BY m.submitter_id, \
                 COALESCE(m.submitter_authority, '')) AS first_idx \
             FROM batch_messages m \
             LEFT JOIN patients p ON p.id = m.patient_id \
             LEFT JOIN patients s ON s.id = COALESCE(p.merged_into, p.id) \
             WHERE m.batch_id = $1 AND m.submitter_id IS NOT NULL \
             ORDER BY first_idx, m.idx",
            vec![batch_id.into()],
        )
        .map(|r| {
            let r = r?;
            run_patient_row(&r, to_u64(r.get("idx")?))
        })
    }

    pub async fn runs(&self, org_code: Option<&str>) -> Result<Vec<BatchSummary>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM batches b JOIN organizations o ON o.id = \
               b.organization_id WHERE ($1 = '' OR o.code = $1) ORDER BY b.id"
        ))
        .bind(org_code.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(summary).collect()
    }

    pub async fn run(&self, id: i64) -> Result<Option<BatchSummary>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM batches b JOIN organizations o ON o.id = \
               b.organization_id WHERE b.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(summary).transpose()
    }

    /// Starts a new run of an accepted file (after a fix, or an operator's import): it waits
    /// for a worker like any other.
    pub async fn queue_run(
        &self,
        file_id: i64,
        reprocess_of: Option<i64>,
        operator_import: bool,
        original_name: &str,
    ) -> Result<i64, StoreError> {
        let now = now_text();
        let _guard = self.write_guard().await;
        sqlx::query_scalar(
            "INSERT INTO batches (organization_id, file_id, original_name, accepted_name, \
               content_hash, size, received_at, claimed_at, state, reprocess_of, operator_import) \
             SELECT organization_id, id, $2, name, content_hash, size, received_at, $3, \
               'processing', $4, $5 FROM files WHERE id = $1 AND folder = 'accepted' \
             RETURNING id",
        )
        .bind(file_id)
        .bind(original_name)
        .bind(&now)
        .bind(reprocess_of)
        .bind(i64::from(operator_import))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no accepted file {file_id}")))
    }

    /// The accepted file of a run (`None` inside when retention has removed it).
    pub async fn run_file(
        &self,
        batch_id: i64,
    ) -> Result<Option<(Option<i64>, String)>, StoreError> {
        let row = sqlx::query("SELECT file_id, original_name FROM batches WHERE id = $1")
            .bind(batch_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("file_id")?, r.try_get("original_name")?)))
            .transpose()
    }

    /// Puts a file straight into an organization's Accepted folder (an operator's import).
    pub async fn accept_file(
        &self,
        organization_id: i64,
        name: &str,
        blob: &Blob,
    ) -> Result<(i64, String), StoreError> {
        let now = now_text();
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let placed = place_file(&mut tx, organization_id, "accepted", name, blob, &now).await?;
        tx.commit().await?;
        Ok(placed)
    }

    /// Files waiting for the worker and messages of started runs not yet processed.
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        let uploads: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM files WHERE folder = 'dropoff' AND ready_at IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS runs, \
               CAST(COALESCE(SUM(COALESCE(total_messages, 0) - next_message), 0) AS BIGINT) \
                 AS messages \
             FROM batches WHERE state = 'processing'",
        )
        .fetch_one(&self.pool)
        .await?;
        let runs: i64 = row.try_get("runs")?;
        let messages: i64 = row.try_get("messages")?;
        Ok(Backlog {
            files_waiting: to_u64(uploads + runs),
            messages_waiting: to_u64(messages),
        })
    }
}

const SUMMARY_COLUMNS: &str = "b.id, o.code, b.original_name, b.accepted_name, b.size, b.state, \
     b.reason, b.received_at, b.claimed_at, b.finished_at, b.total_messages, b.next_message, \
     b.count_aa, b.count_ae, b.count_ar, b.duplicate_of, b.reprocess_of, b.operator_import, \
     b.lease_owner";

/// The first candidate row (ordered oldest first) whose organization (`code`) is not held back.
fn first_not_paused<'r>(
    rows: &'r [AnyRow],
    paused: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Option<&'r AnyRow>, StoreError> {
    for row in rows {
        let code: String = row.try_get("code")?;
        if !paused(&code) {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

/// `name`, or `name~2`, `name~3`, … (before the last extension) — the first not taken in the
/// folder.
async fn free_name(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    organization_id: i64,
    folder: &str,
    name: &str,
) -> Result<String, StoreError> {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    for n in 1..10_000u32 {
        let candidate = if n == 1 {
            name.to_string()
        } else {
            format!("{stem}~{n}{ext}")
        };
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM files WHERE organization_id = $1 AND folder = $2 AND name_key = $3",
        )
        .bind(organization_id)
        .bind(folder)
        .bind(candidate.to_lowercase())
        .fetch_optional(&mut **tx)
        .await?;
        if taken.is_none() {
            return Ok(candidate);
        }
    }
    Err(StoreError::Conflict(format!(
        "no free name for {name} in {folder}"
    )))
}

/// Inserts a file row (`ready_at`: drop-off files only) and returns its id.
async fn insert_file(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    organization_id: i64,
    folder: &str,
    name: &str,
    blob: &Blob,
    ready_at: Option<&str>,
    now: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO files (organization_id, folder, name, name_key, blob_id, size, \
           content_hash, received_at, modified_at, ready_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $8) RETURNING id",
    )
    .bind(organization_id)
    .bind(folder)
    .bind(name)
    .bind(name.to_lowercase())
    .bind(blob.id)
    .bind(to_i64(blob.size))
    .bind(&blob.hash)
    .bind(now)
    .bind(ready_at)
    .fetch_one(&mut **tx)
    .await?)
}

/// Puts a file into a folder under `name`, or the first free `name~N` (see [`free_name`]);
/// returns its id and the name used.
pub(crate) async fn place_file(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    organization_id: i64,
    folder: &str,
    name: &str,
    blob: &Blob,
    now: &str,
) -> Result<(i64, String), StoreError> {
    let name = free_name(tx, organization_id, folder, name).await?;
    let id = insert_file(tx, organization_id, folder, &name, blob, None, now).await?;
    Ok((id, name))
}

impl SqlTx {
    /// Whether this run is still `owner`'s (read at the start of each transaction that records
    /// messages of it; a read, not a lock, so that several lanes of one run commit side by side).
    pub async fn run_lease_held(&mut self, batch_id: i64, owner: &str) -> Result<bool, StoreError> {
        let rows = self
            .rows(
                "SELECT id FROM batches WHERE id = $1 AND lease_owner = $2 AND state = 'processing'",
                &args![batch_id, owner],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Records message `index` of a run (which starts at byte `offset` of the file) with its
    /// response — in the transaction that holds the registry's work on the message, so that a
    /// message is either done (data, log, response, record) or not at all. `false` when the
    /// message was recorded already (another node took the run over): the caller must roll
    /// back.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_run_message(
        &mut self,
        batch_id: i64,
        index: u64,
        offset: u64,
        control_id: Option<&str>,
        ack_code: &str,
        message_id: Option<i64>,
        response: &str,
        notes: &MessageNotes<'_>,
    ) -> Result<bool, StoreError> {
        let row = RunMessage {
            index,
            offset,
            control_id: control_id.map(str::to_string),
            ack_code: ack_code.to_string(),
            message_id,
            response: response.to_string(),
            facts: notes.facts.map(str::to_string),
            submitter_id: notes.submitter_id.map(str::to_string),
            submitter_authority: notes.submitter_authority.map(str::to_string),
            patient_id: notes.patient_id,
        };
        self.record_run_messages(batch_id, std::slice::from_ref(&row))
            .await
    }

    /// [`SqlTx::record_run_message`] for a group of messages, a few statements for all of
    /// them. `false` when any of them was recorded already: the caller must roll back.
    pub async fn record_run_messages(
        &mut self,
        batch_id: i64,
        rows: &[RunMessage],
    ) -> Result<bool, StoreError> {
        const COLUMNS: usize = 11;
        // Well under both backends' limits on bound parameters (SQLite 32,766).
        const ROWS_PER_STATEMENT: usize = 256;
        let mut inserted = 0u64;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO batch_messages (batch_id, idx, control_id, ack_code, message_id, \
                   response, byte_offset, facts, submitter_id, submitter_authority, patient_id) \
                 VALUES ",
            );
            let mut bound: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * COLUMNS);
            for (n, row) in chunk.iter().enumerate() {
                if n > 0 {
                    sql.push_str(", ");
                }
                let first = n * COLUMNS + 1;
                let marks: Vec<String> =
                    (first..first + COLUMNS).map(|k| format!("${k}")).collect();
                sql.push('(');
                sql.push_str(&marks.join(", "));
                sql.push(')');
                bound.extend(args![
                    batch_id,
                    to_i64(row.index),
                    row.control_id.as_deref(),
                    row.ack_code.as_str(),
                    row.message_id,
                    row.response.as_str(),
                    to_i64(row.offset),
                    row.facts.as_deref(),
                    row.submitter_id.as_deref(),
                    row.submitter_authority.as_deref(),
                    row.patient_id
                ]);
            }
            sql.push_str(" ON CONFLICT (batch_id, idx) DO NOTHING");
            inserted += self.exec(&sql, &bound).await?;
        }
        Ok(usize::try_from(inserted).is_ok_and(|n| n == rows.len()))
    }
}
