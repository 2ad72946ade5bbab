//! The batch worker: in every `izport serve`, it picks up each complete upload, moves it to
//! Accepted, and runs every message through the registry exactly as a SOAP submission would go
//! (`Registry::prepare` + `Prepared::apply`), committing each group of messages together with
//! the run's progress, so that a crash at any moment loses nothing and repeats nothing. At the
//! end it writes the acknowledgement file (or an error report) into DQA-Reports.
//!
//! During a maintenance or intermittent window the worker holds the organization's files (it
//! finishes the message group in hand and gives the run back); when the window ends it resumes
//! by itself, in upload order.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::TryStreamExt;
use jiff::Timestamp;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::ackfile::{AckFileHeader, AckFileWriter, LineEnding};
use super::names;
use super::reader::{self, Item, Problem, ProblemLevel, Scanner, Splitter, Structure};
use super::retention::{self, Removed, RemovedCounter, Retention};
use crate::clock::{Clock, IdSource};
use crate::dqa::{self, MessageFacts, Weights};
use crate::hl7::{build_ack, AckCode, AckContext, AckParams, ErrEntry, ErrLocation};
use crate::maintenance::door::FileDoor;
use crate::maintenance::Maintenance;
use crate::registry::{
    work, Registry, RegistryError, RegistryStore, RegistryTx, StorageError, Submitter,
};
use crate::store::{
    Backend, Blob, ClaimedBatch, Db, ExchangeAccount, MessageNotes, RunMessage, SqlTx, StoreError,
};

/// How the worker behaves; every value has a flag in `izport serve`.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// How often an idle worker looks for work.
    pub poll: Duration,
    /// How long a run stays a node's after its last sign of life; then another node resumes it.
    pub lease: Duration,
    /// Messages applied in one transaction (one commit); `None`: the backend's default
    /// ([`WorkerOptions::shape`]).
    pub group: Option<usize>,
    /// Groups applied at once (messages of one patient always share a lane); `None`: the
    /// backend's default.
    pub lanes: Option<usize>,
    /// The largest message read from a file; a larger one is answered with AR.
    pub max_message_bytes: usize,
    /// Where acknowledgement files are assembled before they are stored.
    pub spool_dir: PathBuf,
    /// The weights of the data quality report's scores.
    pub dqa_weights: Weights,
    /// How long files stay in DQA-Reports, Receive and Accepted, and how often to look.
    pub retention: Retention,
}

impl WorkerOptions {
    /// SQLite: a few large groups (one writer; each commit is one fsync, and preparing the
    /// next groups overlaps it). PostgreSQL: smaller groups in more lanes (each lane a
    /// connection; a group's locks and round trips are the lane's own, so more lanes keep the
    /// server busy while each waits on the network).
    pub const SQLITE_SHAPE: (usize, usize) = (256, 4);
    pub const POSTGRES_SHAPE: (usize, usize) = (32, 8);

    /// The group size and lane count used on `backend`: the flags' values, or its defaults.
    pub fn shape(&self, backend: Backend) -> (usize, usize) {
        let (group, lanes) = match backend {
            Backend::Sqlite => Self::SQLITE_SHAPE,
            Backend::Postgres => Self::POSTGRES_SHAPE,
        };
        (
            self.group.unwrap_or(group).max(1),
            self.lanes.unwrap_or(lanes).max(1),
        )
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            poll: Duration::from_millis(500),
            lease: Duration::from_secs(60),
            group: None,
            lanes: None,
            max_message_bytes: 1 << 20,
            spool_dir: std::env::temp_dir(),
            dqa_weights: Weights::default(),
            retention: Retention::default(),
        }
    }
}

/// The batch layer's one error type.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("writing the acknowledgement file: {0}")]
    Spool(#[from] std::io::Error),
    #[error("a stored value is not readable: {0}")]
    Corrupt(String),
}

impl From<dqa::CnfError> for BatchError {
    fn from(e: dqa::CnfError) -> Self {
        match e {
            dqa::CnfError::Store(e) => BatchError::Store(e),
            dqa::CnfError::Io(e) => BatchError::Spool(e),
        }
    }
}

/// The run was taken over by another node (its lease ran out while this one was stalled).
#[derive(Debug, thiserror::Error)]
#[error("the run's lease was lost")]
struct LeaseLost;

fn lease_lost(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Storage(s) if s.downcast_ref::<LeaseLost>().is_some())
}

/// How one turn of a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every message answered; the acknowledgement file is in DQA-Reports.
    Done,
    /// Not processed: a wrong file name, counts that do not match under `strict`, no account.
    Rejected,
    /// Not processed: not an HL7 file.
    Unreadable,
    /// Not processed: the same content was processed before.
    Duplicate,
    /// Given back: a maintenance window began; it resumes by itself.
    Paused,
    /// Another node took the run over.
    LeaseLost,
}

