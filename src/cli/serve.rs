//! `izport serve`: the web service. Every default here is the library's own (`Limits`,
//! `RegistryConfig`, `MaintenanceConfig`, `NoticeContext`), so `--help` shows what a server
//! started without the flag does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::builder::RangedU64ValueParser;
use clap::Args;

use super::maintenance::NoticeArgs;
use crate::auth::ThrottleConfig;
use crate::clock::{RandomIds, SystemClock};
use crate::dqa::weekly::{WeeklyOptions, WeeklySchedule};
use crate::maintenance::{MaintenanceConfig, PageFormat};
use crate::registry::consent::{ConsentConfig, Policy};
use crate::registry::query::QueryLimits;
use crate::registry::validate::DEFAULT_ERR_LIMIT;
use crate::registry::{RegistryConfig, RegistryIdentity};
use crate::server::{self, Limits, ServerOptions};
use crate::soap::fault::FaultStatus;
use crate::store::Db;

/// Where `serve` listens unless told otherwise: loopback only, plain HTTP allowed there.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Slowest and fastest maintenance polling accepted, in milliseconds.
const POLL_MS_RANGE: std::ops::RangeInclusive<u64> = 50..=3_600_000;

fn default_poll_ms() -> u64 {
    u64::try_from(MaintenanceConfig::default().poll_interval.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, env = "IZPORT_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM)
    #[arg(long, env = "IZPORT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, env = "IZPORT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (only behind a TLS-terminating proxy)
    #[arg(long, env = "IZPORT_INSECURE_HTTP")]
    pub insecure_http: bool,
    /// Public base URL printed in the WSDL's service address, e.g. https://iis.example.org
    #[arg(long, env = "IZPORT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest hl7Message accepted, in bytes
    #[arg(long, env = "IZPORT_MAX_MESSAGE_BYTES",
          default_value_t = Limits::default().max_message_bytes,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_message_bytes: usize,
    /// Largest HTTP request body read, in bytes
    #[arg(long, env = "IZPORT_MAX_BODY_BYTES",
          default_value_t = Limits::default().max_body_bytes,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_body_bytes: usize,
    /// HTTP status of SOAP faults: 500 (every fault; what .NET WCF and every other client
    /// reads), spec (SOAP 1.2 Sender faults with 400) or 200 (legacy clients)
    #[arg(long, env = "IZPORT_FAULT_HTTP_STATUS", default_value_t = FaultStatus::default())]
    pub fault_http_status: FaultStatus,
    /// Take the WSDL address's scheme and host from Forwarded / X-Forwarded-Proto /
    /// X-Forwarded-Host (only behind a proxy that sets them; --public-url takes precedence)
    #[arg(long, env = "IZPORT_TRUST_FORWARDED_HEADERS")]
    pub trust_forwarded_headers: bool,
    /// Seconds from a new connection (also after the TLS handshake) or the end of the last
    /// response to a request's complete headers: the first byte, the header read and idle
    /// keep-alive; also the longest TLS handshake
    #[arg(long, env = "IZPORT_HEADER_TIMEOUT_SECS", default_value_t = Limits::default().header_timeout.as_secs(),
          value_parser = RangedU64ValueParser::<u64>::new().range(1..=3600))]
    pub header_timeout_secs: u64,
    /// Seconds a whole request body may take to arrive
    #[arg(long, env = "IZPORT_BODY_TIMEOUT_SECS", default_value_t = Limits::default().body_timeout.as_secs(),
          value_parser = RangedU64ValueParser::<u64>::new().range(1..=3600))]
    pub body_timeout_secs: u64,
    /// The slowest a request body may arrive, in bytes per second (after a grace second)
    #[arg(long, env = "IZPORT_BODY_MIN_RATE", default_value_t = Limits::default().body_min_rate,
          value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub body_min_rate: u64,
    /// Connections served at once; more are closed as soon as they are accepted
    #[arg(long, env = "IZPORT_MAX_CONNECTIONS", default_value_t = Limits::default().max_connections,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
    /// Connections served at once from one client address
    #[arg(long, env = "IZPORT_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = Limits::default().max_connections_per_address,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections_per_address: usize,
    /// Log lines as text or as JSON objects (one a line); a request's lines carry its id
    #[arg(long, env = "IZPORT_LOG_FORMAT", default_value_t = super::LogFormat::default())]
    pub log_format: super::LogFormat,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Bearer token for the admin API (/admin/...); without it the admin API is off
    #[arg(long, env = "IZPORT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// What SOAP clients get during maintenance: html (the classic 503 page) or soap (a Fault)
    #[arg(long, env = "IZPORT_MAINTENANCE_PAGE", default_value_t = PageFormat::default())]
    pub maintenance_page: PageFormat,
    /// How often each node re-reads maintenance windows from the database, in milliseconds
    /// (50 to 3600000)
    #[arg(long, env = "IZPORT_MAINTENANCE_POLL_MS", default_value_t = default_poll_ms(),
          value_parser = RangedU64ValueParser::<u64>::new().range(POLL_MS_RANGE))]
    pub maintenance_poll_ms: u64,
    /// Failed logins within --auth-window-secs that lock a username, client address or SFTP
    /// import code out
    #[arg(long, env = "IZPORT_AUTH_MAX_FAILURES", default_value_t = ThrottleConfig::default().max_failures,
          value_parser = RangedU64ValueParser::<u32>::new().range(1..))]
    pub auth_max_failures: u32,
    /// The window failed logins are counted in, in seconds
    #[arg(long, env = "IZPORT_AUTH_WINDOW_SECS", default_value_t = ThrottleConfig::default().window.as_secs(),
          value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub auth_window_secs: u64,
    /// The first lockout, in seconds; each further lockout doubles it, up to a day
    #[arg(long, env = "IZPORT_AUTH_LOCKOUT_SECS", default_value_t = ThrottleConfig::default().lockout.as_secs(),
          value_parser = RangedU64ValueParser::<u64>::new().range(1..=86_400))]
    pub auth_lockout_secs: u64,
    /// When this node writes the weekly data quality report (the seven days before) into each
    /// active organization's DQA-Reports: DAY@HH:MM, UTC (day mon … sun), or off
    #[arg(long, env = "IZPORT_DQA_WEEKLY_REPORT", default_value = "mon@06:00",
          value_parser = weekly_schedule)]
    pub dqa_weekly_report: WeeklyFlag,
    #[command(flatten)]
    pub notice: NoticeArgs,
    #[command(flatten)]
    pub files: super::batch::FileDoorArgs,
}

