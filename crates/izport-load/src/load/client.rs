//! HTTP/1.1 connections to the target, plain or TLS: one keep-alive connection per worker.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HeaderValue;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::LoadError;

/// A request sender on one connection.
pub type Sender = SendRequest<Full<Bytes>>;

/// Where requests go and how to connect there.
pub struct Target {
    /// Resolved addresses, tried in order.
    addrs: Vec<SocketAddr>,
    /// `Host` header value.
    pub host_header: HeaderValue,
    /// Origin-form request target (`/soap`).
    pub path: Uri,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

/// Why a connection could not be made (the text is for the user).
#[derive(Debug)]
pub struct ConnectFailure(pub String);

/// Bundles tried when no CA file is given for https, after `SSL_CERT_FILE`.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/etc/openssl/cert.pem",
];

impl Target {
    /// Parses `url` (`http://host[:port][/path]` or `https://…`; a missing or `/` path means
    /// `/soap`), resolves the host once, and prepares TLS for https.
    pub async fn new(
        url: &str,
        ca_cert: Option<&Path>,
        insecure: bool,
    ) -> Result<Target, LoadError> {
        let bad = |why: &str| LoadError::InvalidUrl {
            url: url.to_string(),
            reason: why.to_string(),
        };
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|_| bad("it is not a valid URL"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => return Err(bad("it needs a scheme, e.g. http://127.0.0.1:8080/soap")),
        };
        let authority = uri.authority().ok_or_else(|| bad("it has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user information in the URL is not supported"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let bare_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let path = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("") | Some("/") => "/soap",
            Some(p) => p,
        };
        let path: Uri = path.parse().map_err(|_| bad("the path is not valid"))?;
        let host_header =
            HeaderValue::from_str(authority.as_str()).map_err(|_| bad("the host is not valid"))?;

        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare_host.as_str(), port))
            .await
            .map_err(|e| LoadError::Resolve {
                host: bare_host.clone(),
                reason: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(LoadError::Resolve {
                host: bare_host,
                reason: "no addresses".into(),
            });
        }

        let tls = if tls {
            let config = client_config(ca_cert, insecure)?;
            let name = ServerName::try_from(bare_host.clone())
                .map_err(|_| bad("the host is not a valid TLS server name"))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Target {
            addrs,
            host_header,
            path,
            tls,
        })
    }

    /// Opens a new HTTP/1.1 connection (TCP, then TLS for https) within `timeout`.
    pub async fn connect(&self, timeout: Duration) -> Result<Sender, ConnectFailure> {
        match tokio::time::timeout(timeout, self.connect_inner()).await {
            Ok(result) => result,
            Err(_) => Err(ConnectFailure(format!(
                "no connection within {} ms",
                timeout.as_millis()
            ))),
        }
    }

    async fn connect_inner(&self) -> Result<Sender, ConnectFailure> {
        let mut last = None;
        let mut stream = None;
        for addr in &self.addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(format!("{addr}: {e}")),
            }
        }
        let Some(stream) = stream else {
            return Err(ConnectFailure(last.unwrap_or_else(|| "no address".into())));
        };
        // Requests are small and latency matters: no Nagle delay.
        stream
            .set_nodelay(true)
            .map_err(|e| ConnectFailure(format!("setting TCP_NODELAY: {e}")))?;
        let builder = http1::Builder::new();
        match &self.tls {
            None => {
                let (sender, conn) = builder
                    .handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| ConnectFailure(format!("HTTP handshake: {e}")))?;
                tokio::spawn(async move {
                    // Ends when the sender is dropped or the peer closes; errors surface on
                    // the request in flight.
                    let _ = conn.await;
                });
                Ok(sender)
            }
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| ConnectFailure(format!("TLS handshake: {e}")))?;
                let (sender, conn) = builder
                    .handshake(TokioIo::new(tls))
                    .await
                    .map_err(|e| ConnectFailure(format!("HTTP handshake: {e}")))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(sender)
            }
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS client settings: trust `ca_cert` if given, else the system bundle; or verify nothing
/// when `insecure`. HTTP/1.1 is offered by ALPN.
fn client_config(ca_cert: Option<&Path>, insecure: bool) -> Result<ClientConfig, LoadError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| LoadError::Tls(e.to_string()))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateVerification(provider)))
            .with_no_client_auth()
    } else {
        let roots = match ca_cert {
            Some(path) => roots_from_file(path)?,
            None => system_roots()?,
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, LoadError> {
    let certs = read_pem(path).map_err(|reason| LoadError::CaCert {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(LoadError::CaCert {
            path: path.to_path_buf(),
            reason: "no usable certificate in the file".into(),
        });
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, LoadError> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let candidates = from_env
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(std::path::PathBuf::from));
    for path in candidates {
        if let Ok(certs) = read_pem(&path) {
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added > 0 {
                return Ok(roots);
            }
        }
    }
    Err(LoadError::Tls(
        "no system CA bundle found; pass a CA certificate (PEM) to trust, or allow an \
         unverified connection for a test server"
            .into(),
    ))
}

/// Accepts any server certificate (still checks the handshake signatures, so the session
/// is with the holder of the presented key). For test servers only.
#[derive(Debug)]
struct NoCertificateVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls() {
        let t = Target::new("http://127.0.0.1:18080/soap", None, false)
            .await
            .unwrap();
        assert_eq!(t.path, "/soap");
        assert_eq!(t.host_header, "127.0.0.1:18080");
        assert_eq!(t.addrs, vec!["127.0.0.1:18080".parse().unwrap()]);
        let t = Target::new("http://127.0.0.1:18080", None, false)
            .await
            .unwrap();
        assert_eq!(t.path, "/soap");
        let t = Target::new("http://127.0.0.1:18080/", None, false)
            .await
            .unwrap();
        assert_eq!(t.path, "/soap");
        let t = Target::new("http://127.0.0.1/iis/soap?x=1", None, false)
            .await
            .unwrap();
        assert_eq!(t.path, "/iis/soap?x=1");
        assert_eq!(t.addrs[0].port(), 80);
        let t = Target::new("http://[::1]:9/soap", None, false)
            .await
            .unwrap();
        assert_eq!(t.addrs[0], "[::1]:9".parse().unwrap());
        assert_eq!(t.host_header, "[::1]:9");
        let t = Target::new("https://127.0.0.1/soap", None, true)
            .await
            .unwrap();
        assert_eq!(t.addrs[0].port(), 443);
        assert!(t.tls.is_some());

        for bad in [
            "127.0.0.1:8080/soap",
            "ftp://127.0.0.1/soap",
            "http://",
            "http://u:p@127.0.0.1/soap",
            "not a url",
        ] {
            let err = Target::new(bad, None, false).await.err().expect(bad);
            assert!(matches!(err, LoadError::InvalidUrl { .. }), "{bad}: {err}");
        }
        let err = Target::new(
            "https://127.0.0.1/soap",
            Some(Path::new("/nonexistent/ca.pem")),
            false,
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(err, LoadError::CaCert { .. }), "{err}");
    }
}
