//! The HTTP(S) server: routes, TLS, and the accept loop with graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::auth::{Authenticator, ClientCertificate, ThrottleConfig};
use crate::batch::FileDoorOptions;
use crate::clock::{IdSource, RandomIds};
use crate::maintenance::admin::AdminState;
use crate::maintenance::notice::NoticeContext;
use crate::maintenance::{self, Clock, Maintenance, MaintenanceConfig, SystemClock};
use crate::registry::forecast::Schedule;
use crate::registry::{Registry, RegistryConfig};
use crate::soap::fault::FaultStatus;
use crate::store::Db;

/// Size, time and connection limits for inbound requests.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest hl7Message accepted, in bytes (after XML decoding).
    pub max_message_bytes: usize,
    /// The largest HTTP request body read, in bytes (the XML as sent).
    pub max_body_bytes: usize,
    /// From a new connection (or the end of the last response) to a request's complete
    /// headers: covers the first byte, the header read and idle keep-alive (HTTP/1).
    pub header_timeout: Duration,
    /// The longest a request body may take to arrive.
    pub body_timeout: Duration,
    /// The slowest a request body may arrive, in bytes per second, once a grace second passed.
    pub body_min_rate: u64,
    /// Connections served at once (more are closed as soon as they are accepted).
    pub max_connections: usize,
    /// Connections served at once from one client address.
    pub max_connections_per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024,
            max_body_bytes: 512 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            body_min_rate: 1024,
            max_connections: 1024,
            max_connections_per_address: 64,
        }
    }
}

/// A connection that must deliver its first byte before a deadline (the HTTP version detection
/// and hyper's header timer only start once bytes arrive): a client that connects, or finishes a
/// TLS handshake, and then says nothing is closed when the deadline passes.
struct FirstByte<S> {
    inner: S,
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> FirstByte<S> {
    fn new(inner: S, within: Duration) -> Self {
        FirstByte {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for FirstByte<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::future::Future;
        use std::task::Poll;
        let this = &mut *self;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.deadline = None;
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no request within the header timeout",
                    )))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for FirstByte<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Counts connections overall and per client address; a slot is given back when dropped.
struct ConnectionSlots {
    max: usize,
    per_address: usize,
    open: std::sync::Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>,
}

struct Slot {
    slots: Arc<ConnectionSlots>,
    address: std::net::IpAddr,
}

impl ConnectionSlots {
    fn take(self: &Arc<Self>, address: std::net::IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let here = open.1.get(&address).copied().unwrap_or(0);
        if open.0 >= self.max || here >= self.per_address {
            return None;
        }
        open.0 += 1;
        open.1.insert(address, here + 1);
        Some(Slot {
            slots: self.clone(),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.1.remove(&self.address);
            }
        }
    }
}

pub struct AppState {
    pub db: Arc<Db>,
    pub registry: Registry<Arc<Db>>,
    pub auth: Arc<Authenticator>,
    pub limits: Limits,
    /// Base URL printed in the WSDL, e.g. `https://iis.example.org`; `None` = from the request.
    pub public_url: Option<String>,
    pub tls: bool,
    pub maintenance: Arc<Maintenance>,
    /// The HTTP status SOAP faults travel with.
    pub fault_status: FaultStatus,
    /// Whether `Forwarded` / `X-Forwarded-*` headers decide the WSDL's address.
    pub trust_forwarded_headers: bool,
}

/// Whether TLS clients must present a certificate (`--tls-client-auth`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientAuth {
    /// No client certificates are asked for.
    #[default]
    Off,
    /// A certificate is asked for; a connection without one is served, one that presents a
    /// certificate the client CA did not issue is refused in the handshake.
    Optional,
    /// A connection without a certificate the client CA issued is refused in the handshake.
    Required,
}

impl std::fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientAuth::Off => "off",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "required",
        })
    }
}

