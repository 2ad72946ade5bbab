//! SQLite group commit. SQLite has one writer; izport gives it one thread. Every registry
//! transaction on SQLite is a job sent to that thread, which takes whatever jobs are waiting
//! (up to [`MAX_BATCH`]), runs each inside its own SAVEPOINT of one `BEGIN IMMEDIATE`
//! transaction, and COMMITs once for the lot, with `synchronous=FULL`. Only then does any job of
//! the batch get its answer: an AA still means the data is on disk, but thirty concurrent
//! messages share one fsync instead of queueing for thirty.
//!
//! A job that fails is rolled back to its savepoint and answered with its error; the others in
//! the batch are unaffected. If the COMMIT itself fails, every job of the batch is answered with
//! that failure, so nothing is acknowledged that was not kept. Jobs later in a batch see what
//! earlier ones wrote (same connection), which is exactly the serial order they are committed in.
//!
//! The thread runs the job's future on its own single-threaded runtime: the statements are
//! synchronous rusqlite calls, so the future never waits on anything but the disk, and the
//! critical section no longer queues behind HTTP work on the server's runtime.
//!
//! A job sent with `alone` (a file's group of a few hundred messages, already one commit's
//! worth) runs in a transaction of its own, without a savepoint: a savepoint's sub-journal
//! grows with every page the job touches, which for a large group cost more than the group's
//! statements.
//!
//! Checkpoints (copying the write-ahead log back into the database file) do not run in the
//! writer: a commit that crossed SQLite's automatic threshold paid for the whole copy, a
//! latency spike for every job of that batch. A checkpointer thread with a connection of its
//! own runs a passive checkpoint every [`CHECKPOINT_EVERY`] instead; the writer's automatic
//! checkpoint is left at a high threshold only as a backstop should that thread be gone.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Mutex};

use super::registry_tx::SqlTx;
use super::StoreError;
use crate::registry::{RegistryError, TxWork};

/// The most jobs one COMMIT covers; bounds the latency a long batch adds to its first job.
const MAX_BATCH: usize = 256;
/// Jobs waiting for the writer; a sender waits (backpressure) when the queue is full.
const QUEUE: usize = 4096;
const SAVEPOINT: &str = "SAVEPOINT izport_job";
const RELEASE: &str = "RELEASE izport_job";
const ROLLBACK_TO: &str = "ROLLBACK TO izport_job";
/// The writer connection's page cache, in KiB: a file's groups touch patients all over the
/// table, and with SQLite's default (2 MB) most of their pages were read again from the OS.
const WRITER_CACHE_KIB: u32 = 32_768;
/// How often the checkpointer thread copies the write-ahead log back.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// The writer's own automatic checkpoint, in pages (SQLite's default is 1,000): a backstop.
const BACKSTOP_CHECKPOINT_PAGES: u32 = 20_000;

/// What a job leaves after its work ran: keep its changes or not, and how to answer once the
/// batch's COMMIT has succeeded or failed.
struct Done {
    keep: bool,
    answer: Box<dyn FnOnce(Result<(), String>) + Send>,
}

type Work = Box<dyn FnOnce(&mut SqlTx, &tokio::runtime::Runtime) -> Done + Send>;

/// One transaction's work, and whether it gets a transaction of its own.
struct Job {
    work: Work,
    alone: bool,
}

/// The handle the store keeps; the threads stop when the last handle is dropped.
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
    /// Dropped with the writer: the checkpointer sees its channel close and ends.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

impl Writer {
    /// Starts the writer thread for the database file at `path`. The connection is opened on
    /// first use (after migrations have created the schema).
    pub fn start(path: String, lock: Arc<Mutex<()>>) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let (checkpointer, stop) = std::sync::mpsc::channel();
        let checkpoint_path = path.clone();
        std::thread::Builder::new()
            .name("izport-sqlite-writer".into())
            .spawn(move || run(&path, queue, &lock))
            .map_err(|e| StoreError::Writer(format!("cannot start the SQLite writer: {e}")))?;
        std::thread::Builder::new()
            .name("izport-sqlite-checkpoint".into())
            .spawn(move || checkpoints(&checkpoint_path, &stop))
            .map_err(|e| {
                StoreError::Writer(format!("cannot start the SQLite checkpointer: {e}"))
            })?;
        Ok(Writer {
            jobs,
            _checkpointer: checkpointer,
        })
    }

    /// Jobs sent and not yet taken by the thread (cheap: the channel's free slots).
    pub fn queue_depth(&self) -> usize {
        self.jobs
            .max_capacity()
            .saturating_sub(self.jobs.capacity())
    }

    /// Runs `work` in the next batch and returns its result once that batch has committed;
    /// with `alone`, in a transaction of its own (no savepoint) right after that batch.
    pub async fn transact<T: Send + 'static>(
        &self,
        work: TxWork<SqlTx, T>,
        alone: bool,
    ) -> Result<T, RegistryError> {
        let (reply, answer) = oneshot::channel::<Result<T, RegistryError>>();
        let job: Work = Box::new(move |tx, runtime| {
            let result = runtime.block_on(work(tx));
            Done {
                keep: result.is_ok(),
                answer: Box::new(move |commit| {
                    let outcome = match (result, commit) {
                        (Err(e), _) => Err(e),
                        (Ok(value), Ok(())) => Ok(value),
                        (Ok(_), Err(e)) => Err(StoreError::Writer(e).into()),
                    };
                    // The requester may have gone (client disconnected); the data is kept.
                    let _ = reply.send(outcome);
                }),
            }
        });
        self.jobs
            .send(Job { work: job, alone })
            .await
            .map_err(|_| StoreError::Writer("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Writer(
                "the SQLite writer dropped this transaction (see the server log)".into(),
            )
        })?
    }
}

