//! POST /soap and GET /soap?wsdl. Every failure of the request becomes one [`SoapError`], mapped
//! to a SOAP fault in exactly one place (`SoapError::fault`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::addressing;
use super::envelope::{self, Addressing, Contract, DecodeError, Operation, SoapVersion};
use super::fault::{self, Fault, FaultKind, FaultStatus};
use super::wire::{
    escape_into, CDC_HUB_NS, CONNECTIVITY_TEST_2014_RESPONSE_ACTION,
    CONNECTIVITY_TEST_RESPONSE_ACTION, SUBMIT_SINGLE_MESSAGE_2014_RESPONSE_ACTION,
    SUBMIT_SINGLE_MESSAGE_RESPONSE_ACTION,
};
use crate::auth::AuthError;
use crate::registry::RegistryStore;
use crate::server::{AppState, ClientAddr};

enum SoapError {
    BodyTooLarge {
        limit: usize,
    },
    BodyUnreadable,
    /// The body did not arrive within the time limit or at the minimum rate.
    BodyTooSlow,
    UnsupportedMedia(String),
    /// A Content-Encoding other than gzip, deflate or identity.
    UnsupportedEncoding(String),
    /// A compressed body that does not decompress.
    BadCompression,
    Decode(DecodeError),
    TooManyMessages(usize),
    MessageTooLarge {
        size: usize,
        limit: usize,
    },
    /// Credentials refused; which check failed is logged, never told to the caller.
    Denied,
    /// WS-Addressing asks for the reply (or fault) to go elsewhere than back on this
    /// connection; `header` is `ReplyTo` or `FaultTo`.
    NonAnonymousAddress {
        header: &'static str,
    },
    /// Our fault (database down, a bug). Logged where it happened; the wire says only that.
    Internal,
}

impl SoapError {
    /// `Size` and `MaxSize` of the 2014 contract's MessageTooLargeFault: bytes (a body over
    /// the limit: at least one byte more than it), or messages in one call.
    fn sizes(&self) -> Option<(usize, usize)> {
        match self {
            SoapError::BodyTooLarge { limit } => Some((limit.saturating_add(1), *limit)),
            SoapError::MessageTooLarge { size, limit } => Some((*size, *limit)),
            SoapError::TooManyMessages(n) => Some((*n, 1)),
            _ => None,
        }
    }