pub struct ServerOptions {
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Mutual TLS: whether clients present certificates (`--tls-client-auth`) ...
    pub tls_client_auth: ClientAuth,
    /// ... issued by the CA certificates in this PEM file (`--tls-client-ca`).
    pub tls_client_ca: Option<PathBuf>,
    pub insecure_http: bool,
    pub public_url: Option<String>,
    pub limits: Limits,
    /// The HTTP status SOAP faults travel with (`--fault-http-status`).
    pub fault_status: FaultStatus,
    /// Take the scheme and host of the WSDL's address from a proxy's `Forwarded` /
    /// `X-Forwarded-Proto` / `X-Forwarded-Host` headers (`--trust-forwarded-headers`).
    pub trust_forwarded_headers: bool,
    pub registry: RegistryConfig,
    pub maintenance: MaintenanceConfig,
    /// Bearer token of the admin API; `None` switches the API off.
    pub admin_token: Option<String>,
    pub notice: NoticeContext,
    /// Where "now" comes from, for the maintenance layer and the registry alike (tests step a
    /// manual clock across window boundaries).
    pub clock: Arc<dyn Clock>,
    /// Where the registry's response control ids come from (random by default).
    pub ids: Arc<dyn IdSource>,
    /// The file door (SFTP server, batch worker); off unless asked for.
    pub files: FileDoorOptions,
    /// When failed logins lock a username or a client address out.
    pub throttle: ThrottleConfig,
    /// The weekly data quality report into each active organization's DQA-Reports
    /// (`--dqa-weekly-report`); `None`: not written by this node.
    pub dqa_weekly: Option<crate::dqa::weekly::WeeklyOptions>,
}

/// The address a request came from, put on every request by the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

