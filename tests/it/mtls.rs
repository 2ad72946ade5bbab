//! Mutual TLS (issue 15, finding 7): `--tls-client-auth off|optional|required` with
//! `--tls-client-ca`, and client certificates bound to an organization (`izport org cert`).
//! The CA and the client certificates are made here with rcgen; the client is reqwest on rustls.

use std::path::{Path, PathBuf};

use crate::common::*;
use izport::server::ClientAuth;

/// A server over TLS asking for client certificates issued by `ca`.
async fn mtls_app(mode: ClientAuth, ca: &Ca) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app_with(Options {
        tls: true,
        client_auth: mode,
        client_ca: Some(ca.write(dir.path())),
        ..Options::default()
    })
    .await;
    (app, dir)
}

async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    envelope: String,
) -> Result<(u16, String), reqwest::Error> {
    let response = client
        .post(format!("{}/soap", app.base))
        .header("content-type", "application/soap+xml; charset=utf-8")
        .body(envelope)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// A VXU submitted with the given credentials: the ACK's MSA-1, or the fault's CDC code.
async fn submit_with(
    app: &TestApp,
    client: &reqwest::Client,
    (user, password, facility): (&str, &str, &str),
    control: &str,
) -> Result<String, reqwest::Error> {
    let message = vxu(control, &format!("MRN-{control}"), &format!("D-{control}"));
    let (_, body) = post(
        app,
        client,
        submit_envelope(user, password, facility, &message),
    )
    .await?;
    Ok(match return_text(&body) {
        Some(ack) => hl7_field(&ack, "MSA", 1).unwrap_or(ack),
        None => format!("fault {}", cdc_fault_code(&body).unwrap_or(body)),
    })
}

const MINE: (&str, &str, &str) = (USER, PASSWORD, FACILITY);
const OTHER_ORG: &str = "OTHERORG";
const THEIRS: (&str, &str, &str) = ("other-user", "other-password-1", "OTHERFAC");

async fn add_other_organization(app: &TestApp) {
    app.db
        .create_organization(OTHER_ORG, "Other Clinic", &["OTHERFAC".to_string()], true)
        .await
        .expect("org");
    app.db
        .create_user(
            OTHER_ORG,
            THEIRS.0,
            &izport::auth::hash_password(THEIRS.1).expect("hash"),
        )
        .await
        .expect("user");
}

#[tokio::test]
async fn required_admits_a_certificate_of_the_ca_and_no_connection_without_one() {
    let ca = Ca::new("Client CA");
    let (app, _dir) = mtls_app(ClientAuth::Required, &ca).await;
    let identity = ca.issue("clinic1");
    let with = tls_client(&app, Some(&identity));
    assert_eq!(
        submit_with(&app, &with, MINE, "MTLS-1")
            .await
            .expect("answer"),
        "AA"
    );
    let (status, body) = post(&app, &with, connectivity("over mutual tls"))
        .await
        .expect("answer");
    assert_eq!(status, 200, "{body}");

    // No certificate: the handshake is refused, no HTTP answer at all.
    let without = tls_client(&app, None);
    let refused = post(&app, &without, connectivity("no certificate")).await;
    assert!(
        refused.is_err(),
        "answered without a certificate: {refused:?}"
    );

    // A certificate of another CA: refused in the handshake too.
    let stranger = Ca::new("Another CA").issue("clinic1");
    let refused = post(&app, &tls_client(&app, Some(&stranger)), connectivity("x")).await;
    assert!(
        refused.is_err(),
        "answered another CA's client: {refused:?}"
    );
}

#[tokio::test]
async fn optional_serves_clients_without_a_certificate_but_not_with_a_foreign_one() {
    let ca = Ca::new("Client CA");
    let (app, _dir) = mtls_app(ClientAuth::Optional, &ca).await;
    let without = tls_client(&app, None);
    assert_eq!(
        submit_with(&app, &without, MINE, "OPT-1")
            .await
            .expect("answer"),
        "AA"
    );
    let with = tls_client(&app, Some(&ca.issue("clinic1")));
    assert_eq!(
        submit_with(&app, &with, MINE, "OPT-2")
            .await
            .expect("answer"),
        "AA"
    );
    let stranger = Ca::new("Another CA").issue("clinic1");
    let refused = post(&app, &tls_client(&app, Some(&stranger)), connectivity("x")).await;
    assert!(
        refused.is_err(),
        "answered another CA's client: {refused:?}"
    );
}

#[tokio::test]
async fn a_bound_certificate_admits_only_its_organizations_credentials() {
    let ca = Ca::new("Client CA");
    let (app, dir) = mtls_app(ClientAuth::Required, &ca).await;
    add_other_organization(&app).await;
    let bound = ca.issue("clinic1");
    let cert_file = dir.path().join("clinic1.pem");
    std::fs::write(&cert_file, &bound.0).expect("write");
    let out = izport_cli(&app, &["org", "cert", ORG, "--add", path(&cert_file)]);
    assert!(out.0, "{}", out.1);

    let client1 = tls_client(&app, Some(&bound));
    assert_eq!(
        submit_with(&app, &client1, MINE, "BOUND-1")
            .await
            .expect("answer"),
        "AA"
    );
    // Another organization's (right) credentials over CLINIC1's certificate: the SecurityFault
    // every refusal gets, and a failure counted against the user.
    assert_eq!(
        submit_with(&app, &client1, THEIRS, "BOUND-2")
            .await
            .expect("answer"),
        "fault 10"
    );
    let states = app
        .db
        .throttle_states(&[("user", THEIRS.0)], 0)
        .await
        .expect("throttle");
    assert_eq!(states[0].failures, 1, "the refusal counts as a failure");
    // Again, now that its password was verified once elsewhere (the cache must not let it in).
    let unbound = tls_client(&app, Some(&ca.issue("hub")));
    assert_eq!(
        submit_with(&app, &unbound, THEIRS, "BOUND-3")
            .await
            .expect("answer"),
        "AA",
        "an unbound certificate adds no condition"
    );
    assert_eq!(
        submit_with(&app, &client1, THEIRS, "BOUND-4")
            .await
            .expect("answer"),
        "fault 10"
    );
    // CLINIC1's own credentials still pass, and once unbound the certificate admits anyone.
    assert_eq!(
        submit_with(&app, &client1, MINE, "BOUND-5")
            .await
            .expect("answer"),
        "AA"
    );
    let fingerprint = izport::auth::read_pem_certificate(&bound.0).expect("pem").0;
    let out = izport_cli(&app, &["org", "cert", ORG, "--remove", &fingerprint]);
    assert!(out.0, "{}", out.1);
    assert_eq!(
        submit_with(&app, &client1, THEIRS, "BOUND-6")
            .await
            .expect("answer"),
        "AA"
    );
}

#[tokio::test]
async fn org_cert_adds_lists_and_removes_and_explains_bad_input() {
    let app = spawn_app().await;
    add_other_organization(&app).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("Client CA");
    let (cert, key) = ca.issue("clinic1");
    let file = dir.path().join("client.pem");
    // A file with the certificate, its key and the CA after it: the first certificate is bound.
    std::fs::write(&file, format!("{cert}{key}{}", ca.cert.pem())).expect("write");
    let fingerprint = izport::auth::fingerprint(
        &rustls_der(&cert).expect("a certificate in the PEM text rcgen wrote"),
    );

    let (ok, text) = izport_cli(&app, &["org", "cert", ORG, "--list"]);
    assert!(
        ok && text.contains("no client certificates bound"),
        "{text}"
    );
    let (ok, text) = izport_cli(&app, &["org", "cert", ORG, "--add", path(&file)]);
    assert!(ok && text.contains(&fingerprint), "{text}");
    let (ok, text) = izport_cli(&app, &["org", "cert", ORG, "--list"]);
    assert!(ok && text.starts_with(&fingerprint), "{text}");

    // The same certificate again, here or for another organization: refused, naming the holder.
    let (ok, text) = izport_cli(&app, &["org", "cert", OTHER_ORG, "--add", path(&file)]);
    assert!(
        !ok && text.contains("bound to organization CLINIC1"),
        "{text}"
    );
    let (ok, text) = izport_cli(&app, &["org", "cert", ORG, "--add", path(&file)]);
    assert!(!ok && text.contains("already bound"), "{text}");

    // Bad input: not PEM, a key alone, a broken certificate, a missing file, an unknown
    // organization, a malformed fingerprint, one not bound, no action, two actions.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello").expect("write");
    let (ok, text) = izport_cli(&app, &["org", "cert", ORG, "--add", path(&junk)]);
    assert!(!ok && text.contains("no PEM certificate"), "{text}");
    let key_only = dir.path().join("key.pem");
    std::fs::write(&key_only, &key).expect("write");
    let (ok, text) = izport_cli(&app, &["org", "cert", ORG, "--add", path(&key_only)]);
    assert!(!ok && text.contains("no PEM certificate"), "{text}");
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let (ok, text) = izport_cli(&app, &["org", "cert", ORG, "--add", path(&broken)]);
    assert!(!ok && text.contains("not a valid X.509"), "{text}");
    let missing = dir.path().join("missing.pem");
    let (ok, text) = izport_cli(&app, &["org", "cert", ORG, "--add", path(&missing)]);
    assert!(!ok && text.contains("missing.pem"), "{text}");
    let (ok, text) = izport_cli(&app, &["org", "cert", "NOSUCH", "--add", path(&file)]);
    assert!(!ok && text.contains("no organization NOSUCH"), "{text}");
    let (ok, text) = izport_cli(&app, &["org", "cert", ORG, "--remove", "abc"]);
    assert!(!ok && text.contains("not a SHA-256 fingerprint"), "{text}");
    let (ok, text) = izport_cli(&app, &["org", "cert", OTHER_ORG, "--remove", &fingerprint]);
    assert!(!ok && text.contains("no certificate"), "{text}");
    let (ok, _) = izport_cli(&app, &["org", "cert", ORG]);
    assert!(!ok, "an action is required");
    let (ok, _) = izport_cli(
        &app,
        &["org", "cert", ORG, "--list", "--remove", &fingerprint],
    );
    assert!(!ok, "one action at a time");

    // Removal, with the fingerprint as openssl prints it (upper case, colons).
    let openssl_form = fingerprint
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let (ok, text) = izport_cli(&app, &["org", "cert", ORG, "--remove", &openssl_form]);
    assert!(ok, "{text}");
    assert!(app.db.client_certs(ORG).await.expect("list").is_empty());
}

#[tokio::test]
async fn client_certificate_settings_that_cannot_work_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("Client CA").write(dir.path());
    let app = spawn_app().await;
    let start = |tls: bool, mode: ClientAuth, ca: Option<PathBuf>| {
        let mut options = app.server_options("127.0.0.1:0".parse().expect("addr"));
        if tls {
            options.tls = Some((ca_path_pair(dir.path())).clone());
        }
        options.tls_client_auth = mode;
        options.tls_client_ca = ca;
        izport::server::start(app.db.clone(), options)
    };
    let err = start(true, ClientAuth::Required, None)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("needs --tls-client-ca"), "{err}");
    let err = start(true, ClientAuth::Optional, None)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("needs --tls-client-ca"), "{err}");
    let err = start(false, ClientAuth::Required, Some(ca.clone()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("needs TLS"), "{err}");
    let err = start(true, ClientAuth::Off, Some(ca.clone()))
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("--tls-client-auth is off"),
        "{err}"
    );
    let not_a_ca = dir.path().join("empty.pem");
    std::fs::write(&not_a_ca, "nothing here").expect("write");
    let err = start(true, ClientAuth::Required, Some(not_a_ca))
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{err:#}").contains("no CA certificate found"),
        "{err:#}"
    );
}

/// A server certificate and key for the settings test (any valid pair will do).
fn ca_path_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let (c, k) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&c, cert.cert.pem()).expect("write");
    std::fs::write(&k, cert.key_pair.serialize_pem()).expect("write");
    (c, k)
}

fn connectivity(echo: &str) -> String {
    format!(
        "<soap:Envelope xmlns:soap=\"{SOAP12}\" xmlns:iis=\"urn:cdc:iisb:2011\"><soap:Body>\
         <iis:connectivityTest><iis:echoBack>{echo}</iis:echoBack></iis:connectivityTest>\
         </soap:Body></soap:Envelope>"
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn rustls_der(pem: &str) -> Option<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .ok()
        .map(|d| d.as_ref().to_vec())
}

/// Runs the izport binary on the app's database: (success, stdout and stderr).
fn izport_cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_izport"))
        .arg("--database-url")
        .arg(&app.db_url)
        .args(args)
        .output()
        .expect("run izport");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