    /// The `outcome` label of the request counter (fixed words; nothing from the request).
    fn outcome(&self) -> &'static str {
        match self {
            SoapError::BodyTooLarge { .. }
            | SoapError::MessageTooLarge { .. }
            | SoapError::TooManyMessages(_) => "too_large",
            SoapError::BodyTooSlow => "too_slow",
            SoapError::BodyUnreadable
            | SoapError::UnsupportedMedia(_)
            | SoapError::UnsupportedEncoding(_)
            | SoapError::BadCompression => "bad_request",
            SoapError::Decode(DecodeError::UnknownOperation { .. }) => "unsupported_operation",
            SoapError::Decode(DecodeError::VersionMismatch) => "version_mismatch",
            SoapError::Decode(DecodeError::MustUnderstand { .. }) => "must_understand",
            SoapError::Decode(_) => "bad_request",
            SoapError::Denied => "denied",
            SoapError::NonAnonymousAddress { .. } => "non_anonymous_address",
            SoapError::Internal => "internal",
        }
    }

    fn fault(self) -> Fault {
        let (kind, reason, detail): (FaultKind, String, String) = match self {
            SoapError::BodyTooLarge { limit } => (
                FaultKind::MessageTooLarge,
                format!("The request is larger than the {limit}-byte limit of this service."),
                format!("Request body exceeds {limit} bytes"),
            ),
            SoapError::BodyUnreadable => (
                FaultKind::BadRequest,
                "The request body could not be read completely.".into(),
                "Incomplete request body".into(),
            ),
            SoapError::BodyTooSlow => (
                FaultKind::BadRequest,
                "The request body arrived too slowly; send it at once.".into(),
                "Request body too slow".into(),
            ),
            SoapError::UnsupportedMedia(ct) => (
                FaultKind::BadRequest,
                format!(
                    "Content type '{ct}' is not supported; send a SOAP envelope as \
                     application/soap+xml (SOAP 1.2) or text/xml (SOAP 1.1)."
                ),
                "Unsupported content type".into(),
            ),
            SoapError::UnsupportedEncoding(encoding) => (
                FaultKind::BadRequest,
                format!(
                    "Content-Encoding '{}' is not supported; send the body as is, or \
                     compressed with gzip or deflate.",
                    encoding.chars().take(40).collect::<String>()
                ),
                "Unsupported content encoding".into(),
            ),
            SoapError::BadCompression => (
                FaultKind::BadRequest,
                "The request body could not be decompressed as its Content-Encoding says.".into(),
                "Invalid compressed body".into(),
            ),
            SoapError::Decode(e @ DecodeError::UnknownOperation { .. }) => (
                FaultKind::UnsupportedOperation,
                e.to_string(),
                "Unsupported operation".into(),
            ),
            SoapError::Decode(e @ DecodeError::VersionMismatch) => (
                FaultKind::VersionMismatch,
                e.to_string(),
                "VersionMismatch".into(),
            ),
            SoapError::Decode(e @ DecodeError::MustUnderstand { .. }) => (
                FaultKind::MustUnderstand,
                e.to_string(),
                "MustUnderstand".into(),
            ),
            SoapError::Decode(e) => (
                FaultKind::BadRequest,
                format!("The SOAP request could not be read: {e}"),
                e.to_string(),
            ),
            SoapError::TooManyMessages(n) => (
                FaultKind::MessageTooLarge,
                format!(
                    "hl7Message holds {n} HL7 messages; send exactly one message per \
                     submitSingleMessage call."
                ),
                format!("{n} messages in one request; the limit is 1"),
            ),
            SoapError::MessageTooLarge { size, limit } => (
                FaultKind::MessageTooLarge,
                format!(
                    "hl7Message is {size} bytes; the largest message accepted is {limit} bytes."
                ),
                format!("Message size {size} exceeds maximum {limit}"),
            ),
            SoapError::NonAnonymousAddress { header } => (
                FaultKind::BadRequest,
                format!(
                    "This service answers on the same connection only: wsa:{header} must be \
                     the anonymous address (wsa:OnlyAnonymousAddressSupported). Nothing was \
                     processed."
                ),
                "OnlyAnonymousAddressSupported".into(),
            ),
            SoapError::Denied => (
                FaultKind::Security,
                "Invalid username, password or facility ID.".into(),
                "Invalid username, password or facility ID".into(),
            ),
            SoapError::Internal => (
                FaultKind::Unknown,
                "The registry could not process the request because of an internal error; \
                 nothing was saved. Please resend later."
                    .into(),
                "Internal error".into(),
            ),
        };
        Fault {
            kind,
            reason,
            detail,
        }
    }
}

fn soap_response(version: SoapVersion, status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, version.content_type())],
        body,
    )
        .into_response()
}

fn fault_response(version: SoapVersion, policy: FaultStatus, err: SoapError) -> Response {
    addressed_fault(version, policy, None, Contract::Cdc2011, "", err)
}

/// A fault in `contract`'s fault elements that answers a request with `addressing` headers
/// (with the fault action) and `extra` header blocks.
fn addressed_fault(
    version: SoapVersion,
    policy: FaultStatus,
    addressing: Option<&Addressing>,
    contract: Contract,
    extra: &str,
    err: SoapError,
) -> Response {
    let sizes = err.sizes();
    let outcome = err.outcome();
    let fault = err.fault();
    let status = StatusCode::from_u16(fault.http_status(version, policy))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let header = addressing::reply_header(
        addressing,
        addressing.map_or("", |a| addressing::fault_action(a.namespace)),
        extra,
    );
    let mut response = soap_response(
        version,
        status,
        fault.encode_in(version, &header, contract, sizes),
    );
    response.extensions_mut().insert(Outcome(outcome));
    response
}