/// How the registry judges and answers messages: `serve` and `batch import` take the same flags,
/// so that a file loaded by hand is treated as the server would treat it.
#[derive(Args, Debug, Clone)]
pub struct RegistryArgs {
    /// How the registry names itself in MSH-3 of its responses
    #[arg(long, env = "IZPORT_APPLICATION", default_value_t = RegistryIdentity::default().application)]
    pub application: String,
    /// How the registry names itself in MSH-4 of its responses
    #[arg(long, env = "IZPORT_FACILITY", default_value_t = RegistryIdentity::default().facility)]
    pub facility: String,
    /// Consent policy: opt-out (records shared unless protected) or opt-in (nothing kept
    /// without consent on file or affirmed in the message; Texas)
    #[arg(long, env = "IZPORT_CONSENT", default_value_t = ConsentConfig::default().policy)]
    pub consent: Policy,
    /// CVX codes of disaster-related doses, kept without consent under opt-in (comma-separated)
    #[arg(long, env = "IZPORT_DISASTER_CVX", value_delimiter = ',')]
    pub disaster_cvx: Vec<String>,
    /// The most ERR segments in an acknowledgement (a last one says how many more there were)
    #[arg(long, env = "IZPORT_ERR_LIMIT", default_value_t = DEFAULT_ERR_LIMIT,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub err_limit: usize,
    /// Candidates a history query may return when RCP-2 does not say
    #[arg(long, env = "IZPORT_QUERY_CANDIDATES",
          default_value_t = QueryLimits::default().default_max_candidates,
          value_parser = RangedU64ValueParser::<u32>::new().range(1..))]
    pub query_candidates: u32,
    /// The most candidates a history query may ask for in RCP-2 (at least --query-candidates)
    #[arg(long, env = "IZPORT_QUERY_MAX_CANDIDATES",
          default_value_t = QueryLimits::default().max_candidates,
          value_parser = RangedU64ValueParser::<u32>::new().range(1..))]
    pub query_max_candidates: u32,
}