impl ServerOptions {
    /// Options for a loopback server with every default (tests and tools start from here).
    pub fn local(listen: SocketAddr) -> Self {
        ServerOptions {
            listen,
            tls: None,
            tls_client_auth: ClientAuth::Off,
            tls_client_ca: None,
            insecure_http: false,
            public_url: None,
            limits: Limits::default(),
            fault_status: FaultStatus::default(),
            trust_forwarded_headers: false,
            registry: RegistryConfig::default(),
            maintenance: MaintenanceConfig::default(),
            admin_token: None,
            notice: NoticeContext::default(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            files: FileDoorOptions::default(),
            throttle: ThrottleConfig::default(),
            dqa_weekly: None,
        }
    }
}

/// The routes. The maintenance layer guards the SOAP service (and its WSDL); health, metrics,
/// status and the admin API stay reachable during maintenance, which is when operators need them.
pub fn router(state: Arc<AppState>, admin: Arc<AdminState>) -> Router {
    let maintenance = state.maintenance.clone();
    let service = Router::new()
        .route(
            "/soap",
            get(crate::soap::get_soap).post(crate::soap::post_soap),
        )
        .route(
            "/soap/",
            get(crate::soap::get_soap).post(crate::soap::post_soap),
        )
        .route(
            "/soap/2014",
            get(crate::soap::get_soap_2014).post(crate::soap::post_soap_2014),
        )
        .layer(middleware::from_fn_with_state(
            maintenance.clone(),
            maintenance::layer::guard,
        ));
    Router::new()
        .merge(service)
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(maintenance::admin::router(admin))
        .layer(middleware::from_fn(crate::telemetry::request_id))
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    match state.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"ok","database":"ok"}"#,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"status":"unavailable","database":"unreachable"}"#,
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: the Prometheus text format (see [`crate::telemetry`]).
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let maintenance = &state.maintenance;
    let backlog = match state.db.backlog().await {
        Ok(b) => Some((b.files_waiting, b.messages_waiting)),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the file backlog could not be read");
            None
        }
    };
    let body = crate::telemetry::render(&crate::telemetry::State {
        in_window: maintenance
            .snapshot()
            .active(maintenance.now(), None)
            .is_some(),
        writer_queue: state.db.writer_queue_depth(),
        backlog,
        pool: state.db.pool_connections(),
        listener: (state.db.backend() == crate::store::Backend::Postgres)
            .then(|| maintenance.listener_report()),
    });
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The TLS settings: the server's certificate chain and key and, for mutual TLS, how client
/// certificates are asked for and the CA file they must chain to.
pub fn load_tls(
    cert: &Path,
    key: &Path,
    client: Option<(ClientAuth, &Path)>,
) -> anyhow::Result<Arc<ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing TLS certificate {}", cert.display()))?;
    if certs.is_empty() {
        bail!("no certificate found in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading TLS private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client {
        None | Some((ClientAuth::Off, _)) => builder.with_no_client_auth(),
        Some((mode, ca)) => {
            let mut roots = rustls::RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("reading TLS client CA {}", ca.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("parsing TLS client CA {}", ca.display()))?;
            if cas.is_empty() {
                bail!("no CA certificate found in {}", ca.display());
            }
            for c in cas {
                roots.add(c).with_context(|| {
                    format!("a certificate in {} cannot be a trust anchor", ca.display())
                })?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if mode == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .with_context(|| format!("TLS client CA {} cannot be used", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Refuses client-certificate settings that cannot mean what was asked for.
fn check_client_auth(options: &ServerOptions) -> anyhow::Result<Option<(ClientAuth, &Path)>> {
    match (options.tls_client_auth, options.tls_client_ca.as_deref()) {
        (_, Some(_)) if options.tls.is_none() => bail!(
            "--tls-client-ca needs TLS: client certificates are part of the TLS handshake; \
             pass --tls-cert and --tls-key too"
        ),
        (ClientAuth::Off, Some(_)) => bail!(
            "--tls-client-ca is given but --tls-client-auth is off: pass --tls-client-auth \
             optional or required to ask clients for certificates"
        ),
        (ClientAuth::Off, None) => Ok(None),
        (mode, None) => bail!(
            "--tls-client-auth {mode} needs --tls-client-ca FILE: the CA certificates (PEM) \
             client certificates must be issued by"
        ),
        (mode, Some(ca)) => Ok(Some((mode, ca))),
    }
}

/// A server accepting connections in the background.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub maintenance: Arc<Maintenance>,
    /// The file door; `None` once it was stopped.
    files: Option<crate::batch::RunningFileDoor>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    poller: JoinHandle<()>,
    /// PostgreSQL: the task listening for maintenance changes.
    change_listener: Option<JoinHandle<()>>,
    /// The weekly data quality report job, when it runs.
    weekly: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, lets requests in flight finish, then returns.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        if let Some(files) = self.files.take() {
            files.shutdown().await;
        }
        self.poller.abort();
        if let Some(listener) = self.change_listener.take() {
            listener.abort();
        }
        if let Some(weekly) = &self.weekly {
            weekly.abort();
        }
    }

    /// Waits until the server stops (after `shutdown` from elsewhere or a fatal error).
    pub async fn wait(mut self) {
        let _ = self.task.await;
        if let Some(files) = self.files.take() {
            files.shutdown().await;
        }
        self.poller.abort();
        if let Some(listener) = self.change_listener.take() {
            listener.abort();
        }
        if let Some(weekly) = &self.weekly {
            weekly.abort();
        }
    }

    /// The SFTP server's address, when it runs.
    pub fn sftp_addr(&self) -> Option<SocketAddr> {
        self.files.as_ref()?.sftp.as_ref().map(|s| s.addr)
    }

    /// Stops the batch worker at once, wherever it is (as a killed node would stop): its run is
    /// left to be resumed when its lease runs out. For tests of that resumption.
    pub fn abort_file_worker(&self) {
        if let Some(files) = &self.files {
            files.abort_worker();
        }
    }

    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// The CDC supporting data a server forecasts with: the release imported with `izport cdsi
/// import` (read and checked now), else the data built into the binary.
pub async fn load_schedule(db: &Db) -> anyhow::Result<Schedule> {
    let Some((version, compact, imported_at)) = db.cdsi_data().await? else {
        return Ok(Schedule::builtin()?);
    };
    let data = izport_cdsi::SupportingData::from_compact(&compact).with_context(|| {
        format!(
            "the imported CDSi supporting data {version} cannot be read; run `izport cdsi reset`"
        )
    })?;
    Ok(Schedule::new(data, format!("imported {imported_at}")))
}

/// Binds, checks the transport policy, and serves in a background task. Unless the options
/// name supporting data, the registry forecasts with [`load_schedule`]'s.
pub async fn start(db: Arc<Db>, mut options: ServerOptions) -> anyhow::Result<RunningServer> {
    crate::telemetry::install();
    if options.registry.schedule.is_none() {
        let schedule = load_schedule(&db).await?;
        tracing::info!(
            version = schedule.version(),
            origin = schedule.origin(),
            "CDSi supporting data for Z44 forecasts"
        );
        options.registry.schedule = Some(schedule);
    }
    let client_auth = check_client_auth(&options)?;
    let tls = match &options.tls {
        Some((cert, key)) => Some(TlsAcceptor::from(load_tls(cert, key, client_auth)?)),
        None => {
            if !options.listen.ip().is_loopback() && !options.insecure_http {
                bail!(
                    "refusing to serve plain HTTP on {}: patient data must not cross a network \
                     unencrypted. Pass --tls-cert and --tls-key, or --insecure-http if a TLS proxy \
                     in front terminates TLS.",
                    options.listen
                );
            }
            None
        }
    };
    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("binding {}", options.listen))?;
    let addr = listener.local_addr()?;
    if tls.is_none() {
        tracing::warn!(%addr, "serving plain HTTP without TLS; use --tls-cert/--tls-key outside a test setup");
    }
    let maintenance = Arc::new(Maintenance::new(
        options.clock.clone(),
        MaintenanceConfig {
            max_body_bytes: options.limits.max_body_bytes,
            fault_status: options.fault_status,
            ..options.maintenance
        },
    ));
    // Windows already in force apply from the first request on.
    maintenance
        .refresh(&db)
        .await
        .context("reading maintenance windows")?;
    let poller = maintenance.spawn_poller(db.clone());
    // PostgreSQL: changes also arrive as notifications, polling stays as the fallback.
    let change_listener = maintenance.spawn_listener(db.clone()).await;
    let weekly = options
        .dqa_weekly
        .map(|w| crate::dqa::weekly::spawn(db.clone(), options.clock.clone(), w));
    let admin = Arc::new(AdminState {
        db: db.clone(),
        maintenance: maintenance.clone(),
        token: options.admin_token.filter(|t| !t.is_empty()),
        notice: options.notice,
    });
    let auth = Arc::new(Authenticator::with_throttle(db.clone(), options.throttle)?);
    let files = crate::batch::start(
        db.clone(),
        auth.clone(),
        maintenance.clone(),
        Registry::new(
            db.clone(),
            options.registry.clone(),
            options.clock.clone(),
            options.ids.clone(),
        )?,
        options.clock.clone(),
        options.ids.clone(),
        options.files,
    )
    .await?;
    let state = Arc::new(AppState {
        registry: Registry::new(
            db.clone(),
            options.registry,
            options.clock.clone(),
            options.ids,
        )?,
        auth,
        db,
        limits: options.limits,
        public_url: options
            .public_url
            .map(|u| u.trim_end_matches('/').to_string()),
        tls: tls.is_some(),
        maintenance: maintenance.clone(),
        fault_status: options.fault_status,
        trust_forwarded_headers: options.trust_forwarded_headers,
    });
    let limits = state.limits;
    let app = router(state, admin);
    let (shutdown, rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, tls, app, limits, rx));
    Ok(RunningServer {
        addr,
        maintenance,
        files: Some(files),
        shutdown,
        task,
        poller,
        change_listener,
        weekly,
    })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(ConnectionSlots {
        max: limits.max_connections,
        per_address: limits.max_connections_per_address,
        open: std::sync::Mutex::new((0, std::collections::HashMap::new())),
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        // The cheapest refusal there is: past the caps, the socket is closed unread.
        let Some(slot) = slots.take(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: too many connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Every request of the connection carries the client's address and, over mutual TLS,
        // the certificate it presented (verified in the handshake).
        let app = app.clone();
        let service = move |certificate: Option<ClientCertificate>| {
            TowerToHyperService::new(app.map_request(
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ClientAddr(peer));
                    if let Some(c) = &certificate {
                        request.extensions_mut().insert(c.clone());
                    }
                    request
                },
            ))
        };
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let result = match tls {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await;
                    match handshake {
                        Ok(Ok(tls_stream)) => {
                            let certificate = tls_stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|chain| chain.first())
                                .map(|der| ClientCertificate::from_der(der.as_ref()));
                            let conn = builder.serve_connection_with_upgrades(
                                TokioIo::new(FirstByte::new(tls_stream, limits.header_timeout)),
                                service(certificate),
                            );
                            watcher.watch(conn.into_owned()).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
                None => {
                    let conn = builder.serve_connection_with_upgrades(
                        TokioIo::new(FirstByte::new(stream, limits.header_timeout)),
                        service(None),
                    );
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Requests already in flight finish; give them a bounded time.
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open 30 s after shutdown began");
    }
}
