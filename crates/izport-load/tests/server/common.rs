//! A fresh registry database with one production organization and user, and the server on an
//! ephemeral port over it.

use std::path::PathBuf;
use std::sync::Arc;

use izport::auth::hash_password;
use izport::server::{self, RunningServer, ServerOptions};
use izport::store::Db;

pub const ORG: &str = "LOADCLINIC";
pub const USER: &str = "load-user";
pub const PASSWORD: &str = "load-password-1";
pub const FACILITY: &str = "LFAC";

pub struct TestApp {
    pub base: String,
    pub db: Arc<Db>,
    /// The server's certificate (PEM file) when it speaks HTTPS.
    pub certificate: Option<PathBuf>,
    _server: RunningServer,
    _dir: tempfile::TempDir,
}

/// A database of its own: a SQLite file in `dir`, or a new database on the PostgreSQL server
/// `IZPORT_TEST_DATABASE_URL` names.
pub async fn fresh_database(dir: &tempfile::TempDir) -> Arc<Db> {
    let url = match std::env::var("IZPORT_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("izport_t_load_{:x}", rand::random::<u64>());
            let admin = Db::connect(&admin_url)
                .await
                .expect("connect to PostgreSQL");
            admin.create_database(&name).await.expect("create database");
            admin.close().await;
            let (server, _old) = admin_url
                .split_once('?')
                .map_or(admin_url.as_str(), |(base, _)| base)
                .rsplit_once('/')
                .expect("a PostgreSQL URL with a database");
            format!("{server}/{name}")
        }
        _ => format!("sqlite:{}", dir.path().join("izport.db").display()),
    };
    let db = Db::connect(&url).await.expect("connect");
    db.migrate().await.expect("migrate");
    Arc::new(db)
}

pub async fn spawn_app(tls: bool) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = fresh_database(&dir).await;
    db.create_organization(ORG, "Load Clinic", &[FACILITY.to_string()], true)
        .await
        .expect("organization");
    db.create_user(ORG, USER, &hash_password(PASSWORD).expect("hash"))
        .await
        .expect("user");
    let mut options = ServerOptions::local("127.0.0.1:0".parse().expect("address"));
    let certificate = tls.then(|| {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("self-signed certificate");
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
        std::fs::write(&key_path, cert.key_pair.serialize_pem()).expect("write key");
        options.tls = Some((cert_path.clone(), key_path));
        cert_path
    });
    let server = server::start(db.clone(), options)
        .await
        .expect("server starts");
    let base = match certificate {
        Some(_) => format!("https://localhost:{}", server.addr.port()),
        None => format!("http://{}", server.addr),
    };
    TestApp {
        base,
        db,
        certificate,
        _server: server,
        _dir: dir,
    }
}