/// How a SOAP request ended, for the metrics: set on a fault's response.
#[derive(Clone, Copy)]
struct Outcome(&'static str);

/// The operation a request asked for, once its envelope was read.
#[derive(Clone, Copy)]
struct OperationName(&'static str);

fn with_operation(mut response: Response, operation: &'static str) -> Response {
    response.extensions_mut().insert(OperationName(operation));
    response
}

/// IZ Gateway's `HubResponseHeader`: the destination asked for, and this endpoint's address.
fn hub_response_header(destination_id: &str, uri: &str) -> String {
    let mut out = format!("<hub:HubResponseHeader xmlns:hub=\"{CDC_HUB_NS}\"><hub:DestinationId>");
    escape_into(&mut out, destination_id);
    out.push_str("</hub:DestinationId><hub:DestinationUri>");
    escape_into(&mut out, uri);
    out.push_str("</hub:DestinationUri></hub:HubResponseHeader>");
    out
}

/// The fault for a request body over `limit` bytes (also used by layers that read bodies).
pub fn body_too_large(version: SoapVersion, policy: FaultStatus, limit: usize) -> Response {
    fault_response(version, policy, SoapError::BodyTooLarge { limit })
}

/// The SOAP version to answer in when the request could not be decoded: the envelope's root
/// element if it got that far, else the content type (SOAP 1.1 travels as text/xml).
fn guess_version(content_type: &str, body: &[u8]) -> SoapVersion {
    envelope::envelope_version(body).unwrap_or(if content_type.starts_with("text/xml") {
        SoapVersion::V11
    } else {
        SoapVersion::V12
    })
}

/// Reads a request body within the limits: at most `max_body_bytes`, within `body_timeout`,
/// and (after a grace second) at least `body_min_rate` bytes per second on average, so a slow
/// client holds a connection and its memory for a bounded time.
async fn read_body(
    body: Body,
    limits: &crate::server::Limits,
) -> Result<axum::body::Bytes, SoapError> {
    use http_body_util::BodyExt;
    let started = tokio::time::Instant::now();
    let deadline = started + limits.body_timeout;
    let mut body = body;
    let mut out: Vec<u8> = Vec::new();
    loop {
        // The next frame must come before the deadline, and soon enough for the minimum rate.
        let rate_deadline = {
            let owed = std::time::Duration::from_secs_f64(
                (out.len() as f64 + 1.0) / limits.body_min_rate.max(1) as f64,
            );
            started + owed.max(std::time::Duration::from_secs(1))
        };
        let frame = match tokio::time::timeout_at(deadline.min(rate_deadline), body.frame()).await {
            Err(_) => {
                tracing::info!(
                    received = out.len(),
                    "request body too slow: connection closed"
                );
                return Err(SoapError::BodyTooSlow);
            }
            Ok(None) => return Ok(out.into()),
            Ok(Some(Err(_))) => return Err(SoapError::BodyUnreadable),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limits.max_body_bytes {
                return Err(SoapError::BodyTooLarge {
                    limit: limits.max_body_bytes,
                });
            }
            out.extend_from_slice(&data);
        }
    }
}

/// POST /soap: either contract, told apart by the body element's namespace; a request that
/// cannot be read is answered in the 2011 contract's faults.
pub async fn post_soap(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let client = client.map(|Extension(ClientAddr(addr))| addr.ip());
    observed(serve_post(
        &state,
        client,
        &uri,
        &headers,
        body,
        Contract::Cdc2011,
    ))
    .await
}

/// POST /soap/2014: the same, with the 2014 contract's faults for a request that cannot be read.
pub async fn post_soap_2014(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let client = client.map(|Extension(ClientAddr(addr))| addr.ip());
    observed(serve_post(
        &state,
        client,
        &uri,
        &headers,
        body,
        Contract::Cdc2014,
    ))
    .await
}

/// Counts a SOAP request by operation and outcome and records how long it took.
async fn observed(request: impl std::future::Future<Output = Response>) -> Response {
    let started = std::time::Instant::now();
    let response = request.await;
    let operation = response
        .extensions()
        .get::<OperationName>()
        .map_or("unreadable", |o| o.0);
    let outcome = response.extensions().get::<Outcome>().map_or("ok", |o| o.0);
    metrics::counter!(
        crate::telemetry::SOAP_REQUESTS,
        "operation" => operation,
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(crate::telemetry::SOAP_DURATION, "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    response
}

async fn serve_post(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    path_contract: Contract,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let early_version = guess_version(&content_type, b"");
    let policy = state.fault_status;
    let fault_response =
        |version, policy, err| addressed_fault(version, policy, None, path_contract, "", err);
    if content_type.starts_with("multipart/") {
        return fault_response(
            early_version,
            policy,
            SoapError::UnsupportedMedia(content_type),
        );
    }
    let bytes = match read_body(body, &state.limits).await {
        Ok(bytes) => bytes,
        Err(err) => {
            let mut response = fault_response(early_version, policy, err);
            // What is left of the body is not read: the connection cannot carry another request.
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            return response;
        }
    };
    let limit = state.limits.max_body_bytes;
    let bytes = match decompress(headers, bytes, limit) {
        Ok(bytes) => bytes,
        Err(err) => {
            let err = match err {
                ContentError::TooLarge => SoapError::BodyTooLarge { limit },
                ContentError::Unsupported(e) => SoapError::UnsupportedEncoding(e),
                ContentError::Invalid => SoapError::BadCompression,
            };
            return fault_response(early_version, policy, err);
        }
    };
    let request = match envelope::decode(&bytes) {
        Ok(request) => request,
        Err(e) => {
            let version = guess_version(&content_type, &bytes);
            tracing::info!(error = %e, "SOAP request refused");
            return fault_response(version, policy, SoapError::Decode(e));
        }
    };
    let version = request.version;
    let contract = request.contract;
    let operation = request.operation.name();
    let wsa = request.addressing.as_ref();
    // IZ Gateway's hub header is answered with a HubResponseHeader naming this destination.
    let hub = match &request.hub {
        Some(hub) => hub_response_header(
            hub.destination_id.as_deref().unwrap_or(""),
            &format!("{}{}", public_base(state, uri, headers), uri.path()),
        ),
        None => String::new(),
    };
    let fault = |err| addressed_fault(version, policy, wsa, contract, &hub, err);
    // Checked before anything is processed: a reply this service cannot deliver must not
    // stand for a message it kept.
    if let Some((header, _)) = wsa.and_then(Addressing::non_anonymous) {
        tracing::info!(
            header,
            "SOAP request refused: non-anonymous WS-Addressing reply address"
        );
        return with_operation(fault(SoapError::NonAnonymousAddress { header }), operation);
    }
    let reply = |actions: (&str, &str), element_2011, (element_2014, child_2014), value: &str| {
        let body = match contract {
            Contract::Cdc2011 => fault::response(
                version,
                &addressing::reply_header(wsa, actions.0, &hub),
                element_2011,
                value,
            ),
            Contract::Cdc2014 => fault::response_2014(
                version,
                &addressing::reply_header(wsa, actions.1, &hub),
                element_2014,
                child_2014,
                value,
            ),
        };
        soap_response(version, StatusCode::OK, body)
    };
    let response = match request.operation {
        Operation::ConnectivityTest { echo_back } => reply(
            (
                CONNECTIVITY_TEST_RESPONSE_ACTION,
                CONNECTIVITY_TEST_2014_RESPONSE_ACTION,
            ),
            "connectivityTestResponse",
            ("ConnectivityTestResponse", "EchoBack"),
            echo_back.as_deref().unwrap_or(""),
        ),
        Operation::SubmitSingleMessage {
            username,
            password,
            facility_id,
            hl7_message,
        } => match submit(
            state,
            client,
            username.as_deref(),
            password.as_deref(),
            facility_id.as_deref(),
            &hl7_message,
        )
        .await
        {
            Ok(hl7) => reply(
                (
                    SUBMIT_SINGLE_MESSAGE_RESPONSE_ACTION,
                    SUBMIT_SINGLE_MESSAGE_2014_RESPONSE_ACTION,
                ),
                "submitSingleMessageResponse",
                ("SubmitSingleMessageResponse", "Hl7Message"),
                &hl7,
            ),
            Err(err) => fault(err),
        },
    };
    with_operation(response, operation)
}

/// Why a request body's Content-Encoding could not be undone.
#[derive(Debug, PartialEq, Eq)]
pub enum ContentError {
    /// The decoded body is larger than the limit (a compression bomb, say).
    TooLarge,
    /// An encoding this service does not read.
    Unsupported(String),
    /// Not valid data of its encoding.
    Invalid,
}

/// The body with its `Content-Encoding` (gzip, deflate, or a list of them) undone, never
/// larger than `limit` bytes: decompression stops one byte past the limit.
pub fn decompress(
    headers: &HeaderMap,
    body: axum::body::Bytes,
    limit: usize,
) -> Result<axum::body::Bytes, ContentError> {
    use std::io::Read;
    let mut codings: Vec<String> = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = value
            .to_str()
            .map_err(|_| ContentError::Unsupported("(not text)".into()))?;
        codings.extend(
            value
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty() && c != "identity"),
        );
    }
    if codings.len() > 4 {
        return Err(ContentError::Unsupported(codings.join(", ")));
    }
    let mut body = body;
    // Codings are listed in the order they were applied; undo the last first.
    for coding in codings.iter().rev() {
        let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        let mut out = Vec::new();
        let read = match coding.as_str() {
            "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(&body[..])
                .take(cap)
                .read_to_end(&mut out),
            // HTTP's deflate is the zlib format; some clients send raw deflate data.
            "deflate" => {
                let zlib = flate2::read::ZlibDecoder::new(&body[..])
                    .take(cap)
                    .read_to_end(&mut out);
                if zlib.is_err() {
                    out.clear();
                    flate2::read::DeflateDecoder::new(&body[..])
                        .take(cap)
                        .read_to_end(&mut out)
                } else {
                    zlib
                }
            }
            other => return Err(ContentError::Unsupported(other.to_string())),
        };
        if read.is_err() {
            return Err(ContentError::Invalid);
        }
        if out.len() > limit {
            return Err(ContentError::TooLarge);
        }
        body = out.into();
    }
    Ok(body)
}

async fn submit(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    username: Option<&str>,
    password: Option<&str>,
    facility: Option<&str>,
    hl7: &str,
) -> Result<String, SoapError> {
    // Cheap refusals first: size and message count cost nothing, argon2 costs milliseconds.
    let limit = state.limits.max_message_bytes;
    if hl7.len() > limit {
        return Err(SoapError::MessageTooLarge {
            size: hl7.len(),
            limit,
        });
    }
    let count = crate::hl7::count_messages(hl7);
    if count > 1 {
        return Err(SoapError::TooManyMessages(count));
    }
    let submitter = match state
        .auth
        .authenticate(username, password, facility, client)
        .await
    {
        Ok(s) => s,
        Err(AuthError::Denied(why)) => {
            metrics::counter!(crate::telemetry::AUTH_FAILURES, "door" => "soap").increment(1);
            tracing::warn!(
                username = username.unwrap_or(""),
                facility = facility.unwrap_or(""),
                client = %client.map(|c| c.to_string()).unwrap_or_default(),
                reason = why,
                "authentication failed"
            );
            return Err(SoapError::Denied);
        }
        Err(e) => {
            tracing::error!(error = %e, "authentication could not be checked");
            return Err(SoapError::Internal);
        }
    };
    match process(state, &submitter, hl7).await {
        Ok(response) => {
            metrics::counter!(
                crate::telemetry::SOAP_ACKS,
                "code" => response.ack.as_str(),
                "organization" => submitter.organization_code.clone()
            )
            .increment(1);
            tracing::info!(
                org = %submitter.organization_code,
                message_id = response.message_id,
                outcome = response.ack.as_str(),
                "message processed"
            );
            Ok(response.hl7)
        }
        Err(e) => {
            tracing::error!(org = %submitter.organization_code, error = %e, "message could not be recorded");
            Err(SoapError::Internal)
        }
    }
}

/// The registry's two phases (as `Registry::submit` runs them), with the message's data
/// quality notes recorded in its transaction: one more insert, committed or rolled back with
/// the message (`dqa::WebNotes`). A resend answered from the log records nothing.
async fn process(
    state: &AppState,
    submitter: &crate::registry::Submitter,
    hl7: &str,
) -> Result<crate::registry::Response, crate::registry::RegistryError> {
    let received_at = state.registry.now();
    let prepared = state.registry.prepare(submitter, hl7, received_at).await?;
    if let Some(answer) = prepared.answer() {
        return Ok(answer);
    }
    let notes = crate::dqa::WebNotes::of_text(hl7);
    let organization_id = submitter.organization_id;
    state
        .registry
        .store()
        .transact(crate::registry::work(
            move |tx: &mut crate::store::SqlTx| {
                Box::pin(async move {
                    let r = prepared.apply(tx).await?;
                    notes.record(tx, organization_id, received_at, &r).await?;
                    Ok(r)
                })
            },
        ))
        .await
}

/// What a proxy in front says the client asked for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Forwarded {
    proto: Option<&'static str>,
    host: Option<String>,
}

/// The scheme and host the client used, from `Forwarded` (RFC 7239; its first element, the
/// proxy nearest the client) or else `X-Forwarded-Proto` / `X-Forwarded-Host` (their first
/// values). Only `http`/`https` and hosts safe to print are taken.
fn forwarded(headers: &HeaderMap) -> Forwarded {
    let proto = |v: &str| match v.trim().trim_matches('"').to_ascii_lowercase().as_str() {
        "https" => Some("https"),
        "http" => Some("http"),
        _ => None,
    };
    let host = |v: &str| {
        let v = v.trim().trim_matches('"');
        plausible_host(v).then(|| v.to_string())
    };
    let mut out = Forwarded::default();
    if let Some(first) = headers
        .get("forwarded")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
    {
        for pair in first.split(';') {
            if let Some((key, value)) = pair.split_once('=') {
                match key.trim().to_ascii_lowercase().as_str() {
                    "proto" => out.proto = proto(value),
                    "host" => out.host = host(value),
                    _ => {}
                }
            }
        }
    }
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::to_string)
    };
    if out.proto.is_none() {
        out.proto = first("x-forwarded-proto").as_deref().and_then(proto);
    }
    if out.host.is_none() {
        out.host = first("x-forwarded-host").as_deref().and_then(host);
    }
    out
}

