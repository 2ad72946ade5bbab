//! Test harness: the real server on an ephemeral port, over a fresh database.
//!
//! SQLite (a file in a temp dir) by default; when `IZPORT_TEST_DATABASE_URL` points at a
//! PostgreSQL server, each test gets a database of its own created there.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use izport::auth::{hash_password, ThrottleConfig};
use izport::batch::FileDoorOptions;
use izport::maintenance::{
    Clock, Maintenance, MaintenanceConfig, ManualClock, PageFormat, SystemClock,
};
use izport::registry::RegistryConfig;
use izport::server::{self, ClientAuth, Limits, RunningServer, ServerOptions};
pub use izport::soap::fault::FaultStatus;
use izport::store::Db;

pub const ORG: &str = "CLINIC1";
pub const USER: &str = "ehr-user";
pub const PASSWORD: &str = "correct-horse-battery";
pub const FACILITY: &str = "FAC01";
pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";

pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub db: Arc<Db>,
    pub db_url: String,
    pub client: reqwest::Client,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The server certificate's PEM (with `tls`), for clients the test builds itself.
    pub tls_root_pem: Option<String>,
    pub client_auth: ClientAuth,
    pub client_ca: Option<PathBuf>,
    pub limits: Limits,
    pub public_url: Option<String>,
    pub clock: Option<ManualClock>,
    pub admin_token: Option<String>,
    pub page_format: PageFormat,
    pub poll: Duration,
    pub registry: RegistryConfig,
    pub files: Option<FileDoorOptions>,
    pub fault_status: FaultStatus,
    pub trust_forwarded_headers: bool,
    pub throttle: ThrottleConfig,
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

async fn fresh_database_url(dir: &tempfile::TempDir) -> String {
    match std::env::var("IZPORT_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("izport_t_{:016x}", rand_u64());
            let admin = Db::connect(&admin_url)
                .await
                .expect("connect to PostgreSQL");
            admin
                .create_database(&name)
                .await
                .expect("create test database");
            admin.close().await;
            replace_database(&admin_url, &name)
        }
        _ => format!("sqlite:{}", dir.path().join("izport.db").display()),
    }
}

/// `postgres://u@h:p/olddb?x` → `postgres://u@h:p/newdb?x`
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

#[derive(Default)]
pub struct Options {
    pub tls: bool,
    /// Mutual TLS (with `tls`): how client certificates are asked for, and the CA file.
    pub client_auth: ClientAuth,
    pub client_ca: Option<PathBuf>,
    pub limits: Limits,
    pub public_url: Option<String>,
    /// A clock the test moves by hand (default: the system clock).
    pub clock: Option<ManualClock>,
    pub admin_token: Option<String>,
    pub page_format: PageFormat,
    /// Maintenance poll interval (default 100 ms in tests).
    pub poll: Option<Duration>,
    pub registry: RegistryConfig,
    /// The file door (SFTP and the batch worker); off unless given.
    pub files: Option<FileDoorOptions>,
    /// The HTTP status of SOAP faults (default: the server's, 500).
    pub fault_status: FaultStatus,
    /// Whether the WSDL address follows Forwarded / X-Forwarded-* headers.
    pub trust_forwarded_headers: bool,
    /// Login throttling (default: the server's default, 10 failures in 15 minutes).
    pub throttle: Option<ThrottleConfig>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = fresh_database_url(&dir).await;
    let db = Arc::new(Db::connect(&db_url).await.expect("connect"));
    db.migrate().await.expect("migrate");
    db.create_organization(
        ORG,
        "Test Clinic",
        &[FACILITY.to_string(), "FAC02".to_string()],
        true,
    )
    .await
    .expect("org");
    db.create_user(ORG, USER, &hash_password(PASSWORD).expect("hash"))
        .await
        .expect("user");

    let mut client = reqwest::Client::builder();
    let (tls, tls_root_pem) = if options.tls {
        let (cert, key, pem) = make_certificate(&dir);
        client = client
            .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("test CA"));
        (Some((cert, key)), Some(pem))
    } else {
        (None, None)
    };
    let mut app = TestApp {
        base: String::new(),
        addr: "127.0.0.1:0".parse().expect("addr"),
        db,
        db_url,
        client: client.build().expect("client"),
        tls,
        tls_root_pem,
        client_auth: options.client_auth,
        client_ca: options.client_ca,
        limits: options.limits,
        public_url: options.public_url,
        clock: options.clock,
        admin_token: options.admin_token,
        page_format: options.page_format,
        poll: options.poll.unwrap_or(Duration::from_millis(100)),
        registry: options.registry,
        files: options.files,
        fault_status: options.fault_status,
        trust_forwarded_headers: options.trust_forwarded_headers,
        throttle: options.throttle.unwrap_or_default(),
        server: None,
        _dir: dir,
    };
    app.start("127.0.0.1:0".parse().expect("addr")).await;
    app
}

