//! Load generator for the CDC IIS SOAP web service (`izport-load run`).
//!
//! [`run`] opens `concurrency` keep-alive HTTP/1.1 connections (plain or TLS) to the target,
//! one per worker task, and has each worker send requests back to back until the stop
//! condition: a number of requests over all workers, or a duration. Each request is one of
//! the kinds of the [`Mix`]:
//!
//! * `vxu`: `submitSingleMessage` with a VXU^V04 for a new synthetic patient ([`synth`]);
//!   `ok` when the ACK has MSA-1 `AA` and MSA-2 the MSH-10 sent.
//! * `z34`: `submitSingleMessage` with a QBP^Q11 Z34 query for a patient an earlier `ok` VXU
//!   of this run created; `ok` only when the answer is that patient's history (an RSP Z32
//!   with MSA-1 `AA`, QAK-2 `OK`, the tag sent, and the patient's MRN in PID-3): NF, AR or a
//!   Z31 candidate list are failures. Before any VXU of the run has succeeded, the query is
//!   for a patient nobody created, and `ok` means QAK-2 `NF`.
//! * `connectivity`: `connectivityTest`; `ok` when `return` is the echo.
//! * `wrong-password`: `submitSingleMessage` with a VXU, the run's username and facility and a
//!   password made up for the request (never the user's): a password-guessing flood, to see
//!   what it costs the server; `ok` when it is refused with a SecurityFault (an answer counts
//!   as `accepted`, a failure).
//!
//! Every response is classified ([`soap::classify`]) into an outcome (`ok`, `http_503`,
//! `soap_fault_SecurityFault`, `ack_AR`, `timeout`, …) and timed in an HDR histogram; the
//! [`LoadReport`] holds the totals, overall and per kind.
//!
//! Request bodies are cheap to make: the envelope around the HL7 message is built once, the
//! connectivityTest body is one shared buffer, and each VXU/QBP is rendered straight into a
//! string. Synthetic data are deterministic per seed (see [`synth`]); which pooled patient a
//! Z34 asks for depends on timing, since workers share the pool.

mod client;
pub mod mix;
mod report;
pub mod soap;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use rand::distributions::DistString;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

pub use mix::{Mix, MixError, RequestKind};
pub use report::{KindReport, Latencies, LoadReport};

use crate::synth::{self, Generator, Patient};
use client::{Sender, Target};
use soap::{Envelopes, Expect, Outcome};

/// Concurrent connections unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// How long a run lasts unless told otherwise.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Per-request timeout unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most concurrent connections a run may use.
pub const MAX_CONCURRENCY: usize = 1024;
/// Longest run.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Most requests in a run.
pub const MAX_REQUESTS: u64 = 100_000_000;
/// Longest per-request timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// Largest response body read; a larger one counts as `bad_response`.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Patients remembered for Z34 queries (the most recent ones).
const POOL_CAPACITY: usize = 10_000;
/// Pause of a worker after a failed connection attempt.
const CONNECT_BACKOFF: Duration = Duration::from_millis(100);
/// `echoBack` of every connectivityTest.
const ECHO: &str = "izport-load: connectivity test";

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this long (requests in flight then are completed). At most [`MAX_DURATION`].
    Duration(Duration),
    /// After this many requests over all workers. At most [`MAX_REQUESTS`].
    Requests(u64),
}

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Service URL, e.g. `http://127.0.0.1:8080/soap` or `https://…/soap`; without a path
    /// (or `/`), `/soap` is used.
    pub url: String,
    pub username: String,
    pub password: String,
    /// facilityID sent with every submitSingleMessage, and MSH-4 of the messages.
    pub facility: String,
    /// Concurrent connections (workers), 1..=[`MAX_CONCURRENCY`].
    pub concurrency: usize,
    pub stop: Stop,
    pub mix: Mix,
    /// PEM file of the certificate(s) to trust for https (replaces the system CA bundle).
    pub ca_cert: Option<PathBuf>,
    /// Accept any server certificate (test environments only).
    pub insecure: bool,
    /// Seed of the synthetic data.
    pub seed: u64,
    /// Per-request timeout (also bounds connecting), up to [`MAX_TIMEOUT`].
    pub timeout: Duration,
}