impl RegistryArgs {
    /// The registry's configuration; refuses combinations no single flag can check.
    pub fn config(&self) -> anyhow::Result<RegistryConfig> {
        if self.query_max_candidates < self.query_candidates {
            bail!(
                "--query-max-candidates ({}) must be at least --query-candidates ({})",
                self.query_max_candidates,
                self.query_candidates
            );
        }
        Ok(RegistryConfig {
            identity: RegistryIdentity {
                application: self.application.clone(),
                facility: self.facility.clone(),
            },
            consent: ConsentConfig {
                policy: self.consent,
                disaster_cvx: self
                    .disaster_cvx
                    .iter()
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect(),
            },
            query: QueryLimits {
                default_max_candidates: self.query_candidates,
                max_candidates: self.query_max_candidates,
            },
            err_limit: self.err_limit,
            ..RegistryConfig::default()
        })
    }
}

impl ServeArgs {
    /// The server's options; refuses combinations no single flag can check.
    pub fn options(self) -> anyhow::Result<ServerOptions> {
        Ok(ServerOptions {
            listen: self.listen,
            tls: self.tls_cert.zip(self.tls_key),
            insecure_http: self.insecure_http,
            public_url: self.public_url,
            limits: Limits {
                max_message_bytes: self.max_message_bytes,
                max_body_bytes: self.max_body_bytes,
                header_timeout: Duration::from_secs(self.header_timeout_secs),
                body_timeout: Duration::from_secs(self.body_timeout_secs),
                body_min_rate: self.body_min_rate,
                max_connections: self.max_connections,
                max_connections_per_address: self.max_connections_per_address,
            },
            fault_status: self.fault_http_status,
            trust_forwarded_headers: self.trust_forwarded_headers,
            registry: self.registry.config()?,
            maintenance: MaintenanceConfig {
                page_format: self.maintenance_page,
                poll_interval: Duration::from_millis(self.maintenance_poll_ms),
                max_body_bytes: self.max_body_bytes,
                fault_status: self.fault_http_status,
            },
            admin_token: self.admin_token,
            notice: self.notice.context(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            dqa_weekly: match self.dqa_weekly_report.0 {
                Some(schedule) => Some(WeeklyOptions::new(
                    schedule,
                    match &self.files.dqa_weights {
                        Some(path) => super::batch::read_dqa_weights(path)?,
                        None => crate::dqa::Weights::default(),
                    },
                )),
                None => None,
            },
            files: self.files.options()?,
            throttle: ThrottleConfig {
                max_failures: self.auth_max_failures,
                window: Duration::from_secs(self.auth_window_secs),
                lockout: Duration::from_secs(self.auth_lockout_secs),
            },
        })
    }
}

/// `--dqa-weekly-report`: a schedule, or `None` for `off`.
#[derive(Clone, Copy, Debug)]
pub struct WeeklyFlag(pub Option<WeeklySchedule>);

fn weekly_schedule(text: &str) -> Result<WeeklyFlag, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(WeeklyFlag(None));
    }
    text.parse().map(|s| WeeklyFlag(Some(s)))
}

pub async fn run(db: Arc<Db>, args: ServeArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    let tls = options.tls.is_some();
    let server = server::start(db, options).await?;
    let scheme = if tls { "https" } else { "http" };
    tracing::info!(
        "izport listening on {scheme}://{}/soap (WSDL at /soap?wsdl)",
        server.addr
    );
    println!("izport listening on {scheme}://{}/soap", server.addr);
    if let Some(addr) = server.sftp_addr() {
        println!("SFTP (file door) on {addr}");
    }
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop.send(true);
    });
    server.wait().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;
    use clap::Parser;

    fn serve(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let mut all = vec!["izport", "serve"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all)?.command {
            Command::Serve(args) => Ok(*args),
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for args in [
            &["--err-limit", "0"][..],
            &["--query-candidates", "0"],
            &["--max-message-bytes", "0"],
            &["--maintenance-poll-ms", "10"],
            &["--consent", "sometimes"],
        ] {
            let err = serve(args).expect_err(&args.join(" "));
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{}: {err}",
                args.join(" ")
            );
        }
        let err = serve(&["--query-candidates", "30", "--query-max-candidates", "20"])
            .expect("each value is in range")
            .options()
            .err()
            .expect("refused together");
        assert!(err.to_string().contains("--query-max-candidates"), "{err}");
        let Ok(Cli {
            command: Command::Maintenance(_),
            ..
        }) = Cli::try_parse_from(["izport", "maintenance", "start", "--percent", "100"])
        else {
            panic!("100 % is allowed");
        };
        let err = Cli::try_parse_from(["izport", "maintenance", "start", "--percent", "101"])
            .expect_err("101 %");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
