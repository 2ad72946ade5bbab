//! Reads of every message of a file. The acknowledgement file, the data quality report and the
//! consent notification file at a run's end each read all of a run's rows. Through sqlx's
//! SQLite driver every row crosses from the connection's thread to the reading task, a thread
//! switch a row, which was most of those reports' time for a large file. On a SQLite file these
//! reads run instead on a connection of their own, on a blocking thread, and hand the rows over
//! a chunk at a time (memory stays bounded: a few chunks in flight). On PostgreSQL the rows
//! come through the pool as any other read (the file door's tests on PostgreSQL cover it).

use futures_util::{stream, Stream, StreamExt};

use super::sql::{any_fetch, lite_each, Arg, Row};
use super::{Db, StoreError};

/// Rows handed over at a time.
const CHUNK: usize = 256;
/// Chunks read ahead of the reader.
const AHEAD: usize = 2;
/// The read connection's page cache, in KiB: these reads go through a run's rows once, in
/// order, so a small cache loses nothing (SQLite's default is 2,000 KiB).
const CACHE_KIB: u32 = 512;
/// How long a read waits for a lock (a checkpoint or a migration) before it fails.
const BUSY: std::time::Duration = std::time::Duration::from_secs(30);

impl Db {
    /// The rows of `sql` (a read), in the order it gives them.
    pub(crate) fn bulk_rows(
        &self,
        sql: &'static str,
        args: Vec<Arg<'static>>,
    ) -> impl Stream<Item = Result<Row, StoreError>> + '_ {
        match &self.sqlite_file {
            Some(path) => lite_stream(path.clone(), sql, args).left_stream(),
            None => any_fetch(&self.pool, sql, &args).right_stream(),
        }
    }
}

fn lite_stream(
    path: String,
    sql: &'static str,
    args: Vec<Arg<'static>>,
) -> impl Stream<Item = Result<Row, StoreError>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Result<Row, StoreError>>>(AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut open = true;
        let read = open_reader(&path).and_then(|conn| {
            lite_each(&conn, sql, &args, |row| {
                chunk.push(Ok(row));
                if chunk.len() == CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                    // The reader went away: stop reading.
                    open = tx.blocking_send(full).is_ok();
                }
                open
            })
        });
        if let Err(e) = read {
            chunk.push(Err(e));
        }
        if open && !chunk.is_empty() {
            let _ = tx.blocking_send(chunk);
        }
    });
    stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (stream::iter(chunk), rx))
    })
    .flatten()
}

fn open_reader(path: &str) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY)?;
    conn.execute_batch(&format!(
        "PRAGMA query_only=ON; PRAGMA cache_size=-{CACHE_KIB};"
    ))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use futures_util::{StreamExt, TryStreamExt};

    use super::*;

    /// The numbers 1..=n, from SQL alone (no table): both backends.
    const COUNT: &str = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n \
                         WHERE x < $1) SELECT x FROM n ORDER BY x";

    async fn sqlite_file() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("bulk.db").display());
        let db = Db::connect(&url).await.expect("connect");
        db.migrate().await.expect("migrate");
        (dir, db)
    }

    fn numbers(rows: Vec<Row>) -> Vec<i64> {
        rows.iter().map(|r| r.get::<i64>("x").expect("x")).collect()
    }

    #[tokio::test]
    async fn a_file_database_hands_every_row_over_in_order_across_chunks() {
        let (_dir, db) = sqlite_file().await;
        assert!(
            db.sqlite_file.is_some(),
            "the read runs on its own connection"
        );
        let n = (CHUNK * (AHEAD + 3) + 7) as i64;
        let rows: Vec<Row> = db
            .bulk_rows(COUNT, vec![n.into()])
            .try_collect()
            .await
            .expect("rows");
        assert_eq!(numbers(rows), (1..=n).collect::<Vec<_>>());
        let none: Vec<Row> = db
            .bulk_rows(COUNT, vec![0.into()])
            .try_collect()
            .await
            .expect("one row: the recursion's seed");
        assert_eq!(numbers(none), vec![1]);
    }

    #[tokio::test]
    async fn a_reader_that_stops_early_stops_the_read() {
        let (_dir, db) = sqlite_file().await;
        let first: Vec<Row> = db
            .bulk_rows(COUNT, vec![1_000_000.into()])
            .take(3)
            .try_collect()
            .await
            .expect("rows");
        assert_eq!(numbers(first), vec![1, 2, 3]);
        // The blocking reader saw its channel close and ended: the database is still usable.
        let again: Vec<Row> = db
            .bulk_rows(COUNT, vec![2.into()])
            .try_collect()
            .await
            .expect("rows");
        assert_eq!(numbers(again), vec![1, 2]);
    }

    #[tokio::test]
    async fn a_failing_read_ends_in_its_error() {
        let (_dir, db) = sqlite_file().await;
        let result: Result<Vec<Row>, StoreError> = db
            .bulk_rows("SELECT x FROM no_such_table", vec![])
            .try_collect()
            .await;
        assert!(result.is_err(), "{:?}", result.map(|r| r.len()));
    }
}