/// Whether a host header is safe to print into the WSDL as an address.
fn plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// GET /soap (and /soap/): the 2011 WSDL at ?wsdl.
pub async fn get_soap(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    serve_get(&state, query, &uri, &headers, Contract::Cdc2011)
}

/// GET /soap/2014: the 2014 WSDL at ?wsdl.
pub async fn get_soap_2014(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    serve_get(&state, query, &uri, &headers, Contract::Cdc2014)
}

/// The scheme and host clients reach this service at: `--public-url`, else a trusted proxy's
/// headers, else the request's own host.
fn public_base(state: &AppState, uri: &Uri, headers: &HeaderMap) -> String {
    match &state.public_url {
        Some(url) => url.clone(),
        None => {
            let forwarded = if state.trust_forwarded_headers {
                forwarded(headers)
            } else {
                Forwarded::default()
            };
            // HTTP/1.1 names the host in Host:, HTTP/2 in the :authority pseudo-header (the URI).
            let host = forwarded
                .host
                .or_else(|| {
                    headers
                        .get(header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .or_else(|| uri.authority().map(|a| a.as_str()))
                        .filter(|h| plausible_host(h))
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "localhost".to_string());
            let scheme = forwarded
                .proto
                .unwrap_or(if state.tls { "https" } else { "http" });
            format!("{scheme}://{host}")
        }
    }
}

fn serve_get(
    state: &AppState,
    query: Option<String>,
    uri: &Uri,
    headers: &HeaderMap,
    contract: Contract,
) -> Response {
    let wants_wsdl = query.as_deref().is_some_and(|q| {
        q.split('&').any(|p| {
            p.split('=')
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("wsdl"))
        })
    });
    if !wants_wsdl {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "izport: CDC IIS SOAP web service (urn:cdc:iisb:2011 at /soap, urn:cdc:iisb:2014 at \
             /soap/2014). POST SOAP 1.2 or 1.1 envelopes here; the WSDL is at ?wsdl.\n",
        )
            .into_response();
    }
    let base = public_base(state, uri, headers);
    let wsdl = match contract {
        Contract::Cdc2011 => super::wsdl::render(&format!("{base}/soap")),
        Contract::Cdc2014 => super::wsdl::render_2014(&format!("{base}/soap/2014")),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        wsdl,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_guess_prefers_the_envelope_namespace() {
        let v11 = format!(
            "<e:Envelope xmlns:e=\"{}\"><e:Body/></e:Envelope>",
            super::super::wire::SOAP11_NS
        );
        let v12 = format!(
            "<e:Envelope xmlns:e=\"{}\"><e:Body/></e:Envelope>",
            super::super::wire::SOAP12_NS
        );
        assert_eq!(
            guess_version("application/soap+xml", v11.as_bytes()),
            SoapVersion::V11
        );
        assert_eq!(guess_version("text/xml", v12.as_bytes()), SoapVersion::V12);
        assert_eq!(guess_version("text/xml", b"garbage"), SoapVersion::V11);
        assert_eq!(guess_version("", b"garbage"), SoapVersion::V12);
    }

    #[test]
    fn forwarded_headers_are_read_carefully() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.append(*k, v.parse().unwrap());
            }
            forwarded(&m)
        };
        assert_eq!(h(&[]), Forwarded::default());
        let f = h(&[(
            "forwarded",
            "for=192.0.2.60;proto=https;host=\"iis.example.org\", proto=http",
        )]);
        assert_eq!(f.proto, Some("https"));
        assert_eq!(f.host.as_deref(), Some("iis.example.org"));
        let f = h(&[
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-host", "iis.example.org:8443"),
        ]);
        assert_eq!(f.proto, Some("https"));
        assert_eq!(f.host.as_deref(), Some("iis.example.org:8443"));
        let f = h(&[
            ("x-forwarded-proto", "javascript"),
            ("x-forwarded-host", "evil\"><x"),
        ]);
        assert_eq!(f, Forwarded::default());
    }

    #[test]
    fn compressed_bodies_are_limited_by_their_decoded_size() {
        use std::io::Write;
        let gzip = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            axum::body::Bytes::from(e.finish().unwrap())
        };
        let headers = |v: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(header::CONTENT_ENCODING, v.parse().unwrap());
            m
        };
        let plain = b"<a/>".repeat(100);
        assert_eq!(
            decompress(&headers("gzip"), gzip(&plain), 400).unwrap(),
            plain[..]
        );
        let bomb = gzip(&vec![b' '; 10_000_000]);
        assert!(bomb.len() < 20_000);
        assert_eq!(
            decompress(&headers("gzip"), bomb, 512 * 1024),
            Err(ContentError::TooLarge)
        );
        assert_eq!(
            decompress(
                &headers("gzip"),
                axum::body::Bytes::from_static(b"nope"),
                100
            ),
            Err(ContentError::Invalid)
        );
        assert!(matches!(
            decompress(&headers("br"), gzip(b"x"), 100),
            Err(ContentError::Unsupported(_))
        ));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"<z/>").unwrap();
        let z = axum::body::Bytes::from(z.finish().unwrap());
        assert_eq!(
            &decompress(&headers("deflate"), z, 100).unwrap()[..],
            b"<z/>"
        );
        let raw = axum::body::Bytes::from_static(b"<r/>");
        assert_eq!(
            &decompress(&headers("identity"), raw, 100).unwrap()[..],
            b"<r/>"
        );
    }

    #[test]
    fn hosts_with_markup_are_not_printed() {
        assert!(plausible_host("iis.example.org:8443"));
        assert!(plausible_host("[::1]:8080"));
        assert!(!plausible_host("evil\"><x"));
        assert!(!plausible_host(""));
    }
}