fn open(path: &str) -> Result<rusqlite::Connection, rusqlite::Error> {
    let conn = rusqlite::Connection::open(path)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get("journal_mode"))?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; \
         PRAGMA cache_size=-{WRITER_CACHE_KIB}; PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES};"
    ))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// The checkpointer thread: a passive checkpoint every [`CHECKPOINT_EVERY`] until the writer
/// is dropped. Passive: it copies what no reader still needs and never waits for the writer or
/// a reader, so it costs commits nothing but the disk bandwidth it shares.
fn checkpoints(path: &str, stop: &std::sync::mpsc::Receiver<()>) {
    let mut conn: Option<rusqlite::Connection> = None;
    let mut complained = false;
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if conn.is_none() {
            // The database exists already (the pool made it); never create one here.
            match rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            ) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    if !complained {
                        tracing::warn!(error = %e, "SQLite checkpointer: cannot open the database yet");
                        complained = true;
                    }
                    continue;
                }
            }
        }
        if let Some(c) = &conn {
            let done = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
            if let Err(e) = done {
                if !complained {
                    tracing::warn!(error = %e, "SQLite checkpointer: a checkpoint failed");
                    complained = true;
                }
                conn = None;
            }
        }
    }
}

fn run(path: &str, mut queue: mpsc::Receiver<Job>, lock: &Mutex<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "SQLite writer: no runtime; registry writes will fail");
            return;
        }
    };
    let mut tx: Option<SqlTx> = None;
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Other writers in this process (operator commands, seeding) take the same lock.
        let _guard = lock.blocking_lock();
        if tx.is_none() {
            match open(path) {
                Ok(conn) => tx = Some(SqlTx::sqlite(conn)),
                Err(e) => {
                    tracing::error!(error = %e, "SQLite writer: cannot open the database");
                    batch.clear(); // each requester is told its transaction was dropped
                    continue;
                }
            }
        }
        let (alone, shared): (Vec<Job>, Vec<Job>) = batch.drain(..).partition(|j| j.alone);
        if let Some(tx) = tx.as_mut() {
            if !shared.is_empty() {
                run_batch(tx, &runtime, shared.into_iter().map(|j| j.work));
            }
            for job in alone {
                run_alone(tx, &runtime, job.work);
            }
        }
    }
}

/// One job in a transaction of its own: BEGIN, the work, COMMIT (or ROLLBACK), the answer.
fn run_alone(tx: &mut SqlTx, runtime: &tokio::runtime::Runtime, work: Work) {
    metrics::histogram!(crate::telemetry::WRITER_BATCH).record(1.0);
    if let Err(e) = tx.sqlite_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "SQLite writer: cannot begin a transaction");
        return;
    }
    let done = std::panic::catch_unwind(AssertUnwindSafe(|| work(tx, runtime)));
    let Ok(done) = done else {
        tracing::error!("SQLite writer: a registry transaction panicked; rolled back");
        let _ = tx.sqlite_batch("ROLLBACK");
        return;
    };
    let commit = if done.keep {
        tx.sqlite_batch("COMMIT").map_err(|e| e.to_string())
    } else {
        // The work failed: nothing of it is kept, and its own error is its answer.
        tx.sqlite_batch("ROLLBACK").map_err(|e| e.to_string())
    };
    if let Err(e) = &commit {
        tracing::error!(error = %e, "SQLite writer: transaction not committed");
        let _ = tx.sqlite_batch("ROLLBACK");
    }
    (done.answer)(commit.map_err(|e| format!("the transaction was not committed: {e}")));
}

