//! The built-in SFTP server (russh + russh-sftp): one data exchange account per organization,
//! password or public-key login, and a virtual tree of exactly four folders whose files live in
//! the database. Nothing a client sends is ever joined onto an operating-system path; uploads
//! are spooled to a private temporary file and committed to the database when the client closes
//! them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::keys::ssh_key::{self, HashAlg, LineEnding};
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::names::{self, Folder, PathError, VPath};
use crate::auth::Authenticator;
use crate::maintenance::door::FileDoor;
use crate::maintenance::Maintenance;
use crate::store::{Db, ExchangeAccount, FileEntry, StoreError, CHUNK_BYTES};

/// How the SFTP server behaves; every value has a flag in `izport serve`.
#[derive(Clone, Debug)]
pub struct SftpOptions {
    pub listen: SocketAddr,
    /// The largest file an upload may reach.
    pub max_file_bytes: u64,
    /// How long after its last change a completed upload waits before it is picked up.
    pub quiet: Duration,
    /// Where uploads are spooled until the client closes them (private files, removed after).
    pub spool_dir: PathBuf,
    /// Connections open at once, over all clients; more are refused at once.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
}

impl SftpOptions {
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

    pub fn local(listen: SocketAddr) -> Self {
        SftpOptions {
            listen,
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            quiet: Duration::from_secs(2),
            spool_dir: std::env::temp_dir(),
            max_connections: 256,
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// The host key every node serves, made on first start and kept in the database.
pub async fn host_key(db: &Db) -> Result<(ssh_key::PrivateKey, String), HostKeyError> {
    let (text, fingerprint) = match db.sftp_host_key().await? {
        Some(found) => found,
        None => {
            let seed: [u8; 32] = rand::random();
            let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&seed));
            let text = key
                .to_openssh(LineEnding::LF)
                .map_err(|e| HostKeyError::Key(e.to_string()))?;
            let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
            db.keep_sftp_host_key(&text, &fingerprint).await?
        }
    };
    let key =
        ssh_key::PrivateKey::from_openssh(&text).map_err(|e| HostKeyError::Key(e.to_string()))?;
    Ok((key, fingerprint))
}

#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the SFTP host key cannot be read: {0}")]
    Key(String),
}

/// What every connection shares.
struct Shared {
    db: Arc<Db>,
    auth: Arc<Authenticator>,
    maintenance: Arc<Maintenance>,
    options: SftpOptions,
    /// Identifies this node's upload locks.
    node: String,
    open: AtomicUsize,
    sessions: AtomicU64,
}

