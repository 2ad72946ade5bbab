//! The `izport` command as a newcomer meets it (issue 16, finding 10): commands other than
//! `serve` and `migrate` never create a database and say where they looked; `org list` says
//! which organizations are in production; commands on PostgreSQL print no notices.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Runs the binary in `dir` with `IZPORT_DATABASE_URL` unset (and `IZPORT_LOG` as given).
fn izport_in(dir: &Path, log: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_izport"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("IZPORT_DATABASE_URL")
        .env_remove("IZPORT_LOG");
    if let Some(filter) = log {
        command.env("IZPORT_LOG", filter);
    }
    let out = command.output().expect("izport runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every command that reads or changes the registry, as a newcomer might type it.
const NOT_CREATING: &[&[&str]] = &[
    &["org", "list"],
    &[
        "org",
        "add",
        "DEMO",
        "--name",
        "Demo",
        "--facility",
        "DEMOFAC",
    ],
    &["user", "add", "--org", "DEMO", "demo"],
    &["maintenance", "list"],
    &["review", "list"],
    &["batch", "list"],
    &["codes", "status"],
    &["cdsi", "status"],
    &["sftp", "host-key"],
];

#[test]
fn commands_other_than_serve_and_migrate_never_create_a_sqlite_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("izport.db");
    let shown = std::path::absolute(&file).expect("absolute path");
    for args in NOT_CREATING {
        let (ok, _, err) = izport_in(dir.path(), None, args);
        assert!(!ok, "{args:?} succeeded without a database");
        assert!(
            err.contains(&shown.display().to_string()) && err.contains("izport migrate"),
            "{args:?} does not say where it looked: {err}"
        );
        assert!(!file.exists(), "{args:?} created {}", file.display());
    }
    std::fs::write(&file, b"").expect("an empty file");
    let (ok, _, err) = izport_in(dir.path(), None, &["org", "list"]);
    assert!(!ok && err.contains("holds no izport tables"), "{err}");
    assert!(err.contains(&shown.display().to_string()), "{err}");
    assert_eq!(
        std::fs::metadata(&file).expect("file").len(),
        0,
        "left empty"
    );
    let (ok, out, err) = izport_in(dir.path(), None, &["migrate"]);
    assert!(ok && out.contains("up to date"), "{out}{err}");
    assert!(file.exists(), "migrate creates the database");
    let (ok, out, err) = izport_in(dir.path(), None, &["org", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains("no organizations yet"), "{out}");
}

/// On PostgreSQL a missing database is never created by any command (serve and migrate
/// included: a server's database is made by its administrator), and the refusal names the
/// server and database without the password; an empty database gets no tables but from
/// `migrate`. Needs `IZPORT_TEST_DATABASE_URL`: `.ci/tests` runs it in the PostgreSQL pass.
#[tokio::test]
#[ignore = "needs PostgreSQL: IZPORT_TEST_DATABASE_URL"]
async fn on_postgresql_a_missing_database_is_named_and_not_created() {
    let admin = std::env::var("IZPORT_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("IZPORT_TEST_DATABASE_URL names a PostgreSQL server (postgres://…/db)");
    let name = format!(
        "izport_t_absent_{}",
        std::process::id() ^ (jiff::Timestamp::now().subsec_nanosecond() as u32)
    );
    let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
    let url = format!("{base}/{name}");
    let dir = tempfile::tempdir().expect("temp dir");
    for args in NOT_CREATING.iter().chain([&["migrate"][..]].iter()) {
        let mut with_url = vec!["--database-url", url.as_str()];
        with_url.extend_from_slice(args);
        let (ok, _, err) = izport_in(dir.path(), None, &with_url);
        assert!(!ok, "{args:?} succeeded on a missing database");
        assert!(
            err.contains(&name) && err.contains("--database-url"),
            "{args:?} does not say where it looked: {err}"
        );
    }
    let pool = sqlx::PgPool::connect(&admin).await.expect("connect");
    let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&pool)
        .await
        .expect("pg_database");
    assert_eq!(exists, 0, "no command created {name}");

    // An empty database (the wrong one, say): named, and left empty.
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("an empty database");
    for args in NOT_CREATING {
        let mut with_url = vec!["--database-url", url.as_str()];
        with_url.extend_from_slice(args);
        let (ok, _, err) = izport_in(dir.path(), None, &with_url);
        assert!(!ok, "{args:?} succeeded on an empty database");
        assert!(
            err.contains(&name) && err.contains("holds no izport tables"),
            "{args:?} does not say where it looked: {err}"
        );
    }
    let empty = sqlx::PgPool::connect(&url)
        .await
        .expect("the empty database");
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&empty)
    .await
    .expect("tables");
    empty.close().await;
    assert_eq!(tables, 0, "no command created tables in {name}");
    let (ok, _, err) = izport_in(
        dir.path(),
        None,
        &["--database-url", url.as_str(), "migrate"],
    );
    assert!(ok, "migrate fills an empty database: {err}");
    let (ok, out, err) = izport_in(
        dir.path(),
        None,
        &["--database-url", url.as_str(), "org", "list"],
    );
    assert!(ok && out.contains("no organizations yet"), "{out}{err}");
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&pool)
        .await
        .expect("drop the test database");
    pool.close().await;
}

#[tokio::test]
async fn org_list_shows_production_and_onboarding_in_a_column() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = app.db_url.as_str();
    let (ok, _, err) = izport_in(
        dir.path(),
        None,
        &[
            "--database-url",
            url,
            "org",
            "add",
            "NEWCO",
            "--name",
            "New Clinic",
            "--facility",
            "NEWFAC",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = izport_in(dir.path(), None, &["--database-url", url, "org", "list"]);
    assert!(ok, "{err}");
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines.first().map(|h| h.as_slice()),
        Some(&["CODE", "NAME", "STATUS", "FACILITIES", "USERS"][..]),
        "{out}"
    );
    let status_of = |code: &str| {
        let header = out.lines().next().unwrap_or("");
        let at = header.find("STATUS").expect("a STATUS column");
        out.lines()
            .find(|l| l.starts_with(&format!("{code} ")))
            .and_then(|l| l.get(at..))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
    };
    assert_eq!(status_of(ORG).as_deref(), Some("production"), "{out}");
    assert_eq!(status_of("NEWCO").as_deref(), Some("onboarding"), "{out}");
    let (ok, _, err) = izport_in(
        dir.path(),
        None,
        &["--database-url", url, "org", "promote", "NEWCO"],
    );
    assert!(ok, "{err}");
    let (_, out, _) = izport_in(dir.path(), None, &["--database-url", url, "org", "list"]);
    let header = out.lines().next().unwrap_or("");
    let at = header.find("STATUS").expect("a STATUS column");
    let newco = out
        .lines()
        .find(|l| l.starts_with("NEWCO "))
        .expect("NEWCO listed");
    assert!(newco[at..].starts_with("production"), "{out}");
}

/// A command's standard error holds nothing from PostgreSQL's notices (sqlx's migrator
/// provokes "relation _sqlx_migrations already exists, skipping" at each start), even with a
/// log filter that shows sqlx's own lines: the connections ask for warnings and errors only.
#[tokio::test]
async fn commands_print_no_migration_notices() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("temp dir");
    for log in [None, Some("info,sqlx=info")] {
        for args in [&["migrate"][..], &["org", "list"], &["maintenance", "list"]] {
            let mut with_url = vec!["--database-url", app.db_url.as_str()];
            with_url.extend_from_slice(args);
            let (ok, _, err) = izport_in(dir.path(), log, &with_url);
            assert!(ok, "{args:?}: {err}");
            assert!(
                !err.contains("_sqlx_migrations")
                    && !err.contains("already exists")
                    && !err.contains("NOTICE")
                    && !err.contains("notice"),
                "{args:?} with IZPORT_LOG={log:?} printed: {err}"
            );
        }
    }
}
