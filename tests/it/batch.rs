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

/// Waits until a file shows up in DQA-Reports whose name starts with `prefix`.
async fn report(sftp: &SftpSession, prefix: &str) -> (String, String) {
    for _ in 0..300 {
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
        w.group = 5;
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