/// A running SFTP server.
pub struct SftpServer {
    pub addr: SocketAddr,
    pub fingerprint: String,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SftpServer {
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Binds and serves SFTP in the background.
pub async fn start(
    db: Arc<Db>,
    auth: Arc<Authenticator>,
    maintenance: Arc<Maintenance>,
    options: SftpOptions,
) -> anyhow::Result<SftpServer> {
    use anyhow::Context;
    let (key, fingerprint) = host_key(&db).await?;
    std::fs::create_dir_all(&options.spool_dir).with_context(|| {
        format!(
            "creating the SFTP spool directory {}",
            options.spool_dir.display()
        )
    })?;
    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("binding SFTP on {}", options.listen))?;
    let addr = listener.local_addr()?;
    let config = Arc::new(russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-izport".into()),
        // Password and public key only: no keyboard-interactive (its pre-auth advisories), no
        // "none" beyond the probe every client sends.
        methods: MethodSet::from(&[MethodKind::Password, MethodKind::PublicKey][..]),
        auth_rejection_time: Duration::from_secs(1),
        auth_rejection_time_initial: Some(Duration::from_millis(10)),
        keys: vec![key],
        max_auth_attempts: 6,
        inactivity_timeout: Some(options.idle_timeout),
        keepalive_interval: Some(Duration::from_secs(60)),
        nodelay: true,
        ..Default::default()
    });
    tracing::info!(%addr, host_key = %fingerprint, "SFTP server listening");
    let shared = Arc::new(Shared {
        db,
        auth,
        maintenance,
        node: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
        options,
        open: AtomicUsize::new(0),
        sessions: AtomicU64::new(0),
    });
    let (shutdown, mut rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            let (socket, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "SFTP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = rx.changed() => break,
            };
            if shared.open.load(Ordering::Relaxed) >= shared.options.max_connections {
                tracing::warn!(%peer, "SFTP connection refused: too many connections");
                drop(socket);
                continue;
            }
            shared.open.fetch_add(1, Ordering::Relaxed);
            let shared = shared.clone();
            let config = config.clone();
            tokio::spawn(async move {
                let handler = SshSession {
                    shared: shared.clone(),
                    peer,
                    account: None,
                    channels: HashMap::new(),
                };
                // A client that never finishes the protocol greeting is dropped.
                let idle = shared.options.idle_timeout;
                match tokio::time::timeout(idle, russh::server::run_stream(config, socket, handler))
                    .await
                {
                    Ok(Ok(session)) => {
                        if let Err(e) = session.await {
                            tracing::debug!(%peer, error = %e, "SFTP connection ended with an error");
                        }
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "SFTP connection failed"),
                    Err(_) => tracing::debug!(%peer, "SFTP connection timed out in the greeting"),
                }
                shared.open.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
    Ok(SftpServer {
        addr,
        fingerprint,
        shutdown,
        task,
    })
}

#[derive(Debug, thiserror::Error)]
enum SshError {
    #[error(transparent)]
    Russh(#[from] russh::Error),
}

/// One SSH connection.
struct SshSession {
    shared: Arc<Shared>,
    peer: SocketAddr,
    account: Option<ExchangeAccount>,
    channels: HashMap<ChannelId, Channel<Msg>>,
}

impl SshSession {
    fn admit(&mut self, account: ExchangeAccount, method: &str) -> Auth {
        if self
            .shared
            .maintenance
            .file_door(&account.organization_code)
            == FileDoor::Refuse
        {
            tracing::info!(peer = %self.peer, org = %account.organization_code,
                "SFTP login refused: the registry is in an outage window");
            return Auth::reject();
        }
        tracing::info!(peer = %self.peer, org = %account.organization_code, method, "SFTP login");
        self.account = Some(account);
        Auth::Accept
    }
}

impl russh::server::Handler for SshSession {
    type Error = SshError;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        match self
            .shared
            .auth
            .authenticate_exchange(user, password, Some(self.peer.ip()))
            .await
        {
            Ok(account) => Ok(self.admit(account, "password")),
            Err(e) => {
                metrics::counter!(crate::telemetry::AUTH_FAILURES, "door" => "sftp").increment(1);
                tracing::info!(peer = %self.peer, reason = %e, "SFTP login refused");
                Ok(Auth::reject())
            }
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let Ok(text) = offer.public_key.to_openssh() else {
            return Ok(Auth::reject());
        };
        // Only keys registered to the account go on to the signature check.
        Ok(
            match self
                .shared
                .auth
                .authenticate_exchange_key(user, &text)
                .await
            {
                Ok(_) => Auth::Accept,
                Err(_) => Auth::reject(),
            },
        )
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let Ok(text) = key.public_key.to_openssh() else {
            return Ok(Auth::reject());
        };
        match self
            .shared
            .auth
            .authenticate_exchange_key(user, &text)
            .await
        {
            Ok(account) => Ok(self.admit(account, "publickey")),
            Err(e) => {
                metrics::counter!(crate::telemetry::AUTH_FAILURES, "door" => "sftp").increment(1);
                tracing::info!(peer = %self.peer, reason = %e, "SFTP login refused");
                Ok(Auth::reject())
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.account.is_some() && self.channels.len() < 4 {
            self.channels.insert(channel.id(), channel);
            reply.accept().await;
        }
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(account), true) = (self.account.clone(), name == "sftp") else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        let Some(ch) = self.channels.remove(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        session.channel_success(channel)?;
        let n = self.shared.sessions.fetch_add(1, Ordering::Relaxed);
        let handler = SftpSession::new(self.shared.clone(), account, n);
        russh_sftp::server::run_with_config(
            ch.into_stream(),
            handler,
            russh_sftp::server::Config {
                max_client_packet_len: 256 * 1024,
            },
        )
        .await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }
}

/// An SFTP status reply: the error type of every request.
#[derive(Debug)]
struct Reply(StatusReply);

impl From<Reply> for StatusReply {
    fn from(r: Reply) -> StatusReply {
        r.0
    }
}

fn reply(code: StatusCode, message: impl Into<String>) -> Reply {
    Reply(code.with_message(message))
}

fn no_such_file() -> Reply {
    reply(StatusCode::NoSuchFile, "No such file")
}

fn read_only(folder: Folder) -> Reply {
    reply(
        StatusCode::PermissionDenied,
        format!(
            "{} is read-only: deliver files to HL7-Dropoff",
            folder.display_name()
        ),
    )
}

fn storage(e: StoreError) -> Reply {
    tracing::error!(error = %e, "SFTP: storage failed");
    reply(
        StatusCode::Failure,
        "The registry could not complete the request; try again later",
    )
}

fn path_reply(e: PathError) -> Reply {
    match e {
        PathError::NotFound => no_such_file(),
        PathError::BadName(why) => reply(StatusCode::Failure, format!("Refused: {why}")),
    }
}

enum OpenHandle {
    Dir {
        entries: Vec<File>,
        sent: bool,
    },
    Read {
        blob_id: i64,
        size: u64,
        cached: Option<(u64, Vec<u8>)>,
    },
    Write(Upload),
}

struct Upload {
    name: String,
    spool: tokio::fs::File,
    spool_path: PathBuf,
    size: u64,
    lock_renewed: Instant,
}

impl Drop for Upload {
    fn drop(&mut self) {
        // An upload never closed (the client went away) leaves nothing behind.
        let _ = std::fs::remove_file(&self.spool_path);
    }
}

/// One SFTP session, bound to one organization's account.
struct SftpSession {
    shared: Arc<Shared>,
    account: ExchangeAccount,
    owner: String,
    handles: HashMap<String, OpenHandle>,
    next_handle: u64,
    /// Uploads this session completed: a STAT right after CLOSE must find the file even when the
    /// worker has already moved it (paramiko checks the size that way).
    closed: HashMap<String, (u64, u32)>,
}

const MAX_HANDLES: usize = 64;
const READ_MAX: u32 = 32 * 1024;
const LOCK_LEASE: Duration = Duration::from_secs(120);

fn unix_time(text: &str) -> u32 {
    text.parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| u32::try_from(t.as_second()).ok())
        .unwrap_or(0)
}

fn timestamp_after(d: Duration) -> String {
    let now = jiff::Timestamp::now();
    let later = now
        .checked_add(jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::ZERO))
        .unwrap_or(now);
    later.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn dir_attrs(writable: bool) -> FileAttributes {
    let mut attrs = FileAttributes::empty();
    attrs.permissions = Some(0o040000 | if writable { 0o755 } else { 0o555 });
    attrs.mtime = Some(0);
    attrs.atime = Some(0);
    attrs
}

fn file_attrs(size: u64, mtime: u32, writable: bool) -> FileAttributes {
    let mut attrs = FileAttributes::empty();
    attrs.size = Some(size);
    attrs.permissions = Some(0o100000 | if writable { 0o644 } else { 0o444 });
    attrs.mtime = Some(mtime);
    attrs.atime = Some(mtime);
    attrs
}

fn entry_attrs(folder: Folder, e: &FileEntry) -> FileAttributes {
    file_attrs(e.size, unix_time(&e.modified_at), folder.writable())
}

impl SftpSession {
    fn new(shared: Arc<Shared>, account: ExchangeAccount, n: u64) -> Self {
        let owner = format!("{}-s{n}", shared.node);
        SftpSession {
            shared,
            account,
            owner,
            handles: HashMap::new(),
            next_handle: 1,
            closed: HashMap::new(),
        }
    }

    fn resolve(&self, path: &str) -> Result<VPath, Reply> {
        names::resolve(path, &self.account.import_code).map_err(path_reply)
    }

    fn org(&self) -> i64 {
        self.account.organization_id
    }

    fn add_handle(&mut self, handle: OpenHandle) -> Result<String, Reply> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(reply(
                StatusCode::Failure,
                "Too many open files in this session",
            ));
        }
        let id = format!("h{}", self.next_handle);
        self.next_handle += 1;
        self.handles.insert(id.clone(), handle);
        Ok(id)
    }

    fn ready_at(&self, name: &str) -> Option<String> {
        (!names::is_temporary(name)).then(|| timestamp_after(self.shared.options.quiet))
    }

    async fn entries(&self, path: &VPath) -> Result<Vec<File>, Reply> {
        match path {
            VPath::Root => Ok(Folder::ALL
                .iter()
                .map(|f| File::new(f.display_name(), dir_attrs(f.writable())))
                .collect()),
            VPath::Folder(folder) => {
                let files = self
                    .shared
                    .db
                    .folder_files(self.org(), folder.key())
                    .await
                    .map_err(storage)?;
                Ok(files
                    .iter()
                    .map(|e| File::new(e.name.clone(), entry_attrs(*folder, e)))
                    .collect())
            }
            VPath::File(..) => Err(reply(StatusCode::Failure, "Not a directory")),
        }
    }

    async fn stat_path(&self, path: &str) -> Result<FileAttributes, Reply> {
        match self.resolve(path)? {
            VPath::Root => Ok(dir_attrs(false)),
            VPath::Folder(f) => Ok(dir_attrs(f.writable())),
            VPath::File(folder, name) => {
                let found = self
                    .shared
                    .db
                    .folder_file(self.org(), folder.key(), &name)
                    .await
                    .map_err(storage)?;
                match found {
                    Some(e) => Ok(entry_attrs(folder, &e)),
                    None if folder == Folder::Dropoff => self
                        .closed
                        .get(&name.to_lowercase())
                        .map(|(size, mtime)| file_attrs(*size, *mtime, true))
                        .ok_or_else(no_such_file),
                    None => Err(no_such_file()),
                }
            }
        }
    }

    async fn open_upload(&mut self, name: String, flags: OpenFlags) -> Result<String, Reply> {
        let db = self.shared.db.clone();
        let org = self.org();
        let existing = db
            .folder_file(org, Folder::Dropoff.key(), &name)
            .await
            .map_err(storage)?;
        if flags.contains(OpenFlags::EXCLUDE) && existing.is_some() {
            return Err(reply(StatusCode::Failure, format!("{name} already exists")));
        }
        let locked = db
            .lock_upload(org, &name, &self.owner, &timestamp_after(LOCK_LEASE))
            .await
            .map_err(storage)?;
        if !locked {
            return Err(reply(
                StatusCode::Failure,
                format!("Another upload of {name} is in progress; try again when it has finished"),
            ));
        }
        let spool_path = self.shared.options.spool_dir.join(format!(
            "izport-upload-{}-{:016x}",
            self.owner,
            rand::random::<u64>()
        ));
        let mut options = tokio::fs::OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut spool = match options.open(&spool_path).await {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "SFTP: cannot create a spool file");
                let _ = db.unlock_upload(org, &name, &self.owner).await;
                return Err(reply(
                    StatusCode::Failure,
                    "The registry cannot take uploads now; try again later",
                ));
            }
        };
        let mut size = 0;
        // Without TRUNCATE an existing file is continued (WinSCP resumes into its .filepart).
        if let (Some(e), false) = (&existing, flags.contains(OpenFlags::TRUNCATE)) {
            let mut seq = 0;
            while let Some(chunk) = db.blob_chunk(e.blob_id, seq).await.map_err(storage)? {
                spool.write_all(&chunk).await.map_err(|_| spool_failed())?;
                size += chunk.len() as u64;
                seq += 1;
            }
        }
        let upload = Upload {
            name,
            spool,
            spool_path,
            size,
            lock_renewed: Instant::now(),
        };
        self.add_handle(OpenHandle::Write(upload))
    }

    async fn finish_upload(&mut self, mut upload: Upload) -> Result<(), Reply> {
        let db = self.shared.db.clone();
        let org = self.org();
        let result: Result<(), Reply> = async {
            upload.spool.flush().await.map_err(|_| spool_failed())?;
            upload.spool.rewind().await.map_err(|_| spool_failed())?;
            let blob = db.store_blob(&mut upload.spool).await.map_err(storage)?;
            let size = blob.size;
            let ready = self.ready_at(&upload.name);
            let replaced = db
                .publish_upload(org, &upload.name, &blob, ready.as_deref())
                .await
                .map_err(storage)?;
            if replaced {
                tracing::info!(org = %self.account.organization_code, file = %upload.name,
                    "SFTP: an upload replaced a file of the same name not yet picked up");
            }
            tracing::info!(org = %self.account.organization_code, file = %upload.name, bytes = size,
                "SFTP: upload complete");
            let now = u32::try_from(jiff::Timestamp::now().as_second()).unwrap_or(0);
            self.closed.insert(upload.name.to_lowercase(), (size, now));
            Ok(())
        }
        .await;
        let _ = db.unlock_upload(org, &upload.name, &self.owner).await;
        result
    }
}

fn spool_failed() -> Reply {
    reply(
        StatusCode::Failure,
        "The registry could not store the upload; try again later",
    )
}

impl russh_sftp::server::Handler for SftpSession {
    type Error = Reply;

