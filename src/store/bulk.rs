//! Reads of every message of a file. The acknowledgement file, the data quality report and the
//! consent notification file at a run's end each read all of a run's rows. Through sqlx's
//! SQLite driver every row crosses from the connection's thread to the reading task, a thread
//! switch a row, which was most of those reports' time for a large file. On a SQLite file these
//! reads run instead on a connection of their own, on a blocking thread, and hand the rows over
//! a chunk at a time (memory stays bounded: a few chunks in flight). On PostgreSQL, and on an
//! in-memory SQLite database, the rows come through the pool as any other read.

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
