//! The file door, through a real SFTP connection (russh's client) to the real server: accounts,
//! the four folders, uploads, processing by the same registry path as SOAP, acknowledgement and
//! error files, maintenance, and the bad inputs the issue names. Runs on SQLite and, with
//! `IZPORT_TEST_DATABASE_URL`, PostgreSQL.
//!
//! Expected values here come from the HL7 batch protocol (counts in BTS/FTS, BHS-12 echoing
//! BHS-11), the SFTP v3 status codes (draft-ietf-secsh-filexfer-02) and the registry's notices
//! (files wait out maintenance; no resubmission); the MSA codes of individual messages are the
//! registry's own judgement, as the SOAP tests establish.

use std::sync::Arc;
use std::time::Duration;

use izport::auth::hash_password;
use izport::batch::FileDoorOptions;
use izport::maintenance::{Kind, Mode};
use izport::store::NewWindow;
use russh::keys::ssh_key;
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{OpenFlags, StatusCode};
use tokio::io::AsyncWriteExt;

use crate::common::{self, spawn_app_with, Options, TestApp, FACILITY, ORG};

const IMPORT: &str = "CLINICX";
const SFTP_PASSWORD: &str = "exchange-password-1";

struct Client;

impl russh::client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

async fn app_with_files() -> TestApp {
    spawn_app_with(Options {
        files: Some(FileDoorOptions::local()),
        ..Options::default()
    })
    .await
}

async fn account(app: &TestApp) {
    app.db
        .set_exchange_account(ORG, IMPORT, &hash_password(SFTP_PASSWORD).expect("hash"))
        .await
        .expect("exchange account");
}

/// Starts a window now (registry-wide, or a drill for `org`) and makes the node see it.
async fn start_window(app: &TestApp, mode: Mode, org: Option<&str>) {
    app.db
        .create_window(&NewWindow {
            kind: Kind::Unplanned,
            mode,
            starts_at: jiff::Timestamp::now(),
            ends_at: None,
            time_zone: "America/Chicago".into(),
            reason: "test".into(),
            organization: org.map(str::to_string),
            refuse_percent: 100,
        })
        .await
        .expect("window");
    app.maintenance().refresh(&app.db).await.expect("refresh");
}

async fn stop_window(app: &TestApp, org: Option<&str>) {
    app.db
        .stop_windows(jiff::Timestamp::now(), org)
        .await
        .expect("stop");
    app.maintenance().refresh(&app.db).await.expect("refresh");
}

async fn connect(app: &TestApp, user: &str, password: &str) -> Result<SftpSession, String> {
    connect_with_handle(app, user, password)
        .await
        .map(|(_, s)| s)
}

async fn connect_with_handle(
    app: &TestApp,
    user: &str,
    password: &str,
) -> Result<(russh::client::Handle<Client>, SftpSession), String> {
    let config = Arc::new(russh::client::Config::default());
    let mut session = russh::client::connect(config, app.sftp_addr(), Client)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let ok = session
        .authenticate_password(user, password)
        .await
        .map_err(|e| format!("auth: {e}"))?;
    if !ok.success() {
        return Err("login refused".into());
    }
    let channel = session
        .channel_open_session()
        .await
        .map_err(|e| format!("channel: {e}"))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| format!("subsystem: {e}"))?;
    let sftp = SftpSession::new(channel.into_stream())
        .await
        .map_err(|e| format!("sftp: {e}"))?;
    Ok((session, sftp))
}

async fn login(app: &TestApp) -> SftpSession {
    connect(app, IMPORT, SFTP_PASSWORD).await.expect("login")
}

async fn put(sftp: &SftpSession, path: &str, content: &[u8]) {
    let mut f = sftp.create(path).await.expect("create");
    f.write_all(content).await.expect("write");
    f.shutdown().await.expect("close");
}

/// The error of a result expected to fail (the client's `File` has no `Debug` for `expect_err`).
fn refused<T>(
    r: Result<T, russh_sftp::client::error::Error>,
    what: &str,
) -> russh_sftp::client::error::Error {
    match r {
        Ok(_) => panic!("{what}: expected a refusal"),
        Err(e) => e,
    }
}

fn status_of(e: russh_sftp::client::error::Error) -> StatusCode {
    match e {
        russh_sftp::client::error::Error::Status(s) => s.status_code,
        other => panic!("expected an SFTP status, got {other}"),
    }
}

async fn names(sftp: &SftpSession, dir: &str) -> Vec<String> {
    let mut n: Vec<String> = sftp
        .read_dir(dir)
        .await
        .expect("read_dir")
        .map(|e| e.file_name())
        .filter(|n| n != "." && n != "..")
        .collect();
    n.sort();
    n
}