    fn unimplemented(&self) -> Self::Error {
        reply(StatusCode::OpUnsupported, "Not supported by this server")
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let resolved = self.resolve(&path)?;
        Ok(Name {
            id,
            files: vec![File::dummy(resolved.display())],
        })
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let resolved = self.resolve(&path)?;
        let entries = self.entries(&resolved).await?;
        let handle = self.add_handle(OpenHandle::Dir {
            entries,
            sent: false,
        })?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(OpenHandle::Dir { entries, sent }) => {
                if *sent || entries.is_empty() {
                    *sent = true;
                    return Err(reply(StatusCode::Eof, "End of directory"));
                }
                *sent = true;
                Ok(Name {
                    id,
                    files: std::mem::take(entries),
                })
            }
            _ => Err(reply(StatusCode::Failure, "Not a directory handle")),
        }
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let (folder, name) = match self.resolve(&filename)? {
            VPath::File(folder, name) => (folder, name),
            VPath::Root | VPath::Folder(_) => {
                return Err(reply(StatusCode::Failure, "Is a directory"))
            }
        };
        let writes = pflags.intersects(
            OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE,
        );
        let handle = if writes {
            if !folder.writable() {
                return Err(read_only(folder));
            }
            self.open_upload(name, pflags).await?
        } else {
            let found = self
                .shared
                .db
                .folder_file(self.org(), folder.key(), &name)
                .await
                .map_err(storage)?
                .ok_or_else(no_such_file)?;
            self.add_handle(OpenHandle::Read {
                blob_id: found.blob_id,
                size: found.size,
                cached: None,
            })?
        };
        Ok(Handle { id, handle })
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let db = self.shared.db.clone();
        let Some(OpenHandle::Read {
            blob_id,
            size,
            cached,
        }) = self.handles.get_mut(&handle)
        else {
            return Err(reply(StatusCode::Failure, "Not a file opened for reading"));
        };
        if offset >= *size {
            return Err(reply(StatusCode::Eof, "End of file"));
        }
        let chunk = CHUNK_BYTES as u64;
        let seq = offset / chunk;
        if cached.as_ref().is_none_or(|(s, _)| *s != seq) {
            let data = db
                .blob_chunk(*blob_id, seq)
                .await
                .map_err(storage)?
                .unwrap_or_default();
            *cached = Some((seq, data));
        }
        let data = cached.as_ref().map(|(_, d)| d.as_slice()).unwrap_or(&[]);
        let start = usize::try_from(offset - seq * chunk).unwrap_or(usize::MAX);
        let want = usize::try_from(len.min(READ_MAX)).unwrap_or(0);
        let slice = data.get(start..).unwrap_or(&[]);
        let take = slice.len().min(want);
        if take == 0 {
            return Err(reply(StatusCode::Eof, "End of file"));
        }
        Ok(Data {
            id,
            data: slice[..take].to_vec(),
        })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        let max = self.shared.options.max_file_bytes;
        let renew = {
            let Some(OpenHandle::Write(upload)) = self.handles.get_mut(&handle) else {
                return Err(reply(StatusCode::Failure, "Not a file opened for writing"));
            };
            let end = offset.saturating_add(data.len() as u64);
            if end > max {
                return Err(reply(
                    StatusCode::Failure,
                    format!(
                        "The file exceeds the registry's limit of {max} bytes; split it into \
                         several files"
                    ),
                ));
            }
            upload
                .spool
                .seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|_| spool_failed())?;
            upload
                .spool
                .write_all(&data)
                .await
                .map_err(|_| spool_failed())?;
            upload.size = upload.size.max(end);
            if upload.lock_renewed.elapsed() > LOCK_LEASE / 4 {
                upload.lock_renewed = Instant::now();
                Some(upload.name.clone())
            } else {
                None
            }
        };
        if let Some(name) = renew {
            let _ = self
                .shared
                .db
                .lock_upload(self.org(), &name, &self.owner, &timestamp_after(LOCK_LEASE))
                .await;
        }
        Ok(Status {
            id,
            status_code: StatusCode::Ok,
            error_message: "Ok".into(),
            language_tag: "en-US".into(),
        })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(OpenHandle::Write(upload)) => self.finish_upload(upload).await?,
            Some(_) => {}
            None => return Err(reply(StatusCode::Failure, "No such handle")),
        }
        Ok(ok(id))
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        Ok(Attrs {
            id,
            attrs: self.stat_path(&path).await?,
        })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.stat(id, path).await
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let attrs = match self.handles.get(&handle) {
            Some(OpenHandle::Write(u)) => file_attrs(u.size, 0, true),
            Some(OpenHandle::Read { size, .. }) => file_attrs(*size, 0, false),
            Some(OpenHandle::Dir { .. }) => dir_attrs(false),
            None => return Err(reply(StatusCode::Failure, "No such handle")),
        };
        Ok(Attrs { id, attrs })
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        // Times may be set on drop-off files (WinSCP does after an upload); everything else
        // is accepted and ignored, so that no client fails an upload over it.
        if let (VPath::File(Folder::Dropoff, name), Some(mtime)) =
            (self.resolve(&path)?, attrs.mtime)
        {
            if let Ok(ts) = jiff::Timestamp::from_second(i64::from(mtime)) {
                let text = ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
                let _ = self.shared.db.touch_upload(self.org(), &name, &text).await;
            }
        }
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        _handle: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Ok(ok(id))
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        match self.resolve(&filename)? {
            VPath::File(Folder::Dropoff, name) => {
                match self.shared.db.remove_upload(self.org(), &name).await {
                    Ok(()) => {
                        tracing::info!(org = %self.account.organization_code, file = %name,
                            "SFTP: a waiting file was removed by its sender");
                        Ok(ok(id))
                    }
                    Err(StoreError::NotFound(_)) => Err(no_such_file()),
                    Err(e) => Err(storage(e)),
                }
            }
            VPath::File(folder, _) => Err(read_only(folder)),
            _ => Err(reply(
                StatusCode::PermissionDenied,
                "Folders cannot be removed",
            )),
        }
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Self::Error> {
        let (from, to) = match (self.resolve(&oldpath)?, self.resolve(&newpath)?) {
            (VPath::File(Folder::Dropoff, a), VPath::File(Folder::Dropoff, b)) => (a, b),
            (VPath::File(f, _), _) | (_, VPath::File(f, _)) if !f.writable() => {
                return Err(read_only(f))
            }
            _ => {
                return Err(reply(
                    StatusCode::PermissionDenied,
                    "Folders cannot be renamed",
                ))
            }
        };
        // Another upload in progress under the new name: renaming onto it would lose one.
        let locked = self
            .shared
            .db
            .lock_upload(
                self.org(),
                &to,
                &self.owner,
                &timestamp_after(Duration::from_secs(5)),
            )
            .await
            .map_err(storage)?;
        if !locked {
            return Err(reply(
                StatusCode::Failure,
                format!("{to} is being uploaded right now"),
            ));
        }
        let ready = self.ready_at(&to);
        let result = self
            .shared
            .db
            .rename_upload(self.org(), &from, &to, ready.as_deref())
            .await;
        let _ = self
            .shared
            .db
            .unlock_upload(self.org(), &to, &self.owner)
            .await;
        match result {
            Ok(()) => {
                if let Some(size) = self.closed.remove(&from.to_lowercase()) {
                    self.closed.insert(to.to_lowercase(), size);
                }
                Ok(ok(id))
            }
            Err(StoreError::NotFound(_)) => Err(no_such_file()),
            Err(StoreError::Conflict(_)) => Err(reply(
                StatusCode::Failure,
                format!("{to} already exists; a rename never replaces a file"),
            )),
            Err(e) => Err(storage(e)),
        }
    }

    async fn mkdir(
        &mut self,
        _id: u32,
        _path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Err(reply(
            StatusCode::PermissionDenied,
            "Folders cannot be created here",
        ))
    }

    async fn rmdir(&mut self, _id: u32, _path: String) -> Result<Status, Self::Error> {
        Err(reply(
            StatusCode::PermissionDenied,
            "Folders cannot be removed",
        ))
    }
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}
