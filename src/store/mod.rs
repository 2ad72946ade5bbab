//! Persistence: one schema, two backends (SQLite embedded by default, PostgreSQL for scale-out).
//!
//! Queries go through sqlx's `Any` driver so that each statement is written once; both backends
//! accept `$N` placeholders, `ON CONFLICT` and `RETURNING`. Where the SQL has to differ (identity
//! columns), the migrations are kept per backend side by side in `migrations/`.

mod bulk;
mod client_certs;
mod dqa;
mod files;
mod maintenance;
mod orgs;
mod read_models;
mod records;

pub(crate) use records::timestamp_text;
mod registry_tx;
mod reviews;
mod seed;
pub(crate) mod sql;
mod throttle;
mod writer;

#[cfg(test)]
mod registry_tests;

pub use client_certs::ClientCert;
pub use dqa::{Door, PeriodMessage};
pub use files::{
    content_hash, Backlog, BatchSummary, Blob, ClaimedBatch, ContentHasher, ExchangeAccount,
    FileEntry, MessageNotes, NewFile, RemovedFile, RunMessage, RunPatientRow, CHUNK_BYTES,
};
pub use maintenance::{ChangeListener, NewWindow, LISTENER_APPLICATION_NAME, MAINTENANCE_CHANNEL};
pub use orgs::{Credentials, OrgSummary};
pub use registry_tx::SqlTx;
pub use reviews::{Readiness, Review, TestMessage, DEFAULT_REQUIRED_CLEAN_TESTS};
pub use seed::{SeedDose, SeedPatient};
pub use throttle::{ThrottleRule, ThrottleState, MAX_LOCKOUT_SECONDS};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::registry::{RegistryError, StorageError};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AnyPool, Connection, Executor};
use tokio::sync::{Mutex, MutexGuard};

/// How long a PostgreSQL connection may sit idle in the pool before it is pinged again.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (use sqlite:PATH or postgres://…): {0}")]
    UnsupportedUrl(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database writer: {0}")]
    Writer(String),
}

/// The store's errors cross the registry's port as its [`StorageError`].
impl From<StoreError> for StorageError {
    fn from(e: StoreError) -> StorageError {
        StorageError::new(e)
    }
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> RegistryError {
        RegistryError::Storage(e.into())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The connection pool plus what the code needs to know about the backend behind it.
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time; taking this lock before a write transaction turns what
    /// would be SQLITE_BUSY retries (and busy-snapshot failures that no timeout cures) into an
    /// orderly queue. PostgreSQL does not need it.
    sqlite_writer: Option<Arc<Mutex<()>>>,
    /// SQLite only: the thread that runs registry transactions in grouped commits.
    writer: Option<writer::Writer>,
    /// PostgreSQL only: how a maintenance listener connects (its own connection).
    listen_options: Option<PgConnectOptions>,
    /// SQLite file databases: the file, for reads of every message of a file
    /// ([`Db::bulk_rows`]) on a connection of their own.
    sqlite_file: Option<String>,
}

/// The file path of a `sqlite:` URL (`sqlite:PATH`, `sqlite://PATH`, options after `?` dropped);
/// `None` for other URLs and in-memory databases.
pub fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| path.to_string())
}

/// Whether the SQLite file at `path` holds izport's schema (sqlx's migration table), read
/// without writing anything: opening it through [`Db::connect`] would already turn an empty
/// file into a database (the WAL setting writes its header).
pub fn sqlite_file_has_schema(path: &str) -> Result<bool, StoreError> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        [],
        |row| row.get(0),
    )?;
    Ok(count > 0)
}

