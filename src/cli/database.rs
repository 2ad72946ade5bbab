//! `--database-url` and how each command opens the database it names.
//!
//! Only `serve` and `migrate` create a database (a missing SQLite file) or izport's tables in
//! an empty one; every other command refuses, saying where it looked, so that a command run in
//! the wrong directory does not leave an empty `izport.db` behind, nor one pointed at the wrong
//! PostgreSQL database fill it with izport's tables.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;

use crate::store::{redact_url, sqlite_file_has_schema, sqlite_path, Db};

/// The database a command uses when neither `--database-url` nor `IZPORT_DATABASE_URL` names one.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:izport.db";

/// Where the registry's data is.
#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// Database URL: sqlite:PATH or postgres://user@host/db. Only serve and migrate create a
    /// missing SQLite file; other commands refuse
    #[arg(
        long,
        env = "IZPORT_DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        global = true
    )]
    pub database_url: String,
}

/// Whether a command may create the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// `serve` and `migrate`: a missing SQLite file is created.
    CreateIfMissing,
    /// Every other command: the database must already be there.
    Existing,
}

impl DatabaseArgs {
    /// Opens the database, brings its schema up to date and installs imported code tables.
    pub async fn open(&self, how: Open) -> anyhow::Result<Arc<Db>> {
        let url = self.database_url.as_str();
        if how == Open::Existing {
            if let Some(path) = sqlite_path(url) {
                refuse_missing_file(url, Path::new(&path))?;
                let has_schema = sqlite_file_has_schema(&path)
                    .with_context(|| format!("reading the database at {}", shown_url(url)))?;
                if !has_schema {
                    return Err(no_schema(url));
                }
            }
        }
        let db = Db::connect(url).await.with_context(|| {
            format!(
                "opening the database at {} (--database-url or IZPORT_DATABASE_URL)",
                redact_url(url)
            )
        })?;
        if how == Open::Existing && !db.has_schema().await? {
            db.close().await;
            return Err(no_schema(url));
        }
        db.migrate().await?;
        super::codes::install_imported(&db).await?;
        Ok(Arc::new(db))
    }
}

fn no_schema(url: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the database at {} (from --database-url or IZPORT_DATABASE_URL) holds no izport \
         tables; this command does not create them. Point --database-url at the registry's \
         database, or create it with `izport migrate`",
        shown_url(url)
    )
}

/// Where a URL points, for a person: a SQLite file's absolute path, else the URL without its
/// password.
fn shown_url(url: &str) -> String {
    match sqlite_path(url) {
        Some(path) => std::path::absolute(&path)
            .map(|p| p.display().to_string())
            .unwrap_or(path),
        None => redact_url(url),
    }
}

fn refuse_missing_file(url: &str, path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    bail!(
        "no database at {} (from --database-url or IZPORT_DATABASE_URL: {}); this command does \
         not create one. Run it where the database is, point --database-url at it, or create it \
         with `izport migrate`",
        shown.display(),
        redact_url(url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_create_if_missing_makes_a_sqlite_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("absent.db");
        let args = DatabaseArgs {
            database_url: format!("sqlite:{}", file.display()),
        };
        let Err(err) = args.open(Open::Existing).await else {
            panic!("a missing SQLite file was opened");
        };
        let text = format!("{err:#}");
        assert!(text.contains(&file.display().to_string()), "{text}");
        assert!(text.contains("izport migrate"), "{text}");
        assert!(!file.exists(), "nothing was created");

        std::fs::write(&file, b"").expect("an empty file");
        let Err(err) = args.open(Open::Existing).await else {
            panic!("an empty SQLite file was taken for a registry");
        };
        let text = format!("{err:#}");
        assert!(text.contains("holds no izport tables"), "{text}");
        assert!(text.contains(&file.display().to_string()), "{text}");
        assert_eq!(
            std::fs::metadata(&file).expect("file").len(),
            0,
            "left empty"
        );
        std::fs::remove_file(&file).expect("removed");

        let db = args.open(Open::CreateIfMissing).await.expect("created");
        db.close().await;
        assert!(file.exists());
        let db = args.open(Open::Existing).await.expect("now it exists");
        db.close().await;
    }
}