impl LoadOptions {
    /// Options for `url` with the defaults: no credentials, 8 connections, 10 seconds, mix
    /// `vxu=80,z34=20`, system CA bundle, seed 1, 30 s timeout.
    pub fn new(url: impl Into<String>) -> LoadOptions {
        LoadOptions {
            url: url.into(),
            username: String::new(),
            password: String::new(),
            facility: String::new(),
            concurrency: DEFAULT_CONCURRENCY,
            stop: Stop::Duration(DEFAULT_DURATION),
            mix: Mix::default(),
            ca_cert: None,
            insecure: false,
            seed: 1,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    fn validate(&self) -> Result<(), LoadError> {
        let invalid = |s: String| Err(LoadError::InvalidOption(s));
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return invalid(format!(
                "concurrency must be from 1 to {MAX_CONCURRENCY}, not {}",
                self.concurrency
            ));
        }
        match self.stop {
            Stop::Duration(d) if d.is_zero() => {
                return invalid("the duration must be positive".into())
            }
            Stop::Duration(d) if d > MAX_DURATION => {
                return invalid(format!(
                    "the duration must be at most {} s, not {:.0} s",
                    MAX_DURATION.as_secs(),
                    d.as_secs_f64()
                ))
            }
            Stop::Requests(0) => return invalid("the number of requests must be positive".into()),
            Stop::Requests(n) if n > MAX_REQUESTS => {
                return invalid(format!(
                    "the number of requests must be at most {MAX_REQUESTS}, not {n}"
                ))
            }
            _ => {}
        }
        if self.timeout < Duration::from_millis(1) || self.timeout > MAX_TIMEOUT {
            return invalid(format!(
                "the request timeout must be from 1 ms to {} s",
                MAX_TIMEOUT.as_secs()
            ));
        }
        if self.mix.needs_credentials()
            && (self.username.is_empty()
                || (self.password.is_empty() && self.mix.needs_password())
                || self.facility.is_empty())
        {
            return invalid(format!(
                "the mix '{}' submits messages, which needs a username, a password and a \
                 facility ID",
                self.mix
            ));
        }
        Ok(())
    }
}

/// Why a run could not be made. Failures of single requests are not errors: they are
/// counted in the report.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid load option: {0}")]
    InvalidOption(String),
    #[error("invalid URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot resolve host '{host}': {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot use CA certificate file {}: {reason}", path.display())]
    CaCert { path: PathBuf, reason: String },
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("a load worker failed: {0}")]
    Worker(String),
    #[error("cannot make the latency histogram: {0}")]
    Histogram(String),
}

/// Runs the load described by `options` to its stop condition and reports.
///
/// Fails before sending anything when the options are invalid or no connection to the
/// target can be opened; after that, every failure is an outcome in the report.
pub async fn run(options: &LoadOptions) -> Result<LoadReport, LoadError> {
    run_until(options, std::future::pending()).await
}

