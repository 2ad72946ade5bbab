//! `izport batch …`, `izport sftp …` and `izport org exchange-account …`: the file door's
//! accounts, its host key, and the runs that process batch files.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::builder::{RangedU64ValueParser, TypedValueParser};
use clap::{Args, Subcommand};

use crate::auth::{generate_password, hash_password};
use crate::batch::{self, FileDoorOptions, Retention, SftpOptions, Worker, WorkerOptions};
use crate::clock::{RandomIds, SystemClock};
use crate::maintenance::{Maintenance, MaintenanceConfig};
use crate::registry::Registry;
use crate::store::Db;

/// Reads `--dqa-weights`: a JSON object of weights, checked.
pub fn read_dqa_weights(path: &std::path::Path) -> anyhow::Result<crate::dqa::Weights> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--dqa-weights: reading {}", path.display()))?;
    let w: crate::dqa::Weights = serde_json::from_str(&text)
        .with_context(|| format!("--dqa-weights: {} is not a weights object", path.display()))?;
    w.check().map_err(|e| anyhow!("--dqa-weights: {e}"))?;
    Ok(w)
}

/// The file door's flags of `izport serve`.
#[derive(Args, Debug, Clone)]
pub struct FileDoorArgs {
    /// Address of the built-in SFTP server, or `off`
    #[arg(long, env = "IZPORT_SFTP_LISTEN", default_value = "127.0.0.1:2222")]
    pub sftp_listen: String,
    /// The largest file an SFTP upload may reach, in bytes
    #[arg(long, env = "IZPORT_SFTP_MAX_FILE_BYTES", default_value_t = SftpOptions::DEFAULT_MAX_FILE_BYTES,
          value_parser = RangedU64ValueParser::<u64>::new().range(1024..=64 * (1u64 << 30)))]
    pub sftp_max_file_bytes: u64,
    /// Where SFTP uploads and acknowledgement files are assembled before they are stored
    /// (private temporary files; default: the system's temporary directory)
    #[arg(long, env = "IZPORT_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Seconds a completed upload waits (after its last change) before it is picked up
    #[arg(long, env = "IZPORT_BATCH_QUIET_SECONDS", default_value_t = 2,
          value_parser = RangedU64ValueParser::<u64>::new().range(0..=3600))]
    pub batch_quiet_seconds: u64,
    /// Process uploaded files in this server (`--batch-worker off`: another node does)
    #[arg(long, env = "IZPORT_BATCH_WORKER", default_value = "on",
          value_parser = clap::builder::PossibleValuesParser::new(["on", "off"])
              .map(|s| s == "on"))]
    pub batch_worker: bool,
    /// Seconds a node keeps a file's run without a sign of life before another node (or this one
    /// after a restart) takes it over
    #[arg(long, env = "IZPORT_BATCH_LEASE_SECONDS", default_value_t = WorkerOptions::default().lease.as_secs(),
          value_parser = RangedU64ValueParser::<u64>::new().range(2..=3600))]
    pub batch_lease_seconds: u64,
    /// Groups of a file applied at once (one patient's messages always share a lane, so they
    /// keep the file's order) [default: 4 on SQLite, 8 on PostgreSQL]
    #[arg(long, env = "IZPORT_BATCH_LANES",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=32))]
    pub batch_lanes: Option<usize>,
    /// Messages of a file applied in one transaction [default: 256 on SQLite, 32 on
    /// PostgreSQL]
    #[arg(long, env = "IZPORT_BATCH_GROUP",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1000))]
    pub batch_group: Option<usize>,
    /// A JSON file of data quality report weights (docs/dqa.md; keys left out keep their
    /// defaults)
    #[arg(long, env = "IZPORT_DQA_WEIGHTS")]
    pub dqa_weights: Option<PathBuf>,
    /// Days files stay in DQA-Reports and Receive (reports, acknowledgement and consent
    /// notification files); then the batch worker removes them
    #[arg(long, env = "IZPORT_RETAIN_REPORTS_DAYS", default_value_t = Retention::DEFAULT_REPORTS_DAYS,
          value_parser = RangedU64ValueParser::<u64>::new().range(1..=36500))]
    pub retain_reports_days: u64,
    /// Days an original stays in Accepted after it was received or its last run ended; then the
    /// batch worker removes it (never while a run of it is unfinished)
    #[arg(long, env = "IZPORT_RETAIN_ACCEPTED_DAYS", default_value_t = Retention::DEFAULT_ACCEPTED_DAYS,
          value_parser = RangedU64ValueParser::<u64>::new().range(1..=36500))]
    pub retain_accepted_days: u64,
}

