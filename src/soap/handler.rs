//! POST /soap and GET /soap?wsdl. Every failure of the request becomes one [`SoapError`], mapped
//! to a SOAP fault in exactly one place (`SoapError::fault`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::envelope::{self, DecodeError, Operation, SoapVersion};
use super::fault::{self, Fault, FaultKind};
use crate::auth::AuthError;
use crate::server::{AppState, ClientAddr};

enum SoapError {
    BodyTooLarge {
        limit: usize,
    },
    BodyUnreadable,
    /// The body did not arrive within the time limit or at the minimum rate.
    BodyTooSlow,
    UnsupportedMedia(String),
    Decode(DecodeError),
    TooManyMessages(usize),
    MessageTooLarge {
        size: usize,
        limit: usize,
    },
    /// Credentials refused; which check failed is logged, never told to the caller.
    Denied,
    /// Our fault (database down, a bug). Logged where it happened; the wire says only that.
    Internal,
}

impl SoapError {
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

fn fault_response(version: SoapVersion, err: SoapError) -> Response {
    let fault = err.fault();
    let status = StatusCode::from_u16(fault.http_status(version))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    soap_response(version, status, fault.encode(version))
}

/// The fault for a request body over `limit` bytes (also used by layers that read bodies).
pub fn body_too_large(version: SoapVersion, limit: usize) -> Response {
    fault_response(version, SoapError::BodyTooLarge { limit })
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

pub async fn post_soap(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let client = client.map(|Extension(ClientAddr(addr))| addr.ip());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let early_version = guess_version(&content_type, b"");
    if content_type.starts_with("multipart/") {
        return fault_response(early_version, SoapError::UnsupportedMedia(content_type));
    }
    let bytes = match read_body(body, &state.limits).await {
        Ok(bytes) => bytes,
        Err(err) => {
            let mut response = fault_response(early_version, err);
            // What is left of the body is not read: the connection cannot carry another request.
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            return response;
        }
    };
    let request = match envelope::decode(&bytes) {
        Ok(request) => request,
        Err(e) => {
            let version = guess_version(&content_type, &bytes);
            tracing::info!(error = %e, "SOAP request refused");
            return fault_response(version, SoapError::Decode(e));
        }
    };
    let version = request.version;
    match request.operation {
        Operation::ConnectivityTest { echo_back } => soap_response(
            version,
            StatusCode::OK,
            fault::connectivity_response(version, echo_back.as_deref().unwrap_or("")),
        ),
        Operation::SubmitSingleMessage {
            username,
            password,
            facility_id,
            hl7_message,
        } => match submit(
            &state,
            client,
            username.as_deref(),
            password.as_deref(),
            facility_id.as_deref(),
            &hl7_message,
        )
        .await
        {
            Ok(hl7) => soap_response(
                version,
                StatusCode::OK,
                fault::submit_response(version, &hl7),
            ),
            Err(err) => fault_response(version, err),
        },
    }
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
    match state.registry.submit(&submitter, hl7).await {
        Ok(response) => {
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

/// Whether a host header is safe to print into the WSDL as an address.
fn plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

pub async fn get_soap(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
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
            "izport: CDC IIS SOAP web service (urn:cdc:iisb:2011). POST SOAP 1.2 or 1.1 envelopes \
             here; the WSDL is at ?wsdl.\n",
        )
            .into_response();
    }
    let base = match &state.public_url {
        Some(url) => url.clone(),
        None => {
            // HTTP/1.1 names the host in Host:, HTTP/2 in the :authority pseudo-header (the URI).
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| uri.authority().map(|a| a.as_str()))
                .filter(|h| plausible_host(h))
                .unwrap_or("localhost");
            let scheme = if state.tls { "https" } else { "http" };
            format!("{scheme}://{host}")
        }
    };
    let address = format!("{base}/soap");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        super::wsdl::render(&address),
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
    fn hosts_with_markup_are_not_printed() {
        assert!(plausible_host("iis.example.org:8443"));
        assert!(plausible_host("[::1]:8080"));
        assert!(!plausible_host("evil\"><x"));
        assert!(!plausible_host(""));
    }
}