/// As [`run`], but also ends early when `cancel` completes (e.g. `tokio::signal::ctrl_c()`):
/// no new request is started, those in flight are completed, and the report covers what was
/// done.
pub async fn run_until<F>(options: &LoadOptions, cancel: F) -> Result<LoadReport, LoadError>
where
    F: Future<Output = ()>,
{
    options.validate()?;
    let envelopes = Envelopes::new(
        &options.username,
        &options.password,
        &options.facility,
        ECHO,
    )
    .map_err(|e| LoadError::InvalidOption(e.to_string()))?;
    let target = Target::new(&options.url, options.ca_cert.as_deref(), options.insecure).await?;
    // Fail fast (and clearly) when the target is not there at all.
    let first = target
        .connect(options.timeout)
        .await
        .map_err(|e| LoadError::Connect {
            url: options.url.clone(),
            reason: e.0,
        })?;

    let max_us = u64::try_from(options.timeout.as_micros()).unwrap_or(u64::MAX);
    let shards = options.concurrency.min(16);
    let shared = Arc::new(Shared {
        target,
        envelopes,
        content_types: [
            header_value(soap::submit_content_type())?,
            header_value(soap::connectivity_content_type())?,
        ],
        mix: options.mix.clone(),
        stop: options.stop,
        claimed: AtomicU64::new(0),
        cancelled: AtomicBool::new(false),
        pool: Mutex::new(Pool::default()),
        stats: (0..shards)
            .map(|_| report::Stats::new(max_us).map(Mutex::new))
            .collect::<Result<_, _>>()?,
        timeout: options.timeout,
        seed: options.seed,
        facility: options.facility.clone(),
        now: jiff::Timestamp::now(),
    });

    let start = Instant::now();
    let deadline = match options.stop {
        Stop::Duration(d) => Some(start + d),
        Stop::Requests(_) => None,
    };
    let mut workers = JoinSet::new();
    let mut first = Some(first);
    for index in 0..options.concurrency {
        let stream = u32::try_from(index).unwrap_or(u32::MAX);
        workers.spawn(worker(shared.clone(), stream, first.take(), deadline));
    }

    tokio::pin!(cancel);
    let mut cancelled = false;
    loop {
        tokio::select! {
            joined = workers.join_next() => match joined {
                None => break,
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(LoadError::Worker(e.to_string())),
            },
            () = &mut cancel, if !cancelled => {
                cancelled = true;
                shared.cancelled.store(true, Ordering::Relaxed);
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();

    let mut total = report::Stats::new(max_us)?;
    for shard in &shared.stats {
        total.merge(&lock(shard));
    }
    total.report(
        elapsed,
        options.mix.kinds(),
        options.seed,
        options.concurrency,
        options.mix.to_string(),
    )
}

fn header_value(text: String) -> Result<HeaderValue, LoadError> {
    HeaderValue::try_from(text).map_err(|e| LoadError::InvalidOption(e.to_string()))
}

/// What the workers of a run share.
struct Shared {
    target: Target,
    envelopes: Envelopes,
    /// Content types of submitSingleMessage and connectivityTest requests.
    content_types: [HeaderValue; 2],
    mix: Mix,
    stop: Stop,
    /// Requests started so far (for [`Stop::Requests`]).
    claimed: AtomicU64,
    cancelled: AtomicBool,
    pool: Mutex<Pool>,
    /// Counts, sharded so that workers on different threads rarely wait for each other.
    stats: Vec<Mutex<report::Stats>>,
    timeout: Duration,
    seed: u64,
    facility: String,
    /// Clock of the synthetic data (message time, "today").
    now: jiff::Timestamp,
}

impl Shared {
    /// Whether another request may start.
    fn claim(&self, deadline: Option<Instant>) -> bool {
        if self.cancelled.load(Ordering::Relaxed) {
            return false;
        }
        match (self.stop, deadline) {
            (Stop::Requests(n), _) => self.claimed.fetch_add(1, Ordering::Relaxed) < n,
            (Stop::Duration(_), Some(deadline)) => Instant::now() < deadline,
            (Stop::Duration(_), None) => false,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked while holding the lock ends the run anyway; the counts it
    // left are still the best there are.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Recently created patients, for Z34 queries.
#[derive(Default)]
struct Pool {
    patients: Vec<Arc<Patient>>,
    next: usize,
}

impl Pool {
    fn add(&mut self, patient: Arc<Patient>) {
        if self.patients.len() < POOL_CAPACITY {
            self.patients.push(patient);
        } else {
            self.patients[self.next] = patient;
            self.next = (self.next + 1) % POOL_CAPACITY;
        }
    }

    fn pick<R: Rng>(&self, rng: &mut R) -> Option<Arc<Patient>> {
        if self.patients.is_empty() {
            return None;
        }
        Some(self.patients[rng.gen_range(0..self.patients.len())].clone())
    }
}

/// A request ready to send, and what its answer is checked against.
enum Prepared {
    Connectivity,
    Guess {
        password: String,
        message: synth::Generated,
    },
    Vxu {
        patient: Box<Patient>,
        message: synth::Generated,
    },
    Z34 {
        message: synth::Generated,
        /// The MRN of the patient asked for when this run created it (its history must come
        /// back); `None` for a patient no VXU of the run created (NF must come back).
        mrn: Option<String>,
    },
}

async fn worker(
    shared: Arc<Shared>,
    stream: u32,
    mut conn: Option<Sender>,
    deadline: Option<Instant>,
) {
    let mut generator = Generator::new(shared.seed, stream, &shared.facility, shared.now);
    // Mix and pool choices draw from their own RNG, so the messages of a stream do not
    // depend on them.
    let mut rng = StdRng::seed_from_u64(shared.seed.rotate_left(17) ^ u64::from(stream));
    let shard = &shared.stats[stream as usize % shared.stats.len()];

    while shared.claim(deadline) {
        let kind = shared.mix.pick(&mut rng);
        let prepared = match kind {
            RequestKind::Connectivity => Prepared::Connectivity,
            RequestKind::WrongPassword => {
                let patient = generator.patient();
                Prepared::Guess {
                    password: format!(
                        "izport-load-guess-{}",
                        rand::distributions::Alphanumeric.sample_string(&mut rng, 16)
                    ),
                    message: generator.vxu(&patient),
                }
            }
            RequestKind::Vxu => {
                let patient = generator.patient();
                let message = generator.vxu(&patient);
                Prepared::Vxu {
                    patient: Box::new(patient),
                    message,
                }
            }
            RequestKind::Z34 => {
                let known = lock(&shared.pool).pick(&mut rng);
                match known {
                    Some(patient) => Prepared::Z34 {
                        message: generator.z34(&patient),
                        mrn: Some(patient.mrn.clone()),
                    },
                    None => {
                        let stranger = generator.patient();
                        Prepared::Z34 {
                            message: generator.z34(&stranger),
                            mrn: None,
                        }
                    }
                }
            }
        };
        let (body, content_type, expect) = match &prepared {
            Prepared::Connectivity => (
                shared.envelopes.connectivity(),
                &shared.content_types[1],
                Expect::Echo(shared.envelopes.echo()),
            ),
            Prepared::Guess { password, message } => (
                shared.envelopes.submit_guess(password, &message.text),
                &shared.content_types[0],
                Expect::Refusal,
            ),
            Prepared::Vxu { message, .. } => (
                shared.envelopes.submit(&message.text),
                &shared.content_types[0],
                Expect::Ack {
                    control_id: &message.control_id,
                },
            ),
            Prepared::Z34 { message, mrn } => (
                shared.envelopes.submit(&message.text),
                &shared.content_types[0],
                Expect::Query {
                    control_id: &message.control_id,
                    tag: &message.query_tag,
                    mrn: mrn.as_deref(),
                },
            ),
        };

        let (outcome, latency_us) = exchange(&shared, &mut conn, body, content_type, &expect).await;
        lock(shard).record(kind, &outcome, latency_us);
        match outcome {
            Outcome::Ok => {
                if let Prepared::Vxu { patient, .. } = prepared {
                    lock(&shared.pool).add(Arc::from(patient));
                }
            }
            Outcome::ConnectError => {
                // Do not hammer a target that refuses connections.
                let pause = match deadline {
                    Some(d) => CONNECT_BACKOFF.min(d.saturating_duration_since(Instant::now())),
                    None => CONNECT_BACKOFF,
                };
                tokio::time::sleep(pause).await;
            }
            _ => {}
        }
    }
}

/// How sending failed.
enum SendFailure {
    /// The connection was closed before the request was written; it can be sent again.
    NotSent(Box<Request<Full<Bytes>>>),
    /// The connection failed while the request was in flight.
    Io,
    /// The response body was larger than [`MAX_RESPONSE_BYTES`].
    TooLarge,
}

/// Sends one request on the worker's connection (opening one if needed) and classifies the
/// response. Returns the latency in µs when a response was received.
async fn exchange(
    shared: &Shared,
    conn: &mut Option<Sender>,
    body: Bytes,
    content_type: &HeaderValue,
    expect: &Expect<'_>,
) -> (Outcome, Option<u64>) {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = shared.target.path.clone();
    request
        .headers_mut()
        .insert(HOST, shared.target.host_header.clone());
    request
        .headers_mut()
        .insert(CONTENT_TYPE, content_type.clone());

    // A kept-alive connection the server has just closed fails before anything is written;
    // the request then goes out once more on a new connection.
    for _attempt in 0..2 {
        let sender = match conn {
            Some(sender) if !sender.is_closed() => sender,
            _ => match shared.target.connect(shared.timeout).await {
                Ok(sender) => conn.insert(sender),
                Err(_) => {
                    *conn = None;
                    return (Outcome::ConnectError, None);
                }
            },
        };
        let start = Instant::now();
        let result = tokio::time::timeout(shared.timeout, send(sender, request)).await;
        let latency_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        match result {
            Err(_elapsed) => {
                *conn = None;
                return (Outcome::Timeout, None);
            }
            Ok(Ok((status, bytes))) => {
                return (soap::classify(status, &bytes, expect), Some(latency_us));
            }
            Ok(Err(SendFailure::NotSent(again))) => {
                *conn = None;
                request = *again;
            }
            Ok(Err(SendFailure::Io)) => {
                *conn = None;
                return (Outcome::IoError, None);
            }
            Ok(Err(SendFailure::TooLarge)) => {
                *conn = None;
                return (Outcome::BadResponse, Some(latency_us));
            }
        }
    }
    (Outcome::IoError, None)
}

async fn send(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
) -> Result<(u16, Bytes), SendFailure> {
    if sender.ready().await.is_err() {
        return Err(SendFailure::NotSent(Box::new(request)));
    }
    let response = match sender.try_send_request(request).await {
        Ok(response) => response,
        Err(mut e) => {
            return Err(match e.take_message() {
                Some(request) => SendFailure::NotSent(Box::new(request)),
                None => SendFailure::Io,
            })
        }
    };
    let status = response.status().as_u16();
    match Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok((status, collected.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(SendFailure::TooLarge),
        Err(_) => Err(SendFailure::Io),
    }
}

#[cfg(test)]
mod tests;
