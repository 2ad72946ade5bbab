//! What partners receive while a window is in force. The sentences are the ones the registry's
//! own notices quote, so that what a vendor rehearses against is what production sends.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::soap::envelope::SoapVersion;
use crate::soap::fault::{Fault, FaultKind};

/// The maintenance sentence, exactly as the notices quote it.
pub const MAINTENANCE_SENTENCE: &str = "The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.";

/// The April 2023 outage: what web-service partners saw from the proxy in front of the registry.
pub const PROXY_ERROR_SENTENCES: [&str; 2] = [
    "The proxy server received an invalid response from an upstream server.",
    "Proxy server could not handle the request.",
];

/// The classic 503 page.
pub fn maintenance_html() -> String {
    format!(
        "<!DOCTYPE html>\n<html><head>\n<title>503 Service Unavailable</title>\n</head><body>\n\
         <h1>Service Unavailable</h1>\n<p>{MAINTENANCE_SENTENCE}</p>\n</body></html>\n"
    )
}

/// The 502 proxy-error page.
pub fn proxy_error_html() -> String {
    format!(
        "<!DOCTYPE html>\n<html><head>\n<title>502 Proxy Error</title>\n</head><body>\n\
         <h1>Proxy Error</h1>\n<p>{}<br />\n{}</p>\n</body></html>\n",
        PROXY_ERROR_SENTENCES[0], PROXY_ERROR_SENTENCES[1]
    )
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// 503 for maintenance (and the refused share of intermittent requests). `soap` answers a SOAP
/// client with a Receiver fault carrying the same sentence instead of the HTML page.
pub fn unavailable(retry_after: Option<u64>, soap: Option<SoapVersion>) -> Response {
    let mut response = match soap {
        Some(version) => {
            let fault = Fault {
                kind: FaultKind::Unknown,
                reason: MAINTENANCE_SENTENCE.to_string(),
                detail: "Service Unavailable".to_string(),
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, version.content_type())],
                fault.encode(version),
            )
                .into_response()
        }
        None => html(StatusCode::SERVICE_UNAVAILABLE, maintenance_html()),
    };
    if let Some(seconds) = retry_after {
        if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// 502 for an outage drill.
pub fn proxy_error() -> Response {
    html(StatusCode::BAD_GATEWAY, proxy_error_html())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_the_notice_sentences() {
        let page = maintenance_html();
        assert!(page.contains("<title>503 Service Unavailable</title>"));
        assert!(page.contains("<h1>Service Unavailable</h1>"));
        assert!(page.contains(MAINTENANCE_SENTENCE));
        let page = proxy_error_html();
        assert!(page.contains("<title>502 Proxy Error</title>"));
        assert!(page.contains(PROXY_ERROR_SENTENCES[0]));
        assert!(page.contains(PROXY_ERROR_SENTENCES[1]));
    }
}