impl FileDoorArgs {
    pub fn options(&self) -> anyhow::Result<FileDoorOptions> {
        let spool = self.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
        let sftp = match self.sftp_listen.as_str() {
            "off" => None,
            addr => {
                let listen = addr
                    .parse()
                    .map_err(|_| anyhow!("--sftp-listen: '{addr}' is not an address (or 'off')"))?;
                let mut o = SftpOptions::local(listen);
                o.max_file_bytes = self.sftp_max_file_bytes;
                o.quiet = Duration::from_secs(self.batch_quiet_seconds);
                o.spool_dir = spool.clone();
                Some(o)
            }
        };
        let dqa_weights = match &self.dqa_weights {
            Some(path) => read_dqa_weights(path)?,
            None => crate::dqa::Weights::default(),
        };
        let worker = self.batch_worker.then(|| WorkerOptions {
            group: self.batch_group,
            lanes: self.batch_lanes,
            lease: Duration::from_secs(self.batch_lease_seconds),
            spool_dir: spool,
            dqa_weights,
            retention: Retention::days(self.retain_reports_days, self.retain_accepted_days),
            ..WorkerOptions::default()
        });
        Ok(FileDoorOptions { sftp, worker })
    }
}

#[derive(Subcommand, Debug)]
pub enum BatchCommand {
    /// Batch files received and how their processing went
    List {
        /// Only this organization's files
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One run: state, progress, counts by acknowledgement code, times
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Process an accepted file again (a new run, for after a fix); a worker picks it up
    Reprocess { id: i64 },
    /// Load a file through the same pipeline as an upload (a historical load), here and now,
    /// with a progress bar; the organization needs a data exchange account
    Import {
        file: PathBuf,
        #[arg(long)]
        org: String,
        /// The registry's settings, as `serve` takes them
        #[command(flatten)]
        registry: super::serve::RegistryArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum SftpCommand {
    /// The SFTP host key's fingerprint (made now if the server never ran), to give partners
    HostKey,
}

/// `izport org exchange-account CODE …`
#[derive(Args, Debug)]
pub struct ExchangeAccountArgs {
    /// The organization
    pub code: String,
    /// The account's username: the organization's import code, which starts its file names
    #[arg(long)]
    pub import_code: Option<String>,
    /// Read the password from the first line of standard input (else one is generated and
    /// printed once)
    #[arg(long)]
    pub password_stdin: bool,
    /// Add an OpenSSH public key (a file such as id_ed25519.pub) for key logins (sftp -b)
    #[arg(long)]
    pub add_key: Option<PathBuf>,
    /// Acknowledgement files: all (one ACK per message) or errors (only AE/AR)
    #[arg(long, value_parser = ["all", "errors"])]
    pub ack_mode: Option<String>,
    /// Refuse files whose BTS/FTS counts do not match (default: process them, with a warning)
    #[arg(long)]
    pub strict_counts: Option<bool>,
}

pub async fn exchange_account(db: &Db, args: ExchangeAccountArgs) -> anyhow::Result<()> {
    let existing = db.exchange_account_of(&args.code).await?;
    if let Some(code) = &args.import_code {
        super::check_code("import code", code)?;
        let code = code.to_ascii_uppercase();
        let (password, show) = if args.password_stdin {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.len() < 12 {
                bail!("the password must have at least 12 characters");
            }
            (line, false)
        } else {
            (generate_password(), true)
        };
        db.set_exchange_account(&args.code, &code, &hash_password(&password)?)
            .await?;
        println!(
            "data exchange account {code} set for organization {}",
            args.code
        );
        if show {
            println!("password (shown once): {password}");
        }
    } else if existing.is_none() {
        bail!(
            "organization {} has no data exchange account: give --import-code to create it",
            args.code
        );
    }
    if let Some(path) = &args.add_key {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let key = russh::keys::ssh_key::PublicKey::from_openssh(text.trim())
            .map_err(|e| anyhow!("{} is not an OpenSSH public key: {e}", path.display()))?;
        let algorithm = key.algorithm();
        if !matches!(
            algorithm,
            russh::keys::Algorithm::Ed25519 | russh::keys::Algorithm::Ecdsa { .. }
        ) {
            bail!("only ed25519 and ECDSA keys are accepted (this one is {algorithm})");
        }
        let fingerprint = key.fingerprint(russh::keys::HashAlg::Sha256).to_string();
        let bare = russh::keys::ssh_key::PublicKey::new(key.key_data().clone(), "");
        let line = bare
            .to_openssh()
            .map_err(|e| anyhow!("cannot write the key: {e}"))?;
        let comment = (!key.comment().is_empty()).then(|| key.comment().to_string());
        db.add_exchange_key(&args.code, &line, &fingerprint, comment.as_deref())
            .await?;
        println!(
            "key {fingerprint} added to {}'s data exchange account",
            args.code
        );
    }
    if args.ack_mode.is_some() || args.strict_counts.is_some() {
        db.set_exchange_options(&args.code, args.ack_mode.as_deref(), args.strict_counts)
            .await?;
        println!("options set for {}'s data exchange account", args.code);
    }
    Ok(())
}

pub async fn sftp(db: &Db, command: SftpCommand) -> anyhow::Result<()> {
    match command {
        SftpCommand::HostKey => {
            let (_, fingerprint) = batch::sftp::host_key(db).await?;
            println!("{fingerprint}");
        }
    }
    Ok(())
}

pub async fn run(db: &Arc<Db>, command: BatchCommand) -> anyhow::Result<()> {
    match command {
        BatchCommand::List { org, json } => {
            let runs = db.runs(org.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
                return Ok(());
            }
            if runs.is_empty() {
                println!("no batch files");
            }
            for r in runs {
                println!(
                    "{:>5}  {:<10} {:<28} {:<10} {:>7}/{:<7} AA {} AE {} AR {}  received {}",
                    r.id,
                    r.organization,
                    r.original_name,
                    r.state,
                    r.processed_messages,
                    r.total_messages.map_or("?".to_string(), |t| t.to_string()),
                    r.count_aa,
                    r.count_ae,
                    r.count_ar,
                    r.received_at
                );
            }
        }
        BatchCommand::Show { id, json } => {
            let run = db
                .run(id)
                .await?
                .ok_or_else(|| anyhow!("no batch run {id}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&run)?);
                return Ok(());
            }
            println!("run            {}", run.id);
            println!("organization   {}", run.organization);
            println!("file           {} ({} bytes)", run.original_name, run.size);
            println!("in Accepted as {}", run.accepted_name);
            println!("state          {}", run.state);
            if let Some(reason) = &run.reason {
                println!("reason         {reason}");
            }
            println!(
                "messages       {} of {}",
                run.processed_messages,
                run.total_messages
                    .map_or("?".to_string(), |t| t.to_string())
            );
            println!(
                "answers        AA {}, AE {}, AR {}",
                run.count_aa, run.count_ae, run.count_ar
            );
            println!("received       {}", run.received_at);
            println!("picked up      {}", run.claimed_at);
            println!(
                "finished       {}",
                run.finished_at.as_deref().unwrap_or("-")
            );
            if let Some(d) = run.duplicate_of {
                println!("same content as run {d}");
            }
            if let Some(r) = run.reprocess_of {
                println!("reprocessing of run {r}");
            }
        }
        BatchCommand::Reprocess { id } => {
            let (file_id, name) = db
                .run_file(id)
                .await?
                .ok_or_else(|| anyhow!("no batch run {id}"))?;
            let file_id = file_id.ok_or_else(|| {
                anyhow!(
                    "the file of run {id} ({name}) is no longer in Accepted: it was removed \
                     after the retention period (--retain-accepted-days); upload it again"
                )
            })?;
            let new = db.queue_run(file_id, Some(id), false, &name).await?;
            println!("run {new} queued: a worker processes {name} again");
        }
        BatchCommand::Import {
            file,
            org,
            registry,
        } => {
            let mut registry = registry.config()?;
            registry.schedule = Some(crate::server::load_schedule(db).await?);
            let account = db.exchange_account_of(&org).await?.ok_or_else(|| {
                anyhow!(
                    "organization {org} has no data exchange account: create one with \
                     `izport org exchange-account {org} --import-code CODE`"
                )
            })?;
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| anyhow!("{} has no usable file name", file.display()))?
                .to_string();
            let mut reader = tokio::fs::File::open(&file)
                .await
                .with_context(|| format!("opening {}", file.display()))?;
            let blob = db.store_blob(&mut reader).await?;
            let (file_id, accepted) = db
                .accept_file(account.organization_id, &name, &blob)
                .await?;
            let run_id = db.queue_run(file_id, None, true, &name).await?;
            eprintln!(
                "{name}: {} bytes stored as {accepted}, run {run_id}",
                blob.size
            );
            let clock = Arc::new(SystemClock);
            let maintenance = Arc::new(Maintenance::new(
                clock.clone(),
                MaintenanceConfig::default(),
            ));
            maintenance.refresh(db).await?;
            let worker = Worker::new(
                db.clone(),
                Registry::new(db.clone(), registry, clock.clone(), Arc::new(RandomIds))?,
                maintenance,
                clock,
                Arc::new(RandomIds),
                WorkerOptions::default(),
            );
            let run = worker
                .take(run_id)
                .await?
                .ok_or_else(|| anyhow!("run {run_id} is held by another worker"))?;
            let started = std::time::Instant::now();
            let mut bar = Progress::new();
            let end = worker
                .process(run, &mut |done, total| bar.show(done, total))
                .await?;
            bar.done();
            let summary = db
                .run(run_id)
                .await?
                .ok_or_else(|| anyhow!("run {run_id} vanished"))?;
            eprintln!(
                "run {run_id}: {} — {} messages in {:.1} s (AA {}, AE {}, AR {}); reports in {}'s DQA-Reports",
                end.as_str(),
                summary.processed_messages,
                started.elapsed().as_secs_f64(),
                summary.count_aa,
                summary.count_ae,
                summary.count_ar,
                org
            );
        }
    }
    Ok(())
}

/// A one-line progress bar on standard error.
struct Progress {
    last: std::time::Instant,
}

impl Progress {
    fn new() -> Self {
        Progress {
            last: std::time::Instant::now() - Duration::from_secs(1),
        }
    }

    fn show(&mut self, done: u64, total: u64) {
        if self.last.elapsed() < Duration::from_millis(200) && done < total {
            return;
        }
        self.last = std::time::Instant::now();
        let width = 40u64;
        let filled = (done.min(total) * width)
            .checked_div(total)
            .unwrap_or(width);
        let bar: String = (0..width)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        eprint!("\r[{bar}] {done}/{total} messages");
        let _ = std::io::stderr().flush();
    }

    fn done(&self) {
        eprintln!();
    }
}