/// Waits (up to a minute: a loaded CI machine running the PostgreSQL suite in parallel is slow)
/// until a file shows up in DQA-Reports whose name starts with `prefix`.
async fn report(sftp: &SftpSession, prefix: &str) -> (String, String) {
    for _ in 0..1200 {
        for name in names(sftp, "/DQA-Reports").await {
            if name.starts_with(prefix) {
                let bytes = sftp
                    .read(format!("/DQA-Reports/{name}"))
                    .await
                    .expect("read report");
                return (name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no report starting with {prefix} appeared")
}

fn vxu(control_id: &str, mrn: &str) -> String {
    common::vxu(control_id, mrn, &format!("D-{control_id}"))
}

/// A batch file: FHS/BHS … BTS/FTS around `messages`, CRLF line ends.
fn batch_file(messages: &[String], declared: usize) -> String {
    let mut out = String::from(
        "FHS|^~\\&|TESTEHR|CLINIC|IZPORT|IZPORT|20240601120000||CLINICX24153.hl7||F-77\r\n\
         BHS|^~\\&|TESTEHR|CLINIC|IZPORT|IZPORT|20240601120000||||B-88\r\n",
    );
    for m in messages {
        out.push_str(&m.replace('\r', "\r\n"));
        out.push_str("\r\n");
    }
    out.push_str(&format!("BTS|{declared}\r\nFTS|1\r\n"));
    out
}

fn segments<'a>(text: &'a str, id: &str) -> Vec<&'a str> {
    text.split("\r\n")
        .filter(|l| l.starts_with(&format!("{id}|")))
        .collect()
}

fn field(segment: &str, n: usize) -> &str {
    segment.split('|').nth(n).unwrap_or("")
}

#[tokio::test]
async fn a_file_goes_through_the_registry_and_is_answered_in_dqa_reports() {
    let app = app_with_files().await;
    account(&app).await;
    let sftp = login(&app).await;
    assert_eq!(
        names(&sftp, "/").await,
        ["Accepted", "DQA-Reports", "HL7-Dropoff", "Receive"],
        "exactly the four folders"
    );
    let messages: Vec<String> = (1..=3)
        .map(|n| vxu(&format!("M{n}"), &format!("MRN{n}")))
        .collect();
    let content = batch_file(&messages, 3);
    put(&sftp, "/HL7-Dropoff/CLINICX24153.hl7", content.as_bytes()).await;

    let (name, ack) = report(&sftp, "CLINICX24153.hl7.ack").await;
    assert_eq!(name, "CLINICX24153.hl7.ack");
    assert!(
        ack.ends_with("\r\n") && !ack.replace("\r\n", "").contains('\r'),
        "CRLF lines"
    );
    let fhs = segments(&ack, "FHS");
    assert_eq!(fhs.len(), 1);
    assert_eq!(
        field(fhs[0], 11),
        "F-77",
        "FHS-12 echoes the input's FHS-11"
    );
    let bhs = segments(&ack, "BHS");
    assert_eq!(
        field(bhs[0], 11),
        "B-88",
        "BHS-12 echoes the input's BHS-11"
    );
    let msa = segments(&ack, "MSA");
    let echoed: Vec<&str> = msa.iter().map(|m| field(m, 2)).collect();
    assert_eq!(echoed, ["M1", "M2", "M3"], "one ACK per message, in order");
    assert!(msa.iter().all(|m| field(m, 1) == "AA"), "{ack}");
    assert_eq!(segments(&ack, "BTS"), ["BTS|3"]);
    assert_eq!(segments(&ack, "FTS"), ["FTS|1"]);

    // The upload left HL7-Dropoff for Accepted, byte for byte.
    assert!(names(&sftp, "/HL7-Dropoff").await.is_empty());
    let kept = sftp
        .read("/Accepted/CLINICX24153.hl7")
        .await
        .expect("accepted copy");
    assert_eq!(kept, content.as_bytes());
    // The same registry path as SOAP: the patients are there.
    for n in 1..=3 {
        assert!(
            app.db
                .patient_by_identifier(ORG, &format!("MRN{n}"))
                .await
                .expect("lookup")
                .is_some(),
            "patient {n} stored"
        );
    }
    // A read-only folder refuses writes, removal and renames; mkdir is refused everywhere.
    let e = refused(sftp.create("/Accepted/x.hl7").await, "read-only");
    assert_eq!(status_of(e), StatusCode::PermissionDenied);
    let e = sftp
        .remove_file("/Accepted/CLINICX24153.hl7")
        .await
        .expect_err("read-only");
    assert_eq!(status_of(e), StatusCode::PermissionDenied);
    let e = sftp
        .create_dir("/HL7-Dropoff/sub")
        .await
        .expect_err("no mkdir");
    assert_eq!(status_of(e), StatusCode::PermissionDenied);
    let e = sftp
        .symlink("/HL7-Dropoff/a", "/Accepted/CLINICX24153.hl7")
        .await
        .expect_err("no links");
    assert_eq!(status_of(e), StatusCode::OpUnsupported);
}

#[tokio::test]
async fn paths_outside_the_tree_are_refused_cleanly() {
    let app = app_with_files().await;
    account(&app).await;
    let sftp = login(&app).await;
    assert_eq!(sftp.canonicalize("..").await.expect("realpath"), "/");
    assert_eq!(
        sftp.canonicalize("/HL7-Dropoff/../Accepted")
            .await
            .expect("realpath"),
        "/Accepted"
    );
    for bad in [
        "/../../etc/passwd",
        "/etc",
        "/users/OTHER/HL7-Dropoff",
        "/HL7-Dropoff/a/b",
    ] {
        let e = sftp.read(bad).await.expect_err(bad);
        assert_eq!(status_of(e), StatusCode::NoSuchFile, "{bad}");
    }
    for bad in ["..\\..\\x", "/HL7-Dropoff/a\u{1}b.hl7"] {
        let e = refused(sftp.create(bad).await, bad);
        assert_eq!(status_of(e), StatusCode::Failure, "{bad}");
    }
    let long = format!("/HL7-Dropoff/{}.hl7", "x".repeat(300));
    assert_eq!(
        status_of(refused(sftp.create(long).await, "long")),
        StatusCode::Failure
    );
    // The session still works after every refusal.
    assert_eq!(names(&sftp, "/HL7-Dropoff").await, Vec::<String>::new());
}

#[tokio::test]
async fn wrong_passwords_and_unknown_accounts_are_refused() {
    let app = app_with_files().await;
    account(&app).await;
    assert!(connect(&app, IMPORT, "wrong-password").await.is_err());
    assert!(connect(&app, "NOSUCH", SFTP_PASSWORD).await.is_err());
    // The import code is case-insensitive, as the file names are.
    assert!(connect(&app, "clinicx", SFTP_PASSWORD).await.is_ok());
}

/// Issue 15, finding 4: SFTP password logins share the SOAP door's throttle (per import code,
/// in any case, and per client address), and a locked-out account refuses the right password.
#[tokio::test]
async fn sftp_password_logins_are_throttled() {
    let app = spawn_app_with(Options {
        files: Some(FileDoorOptions::local()),
        throttle: Some(izport::auth::ThrottleConfig {
            max_failures: 3,
            ..izport::auth::ThrottleConfig::default()
        }),
        ..Options::default()
    })
    .await;
    account(&app).await;
    for guess in ["guess-1", "guess-2", "guess-3"] {
        assert!(connect(&app, &IMPORT.to_ascii_lowercase(), guess)
            .await
            .is_err());
    }
    assert!(
        connect(&app, IMPORT, SFTP_PASSWORD).await.is_err(),
        "locked out, also with the right password"
    );
    let states = app
        .db
        .throttle_states(&[("exchange", IMPORT), ("address", "127.0.0.1")], 0)
        .await
        .expect("states");
    assert!(
        states.iter().all(|s| s.locked_until.is_some()),
        "{states:?}"
    );
    app.db
        .throttle_unlock("exchange", IMPORT)
        .await
        .expect("unlock");
    app.db
        .throttle_unlock("address", "127.0.0.1")
        .await
        .expect("unlock");
    assert!(connect(&app, IMPORT, SFTP_PASSWORD).await.is_ok());
}

#[tokio::test]
async fn a_filepart_upload_renamed_at_the_end_is_processed_once() {
    let app = app_with_files().await;
    account(&app).await;
    let sftp = login(&app).await;
    let content = batch_file(&[vxu("W1", "MRNW1")], 1);
    put(
        &sftp,
        "/HL7-Dropoff/CLINICX24154.hl7.filepart",
        content.as_bytes(),
    )
    .await;
    // WinSCP sets the time after the upload: that must not fail.
    let mut attrs = russh_sftp::protocol::FileAttributes::empty();
    attrs.mtime = Some(1_700_000_000);
    sftp.set_metadata("/HL7-Dropoff/CLINICX24154.hl7.filepart", attrs)
        .await
        .expect("setstat");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        names(&sftp, "/HL7-Dropoff").await,
        ["CLINICX24154.hl7.filepart"],
        "a temporary name is never picked up"
    );
    sftp.rename(
        "/HL7-Dropoff/CLINICX24154.hl7.filepart",
        "/HL7-Dropoff/CLINICX24154.hl7",
    )
    .await
    .expect("rename");
    let (_, ack) = report(&sftp, "CLINICX24154.hl7.ack").await;
    assert_eq!(segments(&ack, "MSA").len(), 1);
    let runs = app.db.runs(Some(ORG)).await.expect("runs");
    assert_eq!(runs.len(), 1, "processed once");
    assert_eq!(runs[0].original_name, "CLINICX24154.hl7");
}

#[tokio::test]
async fn stat_right_after_close_finds_the_upload_even_once_it_has_moved() {
    let app = app_with_files().await;
    account(&app).await;
    let sftp = login(&app).await;
    let content = batch_file(&[vxu("S1", "MRNS1")], 1);
    put(&sftp, "/HL7-Dropoff/CLINICX24155.hl7", content.as_bytes()).await;
    report(&sftp, "CLINICX24155.hl7.ack").await;
    // paramiko's put() checks the size this way after closing.
    let meta = sftp
        .metadata("/HL7-Dropoff/CLINICX24155.hl7")
        .await
        .expect("stat");
    assert_eq!(meta.size, Some(content.len() as u64));
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused_with_a_clear_error() {
    let mut files = FileDoorOptions::local();
    if let Some(s) = files.sftp.as_mut() {
        s.max_file_bytes = 64 * 1024;
    }
    let app = spawn_app_with(Options {
        files: Some(files),
        ..Options::default()
    })
    .await;
    account(&app).await;
    let sftp = login(&app).await;
    let mut f = sftp
        .create("/HL7-Dropoff/CLINICX24156.hl7")
        .await
        .expect("create");
    let big = vec![b'x'; 128 * 1024];
    let written = f.write_all(&big).await;
    let closed = f.shutdown().await;
    assert!(
        written.is_err() || closed.is_err(),
        "the limit stops the upload"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        names(&sftp, "/HL7-Dropoff").await.is_empty(),
        "nothing kept"
    );
}

#[tokio::test]
async fn a_wrong_name_junk_and_an_empty_file_each_get_an_error_report() {
    let app = app_with_files().await;
    account(&app).await;
    let sftp = login(&app).await;
    put(
        &sftp,
        "/HL7-Dropoff/immunizations.hl7",
        batch_file(&[vxu("N1", "MRNN1")], 1).as_bytes(),
    )
    .await;
    let (_, text) = report(&sftp, "immunizations.hl7.error.txt").await;
    assert!(text.contains("CLINICXYYDDD.hl7"), "{text}");
    put(
        &sftp,
        "/HL7-Dropoff/CLINICX24157.hl7",
        b"\x00\x01\x02\xff binary junk",
    )
    .await;
    let (_, text) = report(&sftp, "CLINICX24157.hl7.error.txt").await;
    assert!(text.contains("binary"), "{text}");
    put(&sftp, "/HL7-Dropoff/CLINICX24158.hl7", b"").await;
    let (_, text) = report(&sftp, "CLINICX24158.hl7.error.txt").await;
    assert!(text.contains("empty"), "{text}");
    assert!(
        app.db
            .patient_by_identifier(ORG, "MRNN1")
            .await
            .expect("lookup")
            .is_none(),
        "a wrongly named file is not processed"
    );
    let states: Vec<String> = app
        .db
        .runs(Some(ORG))
        .await
        .expect("runs")
        .into_iter()
        .map(|r| r.state)
        .collect();
    assert_eq!(states, ["rejected", "unreadable", "unreadable"]);
}

#[tokio::test]
async fn the_same_content_again_is_recognized_and_not_processed_twice() {
    let app = app_with_files().await;
    account(&app).await;
    let sftp = login(&app).await;
    let content = batch_file(&[vxu("R1", "MRNR1")], 1);
    put(&sftp, "/HL7-Dropoff/CLINICX24160.hl7", content.as_bytes()).await;
    report(&sftp, "CLINICX24160.hl7.ack").await;
    put(&sftp, "/HL7-Dropoff/CLINICX24161.hl7", content.as_bytes()).await;
    let (_, text) = report(&sftp, "CLINICX24161.hl7.error.txt").await;
    assert!(
        text.contains("CLINICX24160.hl7"),
        "names the earlier file: {text}"
    );
    let runs = app.db.runs(Some(ORG)).await.expect("runs");
    assert_eq!(runs[1].state, "duplicate");
    assert_eq!(runs[1].duplicate_of, Some(runs[0].id));
}

#[tokio::test]
async fn broken_messages_lying_counts_two_msh_and_windows_1252_each_get_their_answer() {
    let app = app_with_files().await;
    account(&app).await;
    let sftp = login(&app).await;
    let mut messages: Vec<String> = Vec::new();
    for n in 0..200 {
        let m = vxu(&format!("B{n}"), &format!("MRNB{n}"));
        messages.push(if n % 50 == 7 {
            // No PID-7 (birth date): rejected by the registry with AE.
            m.replace("|20230421|F", "||F")
        } else {
            m
        });
    }
    // A message that is two MSH in a row: each MSH starts a message.
    messages.push(
        "MSH|^~\\&|TESTEHR|CLINIC|IZPORT|IZPORT|20240515093012-0500||VXU^V04^VXU_V04|TWO-A|P|2.5.1"
            .into(),
    );
    let mut content = batch_file(&messages, 999);
    // Windows-1252 bytes in a name.
    let cp1252 = vxu("CP1", "MRNCP1").replace("Tester^Tina", "Pe\u{f1}a^Jos\u{e9}");
    content = content.replace(
        "BTS|999",
        &format!("{}\r\nBTS|999", cp1252.replace('\r', "\r\n")),
    );
    let bytes: Vec<u8> = content
        .chars()
        .map(|c| match c {
            '\u{f1}' => 0xF1,
            '\u{e9}' => 0xE9,
            c => c as u8,
        })
        .collect();
    put(&sftp, "/HL7-Dropoff/CLINICX24162.hl7", &bytes).await;
    let (_, ack) = report(&sftp, "CLINICX24162.hl7.ack").await;
    let msa = segments(&ack, "MSA");
    assert_eq!(msa.len(), 202, "an answer for each message");
    assert_eq!(field(msa[7], 1), "AE");
    assert_eq!(field(msa[0], 1), "AA");
    assert_eq!(field(msa[200], 2), "TWO-A");
    assert_eq!(field(msa[201], 1), "AA", "the Windows-1252 message is read");
    assert_eq!(
        segments(&ack, "BTS"),
        ["BTS|202"],
        "our own counts are right"
    );
    let (_, warnings) = report(&sftp, "CLINICX24162.hl7.warnings.txt").await;
    assert!(warnings.contains("declares 999"), "{warnings}");
    assert!(warnings.contains("Windows-1252"), "{warnings}");
    let (_, family, given, _) = app
        .db
        .patient_by_identifier(ORG, "MRNCP1")
        .await
        .expect("lookup")
        .expect("stored");
    assert_eq!((family.as_str(), given.as_str()), ("Peña", "José"));
}

#[tokio::test]
async fn files_wait_out_maintenance_and_are_processed_afterwards_without_resending() {
    let app = app_with_files().await;
    account(&app).await;
    let sftp = login(&app).await;
    start_window(&app, Mode::Maintenance, None).await;
    put(
        &sftp,
        "/HL7-Dropoff/CLINICX24163.hl7",
        batch_file(&[vxu("MW1", "MRNMW1")], 1).as_bytes(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        names(&sftp, "/HL7-Dropoff").await,
        ["CLINICX24163.hl7"],
        "uploads are taken during maintenance, and wait"
    );
    let (_, status) = app.get("/status").await;
    assert!(status.contains("\"files_waiting\":1"), "{status}");
    stop_window(&app, None).await;
    report(&sftp, "CLINICX24163.hl7.ack").await;
}

#[tokio::test]
async fn an_outage_refuses_sftp_logins() {
    let app = app_with_files().await;
    account(&app).await;
    start_window(&app, Mode::Outage, None).await;
    assert!(connect(&app, IMPORT, SFTP_PASSWORD).await.is_err());
    stop_window(&app, None).await;
    assert!(connect(&app, IMPORT, SFTP_PASSWORD).await.is_ok());
}

#[tokio::test]
async fn a_drill_for_one_organization_holds_only_its_files() {
    let app = app_with_files().await;
    account(&app).await;
    app.db
        .create_organization("OTHER", "Other Clinic", &["OFAC".to_string()], true)
        .await
        .expect("org");
    app.db
        .set_exchange_account(
            "OTHER",
            "OTHERX",
            &hash_password(SFTP_PASSWORD).expect("hash"),
        )
        .await
        .expect("account");
    start_window(&app, Mode::Maintenance, Some(ORG)).await;
    let mine = login(&app).await;
    let theirs = connect(&app, "OTHERX", SFTP_PASSWORD)
        .await
        .expect("other login");
    put(
        &mine,
        "/HL7-Dropoff/CLINICX24164.hl7",
        batch_file(&[vxu("D1", "MRND1")], 1).as_bytes(),
    )
    .await;
    put(
        &theirs,
        "/HL7-Dropoff/OTHERX24164.hl7",
        batch_file(&[vxu("D2", "MRND2")], 1).as_bytes(),
    )
    .await;
    report(&theirs, "OTHERX24164.hl7.ack").await;
    assert_eq!(
        names(&mine, "/HL7-Dropoff").await,
        ["CLINICX24164.hl7"],
        "held"
    );
    assert!(names(&theirs, "/Accepted").await.len() == 1);
    assert!(
        names(&mine, "/DQA-Reports").await.is_empty(),
        "and not visible to the other"
    );
    stop_window(&app, Some(ORG)).await;
    report(&mine, "CLINICX24164.hl7.ack").await;
}

#[tokio::test]
async fn a_rename_over_an_existing_file_and_a_second_upload_of_a_name_in_progress_fail() {
    let mut files = FileDoorOptions::local();
    if let Some(s) = files.sftp.as_mut() {
        s.quiet = Duration::from_secs(3600);
    }
    let app = spawn_app_with(Options {
        files: Some(files),
        ..Options::default()
    })
    .await;
    account(&app).await;
    let a = login(&app).await;
    let b = login(&app).await;
    put(&a, "/HL7-Dropoff/CLINICX24170.hl7", b"MSH|1\r").await;
    put(&a, "/HL7-Dropoff/CLINICX24171.hl7.part", b"MSH|2\r").await;
    let e = a
        .rename(
            "/HL7-Dropoff/CLINICX24171.hl7.part",
            "/HL7-Dropoff/CLINICX24170.hl7",
        )
        .await
        .expect_err("rename over a file");
    assert_eq!(status_of(e), StatusCode::Failure);
    let mut first = a
        .create("/HL7-Dropoff/CLINICX24172.hl7")
        .await
        .expect("first");
    first.write_all(b"MSH|3\r").await.expect("write");
    let e = refused(
        b.open_with_flags(
            "/HL7-Dropoff/CLINICX24172.hl7",
            OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE,
        )
        .await,
        "second upload of the same name",
    );
    assert_eq!(status_of(e), StatusCode::Failure);
    first.shutdown().await.expect("close");
    assert_eq!(
        a.read("/HL7-Dropoff/CLINICX24172.hl7").await.expect("kept"),
        b"MSH|3\r"
    );
}

#[tokio::test]
async fn a_dropped_connection_mid_upload_leaves_nothing() {
    let app = app_with_files().await;
    account(&app).await;
    {
        let (handle, sftp) = connect_with_handle(&app, IMPORT, SFTP_PASSWORD)
            .await
            .expect("login");
        let mut f = sftp
            .create("/HL7-Dropoff/CLINICX24173.hl7")
            .await
            .expect("create");
        f.write_all(b"MSH|^~\\&|partial").await.expect("write");
        f.flush().await.expect("flush");
        // The connection goes away before any close.
        handle
            .disconnect(russh::Disconnect::ByApplication, "gone", "en")
            .await
            .expect("disconnect");
        drop(f);
        drop(sftp);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sftp = login(&app).await;
    assert!(names(&sftp, "/HL7-Dropoff").await.is_empty());
    assert!(app.db.runs(Some(ORG)).await.expect("runs").is_empty());
}

#[tokio::test]
async fn a_query_in_a_file_is_answered_in_the_acknowledgement_file() {
    let app = app_with_files().await;
    account(&app).await;
    let sftp = login(&app).await;
    let qbp = format!(
        "MSH|^~\\&|TESTEHR|{FACILITY}|IZPORT|IZPORT|20240601120000-0500||QBP^Q11^QBP_Q11|Q1|P|2.5.1|||ER|AL|||||Z34^CDCPHINVS\r\
         QPD|Z34^Request Immunization History^CDCPHINVS|TAG1|MRNQ1^^^TESTEHR^MR|Tester^Tina^Q^^^^L|Mother^Mary^^^^^M|20230421|F\r\
         RCP|I|5^RD&records&HL70126"
    );
    let content = batch_file(&[vxu("Q0", "MRNQ1"), qbp], 2);
    put(&sftp, "/HL7-Dropoff/CLINICX24174.hl7", content.as_bytes()).await;
    let (_, ack) = report(&sftp, "CLINICX24174.hl7.ack").await;
    let msh = segments(&ack, "MSH");
    assert_eq!(msh.len(), 2);
    assert!(field(msh[1], 8).starts_with("RSP^K11"), "{ack}");
    let qak = segments(&ack, "QAK");
    assert_eq!(
        field(qak[0], 2),
        "OK",
        "the VXU before it in the file is found: {ack}"
    );
}

#[tokio::test]
async fn errors_only_accounts_get_only_the_acks_that_are_not_aa() {
    let app = app_with_files().await;
    account(&app).await;
    app.db
        .set_exchange_options(ORG, Some("errors"), None)
        .await
        .expect("options");
    let sftp = login(&app).await;
    let bad = vxu("E2", "MRNE2").replace("|20230421|F", "||F");
    put(
        &sftp,
        "/HL7-Dropoff/CLINICX24175.hl7",
        batch_file(&[vxu("E1", "MRNE1"), bad], 2).as_bytes(),
    )
    .await;
    let (_, ack) = report(&sftp, "CLINICX24175.hl7.ack").await;
    let msa = segments(&ack, "MSA");
    assert_eq!(msa.len(), 1);
    assert_eq!(field(msa[0], 2), "E2");
    assert_eq!(segments(&ack, "BTS"), ["BTS|1"]);
}

#[tokio::test]
async fn public_key_logins_and_the_host_key_kept_across_restarts() {
    let mut app = app_with_files().await;
    account(&app).await;
    let seed: [u8; 32] = [7; 32];
    let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&seed));
    let public = key.public_key().to_openssh().expect("openssh");
    let fingerprint = key
        .public_key()
        .fingerprint(ssh_key::HashAlg::Sha256)
        .to_string();
    app.db
        .add_exchange_key(ORG, &public, &fingerprint, None)
        .await
        .expect("key");
    let config = Arc::new(russh::client::Config::default());
    let mut session = russh::client::connect(config, app.sftp_addr(), Client)
        .await
        .expect("connect");
    let auth = session
        .authenticate_publickey(
            IMPORT,
            russh::keys::PrivateKeyWithHashAlg::new(Arc::new(key), None),
        )
        .await
        .expect("auth");
    assert!(auth.success(), "a registered key logs in");
    let before = app.db.sftp_host_key().await.expect("key").expect("made");
    app.restart().await;
    let after = app.db.sftp_host_key().await.expect("key").expect("kept");
    assert_eq!(before.1, after.1, "the same fingerprint after a restart");
    let (_, fingerprint) = izport::batch::sftp::host_key(&app.db)
        .await
        .expect("host key");
    assert_eq!(fingerprint, before.1);
}

#[tokio::test]
async fn a_run_interrupted_midway_is_finished_by_another_worker_exactly_once() {
    // The first server's worker is stopped mid-file (as a killed node would stop); a second
    // node on the same database takes the run over when its lease runs out.
    let mut files = FileDoorOptions::local();
    if let Some(w) = files.worker.as_mut() {
        w.group = Some(5);
        w.lease = Duration::from_millis(300);
    }
    let app = spawn_app_with(Options {
        files: Some(files.clone()),
        ..Options::default()
    })
    .await;
    account(&app).await;
    let sftp = login(&app).await;
    let messages: Vec<String> = (0..400)
        .map(|n| vxu(&format!("K{n}"), &format!("MRNK{n}")))
        .collect();
    put(
        &sftp,
        "/HL7-Dropoff/CLINICX24176.hl7",
        batch_file(&messages, 400).as_bytes(),
    )
    .await;
    // Wait until some, not all, messages are done, then stop that node abruptly.
    let mut stopped = false;
    for _ in 0..400 {
        let runs = app.db.runs(Some(ORG)).await.expect("runs");
        if let Some(r) = runs.first() {
            if r.processed_messages > 0 && r.processed_messages < 400 {
                app.abort_worker();
                stopped = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(stopped, "caught the run midway");
    let second = app.start_node(files).await;
    let (_, ack) = report(&sftp, "CLINICX24176.hl7.ack").await;
    let msa = segments(&ack, "MSA");
    let ids: Vec<String> = msa.iter().map(|m| field(m, 2).to_string()).collect();
    let expected: Vec<String> = (0..400).map(|n| format!("K{n}")).collect();
    assert_eq!(ids, expected, "every message once, in order");
    let (logged, _) = app.db.message_log_tail().await.expect("log");
    assert_eq!(logged, 400, "each message logged once");
    drop(second);
}

#[tokio::test]
async fn two_nodes_never_process_the_same_file() {
    // Both nodes run a worker on one database; every file is claimed by exactly one of them.
    let app = app_with_files().await;
    account(&app).await;
    let other = app.start_node(FileDoorOptions::local()).await;
    let sftp = login(&app).await;
    for n in 0..8 {
        let messages: Vec<String> = (0..20)
            .map(|m| vxu(&format!("T{n}-{m}"), &format!("MRNT{n}-{m}")))
            .collect();
        put(
            &sftp,
            &format!("/HL7-Dropoff/CLINICX24180.{n}.hl7"),
            batch_file(&messages, 20).as_bytes(),
        )
        .await;
    }
    for n in 0..8 {
        let (_, ack) = report(&sftp, &format!("CLINICX24180.{n}.hl7.ack")).await;
        assert_eq!(segments(&ack, "MSA").len(), 20);
    }
    let runs = app.db.runs(Some(ORG)).await.expect("runs");
    assert_eq!(runs.len(), 8, "one run per file");
    assert!(runs.iter().all(|r| r.state == "done" && r.count_aa == 20));
    let (logged, _) = app.db.message_log_tail().await.expect("log");
    assert_eq!(logged, 160, "each message once");
    other.shutdown().await;
}

/// The DQA report's fixture: four VXUs, their administration dates counted back from `today`.
/// Patient names and birth dates are distinctive so that the test can look for them.
fn dqa_fixture(today: jiff::civil::Date) -> (String, Vec<&'static str>) {
    let (messages, patient_data) = dqa_messages(today);
    (batch_file(&messages, 4), patient_data)
}

/// The four VXUs of [`dqa_fixture`] (F1 … F4), and the patient data in them.
fn dqa_messages(today: jiff::civil::Date) -> ([String; 4], Vec<&'static str>) {
    let day = |back: i64| {
        today
            .checked_sub(jiff::Span::new().days(back))
            .expect("date")
            .strftime("%Y%m%d")
            .to_string()
    };
    let msh = |id: &str| {
        format!(
            "MSH|^~\\&|TESTEHR|{FACILITY}|IZPORT|IZPORT|{}||VXU^V04^VXU_V04|{id}|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS",
            jiff::Timestamp::now().strftime("%Y%m%d%H%M%S+0000")
        )
    };
    let given = |ordinal: &str, on: &str, provider: &str, lot: &str| {
        format!(
            "ORC|RE||{ordinal}^TESTEHR\rRXA|0|1|{on}||08^Hep B, adolescent or pediatric^CVX|0.5|mL^milliliters^UCUM||00^New immunization record^NIP001|{provider}|||||{lot}|20301231|MSD^Merck and Co., Inc.^MVX|||CP|A\rRXR|C28161^Intramuscular^NCIT|RT^Right Thigh^HL70163"
        )
    };
    let messages = [
        // F1: every patient field; one dose given today with provider, lot, manufacturer, VFC.
        [
            msh("F1"),
            "PID|1||FMRN1^^^TESTEHR^MR||Zebedee^Quintessa^^^^^L|Marchbanks^Ottilie^^^^^M|20190307|F||2106-3^White^CDCREC|12 Elm St^^Austin^TX^78701^USA^P||^PRN^PH^^^512^5550101|||||||||2186-5^Not Hispanic or Latino^CDCREC".to_string(),
            given("F1D1", &day(0), "7777^Nurse^Nina^^^^^^^^^^PRN", "LOTA1"),
            format!("OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid/Medicaid Managed Care^HL70064||||||F|||{}|||VXC40^Eligibility captured at the immunization level^CDCPHINVS", day(0)),
        ]
        .join("\r"),
        // F2: name, birth date, sex only; a dose given 5 days ago with lot and manufacturer.
        [
            msh("F2"),
            "PID|1||FMRN2^^^TESTEHR^MR||Yarrowby^Philippa^^^^^L||20180611|M".to_string(),
            given("F2D1", &day(5), "", "LOTB2"),
        ]
        .join("\r"),
        // F3: a historical dose from 2020 and a dose given 20 days ago without a lot.
        [
            msh("F3"),
            "PID|1||FMRN3^^^TESTEHR^MR||Wolcott^Eustace^^^^^L||20170923|M".to_string(),
            "ORC|RE||F3D0^TESTEHR\rRXA|0|1|20200115||03^MMR^CVX|999|||01^Historical information - source unspecified^NIP001".to_string(),
            given("F3D1", &day(20), "", ""),
        ]
        .join("\r"),
        // F4: a dose given 60 days ago, and a refusal.
        [
            msh("F4"),
            "PID|1||FMRN4^^^TESTEHR^MR||Vandersloot^Imogen^^^^^L||20160102|F".to_string(),
            given("F4D1", &day(60), "", "LOTD4"),
            format!("ORC|RE||9999^TESTEHR\rRXA|0|1|{}||21^varicella^CVX|999||||||||||||00^Parental decision^NIP002||RE", day(60)),
        ]
        .join("\r"),
    ];
    let patient_data = vec![
        "Zebedee",
        "Quintessa",
        "Marchbanks",
        "Ottilie",
        "Yarrowby",
        "Philippa",
        "Wolcott",
        "Eustace",
        "Vandersloot",
        "Imogen",
        "FMRN1",
        "12 Elm St",
        "5550101",
        "20190307",
        "2019-03-07",
        "20180611",
        "2018-06-11",
        "20170923",
        "2017-09-23",
        "20160102",
        "2016-01-02",
    ];
    (messages, patient_data)
}

async fn read_report(sftp: &SftpSession, name: &str) -> String {
    let bytes = sftp
        .read(format!("/DQA-Reports/{name}"))
        .await
        .expect("read report");
    String::from_utf8(bytes).expect("UTF-8")
}

/// The numbers of the DQA report of a file, computed by hand from the fixture's content:
///
/// - counts: 4 messages, 4 VXUs, 4 new patients (four MRNs never seen), vaccinations 4
///   administered (F1, F2, F3's second, F4's first), 1 historical (F3), 1 refusal (F4);
/// - completeness (required weight 3, expected 2, recommended 1): required PID-5 4/4, PID-7
///   4/4, RXA-3 6/6, RXA-5 6/6, RXA-9 5/6 (the refusal has none) → 3 × (4 + 5/6) = 14.5;
///   expected PID-8 4/4, PID-10, PID-11, PID-22 1/4 each, RXA-15 3/4, RXA-17 4/4, VFC 1/4 →
///   2 × 3.75 = 7.5; recommended PID-13, PID-6, RXA-10 1/4 each → 0.75; weights
///   5·3 + 7·2 + 3·1 = 32 → 22.75 / 32 = 71.09 → 71.1, okay;
/// - timeliness: gaps 0, 5, 20 and 60 days → 100 + 70 + 30 + 0 = 200 / 4 = 50.0, problem;
///   with an outage of the organization 40 days ago (inside only F4's lateness, which runs
///   from 58 days ago to receipt) F4 counts as on time → 300 / 4 = 75.0, okay, one excused;
/// - quality: the registry's rules warn about every minor without a responsible person (NK1,
///   4 messages), every administered dose without VFC eligibility (F2, F3, F4) and the missing
///   lot (F3); no errors. Each warning costs 25 points: F1 75, F2 50, F3 25, F4 50 → 50.0;
/// - overall = (71.094 × 40 + 50 × 40 + 50 × 20) / 100 = 58.4, problem; with the outage
///   (71.094 × 40 + 50 × 40 + 75 × 20) / 100 = 63.4, poor.
#[tokio::test]
async fn each_processed_file_gets_a_dqa_report_with_hand_computed_numbers_and_no_patient_data() {
    let app = app_with_files().await;
    account(&app).await;
    let sftp = login(&app).await;
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let (content, patient_data) = dqa_fixture(today);
    // Today's Julian day in the name, so that the name itself draws no warning.
    let file = format!("CLINICX{}.hl7", today.strftime("%y%j"));
    put(&sftp, &format!("/HL7-Dropoff/{file}"), content.as_bytes()).await;
    let (_, ack) = report(&sftp, &format!("{file}.ack")).await;
    let mut names_now = names(&sftp, "/DQA-Reports").await;
    names_now.retain(|n| n.starts_with(&file));
    assert_eq!(
        names_now,
        [
            format!("{file}.ack"),
            format!("{file}.dqa.html"),
            format!("{file}.dqa.json")
        ]
    );
    let json = read_report(&sftp, &format!("{file}.dqa.json")).await;
    let html = read_report(&sftp, &format!("{file}.dqa.html")).await;
    if let Ok(dir) = std::env::var("IZPORT_DQA_SAMPLE_DIR") {
        // Where docs/dqa-sample.png is made from (see docs/dqa.md).
        std::fs::write(format!("{dir}/dqa-sample.html"), &html).expect("sample");
        std::fs::write(format!("{dir}/dqa-sample.json"), &json).expect("sample");
    }
    for value in &patient_data {
        assert!(!json.contains(value), "{value} in the JSON report");
        assert!(!html.contains(value), "{value} in the HTML report");
    }
    let r: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(r["format"], "izport-dqa/1");
    assert_eq!(r["heading"]["file_name"], file.as_str());
    let c = &r["counts"];
    assert_eq!(c["messages"], 4);
    assert_eq!(c["vaccination_updates"], 4);
    assert_eq!(c["patients"]["new"], 4);
    assert_eq!(
        c["vaccinations"],
        serde_json::json!({"administered": 4, "historical": 1, "refusals": 1, "not_administered": 0})
    );
    // By acknowledgement code: what the ACK file says.
    let msa = segments(&ack, "MSA");
    for (code, key) in [("AA", "aa"), ("AE", "ae"), ("AR", "ar")] {
        let n = msa.iter().filter(|m| field(m, 1) == code).count();
        assert_eq!(c["acknowledgements"][key], n, "{code}");
    }
    let field_share = |id: &str| {
        let m = r["completeness"]
            .as_array()
            .expect("fields")
            .iter()
            .find(|m| m["field"] == id)
            .expect(id)
            .clone();
        (
            m["present"].as_u64().unwrap(),
            m["expected_in"].as_u64().unwrap(),
        )
    };
    assert_eq!(field_share("RXA-9"), (5, 6));
    assert_eq!(field_share("RXA-15"), (3, 4));
    assert_eq!(field_share("OBX-64994-7"), (1, 4));
    assert_eq!(field_share("PID-22"), (1, 4));
    let score = |s: &serde_json::Value| s["value"].as_f64().expect("score");
    let s = &r["scores"];
    assert_eq!(score(&s["completeness"]), 71.1);
    assert_eq!(s["completeness"]["band"], "okay");
    assert_eq!(score(&s["timeliness"]), 50.0);
    assert_eq!(s["timeliness"]["band"], "problem");
    assert_eq!(score(&s["quality"]), 50.0);
    assert_eq!(r["quality"]["warnings"], 8);
    assert_eq!(r["quality"]["errors"], 0);
    assert_eq!(score(&s["overall"]), 58.4);
    assert_eq!(s["overall"]["band"], "problem");
    let buckets: Vec<u64> = r["timeliness"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(buckets, [1, 1, 1, 1]);
    // Findings name messages by MSH-10 only.
    for f in r["findings"].as_array().unwrap() {
        for id in f["control_ids"].as_array().unwrap() {
            assert!(
                ["F1", "F2", "F3", "F4"].contains(&id.as_str().unwrap()),
                "{f}"
            );
        }
    }
    assert!(r["readiness"].is_null(), "a production organization");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    assert!(!html.contains("<script") && !html.contains("http://example"));

    // An outage of this organization 40 days ago, which the report of the same run excuses.
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(40 * 24);
    let id = app
        .db
        .create_window(&NewWindow {
            kind: Kind::Unplanned,
            mode: Mode::Outage,
            starts_at: start,
            ends_at: Some(start + jiff::SignedDuration::from_hours(6)),
            time_zone: "America/Chicago".into(),
            reason: "test".into(),
            organization: Some(ORG.to_string()),
            refuse_percent: 100,
        })
        .await
        .expect("window");
    let run = app
        .db
        .runs(Some(ORG))
        .await
        .expect("runs")
        .last()
        .expect("run")
        .id;
    let again = izport::dqa::file_report(
        &app.db,
        run,
        &izport::dqa::Weights::default(),
        jiff::Timestamp::now(),
    )
    .await
    .expect("report");
    let t = &again.scores.timeliness;
    assert_eq!(
        (t.value, t.band),
        (Some(75.0), Some(izport::dqa::Band::Okay))
    );
    assert_eq!(again.timeliness.excused, 1);
    assert_eq!(again.timeliness.windows.len(), 1);
    assert_eq!(again.timeliness.windows[0].id, id);
    assert_eq!(again.timeliness.windows[0].kind, "outage");
    assert_eq!(again.timeliness.windows[0].scope, "organization");
    assert_eq!(again.scores.completeness.value, Some(71.1));
    let o = &again.scores.overall;
    assert_eq!(
        (o.value, o.band),
        (Some(63.4), Some(izport::dqa::Band::Poor))
    );
}

/// A VXU of the consent fixture's patients, with a PD1 (PD1-12|PD1-13) when given.
fn consent_message(id: &str, mrn: &str, pd1: Option<&str>) -> String {
    // A name and birth date of each patient's own, so that no two are taken for one person.
    let (name, born) = match mrn {
        "CMRN1" => ("Alder^Beatrix^Q", "20210304"),
        "CMRN2" => ("Birchwood^Cosmo^Q", "20200515"),
        "CMRN4" => ("Elmsworth^Fenna^Q", "20180607"),
        _ => ("Cedarholm^Dagny^Q", "20190726"),
    };
    let base = vxu(id, mrn)
        .replace("Tester^Tina^Q", name)
        .replace("20230421", born);
    match pd1 {
        Some(p) => {
            let (head, rest) = base.split_once("\rORC").expect("ORC");
            format!("{head}\rPD1|||||||||||02^Reminder^HL70215|{p}\rORC{rest}")
        }
        None => base,
    }
}

/// The consent fixture: three patients, one of them twice. CMRN1 affirms consent (PD1-12 N,
/// PD1-13 2024-05-10) and, in a later message, withdraws it (PD1-12 Y, 2024-05-12); CMRN2 says
/// nothing; CMRN3 withdraws (PD1-12 Y, 2024-05-11).
fn consent_file() -> String {
    let msg = consent_message;
    batch_file(
        &[
            msg("C1", "CMRN1", Some("N|20240510")),
            msg("C2", "CMRN2", None),
            msg("C3", "CMRN3", Some("Y|20240511")),
            msg("C4", "CMRN1", Some("Y|20240512")),
        ],
        4,
    )
}

async fn cnf_of(policy: izport::registry::consent::Policy) -> (TestApp, Vec<String>) {
    let mut registry = izport::registry::RegistryConfig::default();
    registry.consent.policy = policy;
    let app = spawn_app_with(Options {
        files: Some(FileDoorOptions::local()),
        registry,
        ..Options::default()
    })
    .await;
    account(&app).await;
    let sftp = login(&app).await;
    put(
        &sftp,
        "/HL7-Dropoff/CLINICX24170.hl7",
        consent_file().as_bytes(),
    )
    .await;
    report(&sftp, "CLINICX24170.hl7.ack").await;
    assert_eq!(names(&sftp, "/Receive").await, ["CLINICX24170.hl7.cnf"]);
    let bytes = sftp
        .read("/Receive/CLINICX24170.hl7.cnf")
        .await
        .expect("CNF");
    let text = String::from_utf8(bytes).expect("UTF-8");
    assert!(text.ends_with("\r\n") && !text.replace("\r\n", "").contains('\r'));
    let lines = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    (app, lines)
}

async fn registry_id(app: &TestApp, mrn: &str) -> String {
    app.db
        .patient_by_identifier(ORG, mrn)
        .await
        .expect("lookup")
        .map(|p| p.0.to_string())
        .unwrap_or_default()
}

/// What the CNF must say follows from the consent rules the README states. Opt-in: CMRN1's
/// consent (C1) lets its record be kept; C4 then withdraws it, so its status is withdrawn as of
/// 2024-05-12 and C4's non-disaster dose is not kept; CMRN2 and CMRN3 have no consent, so nothing
/// of them is kept and they are "not on file". Opt-out: everything is kept; CMRN1 and CMRN3 are
/// protected (PD1-12 Y) as of their last dates, CMRN2 has nothing on file.
#[tokio::test]
async fn the_consent_notification_file_lists_the_files_patients_under_opt_in_and_opt_out() {
    use izport::registry::consent::Policy;
    let header =
        "submitter_id|assigning_authority|registry_id|consent_status|consent_date|outcomes";

    let (app, lines) = cnf_of(Policy::OptIn).await;
    let id1 = registry_id(&app, "CMRN1").await;
    assert!(!id1.is_empty(), "CMRN1 kept");
    assert_eq!(registry_id(&app, "CMRN2").await, "", "CMRN2 not kept");
    assert_eq!(
        lines,
        [
            header.to_string(),
            format!("CMRN1|TESTEHR|{id1}|withdrawn|2024-05-12|C1=kept C4=disaster-doses-only"),
            "CMRN2|TESTEHR||not-on-file||C2=not-kept-no-consent".to_string(),
            "CMRN3|TESTEHR||not-on-file||C3=not-kept-no-consent".to_string(),
        ]
    );

    let (app, lines) = cnf_of(Policy::OptOut).await;
    let (id1, id2, id3) = (
        registry_id(&app, "CMRN1").await,
        registry_id(&app, "CMRN2").await,
        registry_id(&app, "CMRN3").await,
    );
    assert_eq!(
        lines,
        [
            header.to_string(),
            format!("CMRN1|TESTEHR|{id1}|protected|2024-05-12|C1=kept C4=kept"),
            format!("CMRN2|TESTEHR|{id2}|not-on-file||C2=kept"),
            format!("CMRN3|TESTEHR|{id3}|protected|2024-05-11|C3=kept"),
        ]
    );
}

fn izport_command(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_izport"))
        .args(args)
        .env_remove("IZPORT_DATABASE_URL")
        .output()
        .expect("izport runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `izport cnf` over a period: the lines of the per-file CNF, over every file processed in the
/// period, one line per patient (in the order of each patient's first message), each with the
/// outcomes of all its messages in those files; a period without files gives the header alone.
#[tokio::test]
async fn izport_cnf_lists_a_periods_files_patients_as_the_per_file_cnf_does() {
    use izport::registry::consent::Policy;
    let header =
        "submitter_id|assigning_authority|registry_id|consent_status|consent_date|outcomes";
    let (app, first) = cnf_of(Policy::OptOut).await;
    let sftp = login(&app).await;
    // A second file: CMRN2 again, and a new patient.
    let second = batch_file(
        &[
            consent_message("C5", "CMRN2", None),
            consent_message("C6", "CMRN4", Some("Y|20240513")),
        ],
        2,
    );
    put(&sftp, "/HL7-Dropoff/CLINICX24171.hl7", second.as_bytes()).await;
    report(&sftp, "CLINICX24171.hl7.ack").await;
    let (id1, id2, id3, id4) = (
        registry_id(&app, "CMRN1").await,
        registry_id(&app, "CMRN2").await,
        registry_id(&app, "CMRN3").await,
        registry_id(&app, "CMRN4").await,
    );
    let expected = [
        header.to_string(),
        format!("CMRN1|TESTEHR|{id1}|protected|2024-05-12|C1=kept C4=kept"),
        format!("CMRN2|TESTEHR|{id2}|not-on-file||C2=kept C5=kept"),
        format!("CMRN3|TESTEHR|{id3}|protected|2024-05-11|C3=kept"),
        format!("CMRN4|TESTEHR|{id4}|protected|2024-05-13|C6=kept"),
    ];
    // The first file's own lines are the first file's part of the period's.
    assert_eq!(first[1], expected[1]);
    assert_eq!(first[3], expected[3]);

    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let day = |back: i64| {
        today
            .checked_sub(jiff::Span::new().days(back))
            .expect("date")
            .to_string()
    };
    let (from, to) = (day(1), day(0));
    let (ok, out, err) = izport_command(&[
        "--database-url",
        &app.db_url,
        "cnf",
        "--org",
        ORG,
        "--from",
        &from,
        "--to",
        &to,
    ]);
    assert!(ok, "{err}");
    assert!(out.ends_with("\r\n"), "{out:?}");
    let lines: Vec<&str> = out.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines, expected);
    assert!(err.contains("6 message(s)"), "{err}");

    // A period before the files: the header alone.
    let (ok, out, _) = izport_command(&[
        "--database-url",
        &app.db_url,
        "cnf",
        "--org",
        ORG,
        "--from",
        &day(10),
        "--to",
        &day(2),
    ]);
    assert!(ok);
    assert_eq!(out, format!("{header}\r\n"));
    // The period backwards, or an organization that does not exist: refused.
    let (ok, _, err) = izport_command(&[
        "--database-url",
        &app.db_url,
        "cnf",
        "--org",
        ORG,
        "--from",
        &to,
        "--to",
        &day(3),
    ]);
    assert!(!ok && err.contains("after"), "{err}");
    let (ok, _, err) = izport_command(&[
        "--database-url",
        &app.db_url,
        "cnf",
        "--org",
        "NOSUCH",
        "--from",
        &from,
        "--to",
        &to,
    ]);
    assert!(!ok && err.contains("no organization NOSUCH"), "{err}");
}

// ---- Retention ------------------------------------------------------------------------------

const DAY: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);
const SECOND: jiff::SignedDuration = jiff::SignedDuration::from_secs(1);

fn ts(text: &str) -> jiff::Timestamp {
    text.parse().expect("stored timestamp")
}

async fn folder(app: &TestApp, org_id: i64, name: &str) -> Vec<izport::store::FileEntry> {
    app.db.folder_files(org_id, name).await.expect("folder")
}

/// What one retention pass at `now` removes, as (folder, name), sorted.
async fn sweep(db: &izport::store::Db, now: jiff::Timestamp) -> Vec<(String, String)> {
    let files =
        izport::batch::retention::remove_expired(db, &izport::batch::Retention::default(), now)
            .await
            .expect("retention pass");
    let mut out: Vec<(String, String)> = files.into_iter().map(|f| (f.folder, f.name)).collect();
    out.sort();
    out
}

fn pair(folder: &str, name: &str) -> (String, String) {
    (folder.to_string(), name.to_string())
}

#[tokio::test]
async fn retention_removes_reports_after_90_days_and_originals_after_30_but_never_a_running_files()
{
    // No worker here: the test runs the retention pass itself, with the clock it chooses, and
    // measures from the times the store recorded.
    let app = spawn_app_with(Options::default()).await;
    account(&app).await;
    let org = app
        .db
        .exchange_account_of(ORG)
        .await
        .expect("account")
        .expect("exists")
        .organization_id;
    let original = app.db.store_bytes(b"MSH|done").await.expect("blob");
    let (done_file, _) = app
        .db
        .accept_file(org, "DONE.hl7", &original)
        .await
        .expect("accept");
    let done_run = app
        .db
        .queue_run(done_file, None, true, "DONE.hl7")
        .await
        .expect("run");
    app.db
        .complete_run(done_run, "done", None, None, &[])
        .await
        .expect("complete");
    let open = app.db.store_bytes(b"MSH|open").await.expect("blob");
    let (open_file, _) = app
        .db
        .accept_file(org, "OPEN.hl7", &open)
        .await
        .expect("accept");
    let open_run = app
        .db
        .queue_run(open_file, None, true, "OPEN.hl7")
        .await
        .expect("run");
    app.db
        .write_files(
            org,
            &[
                izport::store::NewFile {
                    folder: "reports",
                    name: "DONE.hl7.ack",
                    content: b"FHS|",
                },
                izport::store::NewFile {
                    folder: "receive",
                    name: "DONE.hl7.cnf",
                    content: b"submitter_id|",
                },
            ],
        )
        .await
        .expect("reports");
    let reports = folder(&app, org, "reports").await;
    let written = ts(&reports[0].received_at);
    let done_entry = folder(&app, org, "accepted")
        .await
        .into_iter()
        .find(|f| f.name == "DONE.hl7")
        .expect("accepted");
    let done_run_row = app.db.run(done_run).await.expect("run").expect("exists");
    // An original counts from its receipt or its last run's end, whichever is later.
    let done_at =
        ts(&done_entry.received_at).max(ts(done_run_row.finished_at.as_deref().expect("finished")));

    // Just under 30 days: nothing goes.
    assert_eq!(sweep(&app.db, done_at + DAY * 30 - SECOND).await, []);
    // Just over: the finished original goes; the one a run still needs, and the reports
    // (whose limit is 90 days), stay.
    assert_eq!(
        sweep(&app.db, done_at + DAY * 30 + SECOND).await,
        [pair("accepted", "DONE.hl7")]
    );
    let accepted: Vec<String> = folder(&app, org, "accepted")
        .await
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(accepted, ["OPEN.hl7"]);
    assert_eq!(folder(&app, org, "reports").await.len(), 1);
    assert_eq!(folder(&app, org, "receive").await.len(), 1);
    // The run stays, without its file: reprocessing it is refused with the reason.
    assert_eq!(
        app.db.run_file(done_run).await.expect("run file"),
        Some((None, "DONE.hl7".to_string()))
    );
    assert_eq!(
        app.db
            .run(done_run)
            .await
            .expect("run")
            .expect("kept")
            .state,
        "done"
    );

    // Reports: just under 90 days stay, just over go; the running file's original still stays.
    assert_eq!(sweep(&app.db, written + DAY * 90 - SECOND).await, []);
    assert_eq!(
        sweep(&app.db, written + DAY * 90 + SECOND).await,
        [
            pair("receive", "DONE.hl7.cnf"),
            pair("reports", "DONE.hl7.ack")
        ]
    );
    assert_eq!(folder(&app, org, "accepted").await.len(), 1);
    // Once its run has ended, it goes too, and the contents of removed files go with the
    // orphan sweep.
    app.db
        .complete_run(open_run, "done", None, None, &[])
        .await
        .expect("complete");
    let later = written + DAY * 365;
    assert_eq!(sweep(&app.db, later).await, [pair("accepted", "OPEN.hl7")]);
    assert!(app
        .db
        .blob_chunk(reports[0].blob_id, 0)
        .await
        .expect("chunk")
        .is_some());
    let day_before = (later - DAY).strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    assert!(
        app.db
            .remove_orphan_blobs(&day_before)
            .await
            .expect("orphans")
            >= 4
    );
    for blob in [reports[0].blob_id, original.id, open.id] {
        assert_eq!(app.db.blob_chunk(blob, 0).await.expect("chunk"), None);
    }
    assert_eq!(sweep(&app.db, later).await, [], "nothing twice");
}

#[tokio::test]
async fn two_nodes_removing_at_once_remove_each_file_once() {
    let app = spawn_app_with(Options::default()).await;
    account(&app).await;
    let org = app
        .db
        .exchange_account_of(ORG)
        .await
        .expect("account")
        .expect("exists")
        .organization_id;
    let names: Vec<String> = (0..450).map(|n| format!("F{n:03}.hl7.ack")).collect();
    let files: Vec<izport::store::NewFile> = names
        .iter()
        .map(|n| izport::store::NewFile {
            folder: if n.ends_with('0') {
                "receive"
            } else {
                "reports"
            },
            name: n,
            content: b"x",
        })
        .collect();
    app.db.write_files(org, &files).await.expect("files");
    // Two nodes on PostgreSQL; on SQLite (one node: several nodes need PostgreSQL), two passes
    // of one node at once.
    let later = jiff::Timestamp::now() + DAY * 91;
    let (a, b) = if app.db.backend() == izport::store::Backend::Postgres {
        let one = izport::store::Db::connect(&app.db_url)
            .await
            .expect("node 1");
        let two = izport::store::Db::connect(&app.db_url)
            .await
            .expect("node 2");
        let both = tokio::join!(sweep(&one, later), sweep(&two, later));
        one.close().await;
        two.close().await;
        both
    } else {
        tokio::join!(sweep(&app.db, later), sweep(&app.db, later))
    };
    let mut all: Vec<String> = a.iter().chain(&b).map(|(_, n)| n.clone()).collect();
    all.sort();
    assert_eq!(all, names, "every file removed, none twice");
    assert!(folder(&app, org, "reports").await.is_empty());
    assert!(folder(&app, org, "receive").await.is_empty());
}

#[tokio::test]
async fn the_worker_removes_expired_files_by_its_clock() {
    // The running server's worker, on a clock the test moves: it looks at its start and then
    // every hour of that clock.
    // A minute ahead, so that the upload (stamped by the system clock) is ready at once.
    let clock = izport::maintenance::ManualClock::new(
        jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60),
    );
    let app = spawn_app_with(Options {
        files: Some(FileDoorOptions::local()),
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    account(&app).await;
    let sftp = login(&app).await;
    let messages = vec![vxu("R1", "MRNR1")];
    put(
        &sftp,
        "/HL7-Dropoff/CLINICX24153.hl7",
        batch_file(&messages, 1).as_bytes(),
    )
    .await;
    report(&sftp, "CLINICX24153.hl7.ack").await;
    assert_eq!(names(&sftp, "/Accepted").await, ["CLINICX24153.hl7"]);
    let reports = names(&sftp, "/DQA-Reports").await;
    assert!(reports.len() >= 3, "{reports:?}");
    let org = app
        .db
        .exchange_account_of(ORG)
        .await
        .expect("account")
        .expect("exists")
        .organization_id;
    let newest = |entries: Vec<izport::store::FileEntry>| {
        entries
            .iter()
            .map(|f| ts(&f.received_at))
            .max()
            .expect("files")
    };
    let run = app.db.runs(Some(ORG)).await.expect("runs")[0].clone();
    let accepted_at = ts(&run.received_at).max(ts(run.finished_at.as_deref().expect("done")));
    let written =
        newest(folder(&app, org, "reports").await).max(newest(folder(&app, org, "receive").await));
    // 31 days on: the original goes, the reports stay.
    clock.set(accepted_at + DAY * 31);
    let mut gone = false;
    for _ in 0..400 {
        if names(&sftp, "/Accepted").await.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(gone, "the worker removed the original");
    assert_eq!(names(&sftp, "/DQA-Reports").await, reports);
    assert_eq!(names(&sftp, "/Receive").await, ["CLINICX24153.hl7.cnf"]);
    // 91 days on: the rest goes.
    clock.set(written + DAY * 91);
    let mut gone = false;
    for _ in 0..400 {
        if names(&sftp, "/DQA-Reports").await.is_empty()
            && names(&sftp, "/Receive").await.is_empty()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(gone, "the worker removed the reports");
    assert_eq!(
        app.db.runs(Some(ORG)).await.expect("runs").len(),
        1,
        "the run stays"
    );
}

// ---- Reports over a period (both doors) and the weekly report -------------------------------

/// F1 and F2 of the DQA fixture as a web-service submitter would send them: the same fields,
/// other control ids, identifiers, names and birth dates (so they are new patients, not
/// matches of the file's).
fn web_twins(today: jiff::civil::Date) -> [String; 2] {
    let (m, _) = dqa_messages(today);
    [
        m[0].replace("F1", "W1")
            .replace("FMRN1", "WMRN1")
            .replace("Zebedee^Quintessa", "Ulverston^Marigold")
            .replace("20190307", "20190409"),
        m[1].replace("F2", "W2")
            .replace("FMRN2", "WMRN2")
            .replace("Yarrowby^Philippa", "Tregarthen^Rosalind")
            .replace("20180611", "20180713"),
    ]
}

/// `izport dqa report` over a period with the fixture file and two web-service messages, its
/// numbers computed by hand (the file's share is worked out in
/// `each_processed_file_gets_a_dqa_report_with_hand_computed_numbers_and_no_patient_data`;
/// W1 has F1's fields, W2 F2's):
///
/// - counts: 6 messages (2 web service, 4 in 1 file), 6 new patients, 6 administered, 1
///   historical, 1 refusal;
/// - completeness: required 3 × (1 + 1 + 1 + 1 + 7/8 [RXA-9]) = 14.625; expected
///   2 × (PID-8 1 + PID-10, PID-11, PID-22 2/6 each + RXA-15 5/6 + RXA-17 1 + VFC 2/6)
///   = 8.333; recommended PID-13, PID-6, RXA-10 2/6 each = 1.0 → 23.958 / 32 = 74.87 → 74.9;
/// - timeliness: gaps 0, 5, 20, 60 (file) and 0, 5 (web) → (100 + 70 + 30 + 0 + 100 + 70) / 6
///   = 61.7, poor;
/// - quality: warnings F1 1, F2 2, F3 3, F4 2, W1 1, W2 2 = 11 → points 75, 50, 25, 50, 75, 50
///   → 54.2, problem;
/// - overall (74.870 × 40 + 54.167 × 40 + 61.667 × 20) / 100 = 63.9, poor.
///
/// The CNF over the same period lists the six patients, the file's first (it finished
/// processing first) when the web messages came after it.
#[tokio::test]
async fn a_period_report_covers_both_doors_with_hand_computed_numbers() {
    let app = app_with_files().await;
    account(&app).await;
    let sftp = login(&app).await;
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let (content, mut patient_data) = dqa_fixture(today);
    let file = format!("CLINICX{}.hl7", today.strftime("%y%j"));
    put(&sftp, &format!("/HL7-Dropoff/{file}"), content.as_bytes()).await;
    report(&sftp, &format!("{file}.dqa.json")).await;
    for m in web_twins(today) {
        let (status, ack) = app.submit(&m).await;
        assert_eq!(status, 200, "{ack}");
        assert!(ack.contains("MSA|AA|W"), "{ack}");
    }
    patient_data.extend([
        "Ulverston",
        "Marigold",
        "Tregarthen",
        "Rosalind",
        "WMRN1",
        "20190409",
    ]);
    let day = |n: i64| {
        today
            .checked_add(jiff::Span::new().days(n))
            .expect("date")
            .to_string()
    };
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("period.json");
    let (ok, stdout, err) = izport_command(&[
        "--database-url",
        &app.db_url,
        "dqa",
        "report",
        "--org",
        ORG,
        "--from",
        &day(-1),
        "--to",
        &day(1),
        "--format",
        "json",
        "--output",
        out.to_str().expect("path"),
    ]);
    assert!(ok, "{err}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        err.contains("6 message(s)") && err.contains("2 through the web service, 4 in 1 batch"),
        "{err}"
    );
    let json = std::fs::read_to_string(&out).expect("report written");
    if let Ok(dir) = std::env::var("IZPORT_DQA_SAMPLE_DIR") {
        // .ci/run validates it against docs/dqa-report.schema.json (and renders the HTML).
        std::fs::write(format!("{dir}/dqa-period.json"), &json).expect("sample");
    }
    for value in &patient_data {
        assert!(!json.contains(value), "{value} in the period report");
    }
    let r: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(r["kind"], "period");
    assert_eq!(r["heading"]["period_from"], day(-1).as_str());
    assert_eq!(r["heading"]["period_to"], day(1).as_str());
    assert!(r["heading"]["file_name"].is_null());
    assert_eq!(
        r["doors"],
        serde_json::json!({"web_service": 2, "batch_file": 4, "files": 1})
    );
    let c = &r["counts"];
    assert_eq!(c["messages"], 6);
    assert_eq!(c["vaccination_updates"], 6);
    assert_eq!(c["patients"]["new"], 6);
    assert_eq!(c["acknowledgements"]["aa"], 6);
    assert_eq!(
        c["vaccinations"],
        serde_json::json!({"administered": 6, "historical": 1, "refusals": 1, "not_administered": 0})
    );
    let score = |k: &str| {
        (
            r["scores"][k]["value"].as_f64().expect("score"),
            r["scores"][k]["band"].as_str().expect("band").to_string(),
        )
    };
    assert_eq!(score("completeness"), (74.9, "okay".into()));
    assert_eq!(score("timeliness"), (61.7, "poor".into()));
    assert_eq!(score("quality"), (54.2, "problem".into()));
    assert_eq!(score("overall"), (63.9, "poor".into()));
    assert_eq!(r["quality"]["warnings"], 11);
    let ids: Vec<String> = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .flat_map(|f| f["control_ids"].as_array().expect("ids").clone())
        .map(|v| v.as_str().expect("id").to_string())
        .collect();
    assert!(
        ids.iter().any(|i| i == "W2") && ids.iter().any(|i| i == "F3"),
        "{ids:?}"
    );

    // HTML on standard output, with the period in its title.
    let (ok, html, err) = izport_command(&[
        "--database-url",
        &app.db_url,
        "dqa",
        "report",
        "--org",
        ORG,
        "--from",
        &day(-1),
        "--to",
        &day(1),
    ]);
    assert!(ok, "{err}");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    if let Ok(dir) = std::env::var("IZPORT_DQA_SAMPLE_DIR") {
        std::fs::write(format!("{dir}/dqa-period.html"), &html).expect("sample");
    }
    assert!(html.contains(&format!("Data quality report: {} to {}", day(-1), day(1))));
    assert!(html.contains("2 message(s) through the web service, 4 in 1 batch file(s)"));
    for value in &patient_data {
        assert!(!html.contains(value), "{value} in the HTML period report");
    }

    // The consent notification lines of the period: both doors.
    let (ok, cnf, err) = izport_command(&[
        "--database-url",
        &app.db_url,
        "cnf",
        "--org",
        ORG,
        "--from",
        &day(-1),
        "--to",
        &day(1),
    ]);
    assert!(ok, "{err}");
    let ids: Vec<&str> = cnf
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').next().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["FMRN1", "FMRN2", "FMRN3", "FMRN4", "WMRN1", "WMRN2"]);
    // What was recorded with each message: facts without patient data (the identifier as sent
    // is kept apart, for the sender's own CNF only).
    let org = app.db.organization_id(ORG).await.expect("org").expect("id");
    let mut rows = Vec::new();
    let n = app
        .db
        .period_patients(org, &day(-1), &day(2), |row| rows.push(row.clone()))
        .await
        .expect("rows");
    assert_eq!((n, rows.len()), (6, 6));
    for row in &rows {
        let facts = row.facts.as_deref().expect("facts recorded");
        for value in &patient_data {
            assert!(!facts.contains(value), "{value} in {facts}");
        }
    }
    assert!(cnf.contains("|W1=kept\r\n"), "{cnf}");

    // Days before anything: an empty report, not an error.
    let empty = izport::dqa::period_report(
        &app.db,
        ORG,
        today.checked_sub(jiff::Span::new().days(30)).expect("date"),
        today.checked_sub(jiff::Span::new().days(20)).expect("date"),
        &izport::dqa::Weights::default(),
        jiff::Timestamp::now(),
    )
    .await
    .expect("report");
    assert_eq!(empty.counts.messages, 0);
}

/// The command's refusals: each says what was wrong.
#[tokio::test]
async fn izport_dqa_report_refuses_bad_input_clearly() {
    let app = common::spawn_app().await;
    let run = |args: &[&str]| {
        let mut all = vec!["--database-url", app.db_url.as_str(), "dqa", "report"];
        all.extend_from_slice(args);
        izport_command(&all)
    };
    let (ok, _, err) = run(&[
        "--org",
        "NOSUCH",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-07",
    ]);
    assert!(!ok && err.contains("no organization NOSUCH"), "{err}");
    let (ok, _, err) = run(&["--org", ORG, "--from", "2026-01-08", "--to", "2026-01-07"]);
    assert!(
        !ok && err.contains("--from 2026-01-08 is after --to 2026-01-07"),
        "{err}"
    );
    let (ok, _, err) = run(&["--org", ORG, "--from", "2026-02-30", "--to", "2026-03-07"]);
    assert!(
        !ok && err.contains("'2026-02-30' is not a date (YYYY-MM-DD)"),
        "{err}"
    );
    let (ok, _, err) = run(&["--org", ORG, "--from", "01/02/2026", "--to", "2026-03-07"]);
    assert!(!ok && err.contains("is not a date"), "{err}");
    let (ok, _, err) = run(&[
        "--org",
        ORG,
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-07",
        "--format",
        "pdf",
    ]);
    assert!(!ok && err.contains("pdf"), "{err}");
    let (ok, _, err) = run(&["--org", ORG, "--from", "2026-01-01"]);
    assert!(!ok && err.contains("--to"), "{err}");
    let (ok, _, err) = run(&[
        "--org",
        ORG,
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-07",
        "--output",
        "/nonexistent-dir/x.html",
    ]);
    assert!(
        !ok && err.contains("--output: writing /nonexistent-dir/x.html"),
        "{err}"
    );
    // The serve flag's schedule is checked before anything starts.
    for bad in ["mon@6:00", "funday@06:00", "tue@24:00"] {
        let (ok, _, err) = izport_command(&[
            "--database-url",
            &app.db_url,
            "serve",
            "--dqa-weekly-report",
            bad,
        ]);
        assert!(!ok && err.contains("DAY@HH:MM"), "{bad}: {err}");
    }
}

/// Wednesday 2026-11-25, noon UTC: inside the week 2026-11-23 … 2026-11-29 that Monday
/// 2026-11-30 06:00 reports.
const WEDNESDAY: &str = "2026-11-25T12:00:00Z";

async fn weekly_app() -> TestApp {
    let app = spawn_app_with(Options {
        clock: Some(izport::clock::ManualClock::new(ts(WEDNESDAY))),
        ..Options::default()
    })
    .await;
    for (id, mrn) in [("K1", "KMRN1"), ("K2", "KMRN2")] {
        let (status, ack) = app.submit(&vxu(id, mrn)).await;
        assert_eq!(status, 200, "{ack}");
        assert!(ack.contains("MSA|A"), "{ack}");
    }
    // A resend is answered from the log: no new log entry, nothing more to count.
    let (status, _) = app.submit(&vxu("K1", "KMRN1")).await;
    assert_eq!(status, 200);
    app
}

async fn reports_folder(app: &TestApp) -> Vec<String> {
    let org = app
        .db
        .organization_id(ORG)
        .await
        .expect("org")
        .expect("org id");
    let mut names: Vec<String> = folder(app, org, "reports")
        .await
        .into_iter()
        .map(|f| f.name)
        .collect();
    names.sort();
    names
}

fn weekly_names() -> [String; 2] {
    [
        "week-2026-11-23-to-2026-11-29.dqa.html".to_string(),
        "week-2026-11-23-to-2026-11-29.dqa.json".to_string(),
    ]
}

/// Two nodes (two connections to the database) write the same week's reports at the same time:
/// the organization gets one pair of files, and a later pass writes nothing. The report counts
/// the two web-service messages of the week (a resend of one of them is not counted again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weekly_report_is_written_once_when_two_nodes_race() {
    use izport::dqa::weekly::{write_due, WeeklyOptions, WeeklySchedule};
    let app = weekly_app().await;
    let options = WeeklyOptions::new(WeeklySchedule::default(), izport::dqa::Weights::default());
    // Before Monday 06:00 the due week is the one before: nothing was sent then.
    let early = write_due(&app.db, &options, "node-a", ts("2026-11-30T05:59:00Z"))
        .await
        .expect("pass");
    assert!(early.is_empty(), "{early:?}");
    let other = Arc::new(
        izport::store::Db::connect(&app.db_url)
            .await
            .expect("second connection"),
    );
    let now = ts("2026-11-30T06:00:00Z");
    let node = |db: Arc<izport::store::Db>, name: &'static str| {
        let options = options.clone();
        tokio::spawn(async move { write_due(&db, &options, name, now).await })
    };
    let (a, b) = (
        node(app.db.clone(), "node-a"),
        node(other.clone(), "node-b"),
    );
    let (a, b) = (
        a.await.expect("task a").expect("node a"),
        b.await.expect("task b").expect("node b"),
    );
    assert_eq!(a.len() + b.len(), 1, "{a:?} {b:?}");
    let written = a.into_iter().chain(b).next().expect("one report");
    assert_eq!(written.organization, ORG);
    let mut names = written.names.clone();
    names.sort();
    assert_eq!(names, weekly_names());
    assert_eq!(reports_folder(&app).await, weekly_names());
    // A node that got past the "already written?" look (as a racing node may) is refused by
    // the claim itself: nothing is placed.
    let org = app.db.organization_id(ORG).await.expect("org").expect("id");
    let blob = other.store_bytes(b"late").await.expect("blob");
    let late = other
        .place_weekly_report(
            org,
            "2026-11-23",
            "2026-11-29",
            "node-c",
            &[("late.dqa.json".to_string(), blob)],
        )
        .await
        .expect("claim");
    assert_eq!(late, None);
    assert_eq!(reports_folder(&app).await, weekly_names());
    let again = write_due(&other, &options, "node-b", ts("2026-12-02T00:00:00Z"))
        .await
        .expect("pass");
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(reports_folder(&app).await, weekly_names());
    let json = app
        .db
        .folder_file(org, "reports", &weekly_names()[1])
        .await
        .expect("file")
        .expect("json there");
    let json = read_blob(&app.db, json.blob_id).await;
    let r: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(r["kind"], "period");
    assert_eq!(r["heading"]["period_from"], "2026-11-23");
    assert_eq!(r["heading"]["period_to"], "2026-11-29");
    assert_eq!(r["counts"]["messages"], 2);
    assert_eq!(r["doors"]["web_service"], 2);
    other.close().await;
}

/// No node ran at Monday 06:00: a node that starts on Wednesday writes the week's reports at
/// once, and a node started after it writes nothing more.
#[tokio::test]
async fn a_missed_weekly_report_is_written_when_a_node_starts() {
    let app = weekly_app().await;
    // The test server runs without the weekly job; nothing is written on its own.
    app.clock
        .as_ref()
        .expect("manual clock")
        .set(ts("2026-12-02T09:00:00Z"));
    assert!(reports_folder(&app).await.is_empty());
    let start = || async {
        let mut options = app.server_options("127.0.0.1:0".parse().expect("addr"));
        options.dqa_weekly = Some(izport::dqa::weekly::WeeklyOptions::new(
            izport::dqa::weekly::WeeklySchedule::default(),
            izport::dqa::Weights::default(),
        ));
        izport::server::start(app.db.clone(), options)
            .await
            .expect("node starts")
    };
    let node = start().await;
    let mut names = Vec::new();
    for _ in 0..200 {
        names = reports_folder(&app).await;
        if names.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(names, weekly_names());
    let second = start().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(reports_folder(&app).await, weekly_names());
    second.shutdown().await;
    node.shutdown().await;
}

async fn read_blob(db: &izport::store::Db, blob: i64) -> String {
    let mut out = Vec::new();
    for seq in 0.. {
        match db.blob_chunk(blob, seq).await.expect("chunk") {
            Some(bytes) => out.extend(bytes),
            None => break,
        }
    }
    String::from_utf8(out).expect("UTF-8")
}