fn make_certificate(dir: &tempfile::TempDir) -> (PathBuf, PathBuf, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("self-signed certificate");
    let cert_pem = cert.cert.pem();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).expect("write cert");
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).expect("write key");
    (cert_path, key_path, cert_pem)
}

impl TestApp {
    async fn start(&mut self, listen: SocketAddr) {
        let server = server::start(self.db.clone(), self.server_options(listen))
            .await
            .expect("server starts");
        self.addr = server.addr;
        self.base = if self.tls.is_some() {
            format!("https://localhost:{}", server.addr.port())
        } else {
            format!("http://{}", server.addr)
        };
        self.server = Some(server);
    }

    /// The options this app's server runs with, for starting more servers on the same database.
    pub fn server_options(&self, listen: SocketAddr) -> ServerOptions {
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(c) => Arc::new(c.clone()),
            None => Arc::new(SystemClock),
        };
        ServerOptions {
            tls: self.tls.clone(),
            tls_client_auth: self.client_auth,
            tls_client_ca: self.client_ca.clone(),
            public_url: self.public_url.clone(),
            limits: self.limits,
            fault_status: self.fault_status,
            trust_forwarded_headers: self.trust_forwarded_headers,
            maintenance: MaintenanceConfig {
                page_format: self.page_format,
                poll_interval: self.poll,
                ..MaintenanceConfig::default()
            },
            admin_token: self.admin_token.clone(),
            clock,
            registry: self.registry.clone(),
            files: self.files.clone().unwrap_or_default(),
            throttle: self.throttle,
            ..ServerOptions::local(listen)
        }
    }

    /// The SFTP server's address (the app must have been started with `files`).
    pub fn sftp_addr(&self) -> SocketAddr {
        self.server
            .as_ref()
            .and_then(|s| s.sftp_addr())
            .expect("the file door runs")
    }

    /// Stops this node's batch worker abruptly (as `kill -9` would).
    pub fn abort_worker(&self) {
        if let Some(s) = &self.server {
            s.abort_file_worker();
        }
    }

    /// Another node on the same database with the given file door (its SFTP server on a port
    /// of its own); it runs until the returned server is dropped or shut down.
    pub async fn start_node(&self, files: FileDoorOptions) -> RunningServer {
        let mut options = self.server_options("127.0.0.1:0".parse().expect("addr"));
        options.files = files;
        server::start(self.db.clone(), options)
            .await
            .expect("second node")
    }

    /// This node's maintenance state.
    pub fn maintenance(&self) -> Arc<Maintenance> {
        self.server
            .as_ref()
            .map(|s| s.maintenance.clone())
            .expect("server running")
    }

    /// Stops the server and the database pool, then starts both again on the same database.
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        self.db.close().await;
        self.db = Arc::new(Db::connect(&self.db_url).await.expect("reconnect"));
        self.db.migrate().await.expect("migrate");
        let listen = self.addr;
        self.start(listen).await;
    }

    pub async fn post(&self, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
        let response = self
            .client
            .post(format!("{}/soap", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    pub async fn soap12(&self, envelope: &str) -> (u16, String) {
        self.post("application/soap+xml; charset=utf-8", envelope.to_string())
            .await
    }

    /// submitSingleMessage with the test credentials; returns (HTTP status, decoded HL7 or body).
    pub async fn submit(&self, hl7: &str) -> (u16, String) {
        self.submit_as(USER, PASSWORD, FACILITY, hl7).await
    }

    pub async fn submit_as(&self, user: &str, pass: &str, fac: &str, hl7: &str) -> (u16, String) {
        let (status, body) = self.soap12(&submit_envelope(user, pass, fac, hl7)).await;
        (status, return_text(&body).unwrap_or(body))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }
}

/// A certificate authority that issues client certificates.
pub struct Ca {
    pub cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca { cert, key }
    }

    /// Writes the CA certificate (PEM) into `dir` and returns its path.
    pub fn write(&self, dir: &std::path::Path) -> PathBuf {
        let path = dir.join("client-ca.pem");
        std::fs::write(&path, self.cert.pem()).expect("write CA");
        path
    }

    /// A client certificate for `name`: (certificate PEM, private key PEM).
    pub fn issue(&self, name: &str) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(vec![format!("{name}.example.org")])
            .expect("client params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        let key = rcgen::KeyPair::generate().expect("client key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("client certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// A client trusting the app's test server certificate and presenting `identity`
/// (certificate and key PEM) if given.
pub fn tls_client(app: &TestApp, identity: Option<&(String, String)>) -> reqwest::Client {
    let root = app.tls_root_pem.as_deref().expect("a TLS app");
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).expect("root"));
    if let Some((cert, key)) = identity {
        builder = builder.identity(
            reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).expect("identity"),
        );
    }
    builder.build().expect("client")
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\r', "&#xD;")
}

pub fn submit_envelope(user: &str, pass: &str, fac: &str, hl7: &str) -> String {
    format!(
        "<soap:Envelope xmlns:soap=\"{SOAP12}\" xmlns:iis=\"urn:cdc:iisb:2011\"><soap:Header/>\
         <soap:Body><iis:submitSingleMessage><iis:username>{}</iis:username>\
         <iis:password>{}</iis:password><iis:facilityID>{}</iis:facilityID>\
         <iis:hl7Message>{}</iis:hl7Message></iis:submitSingleMessage></soap:Body></soap:Envelope>",
        xml_escape(user),
        xml_escape(pass),
        xml_escape(fac),
        xml_escape(hl7)
    )
}

/// The decoded text of the `return` element of a SOAP response, if there is one.
pub fn return_text(body: &str) -> Option<String> {
    element_text(body, "return")
}

/// The `Code` of the CDC fault detail element (namespace urn:cdc:iisb:2011), if any.
pub fn cdc_fault_code(body: &str) -> Option<String> {
    element_text_in(body, Some("urn:cdc:iisb:2011"), "Code")
}

/// Decoded text of the first element with this local name (any namespace), or None.
pub fn element_text(body: &str, local: &str) -> Option<String> {
    element_text_in(body, None, local)
}

pub fn element_text_in(body: &str, namespace: Option<&str>, local: &str) -> Option<String> {
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;
    let mut reader = quick_xml::NsReader::from_str(body);
    let mut inside = false;
    let mut out = String::new();
    loop {
        let (ns, event) = reader.read_resolved_event().ok()?;
        let ns_ok = match (namespace, ns) {
            (None, _) => true,
            (Some(want), ResolveResult::Bound(n)) => n.as_ref() == want.as_bytes(),
            _ => false,
        };
        match event {
            Event::Start(e) if ns_ok && e.local_name().as_ref() == local.as_bytes() => {
                inside = true
            }
            Event::End(e) if inside && e.local_name().as_ref() == local.as_bytes() => {
                return Some(out)
            }
            Event::Text(t) if inside => out.push_str(&t.decode().ok()?),
            Event::CData(t) if inside => out.push_str(std::str::from_utf8(&t).ok()?),
            Event::GeneralRef(r) if inside => {
                if let Some(c) = r.resolve_char_ref().ok()? {
                    out.push(c);
                } else {
                    let name = std::str::from_utf8(&r).ok()?;
                    out.push_str(quick_xml::escape::resolve_predefined_entity(name)?);
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// A valid first-version VXU for patient `mrn`, with one dose keyed `dose_id`.
pub fn vxu(control_id: &str, mrn: &str, dose_id: &str) -> String {
    [
        format!("MSH|^~\\&|TESTEHR|{FACILITY}|IZPORT|IZPORT|20240515093012-0500||VXU^V04^VXU_V04|{control_id}|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS"),
        format!("PID|1||{mrn}^^^TESTEHR^MR||Tester^Tina^Q^^^^L|Mother^Mary^^^^^M|20230421|F"),
        format!("ORC|RE||{dose_id}^TESTEHR"),
        "RXA|0|1|20240515||08^Hep B, adolescent or pediatric^CVX|0.5|mL^milliliters^UCUM||00^New immunization record^NIP001||||||Z0860BB|20250810|MSD^Merck and Co., Inc.^MVX|||CP|A".to_string(),
        "RXR|C28161^Intramuscular^NCIT|RT^Right Thigh^HL70163".to_string(),
    ]
    .join("\r")
}

/// The value of field `field` of the first segment `seg` in an HL7 text (raw, no unescaping).
pub fn hl7_field(hl7: &str, seg: &str, field: usize) -> Option<String> {
    for line in hl7.split(['\r', '\n']) {
        let mut parts = line.split('|');
        if parts.next() == Some(seg) {
            let index = if seg == "MSH" { field - 1 } else { field };
            return line.split('|').nth(index).map(str::to_string);
        }
    }
    None
}

#[test]
fn replaces_the_database_in_a_url() {
    assert_eq!(
        replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        replace_database("postgres://h/test?sslmode=disable", "y"),
        "postgres://h/y?sslmode=disable"
    );
    assert_eq!(replace_database("postgres://h", "z"), "postgres://h/z");
}