/// Makes a user-supplied SQLite URL create the file when missing, as the README promises.
fn sqlite_url_with_create(url: &str) -> String {
    if url.contains(":memory:") || url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

impl Db {
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            if sqlite_path(url).is_none() {
                return Err(StoreError::UnsupportedUrl(format!(
                    "{url} (in-memory SQLite is not supported: give a file, e.g. sqlite:izport.db)"
                )));
            }
            (Backend::Sqlite, sqlite_url_with_create(url))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    // A file of our own cannot hang up: no ping (a hop to sqlx's worker
                    // thread) before each use.
                    .test_before_acquire(false)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL lets readers run beside the writer; synchronous=FULL keeps every
                            // acknowledged commit on disk (an AA is a promise).
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                                 PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    // sqlx pings every connection it hands out, a round trip before each
                    // transaction and each read. A connection in steady use was alive a moment
                    // ago: only one idle for a second or more is pinged (and replaced if the
                    // server hung up, e.g. after a restart). The price: a message on a
                    // connection used within the second before the server went away fails
                    // with a storage error (a fault, never an acknowledgement) and the
                    // connection is discarded.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for < IDLE_BEFORE_PING {
                                return Ok(true);
                            }
                            Ok(conn.ping().await.is_ok())
                        })
                    })
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // No NOTICE chatter (sqlx's migrator provokes "relation
                            // _sqlx_migrations already exists, skipping" on every command):
                            // warnings and errors still come through.
                            conn.execute("SET client_min_messages = warning").await?;
                            // Statements are prepared once per connection, and a generic plan
                            // made while a table was small (or never analyzed: autovacuum may
                            // be off) would be kept as it grows, e.g. a sequential scan for
                            // the demographic candidates. Each execution is planned with the
                            // table as it is. Registry transactions, which repeat a few
                            // statements, plan once per connection instead, without sequential
                            // scans (`BEGIN_PLANNED_ONCE` in `store::registry_tx`).
                            conn.execute("SET plan_cache_mode = force_custom_plan")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
        };
        let listen_options = match backend {
            Backend::Postgres => Some(
                PgConnectOptions::from_str(&url)?
                    .application_name(LISTENER_APPLICATION_NAME)
                    .options([("client_min_messages", "warning")]),
            ),
            Backend::Sqlite => None,
        };
        let sqlite_file = match backend {
            Backend::Sqlite => sqlite_path(&url),
            Backend::Postgres => None,
        };
        let (sqlite_writer, writer) = match &sqlite_file {
            Some(path) => {
                let lock = Arc::new(Mutex::new(()));
                let writer = writer::Writer::start(path.clone(), lock.clone())?;
                (Some(lock), Some(writer))
            }
            None => (None, None),
        };
        Ok(Db {
            pool,
            backend,
            sqlite_writer,
            writer,
            listen_options,
            sqlite_file,
        })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Whether izport's schema was ever created here (sqlx's migration table exists): `false`
    /// for a database that is empty or belongs to something else.
    pub async fn has_schema(&self) -> Result<bool, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        let count: i64 = sqlx::query_scalar(sql).fetch_one(&self.pool).await?;
        Ok(count > 0)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Registry transactions waiting for the SQLite writer thread; `None` on PostgreSQL.
    pub fn writer_queue_depth(&self) -> Option<usize> {
        self.writer.as_ref().map(writer::Writer::queue_depth)
    }

    /// The pool's open connections and how many of them are idle.
    pub fn pool_connections(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// Liveness of the database, for `/health`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Creates an empty PostgreSQL database on the same server (test and setup tooling).
    pub async fn create_database(&self, name: &str) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres
            || name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(StoreError::Conflict(format!(
                "cannot create database '{name}' here"
            )));
        }
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Updates the query planner's statistics after a bulk load (PostgreSQL `ANALYZE`; SQLite
    /// plans from its indexes and needs nothing here).
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("ANALYZE").execute(&self.pool).await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn write_guard(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.sqlite_writer {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }
}

/// A database URL without its password, fit for error messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Current time as stored in the database: RFC 3339, UTC, microseconds. (The registry's own
/// writes are stamped with the registry's clock instead, see [`crate::registry::Stamp`].)
pub(crate) fn now_text() -> String {
    records::timestamp_text(jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://izport:s3cret@db:5432/izport"),
            "postgres://izport:***@db:5432/izport"
        );
        assert_eq!(redact_url("postgres://db/izport"), "postgres://db/izport");
        assert_eq!(redact_url("sqlite:izport.db"), "sqlite:izport.db");
    }

    #[test]
    fn sqlite_paths_come_from_urls() {
        assert_eq!(sqlite_path("sqlite:a.db").as_deref(), Some("a.db"));
        assert_eq!(
            sqlite_path("sqlite://a.db?mode=rwc").as_deref(),
            Some("a.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/a.db").as_deref(),
            Some("/tmp/a.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite:"), None);
        assert_eq!(sqlite_path("postgres://db/x"), None);
    }

    #[test]
    fn sqlite_urls_create_missing_files() {
        assert_eq!(
            sqlite_url_with_create("sqlite:a.db"),
            "sqlite:a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url_with_create("sqlite:a.db?cache=shared"),
            "sqlite:a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_url_with_create("sqlite:a.db?mode=ro"),
            "sqlite:a.db?mode=ro"
        );
    }
}