fn run_batch(
    tx: &mut SqlTx,
    runtime: &tokio::runtime::Runtime,
    batch: impl ExactSizeIterator<Item = Work>,
) {
    metrics::histogram!(crate::telemetry::WRITER_BATCH).record(batch.len() as f64);
    if let Err(e) = tx.sqlite_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, jobs = batch.len(), "SQLite writer: cannot begin a transaction");
        return;
    }
    let mut answers = Vec::with_capacity(batch.len());
    let mut failure: Option<String> = None;
    for job in batch {
        if let Err(e) = tx.sqlite_batch(SAVEPOINT) {
            failure = Some(e.to_string());
            break;
        }
        let done = std::panic::catch_unwind(AssertUnwindSafe(|| job(tx, runtime)));
        let keep = matches!(&done, Ok(d) if d.keep);
        let closed = if keep {
            tx.sqlite_batch(RELEASE)
        } else {
            tx.sqlite_batch(ROLLBACK_TO)
                .and_then(|_| tx.sqlite_batch(RELEASE))
        };
        match done {
            Ok(done) => answers.push(done.answer),
            Err(_) => {
                tracing::error!("SQLite writer: a registry transaction panicked; rolled back")
            }
        }
        if let Err(e) = closed {
            failure = Some(e.to_string());
            break;
        }
    }
    let commit = match failure {
        Some(e) => Err(e),
        None => tx.sqlite_batch("COMMIT").map_err(|e| e.to_string()),
    };
    if let Err(e) = &commit {
        tracing::error!(error = %e, jobs = answers.len(), "SQLite writer: batch not committed");
        let _ = tx.sqlite_batch("ROLLBACK");
    }
    for answer in answers {
        answer(
            commit
                .clone()
                .map_err(|e| format!("the transaction was not committed: {e}")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::work;
    use crate::store::sql::args;

    fn writer_on_new_table() -> (tempfile::TempDir, String, Arc<Writer>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db").display().to_string();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .unwrap();
        let writer = Writer::start(path.clone(), Arc::new(Mutex::new(()))).unwrap();
        (dir, path, Arc::new(writer))
    }

    fn kept(path: &str) -> Vec<i64> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        let rows = stmt.query_map([], |r| r.get("v")).unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_or_panicking_job_loses_only_its_own_writes() {
        let (_dir, path, writer) = writer_on_new_table();
        let mut tasks = Vec::new();
        for i in 0..40_i64 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                writer
                    .transact(
                        work(move |tx: &mut SqlTx| {
                            Box::pin(async move {
                                tx.exec("INSERT INTO t (v) VALUES ($1)", &args![i]).await?;
                                if i == 7 || i == 9 {
                                    return Err(RegistryError::Unreadable);
                                }
                                if i == 11 || i == 12 {
                                    panic!("job {i} panics after writing");
                                }
                                Ok(i)
                            })
                        }),
                        // Every third job alone (a file's group), the others shared.
                        i % 3 == 0,
                    )
                    .await
            }));
        }
        let mut answered = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(v) => answered.push(v),
                Err(RegistryError::Unreadable) => {}
                Err(RegistryError::Storage(e)) => assert!(
                    matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Writer(_))),
                    "{e}"
                ),
            }
        }
        let expected: Vec<i64> = (0..40).filter(|i| ![7, 9, 11, 12].contains(i)).collect();
        answered.sort_unstable();
        assert_eq!(answered, expected, "every other job is answered Ok");
        assert_eq!(kept(&path), expected, "and exactly their rows are kept");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_is_answered_only_after_its_batch_committed() {
        let (_dir, path, writer) = writer_on_new_table();
        let value = writer
            .transact(
                work(|tx: &mut SqlTx| {
                    Box::pin(async move {
                        tx.exec("INSERT INTO t (v) VALUES (1)", &[]).await?;
                        Ok(1_i64)
                    })
                }),
                false,
            )
            .await
            .unwrap();
        assert_eq!(value, 1);
        // A second connection sees the row: the answer came after COMMIT, not after RELEASE.
        assert_eq!(kept(&path), vec![1]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_constraint_error_is_returned_and_the_writer_goes_on() {
        let (_dir, path, writer) = writer_on_new_table();
        let insert = |v: i64| {
            work(move |tx: &mut SqlTx| {
                Box::pin(async move {
                    tx.exec("INSERT INTO t (v) VALUES ($1)", &args![v]).await?;
                    Ok(())
                })
            })
        };
        writer.transact(insert(5), false).await.unwrap();
        let duplicate = writer.transact(insert(5), true).await;
        let Err(RegistryError::Storage(e)) = duplicate else {
            panic!("a duplicate key is a storage error: {duplicate:?}");
        };
        assert!(matches!(
            e.downcast_ref::<StoreError>(),
            Some(StoreError::Sqlite(_))
        ));
        writer.transact(insert(6), true).await.unwrap();
        assert_eq!(kept(&path), vec![5, 6]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_checkpointer_keeps_the_log_short() {
        let (_dir, path, writer) = writer_on_new_table();
        for v in 0..200_i64 {
            writer
                .transact(
                    work(move |tx: &mut SqlTx| {
                        Box::pin(async move {
                            tx.exec("INSERT INTO t (v) VALUES ($1)", &args![v]).await?;
                            Ok(())
                        })
                    }),
                    v % 2 == 0,
                )
                .await
                .unwrap();
        }
        // Wait for checkpoint passes after the last commit, then read the database file alone
        // (immutable: SQLite ignores the log): the rows are there. Without the checkpointer
        // they would still be only in the log (200 small commits stay far below the writer's
        // backstop threshold).
        tokio::time::sleep(CHECKPOINT_EVERY * 5).await;
        let file_only = rusqlite::Connection::open_with_flags(
            format!("file:{path}?immutable=1"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )
        .unwrap();
        let in_file: i64 = file_only
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(in_file, 200, "every commit is in the database file itself");
        assert_eq!(kept(&path).len(), 200);
    }
}
