//! The file door: organizations deliver HL7 batch files by SFTP into `HL7-Dropoff`; the registry
//! moves each complete upload to `Accepted`, runs every message through the same registry path
//! as a SOAP submission ([`worker`]), and answers in `DQA-Reports` (acknowledgement files, error
//! reports). Files and their contents live in the database, so several nodes see the same
//! folders and any node may process a file another node received.
//!
//! Maintenance decides, this door renders: during a maintenance or intermittent window uploads
//! are taken and processing waits; in an outage SFTP logins are refused.

pub mod ackfile;
pub mod names;
pub mod reader;
pub mod retention;
pub mod sftp;
pub mod worker;

use std::sync::Arc;

use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::clock::{Clock, IdSource};
use crate::maintenance::Maintenance;
use crate::registry::Registry;
use crate::store::Db;

pub use retention::Retention;
pub use sftp::{SftpOptions, SftpServer};
pub use worker::{BatchError, RunEnd, Worker, WorkerOptions};

/// What `izport serve` runs of the file door: the SFTP server and the worker, each optional.
#[derive(Clone, Debug, Default)]
pub struct FileDoorOptions {
    pub sftp: Option<SftpOptions>,
    pub worker: Option<WorkerOptions>,
}

impl FileDoorOptions {
    /// Both parts on loopback with an ephemeral port, no quiet period and quick polling: for
    /// tests and tools that want a file door at once.
    pub fn local() -> Self {
        let mut sftp = SftpOptions::local(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        sftp.quiet = std::time::Duration::ZERO;
        FileDoorOptions {
            sftp: Some(sftp),
            worker: Some(WorkerOptions {
                poll: std::time::Duration::from_millis(20),
                ..WorkerOptions::default()
            }),
        }
    }
}

/// The file door of a running server.
pub struct RunningFileDoor {
    pub sftp: Option<SftpServer>,
    worker: Option<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl RunningFileDoor {
    /// Stops the worker at once, mid-transaction if it is in one (tests of resumption).
    pub fn abort_worker(&self) {
        if let Some(w) = &self.worker {
            w.abort();
        }
    }

    /// Stops taking connections and lets the worker finish the message group in hand (its run
    /// is resumed later, here or on another node).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Some(sftp) = self.sftp {
            sftp.shutdown().await;
        }
        if let Some(worker) = self.worker {
            let _ = worker.await;
        }
    }
}

/// Starts what `options` asks for.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    db: Arc<Db>,
    auth: Arc<Authenticator>,
    maintenance: Arc<Maintenance>,
    registry: Registry<Arc<Db>>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    options: FileDoorOptions,
) -> anyhow::Result<RunningFileDoor> {
    let (stop, rx) = watch::channel(false);
    let sftp = match options.sftp {
        Some(o) => Some(sftp::start(db.clone(), auth, maintenance.clone(), o).await?),
        None => None,
    };
    let worker = options.worker.map(|o| {
        let w = Arc::new(Worker::new(db, registry, maintenance, clock, ids, o));
        w.spawn(rx)
    });
    Ok(RunningFileDoor { sftp, worker, stop })
}