impl RunEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            RunEnd::Done => "done",
            RunEnd::Rejected => "rejected",
            RunEnd::Unreadable => "unreadable",
            RunEnd::Duplicate => "duplicate",
            RunEnd::Paused => "paused",
            RunEnd::LeaseLost => "lease lost",
        }
    }
}

/// The preparation of a group ended without an answer (its task panicked or was cancelled):
/// the group is then tried message by message, and a message that fails again is answered AR.
#[derive(Debug, thiserror::Error)]
#[error("preparing a message group failed: {0}")]
struct PreparationFailed(tokio::task::JoinError);

/// One message read from the file, before the registry sees it.
struct Incoming {
    index: u64,
    offset: u64,
    text: Vec<u8>,
    oversize: bool,
}

pub struct Worker {
    db: Arc<Db>,
    registry: Registry<Arc<Db>>,
    maintenance: Arc<Maintenance>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    options: WorkerOptions,
    owner: String,
    removed: RemovedCounter,
}

fn stamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl Worker {
    pub fn new(
        db: Arc<Db>,
        registry: Registry<Arc<Db>>,
        maintenance: Arc<Maintenance>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        options: WorkerOptions,
    ) -> Self {
        let owner = format!(
            "{}-{}-{:08x}",
            hostname(),
            std::process::id(),
            rand::random::<u32>()
        );
        Worker {
            db,
            registry,
            maintenance,
            clock,
            ids,
            options,
            owner,
            removed: RemovedCounter::default(),
        }
    }

    fn lease_until(&self) -> String {
        let now = self.clock.now();
        let lease = jiff::SignedDuration::try_from(self.options.lease)
            .unwrap_or(jiff::SignedDuration::from_secs(60));
        stamp(now.checked_add(lease).unwrap_or(now))
    }

    fn held(&self, org_code: &str) -> bool {
        self.maintenance.file_door(org_code) != FileDoor::Open
    }

    /// Runs until `shutdown` turns true: takes over runs whose lease ran out, claims new uploads,
    /// processes them one at a time.
    pub fn spawn(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            // Housekeeping at the start, then every `retention.every` by the clock (a clock
            // set back starts the count again).
            let every = jiff::SignedDuration::try_from(self.options.retention.every)
                .unwrap_or(jiff::SignedDuration::from_hours(1));
            let mut next_housekeeping: Option<Timestamp> = None;
            loop {
                if *shutdown.borrow() {
                    break;
                }
                let now = self.clock.now();
                let due = next_housekeeping.is_none_or(|next| {
                    now >= next || next.checked_sub(every).is_ok_and(|last| now < last)
                });
                if due {
                    next_housekeeping = Some(now.checked_add(every).unwrap_or(now));
                    if let Err(e) = self.housekeeping().await {
                        tracing::warn!(error = %e, "batch housekeeping failed");
                    }
                }
                let busy = match self.work_once(&mut |_, _| {}).await {
                    Ok(Some((id, end))) => {
                        tracing::info!(run = id, outcome = end.as_str(), "batch run turn ended");
                        true
                    }
                    Ok(None) => false,
                    Err(e) => {
                        tracing::error!(error = %e, "batch worker");
                        false
                    }
                };
                if !busy {
                    tokio::select! {
                        _ = tokio::time::sleep(self.options.poll) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        })
    }

    /// One housekeeping pass at the clock's now: removes the files retention has expired (each
    /// logged), then the contents of abandoned uploads and removed files. Returns what this
    /// pass removed, by folder; [`Worker::removed`] keeps the total.
    pub async fn housekeeping(&self) -> Result<Removed, BatchError> {
        let now = self.clock.now();
        let files = retention::remove_expired(&self.db, &self.options.retention, now).await?;
        let removed = retention::count(&files);
        self.removed.add(removed);
        if removed.total() > 0 {
            let total = self.removed.get();
            tracing::info!(
                reports = removed.reports,
                receive = removed.receive,
                accepted = removed.accepted,
                total_since_start = total.total(),
                "retention removed files"
            );
        }
        let day_ago = stamp(
            now.checked_sub(jiff::SignedDuration::from_hours(24))
                .unwrap_or(now),
        );
        match self.db.remove_orphan_blobs(&day_ago).await? {
            0 => {}
            n => tracing::info!(
                removed = n,
                "removed contents of abandoned uploads and removed files"
            ),
        }
        Ok(removed)
    }

    /// Files this worker removed for retention since it started, by folder.
    pub fn removed(&self) -> Removed {
        self.removed.get()
    }

    /// One turn: a run to resume, else a new upload to claim; processes it. `None` when there
    /// was nothing to do (or everything waiting is held by a maintenance window).
    pub async fn work_once(
        &self,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<Option<(i64, RunEnd)>, BatchError> {
        let now = stamp(self.clock.now());
        let held = |code: &str| self.held(code);
        let run = match self
            .db
            .resume_run(&now, &self.owner, &self.lease_until(), &held)
            .await?
        {
            Some(run) => Some(run),
            None => {
                self.db
                    .claim_upload(&now, &self.owner, &self.lease_until(), &held)
                    .await?
            }
        };
        let Some(run) = run else { return Ok(None) };
        let id = run.id;
        let end = self.process(run, progress).await?;
        Ok(Some((id, end)))
    }

    /// Takes one particular run (an operator's import) for this worker.
    pub async fn take(&self, id: i64) -> Result<Option<ClaimedBatch>, BatchError> {
        let now = stamp(self.clock.now());
        Ok(self
            .db
            .take_run(id, &now, &self.owner, &self.lease_until())
            .await?)
    }

    /// Processes a run this worker holds, from where it stands, to its end (or to a pause).
    pub async fn process(
        &self,
        run: ClaimedBatch,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<RunEnd, BatchError> {
        let Some(account) = self.db.exchange_account_of(&run.organization_code).await? else {
            let text = "The organization has no data exchange account; the file was not \
                        processed.";
            self.end_with_report(&run, RunEnd::Rejected, text, None, &[])
                .await?;
            return Ok(RunEnd::Rejected);
        };
        let structure = match &run.structure {
            Some(json) => serde_json::from_str::<Structure>(json)
                .map_err(|e| BatchError::Corrupt(format!("run {}: {e}", run.id)))?,
            None => match self.first_look(&run, &account).await? {
                Ok(structure) => structure,
                Err(end) => return Ok(end),
            },
        };
        let submitter = Submitter {
            organization_id: account.organization_id,
            organization_code: account.organization_code.clone(),
            user_id: account.user_id,
            facility_code: account.import_code.clone(),
            production: account.production,
        };
        let received_at: Timestamp = run
            .received_at
            .parse()
            .map_err(|e| BatchError::Corrupt(format!("run {} receipt time: {e}", run.id)))?;
        match self
            .messages(&run, &submitter, received_at, structure.messages, progress)
            .await?
        {
            RunEnd::Done => {}
            other => return Ok(other),
        }
        // Operators see how a long file's time divides between its messages and its reports.
        tracing::info!(
            run = run.id,
            messages = structure.messages,
            "batch run: every message applied; writing the acknowledgement file and reports"
        );
        self.finish(&run, &account, &structure).await?;
        Ok(RunEnd::Done)
    }

    /// Before the first message: the name, a repeated content, the structure. `Err` ends the
    /// run (its report written).
    async fn first_look(
        &self,
        run: &ClaimedBatch,
        account: &ExchangeAccount,
    ) -> Result<Result<Structure, RunEnd>, BatchError> {
        let mut notes: Vec<Problem> = Vec::new();
        if !run.operator_import {
            match names::parse_file_name(&run.original_name, &account.import_code) {
                Err(why) => {
                    let text = format!(
                        "The file name does not follow the registry's convention, so the file \
                         was not processed: {why}. Upload it again under a correct name."
                    );
                    self.end_with_report(run, RunEnd::Rejected, &text, None, &[])
                        .await?;
                    return Ok(Err(RunEnd::Rejected));
                }
                Ok(name) => {
                    let today = crate::clock::utc_date(self.clock.now());
                    let days = (today - name.date).get_days();
                    if name.date > today.tomorrow().unwrap_or(today) {
                        notes.push(warning(format!(
                            "The file name carries a date ({}) after today.",
                            name.date
                        )));
                    } else if days > 366 {
                        notes.push(warning(format!(
                            "The file name carries a date ({}) more than a year ago.",
                            name.date
                        )));
                    }
                }
            }
        }
        if run.reprocess_of.is_none() {
            if let Some(earlier) = self.db.earlier_run_of_content(run).await? {
                let text = format!(
                    "The same content was received before as {} (received {}, run {}), so it \
                     was not processed again. Nothing needs to be resent; if this was meant to \
                     be a new file, check that your system wrote new data into it.",
                    earlier.original_name, earlier.received_at, earlier.id
                );
                self.end_with_report(run, RunEnd::Duplicate, &text, Some(earlier.id), &[])
                    .await?;
                return Ok(Err(RunEnd::Duplicate));
            }
        }
        let mut scanner = Scanner::new(self.options.max_message_bytes);
        let mut seq = 0;
        while let Some(chunk) = self.db.blob_chunk(run.blob_id, seq).await? {
            scanner.feed(&chunk);
            seq += 1;
        }
        let mut structure = scanner.finish();
        structure.problems.splice(0..0, notes);
        if structure.unreadable() {
            let text = "The file could not be read as HL7, so nothing in it was processed or \
                        stored.";
            self.end_with_report(run, RunEnd::Unreadable, text, None, &structure.problems)
                .await?;
            return Ok(Err(RunEnd::Unreadable));
        }
        let mismatch = structure
            .problems
            .iter()
            .any(|p| p.text.starts_with("The counts do not match"));
        if account.strict_counts && mismatch {
            let text = "The batch counts (BTS-1 / FTS-1) do not match the messages in the file, \
                        and this account is set to refuse such files; nothing was processed.";
            self.end_with_report(run, RunEnd::Rejected, text, None, &structure.problems)
                .await?;
            return Ok(Err(RunEnd::Rejected));
        }
        let json = serde_json::to_string(&structure)
            .map_err(|e| BatchError::Corrupt(format!("structure: {e}")))?;
        self.db
            .set_run_structure(run.id, &json, structure.messages)
            .await?;
        Ok(Ok(structure))
    }

    /// Every message not yet answered, a group per transaction, in several lanes at once. A
    /// message goes to a lane by its patient (the first PID-3 value), so one patient's messages
    /// are applied in file order; different patients' messages overlap, which keeps the
    /// database busy while the next group is prepared (and, on PostgreSQL, uses several
    /// connections). Each message is recorded with the registry's work on it; a resumed run
    /// skips the messages already recorded.
    async fn messages(
        &self,
        run: &ClaimedBatch,
        submitter: &Submitter,
        received_at: Timestamp,
        total: u64,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<RunEnd, BatchError> {
        let recorded = self.db.run_recorded(run.id).await?;
        let (group, lanes) = self.options.shape(self.db.backend());
        let done = AtomicU64::new(recorded.len() as u64);
        let stop: Mutex<Option<RunEnd>> = Mutex::new(None);
        let last_renew = Mutex::new(std::time::Instant::now());
        let progress = Mutex::new(progress);
        let report = |n: u64| {
            if let Ok(mut p) = progress.lock() {
                (*p)(n.min(total), total);
            }
        };
        report(done.load(Ordering::Relaxed));
        let mut senders = Vec::with_capacity(lanes);
        let mut receivers = Vec::with_capacity(lanes);
        for _ in 0..lanes {
            let (tx, rx) = mpsc::channel::<Incoming>(group * 2);
            senders.push(tx);
            receivers.push(rx);
        }
        let stopped = || stop.lock().map(|s| s.is_some()).unwrap_or(true);
        // The feed owns the lanes' senders: when it ends, the lanes see their channels close,
        // apply their last groups and end.
        let feed = async move {
            let mut splitter = Splitter::new(self.options.max_message_bytes);
            let mut items = Vec::new();
            let mut seq = 0;
            loop {
                let data = self.db.blob_chunk(run.blob_id, seq).await?;
                match &data {
                    Some(bytes) => splitter.feed(bytes, &mut items),
                    None => splitter.finish(&mut items),
                }
                seq += 1;
                for item in items.drain(..) {
                    let Item::Message {
                        index,
                        offset,
                        text,
                        oversize,
                    } = item
                    else {
                        continue;
                    };
                    if recorded.contains(&index) {
                        continue;
                    }
                    let lane = lane_of(&text, index, lanes);
                    let message = Incoming {
                        index,
                        offset,
                        text,
                        oversize,
                    };
                    if stopped() || senders[lane].send(message).await.is_err() {
                        return Ok::<(), BatchError>(());
                    }
                }
                if data.is_none() {
                    return Ok(());
                }
            }
        };
        let work = receivers.into_iter().map(|mut rx| {
            let stop = &stop;
            let done = &done;
            let last_renew = &last_renew;
            let report = &report;
            async move {
                let mut batch: Vec<Incoming> = Vec::with_capacity(group);
                let mut open = true;
                while open {
                    match rx.recv().await {
                        Some(m) => batch.push(m),
                        None => open = false,
                    }
                    if batch.len() < group && open {
                        continue;
                    }
                    if batch.is_empty() {
                        continue;
                    }
                    let n = batch.len() as u64;
                    let applied = std::mem::take(&mut batch);
                    let end = self
                        .apply_group(run, submitter, received_at, applied)
                        .await?;
                    let end = match end {
                        Some(end) => Some(end),
                        None => {
                            report(done.fetch_add(n, Ordering::Relaxed) + n);
                            self.checkpoint(run, last_renew).await?
                        }
                    };
                    if let Some(end) = end {
                        if let Ok(mut s) = stop.lock() {
                            s.get_or_insert(end);
                        }
                    }
                    if stopped() {
                        // Leave the rest: what was not recorded is done on resumption.
                        return Ok::<(), BatchError>(());
                    }
                }
                Ok(())
            }
        });
        let (fed, lanes_done) = tokio::join!(feed, join_all(work));
        fed?;
        for lane in lanes_done {
            lane?;
        }
        let end = stop.lock().ok().and_then(|s| *s);
        match end {
            Some(RunEnd::Paused) => {
                self.db.release_run(run.id, &self.owner).await?;
                Ok(RunEnd::Paused)
            }
            Some(end) => Ok(end),
            None => {
                report(total);
                Ok(RunEnd::Done)
            }
        }
    }

    /// After each group: a maintenance window holds the run back (it is given back and resumed
    /// later), and now and then the lease is renewed (with the progress count).
    async fn checkpoint(
        &self,
        run: &ClaimedBatch,
        last_renew: &Mutex<std::time::Instant>,
    ) -> Result<Option<RunEnd>, BatchError> {
        if self.held(&run.organization_code) {
            return Ok(Some(RunEnd::Paused));
        }
        let due = last_renew
            .lock()
            .map(|mut t| {
                let due = t.elapsed() > self.options.lease / 4;
                if due {
                    *t = std::time::Instant::now();
                }
                due
            })
            .unwrap_or(true);
        if due
            && !self
                .db
                .renew_lease(run.id, &self.owner, &self.lease_until())
                .await?
        {
            return Ok(Some(RunEnd::LeaseLost));
        }
        Ok(None)
    }

    /// Prepares a group outside any transaction, then applies it and records its progress in
    /// one. If the transaction fails (not for a lost lease), each message is tried alone, and
    /// one that still fails is answered AR (internal error) so the file can complete.
    async fn apply_group(
        &self,
        run: &ClaimedBatch,
        submitter: &Submitter,
        received_at: Timestamp,
        group: Vec<Incoming>,
    ) -> Result<Option<RunEnd>, BatchError> {
        let mut retry = Vec::new();
        match self
            .transact_group(run, submitter, received_at, &group)
            .await
        {
            Ok(()) => return Ok(None),
            Err(e) if lease_lost(&e) => return Ok(Some(RunEnd::LeaseLost)),
            Err(e) if group.len() == 1 => {
                tracing::error!(run = run.id, error = %e, "a file message could not be stored");
                retry.extend(group);
            }
            Err(e) => {
                tracing::warn!(run = run.id, error = %e, "a message group failed; trying its messages one by one");
                for m in group {
                    let one = [m];
                    match self.transact_group(run, submitter, received_at, &one).await {
                        Ok(()) => {}
                        Err(e) if lease_lost(&e) => return Ok(Some(RunEnd::LeaseLost)),
                        Err(e) => {
                            tracing::error!(run = run.id, error = %e, "a file message could not be stored");
                            let [m] = one;
                            retry.push(m);
                        }
                    }
                }
            }
        }
        for m in retry {
            let (text, _) = reader::decode(&m.text);
            let ack = self.fixed_ack(
                &text,
                207,
                "The registry could not store this message because of an internal error; \
                 send it again in a later file.",
            );
            let control_id = AckContext::salvage(&text).control_id().map(str::to_string);
            let facts = MessageFacts::of_text(&text).to_json();
            let submitter = dqa::cnf::submitter_of(&text);
            let (owner, id) = (self.owner.clone(), run.id);
            let recorded = self
                .registry
                .store()
                .transact(work(move |tx: &mut SqlTx| {
                    Box::pin(async move {
                        if !tx.run_lease_held(id, &owner).await? {
                            return Ok(false);
                        }
                        tx.record_run_message(
                            id,
                            m.index,
                            m.offset,
                            control_id.as_deref(),
                            "AR",
                            None,
                            &ack,
                            &MessageNotes {
                                facts: Some(&facts),
                                submitter_id: submitter.as_ref().map(|s| s.0.as_str()),
                                submitter_authority: submitter
                                    .as_ref()
                                    .and_then(|s| s.1.as_deref()),
                                patient_id: None,
                            },
                        )
                        .await
                        .map_err(RegistryError::from)
                    })
                }))
                .await?;
            if !recorded {
                return Ok(Some(RunEnd::LeaseLost));
            }
        }
        Ok(None)
    }

    async fn transact_group(
        &self,
        run: &ClaimedBatch,
        submitter: &Submitter,
        received_at: Timestamp,
        group: &[Incoming],
    ) -> Result<(), RegistryError> {
        // Rule levels once per group (an operator may change them while a long file runs).
        let levels = self.registry.rule_levels(submitter.organization_id).await?;
        // Parsing, validation and planning are CPU work with no database: on the blocking
        // pool, so that the lanes prepare side by side (both cores) while the feed reads on
        // and the database applies the group before.
        let prepared = {
            let registry = self.registry.clone();
            let submitter = submitter.clone();
            let texts: Vec<(Vec<u8>, bool)> =
                group.iter().map(|m| (m.text.clone(), m.oversize)).collect();
            tokio::task::spawn_blocking(move || {
                texts
                    .into_iter()
                    .map(|(raw, oversize)| {
                        let (text, _) = reader::decode(&raw);
                        let control_id =
                            AckContext::salvage(&text).control_id().map(str::to_string);
                        // One parse for the report's facts and the consent file's patient
                        // (the registry parses again inside `prepare_many`).
                        let (facts, cnf_submitter) = match crate::hl7::Message::parse(&text) {
                            Ok(msg) => {
                                (MessageFacts::of_message(&msg), dqa::cnf::submitter_in(&msg))
                            }
                            Err(_) => (MessageFacts::default(), None),
                        };
                        if oversize {
                            let text = text.into_owned();
                            return (
                                control_id,
                                MessageFacts::default(),
                                cnf_submitter,
                                Err(text),
                            );
                        }
                        let prepared =
                            registry.prepare_many(&submitter, &text, received_at, &levels);
                        (control_id, facts, cnf_submitter, Ok(Box::new(prepared)))
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| RegistryError::Storage(StorageError::new(PreparationFailed(e))))?
        };
        enum Ready {
            Prepared(Box<crate::registry::Prepared>),
            Fixed(String),
        }
        let mut ready = Vec::with_capacity(group.len());
        for (m, (control_id, facts, cnf_submitter, prepared)) in group.iter().zip(prepared) {
            let item = match prepared {
                Ok(p) => Ready::Prepared(p),
                Err(text) => Ready::Fixed(self.fixed_ack(
                    &text,
                    102,
                    &format!(
                        "The message is larger than the registry's limit of {} bytes for one \
                         message and was not processed.",
                        self.options.max_message_bytes
                    ),
                )),
            };
            ready.push((m.index, m.offset, control_id, (facts, cnf_submitter), item));
        }
        // Every person the group touches, locked at once before the first message (see
        // `Prepared::lock_keys`): lanes then wait for each other at most, never deadlock.
        let keys: Vec<String> = ready
            .iter()
            .flat_map(|(.., item)| match item {
                Ready::Prepared(p) => p.lock_keys(),
                Ready::Fixed(_) => Vec::new(),
            })
            .collect();
        let (owner, id) = (self.owner.clone(), run.id);
        // A group is a large commit already: on SQLite it gets a transaction of its own
        // instead of a savepoint in the writer's shared one (see store::writer).
        self.registry
            .store()
            .transact_alone(work(move |tx: &mut SqlTx| {
                Box::pin(async move {
                    if !tx.run_lease_held(id, &owner).await? {
                        return Err(RegistryError::Storage(StorageError::new(LeaseLost)));
                    }
                    tx.lock(&keys).await?;
                    let mut recorded = Vec::with_capacity(ready.len());
                    for (index, offset, control_id, (facts, submitter), item) in ready {
                        let (response, ack, message_id, facts, patient_id) = match item {
                            Ready::Fixed(hl7) => (hl7, AckCode::AR, None, facts, None),
                            Ready::Prepared(p) => {
                                let r = p.apply(tx).await?;
                                let facts = facts.with_response(&r);
                                // The record a VXU kept (a query's patient is not "reported").
                                let kept = r.patient.and(r.patient_id);
                                (r.hl7, r.ack, r.message_id, facts, kept)
                            }
                        };
                        let (submitter_id, submitter_authority) = match submitter {
                            Some((id, authority)) => (Some(id), authority),
                            None => (None, None),
                        };
                        recorded.push(RunMessage {
                            index,
                            offset,
                            control_id,
                            ack_code: ack.as_str().to_string(),
                            message_id,
                            response,
                            facts: Some(facts.to_json()),
                            submitter_id,
                            submitter_authority,
                            patient_id,
                        });
                    }
                    // The group's records in a few statements; one recorded already means
                    // another node has the run.
                    if !tx.record_run_messages(id, &recorded).await? {
                        return Err(RegistryError::Storage(StorageError::new(LeaseLost)));
                    }
                    Ok(())
                })
            }))
            .await
    }

    /// An AR acknowledgement the worker writes itself (a message it could not give the registry).
    fn fixed_ack(&self, text: &str, code: u16, sentence: &str) -> String {
        let ctx = AckContext::salvage(text);
        let control_id = self.ids.control_id();
        let timestamp = self.clock.now().strftime("%Y%m%d%H%M%S+0000").to_string();
        let identity = &self.registry.config().identity;
        let params = AckParams {
            control_id: &control_id,
            timestamp: &timestamp,
            sending_application: &identity.application,
            sending_facility: &identity.facility,
        };
        let err = ErrEntry::error(code, sentence).at(ErrLocation::segment("MSH", 1));
        build_ack(&ctx, AckCode::AR, &[err], &params)
    }

    /// The acknowledgement file, then the run's end, in one step.
    async fn finish(
        &self,
        run: &ClaimedBatch,
        account: &ExchangeAccount,
        structure: &Structure,
    ) -> Result<(), BatchError> {
        // The three read every recorded message and share nothing: side by side, the second
        // core works while the first waits on the database.
        let (ack, (json, html), cnf) = tokio::try_join!(
            self.ack_file(run, account, structure),
            self.dqa_files(run),
            self.cnf_file(run),
        )?;
        let mut files = vec![("reports", format!("{}.ack", run.accepted_name), ack)];
        if structure
            .problems
            .iter()
            .any(|p| p.level == ProblemLevel::Warning)
        {
            let text = report_text(
                run,
                "The file was processed, with these remarks:",
                &structure.problems,
            );
            let note = self.db.store_bytes(text.as_bytes()).await?;
            files.push((
                "reports",
                format!("{}.warnings.txt", run.accepted_name),
                note,
            ));
        }
        files.push(("reports", format!("{}.dqa.json", run.accepted_name), json));
        files.push(("reports", format!("{}.dqa.html", run.accepted_name), html));
        files.push(("receive", format!("{}.cnf", run.accepted_name), cnf));
        self.db
            .complete_run(run.id, RunEnd::Done.as_str(), None, None, &files)
            .await?;
        Ok(())
    }

    /// The acknowledgement file: every response (or every non-AA one) in the input's order and
    /// batches, written to a spool file and stored from it.
    async fn ack_file(
        &self,
        run: &ClaimedBatch,
        account: &ExchangeAccount,
        structure: &Structure,
    ) -> Result<Blob, BatchError> {
        let errors_only = account.ack_mode == "errors";
        let name = format!("{}.ack", run.accepted_name);
        let control_id = self.ids.control_id();
        let timestamp = self.clock.now().strftime("%Y%m%d%H%M%S+0000").to_string();
        let identity = &self.registry.config().identity;
        let (sender_app, sender_fac) = structure.fhs_sender.clone().unwrap_or_default();
        let header = AckFileHeader {
            application: &identity.application,
            facility: &identity.facility,
            receiving_application: &sender_app,
            receiving_facility: &sender_fac,
            timestamp: &timestamp,
            file_name: &name,
            control_id: &control_id,
            input_control_id: structure.fhs_control_id.as_deref(),
        };
        let spool = Spool::create(&self.options.spool_dir, "ack", run.id).await?;
        let mut out = tokio::io::BufWriter::new(spool.file.try_clone().await?);
        let (mut w, fhs) = AckFileWriter::start(header, LineEnding::Crlf);
        out.write_all(fhs.as_bytes()).await?;
        let batches: Vec<reader::BatchInfo> = if structure.batches.is_empty() {
            vec![reader::BatchInfo::default()]
        } else {
            structure.batches.clone()
        };
        let mut current: Option<usize> = None;
        let mut rows = std::pin::pin!(self.db.run_responses(run.id));
        while let Some((idx, ack, hl7)) = rows.try_next().await? {
            let b = structure.batch_of(idx);
            let text = open_through(&mut w, &mut current, b, &batches);
            out.write_all(text.as_bytes()).await?;
            if errors_only && ack == "AA" {
                continue;
            }
            out.write_all(w.response(&hl7).as_bytes()).await?;
        }
        // Batches of the input that hold no message (or only accepted ones) still appear.
        let last = batches.len().saturating_sub(1);
        let text = open_through(&mut w, &mut current, last, &batches);
        out.write_all(text.as_bytes()).await?;
        out.write_all(w.end_batch().as_bytes()).await?;
        out.write_all(w.finish().as_bytes()).await?;
        out.flush().await?;
        drop(out);
        let mut file = spool.file.try_clone().await?;
        file.rewind().await?;
        let blob = self.db.store_blob(&mut file).await?;
        Ok(blob)
    }

    /// The data quality report, as JSON and as a page, from the recorded facts.
    async fn dqa_files(&self, run: &ClaimedBatch) -> Result<(Blob, Blob), BatchError> {
        let report = dqa::file_report(
            &self.db,
            run.id,
            &self.options.dqa_weights,
            self.clock.now(),
        )
        .await?;
        let json = self
            .db
            .store_bytes(dqa::to_json(&report).as_bytes())
            .await?;
        let html = self
            .db
            .store_bytes(dqa::html::render(&report).as_bytes())
            .await?;
        Ok((json, html))
    }

    /// The consent notification file, for Receive: written to a spool file of its own patient
    /// by patient, like the acknowledgement file.
    async fn cnf_file(&self, run: &ClaimedBatch) -> Result<Blob, BatchError> {
        let spool = Spool::create(&self.options.spool_dir, "cnf", run.id).await?;
        let mut out = tokio::io::BufWriter::new(spool.file.try_clone().await?);
        dqa::write_run_cnf(&self.db, run.id, &mut out).await?;
        out.flush().await?;
        drop(out);
        let mut file = spool.file.try_clone().await?;
        file.rewind().await?;
        Ok(self.db.store_blob(&mut file).await?)
    }

    /// Ends a run that was not processed, with an error report in DQA-Reports.
    async fn end_with_report(
        &self,
        run: &ClaimedBatch,
        end: RunEnd,
        text: &str,
        duplicate_of: Option<i64>,
        problems: &[Problem],
    ) -> Result<(), BatchError> {
        let body = report_text(run, text, problems);
        let blob = self.db.store_bytes(body.as_bytes()).await?;
        let files = vec![("reports", format!("{}.error.txt", run.accepted_name), blob)];
        self.db
            .complete_run(run.id, end.as_str(), Some(text), duplicate_of, &files)
            .await?;
        tracing::info!(run = run.id, org = %run.organization_code, outcome = end.as_str(),
            "batch file not processed");
        Ok(())
    }
}

/// Ends the open output batch (if any) and opens the next ones until batch `b` (of the input's
/// batches) is open; returns the text to write. Output batches mirror the input's, so even one
/// with nothing to report appears (with BTS 0).
fn open_through(
    w: &mut AckFileWriter<'_>,
    current: &mut Option<usize>,
    b: usize,
    batches: &[reader::BatchInfo],
) -> String {
    let mut text = String::new();
    while current.is_none_or(|c| c < b) {
        if current.is_some() {
            text.push_str(&w.end_batch());
        }
        let n = current.map_or(0, |c| c + 1);
        *current = Some(n);
        let id = batches.get(n).and_then(|x| x.control_id.as_deref());
        text.push_str(&w.begin_batch(id));
    }
    text
}

/// The lane of a message: by its first patient identifier (PID-3.1 of a VXU, QPD-3.1 of a query),
/// so that one patient's messages (a query after the VXU that reported the patient, say) stay in
/// file order; messages without one go by their position.
fn lane_of(text: &[u8], index: u64, lanes: usize) -> usize {
    let key = text
        .split(|&b| b == b'\r')
        .find(|segment| segment.starts_with(b"PID") || segment.starts_with(b"QPD"))
        .and_then(|segment| {
            let sep = *segment.get(3)?;
            let field = segment.split(|&b| b == sep).nth(3)?;
            let id = field
                .split(|&b| b == b'~' || b == b'^')
                .next()
                .filter(|id| !id.is_empty())?;
            Some(id)
        });
    let hash = match key {
        // FNV-1a: stable and cheap.
        Some(id) => id.iter().fold(0xcbf29ce484222325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        }),
        None => index,
    };
    usize::try_from(hash % lanes as u64).unwrap_or(0)
}

fn warning(text: String) -> Problem {
    Problem {
        level: ProblemLevel::Warning,
        text,
    }
}

/// A plain-text report for people: which file, when, what happened, what was found. It names
/// the file and positions, never patient data.
fn report_text(run: &ClaimedBatch, summary: &str, problems: &[Problem]) -> String {
    let mut out = String::new();
    out.push_str(&format!("File: {}\r\n", run.original_name));
    if run.accepted_name != run.original_name {
        out.push_str(&format!("Kept in Accepted as: {}\r\n", run.accepted_name));
    }
    out.push_str(&format!("Received: {}\r\n", run.received_at));
    out.push_str(&format!("Size: {} bytes\r\n\r\n", run.size));
    out.push_str(summary);
    out.push_str("\r\n");
    for p in problems {
        let level = match p.level {
            ProblemLevel::Error => "Error",
            ProblemLevel::Warning => "Warning",
        };
        out.push_str(&format!("- {level}: {}\r\n", p.text));
    }
    out
}

/// A private temporary file, removed when dropped.
struct Spool {
    path: PathBuf,
    file: tokio::fs::File,
}

impl Spool {
    /// A new file of `kind` for run `run` in `dir`, readable by this user only.
    async fn create(dir: &std::path::Path, kind: &str, run: i64) -> std::io::Result<Spool> {
        let path = dir.join(format!(
            "izport-{kind}-{}-{run}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let mut options = tokio::fs::OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&path).await?;
        Ok(Spool { path, file })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.len() < 64)
        .unwrap_or_else(|| "node".to_string())
}

#[cfg(test)]
mod tests {
    use super::lane_of;

    #[test]
    fn one_patients_messages_share_a_lane() {
        let vxu = b"MSH|^~\\&|A\rPID|1||MRN77^^^EHR^MR~SS1^^^SSA^SS||DOE^JANE\rORC|RE||D1\r";
        let update = b"MSH|^~\\&|B\rPID|1||MRN77^^^EHR^MR||DOE^JANE\rRXA|0|1\r";
        let query = b"MSH|^~\\&|C\rQPD|Z34^Request^CDCPHINVS|TAG|MRN77^^^EHR^MR|DOE^JANE\r";
        for lanes in [1, 2, 4, 7] {
            let lane = lane_of(vxu, 0, lanes);
            assert!(lane < lanes);
            assert_eq!(lane_of(update, 5, lanes), lane, "{lanes} lanes");
            assert_eq!(lane_of(query, 9, lanes), lane, "{lanes} lanes");
        }
        // Without an identifier, the position decides.
        let bare = b"MSH|^~\\&|D\r";
        assert_eq!(lane_of(bare, 6, 4), 2);
        // Different patients spread over the lanes.
        let spread: std::collections::HashSet<usize> = (0..64)
            .map(|n| lane_of(format!("MSH|x\rPID|1||P{n}^^^E^MR\r").as_bytes(), 0, 4))
            .collect();
        assert_eq!(spread.len(), 4);
    }
}
