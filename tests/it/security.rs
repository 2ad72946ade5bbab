//! The endpoint as an attacker (or a careless sender) meets it: hostile text, hostile XML,
//! password guessing, slow and silent clients, maintenance windows under keep-alive, client
//! certificates. One test (or a few) per finding of issue 15; the finding's number is in the
//! test's name.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use crate::common::*;

// ---- logs -----------------------------------------------------------------------------------

/// Every log line of this test binary from the first call on (INFO and above), so that a test
/// can check that a line never quotes a request. Installed once, as the global subscriber.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        // Another module may have installed one first; then this test cannot see the logs and
        // says so below rather than passing.
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut logs = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: the test binary logs a lot; the newest 8 MB are enough.
        if logs.len() > 8 << 20 {
            logs.drain(..4 << 20);
        }
        logs.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs_text(logs: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&logs.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

// ---- finding 8: control characters ------------------------------------------------------------

fn field_of(hl7: &str, seg: &str, n: usize) -> String {
    hl7_field(hl7, seg, n).unwrap_or_default()
}

/// The ERR segments of an ACK, as (ERR-2 location, ERR-4 severity, ERR-8 text).
fn errs(ack: &str) -> Vec<(String, String, String)> {
    ack.split('\r')
        .filter(|l| l.starts_with("ERR|"))
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            let at = |i: usize| f.get(i).copied().unwrap_or("").to_string();
            (at(2), at(4), at(8))
        })
        .collect()
}

fn with_pid(control: &str, mrn: &str, pid: &str) -> String {
    vxu(control, mrn, &format!("DOSE-{control}"))
        .split('\r')
        .map(|l| {
            if l.starts_with("PID|") {
                pid.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r")
}

#[tokio::test]
async fn finding_8_control_characters_in_a_name_or_identifier_refuse_the_patient() {
    let app = spawn_app().await;
    for (control, pid, field) in [
        (
            "CC-1",
            "PID|1||MRN-CC1^^^TESTEHR^MR||Tes\\X00\\ter^Tina^^^^^L||20230421|F",
            "PID^1^5^1^1",
        ),
        (
            "CC-2",
            "PID|1||MRN-CC2^^^TESTEHR^MR||Tester^Ti\\X0D\\na^^^^^L||20230421|F",
            "PID^1^5^1^2",
        ),
        (
            "CC-3",
            "PID|1||MRN\\X01\\CC3^^^TESTEHR^MR||Tester^Tina^^^^^L||20230421|F",
            "PID^1^3^1^1",
        ),
    ] {
        let mrn = format!("MRN-{control}");
        let (status, ack) = app.submit(&with_pid(control, &mrn, pid)).await;
        assert_eq!(status, 200, "{ack}");
        assert_eq!(field_of(&ack, "MSA", 1), "AE", "{ack}");
        let errs = errs(&ack);
        let err = errs
            .iter()
            .find(|(at, sev, _)| at == field && sev == "E")
            .unwrap_or_else(|| panic!("an error at {field}: {ack}"));
        assert!(err.2.contains("control characters"), "{ack}");
        assert!(err.2.contains("not saved"), "{ack}");
        // Nothing of the patient was kept, under either spelling of the identifier.
        let (_, rsp) = app.submit(&z34(&format!("Q-{control}"), &mrn)).await;
        assert_eq!(field_of(&rsp, "QAK", 2), "NF", "{rsp}");
    }
}

fn z34(control: &str, mrn: &str) -> String {
    format!(
        "MSH|^~\\&|TESTEHR|{FACILITY}|IZPORT|IZPORT|20240601||QBP^Q11^QBP_Q11|{control}|P|2.5.1|||ER|AL|||||Z34^CDCPHINVS\r\
         QPD|Z34^Request Immunization History^CDCPHINVS|TAG-{control}|{mrn}^^^TESTEHR^MR|Tester^Tina^^^^^L||20230421|F\r\
         RCP|I|10^RD&records&HL70126"
    )
}

#[tokio::test]
async fn finding_8_control_characters_elsewhere_are_removed_with_a_warning() {
    let app = spawn_app().await;
    let message = with_pid(
        "CC-10",
        "MRN-CC10",
        "PID|1||MRN-CC10^^^TESTEHR^MR||Tester^Tina^^^^^L||20230421|F|||48 Lan\\X07\\tern Way^^Fern\\X0D\\vale^OR^97401^USA^P",
    )
    .replace("|Z0860BB|", "|Z08\\X00\\60BB|");
    let (status, ack) = app.submit(&message).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(field_of(&ack, "MSA", 1), "AA", "{ack}");
    let errs = errs(&ack);
    for at in ["PID^1^11^1^1", "PID^1^11^1^3", "RXA^1^15^1^1"] {
        assert!(
            errs.iter()
                .any(|(l, sev, text)| l == at && sev == "W" && text.contains("removed")),
            "a warning at {at}: {ack}"
        );
    }
    // What was stored, and what a query returns, is the text without the control characters.
    let (_, rsp) = app.submit(&z34("Q-CC10", "MRN-CC10")).await;
    assert_eq!(field_of(&rsp, "QAK", 2), "OK", "{rsp}");
    let address = field_of(&rsp, "PID", 11);
    assert!(address.starts_with("48 Lantern Way^"), "{rsp}");
    assert!(address.contains("^Fernvale^"), "{rsp}");
    assert_eq!(field_of(&rsp, "RXA", 15), "Z0860BB", "{rsp}");
    assert!(!rsp.contains('\u{fffd}'), "{rsp}");
    assert!(!rsp.contains("\\X"), "{rsp}");
    assert!(!rsp.chars().any(|c| c.is_control() && c != '\r'), "{rsp:?}");
}

// ---- finding 9: nothing of the request in faults or logs --------------------------------------

#[tokio::test]
async fn finding_9_faults_and_log_lines_never_quote_the_request() {
    let logs = captured_logs();
    let app = spawn_app().await;
    const MARK: &str = "Jonesfamily";
    let body = |inner: &str| {
        format!(r#"<s:Envelope xmlns:s="{SOAP12}"><s:Body>{inner}</s:Body></s:Envelope>"#)
    };
    let submit = |hl7: &str| {
        body(&format!(
            r#"<c:submitSingleMessage xmlns:c="urn:cdc:iisb:2011"><c:username>{USER}</c:username><c:password>{PASSWORD}</c:password><c:facilityID>{FACILITY}</c:facilityID><c:hl7Message>{hl7}</c:hl7Message></c:submitSingleMessage>"#
        ))
    };
    let requests = [
        // An undefined entity in the HL7 text (the issue's example).
        submit(&format!(
            "MSH|^~\\&amp;|X|Y|||20240101||VXU^V04|1|P|2.5.1&#13;PID|1||1^^^X^MR||&{MARK};^Tina"
        )),
        // An undefined entity in an attribute value.
        body(&format!(
            r#"<c:connectivityTest xmlns:c="urn:cdc:iisb:2011" a="&{MARK};"><c:echoBack>x</c:echoBack></c:connectivityTest>"#
        )),
        // Mismatched end tags.
        submit(&format!("<{MARK}>x</{MARK}Smith>")),
        // An element that is not allowed where it is.
        submit(&format!("<{MARK}/>")),
        // An unknown operation.
        body(&format!(r#"<c:{MARK} xmlns:c="urn:cdc:iisb:2011"/>"#)),
        // An unknown operation namespace.
        body(&format!(r#"<c:connectivityTest xmlns:c="urn:{MARK}"/>"#)),
        // An undeclared prefix.
        body(&format!(r#"<{MARK}:connectivityTest/>"#)),
        // A mustUnderstand header block.
        format!(
            r#"<s:Envelope xmlns:s="{SOAP12}"><s:Header><h:{MARK} xmlns:h="urn:x" s:mustUnderstand="true"/></s:Header><s:Body><c:connectivityTest xmlns:c="urn:cdc:iisb:2011"/></s:Body></s:Envelope>"#
        ),
        // An envelope in another namespace.
        format!(r#"<s:Envelope xmlns:s="urn:{MARK}"><s:Body/></s:Envelope>"#),
        // A character reference out of range.
        submit(&format!("{MARK}&#xFFFFFFFFF;")),
    ];
    for request in &requests {
        let (status, fault) = app.soap12(request).await;
        assert!(status >= 400, "{status} {fault}");
        assert!(fault.contains("Fault"), "{fault}");
        assert!(
            !fault.contains(MARK),
            "the fault quotes the request: {fault}\nrequest: {request}"
        );
    }
    let text = logs_text(&logs);
    assert!(
        text.contains("SOAP request refused"),
        "the refusals were not logged here (another subscriber?): {} bytes",
        text.len()
    );
    assert!(
        !text.contains(MARK),
        "a log line quotes the request: {}",
        text.lines().find(|l| l.contains(MARK)).unwrap_or("")
    );
}

// ---- finding 3: attributes and namespace declarations ----------------------------------------

/// An absolute bound on one refusal, generous for a debug build on a shared machine (the
/// release figure, under 20 ms in the issue, is measured apart).
const BOMB_BOUND: std::time::Duration = std::time::Duration::from_millis(1000);

fn median(mut v: Vec<std::time::Duration>) -> std::time::Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test]
async fn finding_3_a_namespace_declaration_bomb_is_refused_in_linear_time() {
    let app = spawn_app().await;
    let body = r#"<c:connectivityTest xmlns:c="urn:cdc:iisb:2011"><c:echoBack>x</c:echoBack></c:connectivityTest>"#;
    // The issue's request: a 506 KB envelope with 24,000 xmlns declarations on the root.
    let declarations: String = (0..24_000)
        .map(|i| format!(r#" xmlns:p{i:05}="urn:x""#))
        .collect();
    let ns_bomb = format!(
        r#"<s:Envelope xmlns:s="{SOAP12}"{declarations}><s:Body>{body}</s:Body></s:Envelope>"#
    );
    // And 33,000 plain attributes on a header block.
    let attributes: String = (0..33_000).map(|i| format!(r#" a{i:05}="v""#)).collect();
    let attr_bomb = format!(
        r#"<s:Envelope xmlns:s="{SOAP12}"><s:Header><h{attributes}/></s:Header><s:Body>{body}</s:Body></s:Envelope>"#
    );
    assert!(ns_bomb.len() > 500_000 && ns_bomb.len() <= app.limits.max_body_bytes);
    assert!(attr_bomb.len() <= app.limits.max_body_bytes);
    // A request of the same size that is read to the end and answered: what linear costs here.
    let plain = |size: usize| {
        format!(
            r#"<s:Envelope xmlns:s="{SOAP12}"><s:Body><c:connectivityTest xmlns:c="urn:cdc:iisb:2011"><c:echoBack>{}</c:echoBack></c:connectivityTest></s:Body></s:Envelope>"#,
            "x".repeat(size - 200)
        )
    };
    let timed = |request: String| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let (status, text) = app.soap12(&request).await;
            (started.elapsed(), status, text)
        }
    };
    timed(plain(1000)).await;
    for (name, bomb) in [("declarations", &ns_bomb), ("attributes", &attr_bomb)] {
        let (mut refusals, mut baseline) = (Vec::new(), Vec::new());
        // Interleaved, so that a change of the machine's load falls on both alike.
        for _ in 0..5 {
            let (took, status, fault) = timed(bomb.clone()).await;
            assert_eq!(status, 500, "{fault}");
            assert!(fault.contains("than this service accepts"), "{fault}");
            refusals.push(took);
            let (took, status, _) = timed(plain(bomb.len())).await;
            assert_eq!(status, 200);
            baseline.push(took);
        }
        let (refused, read) = (median(refusals), median(baseline));
        eprintln!("{name}: refused in {refused:?}; a plain request of that size {read:?}");
        // Quadratic work (seconds for these requests) would exceed both bounds by far.
        assert!(
            refused < BOMB_BOUND,
            "{name}: {refused:?} over {BOMB_BOUND:?}"
        );
        assert!(
            refused < read * 3 + std::time::Duration::from_millis(20),
            "{name}: refused in {refused:?}, but reading a plain request of that size takes {read:?}"
        );
    }
}

// ---- findings 4 and 5: password guessing and the verified-password cache ---------------------

fn throttled(max_failures: u32) -> Options {
    Options {
        throttle: Some(izport::auth::ThrottleConfig {
            max_failures,
            window: std::time::Duration::from_secs(900),
            lockout: std::time::Duration::from_secs(900),
        }),
        ..Options::default()
    }
}

/// The SOAP fault's reason text (the whole refusal as a client sees it).
fn refusal(body: &str) -> String {
    assert!(body.contains("SecurityFault"), "{body}");
    element_text(body, "Text").unwrap_or_else(|| body.to_string())
}

async fn unlock(app: &TestApp, user: &str, address: Option<&str>) {
    izport::cli::user::run(
        &app.db,
        izport::cli::user::UserCommand::Unlock {
            username: user.to_string(),
            address: address.map(str::to_string),
        },
    )
    .await
    .expect("unlock");
}

#[tokio::test]
async fn finding_4_failures_lock_a_user_out_also_for_the_right_password_until_unlocked() {
    let logs = captured_logs();
    let app = spawn_app_with(throttled(3)).await;
    let message = vxu("LOCK-1", "MRN-LOCK", "DOSE-LOCK");
    let (status, ack) = app.submit(&message).await;
    assert_eq!(status, 200, "{ack}");
    let mut texts = Vec::new();
    for i in 0..3 {
        let (status, body) = app
            .soap12(&submit_envelope(
                USER,
                &format!("guess-{i}"),
                FACILITY,
                &message,
            ))
            .await;
        assert_eq!(status, 500);
        texts.push(refusal(&body));
    }
    // Locked out: the right password is refused, in the same words as a wrong one.
    let (status, body) = app
        .soap12(&submit_envelope(USER, PASSWORD, FACILITY, &message))
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(refusal(&body), texts[0]);
    // Every node sees it: the lockout is in the database.
    let states = app
        .db
        .throttle_states(&[("user", USER), ("address", "127.0.0.1")], now())
        .await
        .expect("states");
    assert!(
        states.iter().all(|s| s.locked_until.is_some()),
        "{states:?}"
    );
    let text = logs_text(&logs);
    assert!(
        text.contains("too many failed logins: locked out"),
        "no log line"
    );
    assert!(!text.contains("guess-0"), "a password reached the log");
    // `izport user unlock` (the address too: the guesses came from this one).
    unlock(&app, USER, Some("127.0.0.1")).await;
    let (status, ack) = app.submit(&vxu("LOCK-2", "MRN-LOCK", "DOSE-LOCK2")).await;
    assert_eq!(status, 200, "{ack}");
}

/// The value of a counter sample in a /metrics scrape (0 when absent).
fn counter(scrape: &str, name: &str, label: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn lockouts(app: &TestApp) -> f64 {
    let (_, text) = app.get("/metrics").await;
    counter(&text, "izport_auth_lockouts_total", "door=\"soap\"")
}

#[tokio::test]
async fn finding_4_each_lockout_is_counted_by_door_and_logged_naming_accounts_only() {
    let logs = captured_logs();
    // A user of the registry: its name is what `izport user unlock` needs, so it is logged.
    let app = spawn_app_with(throttled(2)).await;
    let message = vxu("LOG-1", "MRN-LOG", "DOSE-LOG");
    let before = lockouts(&app).await;
    for guess in ["lockout-guess-1", "lockout-guess-2"] {
        let (status, _) = app.submit_as(USER, guess, FACILITY, &message).await;
        assert_eq!(status, 500);
    }
    // Two subjects locked: the username and the client address.
    let after = lockouts(&app).await;
    assert!(after >= before + 2.0, "lockouts {before} -> {after}");
    let text = logs_text(&logs);
    let line = text
        .lines()
        .find(|l| l.contains("locked out") && l.contains(USER))
        .unwrap_or_else(|| panic!("no lockout line naming {USER}"));
    assert!(line.contains("soap") && line.contains("seconds"), "{line}");
    assert!(
        !text.contains("lockout-guess"),
        "a password reached the log"
    );

    // A name that is no account (perhaps a password typed into the wrong field): counted, and
    // logged without the name, here and in the refusals' lines.
    let other = spawn_app_with(throttled(2)).await;
    let before = lockouts(&other).await;
    for guess in ["x-1", "x-2"] {
        let (status, _) = other
            .submit_as("Tr0ub4dor&3-typed-here", guess, FACILITY, &message)
            .await;
        assert_eq!(status, 500);
    }
    let after = lockouts(&other).await;
    assert!(after >= before + 2.0, "lockouts {before} -> {after}");
    let text = logs_text(&logs);
    assert!(
        text.lines()
            .any(|l| l.contains("locked out") && l.contains("(not an account)")),
        "no lockout line for the unknown name"
    );
    assert!(
        !text.contains("Tr0ub4dor"),
        "a name that is no account reached the log"
    );
}

// ---- finding 6: memory under a wrong-password flood ------------------------------------------

/// An `izport serve` of its own (so that its memory is its own), killed when dropped.
struct ServerProcess {
    child: std::process::Child,
    url: String,
}

impl ServerProcess {
    fn start(db_url: &str) -> ServerProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_izport"))
            .args(["--database-url", db_url, "serve", "--listen", "127.0.0.1:0"])
            .args(["--sftp-listen", "off"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("izport serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the listening line");
        let url = line
            .trim()
            .strip_prefix("izport listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
        ServerProcess { child, url }
    }

    /// A kilobyte figure of /proc/PID/status (`VmRSS`, `VmHWM`).
    fn vm_kb(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {status}"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn finding_6_a_wrong_password_flood_keeps_the_server_under_150_mb() {
    let app = spawn_app().await;
    let server = ServerProcess::start(&app.db_url);
    let client = reqwest::Client::new();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let message = vxu("FLOOD-1", "MRN-FLOOD", "DOSE-FLOOD");
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..32 {
        let (client, url, message) = (client.clone(), server.url.clone(), message.clone());
        clients.spawn(async move {
            let mut refused = 0u32;
            let mut i = 0u32;
            while std::time::Instant::now() < until {
                i += 1;
                let envelope = submit_envelope(USER, &format!("guess-{c}-{i}"), FACILITY, &message);
                let body = client
                    .post(&url)
                    .header("content-type", "application/soap+xml; charset=utf-8")
                    .body(envelope)
                    .send()
                    .await
                    .expect("answer")
                    .text()
                    .await
                    .expect("body");
                assert!(body.contains("SecurityFault"), "{body}");
                refused += 1;
            }
            refused
        });
    }
    let mut refused = 0;
    while let Some(n) = clients.join_next().await {
        refused += n.expect("client");
    }
    let (peak, now) = (server.vm_kb("VmHWM"), server.vm_kb("VmRSS"));
    eprintln!("{refused} guesses refused; server RSS peak {peak} kB, now {now} kB");
    assert!(refused >= 32, "the flood hardly ran: {refused}");
    // Before the fix, 8 seconds of this took the debug server past 450 MB.
    assert!(peak < 150 * 1024, "peak RSS {peak} kB");
}

#[tokio::test]
async fn finding_4_failures_from_one_address_lock_it_out_whatever_the_usernames() {
    let app = spawn_app_with(throttled(3)).await;
    let message = vxu("ADDR-1", "MRN-ADDR", "DOSE-ADDR");
    for user in ["alice", "bob", "carol"] {
        let (status, _) = app.submit_as(user, "pw-guess-1", FACILITY, &message).await;
        assert_eq!(status, 500);
    }
    // The user never failed, but the address is locked out.
    let (status, body) = app.submit(&message).await;
    assert_eq!(status, 500, "{body}");
    unlock(&app, USER, Some("127.0.0.1")).await;
    let (status, ack) = app.submit(&message).await;
    assert_eq!(status, 200, "{ack}");
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[tokio::test]
async fn finding_4_lockouts_grow_with_each_repetition_and_failures_expire_with_the_window() {
    let app = spawn_app().await;
    let rule = izport::store::ThrottleRule {
        max_failures: 2,
        window: 60,
        lockout: 100,
    };
    let t0 = 1_000_000;
    let fail = |t| app.db.throttle_failure("user", "grower", t, rule);
    assert_eq!(fail(t0).await.expect("fail"), None);
    // Out of the window: the count starts again.
    assert_eq!(fail(t0 + 61).await.expect("fail"), None);
    assert_eq!(fail(t0 + 62).await.expect("fail"), Some(t0 + 62 + 100));
    // The next lockout lasts twice as long, and the one after four times.
    let t1 = t0 + 200;
    assert_eq!(fail(t1).await.expect("fail"), None);
    assert_eq!(fail(t1 + 1).await.expect("fail"), Some(t1 + 1 + 200));
    let t2 = t1 + 300;
    assert_eq!(fail(t2).await.expect("fail"), None);
    assert_eq!(fail(t2 + 1).await.expect("fail"), Some(t2 + 1 + 400));
    let states = app
        .db
        .throttle_states(&[("user", "grower")], t2 + 2)
        .await
        .expect("states");
    assert_eq!(states[0].locked_until, Some(t2 + 1 + 400));
    let states = app
        .db
        .throttle_states(&[("user", "grower")], t2 + 402)
        .await
        .expect("states");
    assert_eq!(states[0].locked_until, None, "a lockout ends by itself");
}

#[tokio::test]
async fn finding_5_a_cached_password_never_answers_a_refused_request() {
    let app = spawn_app().await;
    let message = vxu("CACHE-1", "MRN-CACHE", "DOSE-CACHE");
    // The right credentials, accepted and so cached.
    let (status, ack) = app.submit(&message).await;
    assert_eq!(status, 200, "{ack}");
    // The same password with another organization's facility, and then for a disabled user,
    // are refused after a full verification: the time of a wrong password, not of a cache hit.
    let time = |user: &'static str, password: &'static str, facility: &'static str| {
        let app = &app;
        let message = &message;
        async move {
            let started = std::time::Instant::now();
            let (status, body) = app.submit_as(user, password, facility, message).await;
            assert_eq!(status, 500, "{body}");
            started.elapsed()
        }
    };
    let hit = {
        let started = std::time::Instant::now();
        let (status, _) = app.submit(&vxu("CACHE-2", "MRN-CACHE", "DOSE-CACHE")).await;
        assert_eq!(status, 200);
        started.elapsed()
    };
    // Interleaved samples and medians: other tests of this binary share the machine.
    let (mut facility, mut wrong, mut disabled) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        facility.push(time(USER, PASSWORD, "NOT-OURS").await);
        wrong.push(time(USER, "not-the-password", FACILITY).await);
    }
    app.db
        .set_user_status(USER, "disabled")
        .await
        .expect("disable");
    for _ in 0..5 {
        disabled.push(time(USER, PASSWORD, FACILITY).await);
        wrong.push(time(USER, "not-the-password", FACILITY).await);
    }
    let (wrong_facility, wrong_password, disabled) =
        (median(facility), median(wrong), median(disabled));
    eprintln!(
        "cache hit {hit:?}; wrong facility {wrong_facility:?}; wrong password \
         {wrong_password:?}; disabled {disabled:?}"
    );
    // The issue's measurement: a cache hit answered such refusals in under 1 ms, a verification
    // takes tens of milliseconds. Each refusal here must have cost a verification (the 20 %
    // comparison of medians is tests/timing.rs's, which runs alone).
    for (what, took) in [("wrong facility", wrong_facility), ("disabled", disabled)] {
        assert!(
            took * 3 > wrong_password,
            "{what}: refused in {took:?}, a wrong password takes {wrong_password:?}"
        );
    }
}

// ---- finding 2: keep-alive clients through a maintenance window ------------------------------

/// A minimal HTTP/1.1 keep-alive client, as strict as a real one: requests go on one connection
/// until the server answers `Connection: close`; then (only then) it opens a new one. Anything
/// else — a write that fails, a connection closed before a whole response — is a transport
/// error.
struct KeepAlive {
    addr: std::net::SocketAddr,
    stream: Option<tokio::io::BufReader<tokio::net::TcpStream>>,
    connections: usize,
}

impl KeepAlive {
    fn new(addr: std::net::SocketAddr) -> Self {
        KeepAlive {
            addr,
            stream: None,
            connections: 0,
        }
    }

    /// POSTs `body`; the status, or the transport error.
    async fn post(&mut self, body: &str) -> Result<u16, String> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        if self.stream.is_none() {
            let stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            self.stream = Some(tokio::io::BufReader::new(stream));
            self.connections += 1;
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err("no connection".into());
        };
        let request = format!(
            "POST /soap HTTP/1.1\r\nHost: {}\r\nContent-Type: application/soap+xml\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut status_line = String::new();
        let n = stream
            .read_line(&mut status_line)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            self.stream = None;
            return Err("connection closed before a response".into());
        }
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let (mut length, mut close) = (0usize, false);
        loop {
            let mut line = String::new();
            stream
                .read_line(&mut line)
                .await
                .map_err(|e| format!("read: {e}"))?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().map_err(|_| "bad length".to_string())?;
            }
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let mut content = vec![0u8; length];
        stream
            .read_exact(&mut content)
            .await
            .map_err(|e| format!("read body: {e}"))?;
        if close {
            self.stream = None;
        }
        Ok(status)
    }
}

#[tokio::test]
async fn finding_2_a_keep_alive_client_sees_only_503s_through_a_maintenance_window() {
    let app = spawn_app().await;
    app.db
        .create_window(&izport::store::NewWindow {
            kind: izport::maintenance::Kind::Unplanned,
            mode: izport::maintenance::Mode::Maintenance,
            starts_at: jiff::Timestamp::now(),
            ends_at: None,
            time_zone: "America/Chicago".into(),
            reason: "test".into(),
            organization: None,
            refuse_percent: 100,
        })
        .await
        .expect("window");
    app.maintenance().refresh(&app.db).await.expect("refresh");
    // A large submission (300 KB): a server that answers before reading it and closes leaves
    // bytes unread, and the client sees its connection reset.
    let body = submit_envelope(
        USER,
        PASSWORD,
        FACILITY,
        &format!(
            "{}\rNTE|1||{}",
            vxu("KA-1", "MRN-KA", "DOSE-KA"),
            "x".repeat(300_000)
        ),
    );
    let mut client = KeepAlive::new(app.addr);
    let mut statuses = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    for _ in 0..200 {
        match client.post(&body).await {
            Ok(status) => *statuses.entry(status).or_insert(0) += 1,
            Err(e) => errors.push(e),
        }
    }
    assert!(
        errors.is_empty(),
        "{} transport errors: {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    assert_eq!(statuses.get(&503), Some(&200), "{statuses:?}");
    eprintln!("200 requests, {} connections", client.connections);
}

// ---- finding 1: slow and silent clients, connection caps -------------------------------------

fn tight_limits() -> Options {
    Options {
        limits: izport::server::Limits {
            header_timeout: std::time::Duration::from_secs(1),
            body_timeout: std::time::Duration::from_secs(3),
            body_min_rate: 1024,
            max_connections_per_address: 4,
            ..izport::server::Limits::default()
        },
        ..Options::default()
    }
}

/// Reads until the server closes the connection; how long that took (None: still open at
/// `within`).
async fn closed_within(
    stream: &mut tokio::net::TcpStream,
    within: std::time::Duration,
) -> Option<std::time::Duration> {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + within),
            stream.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn finding_1_a_silent_client_is_closed_within_the_header_timeout() {
    let app = spawn_app_with(tight_limits()).await;
    let mut silent = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let took = closed_within(&mut silent, std::time::Duration::from_secs(5)).await;
    let took = took.expect("a silent connection is still open after 5 s");
    assert!(
        took < std::time::Duration::from_millis(2500),
        "closed after {took:?}"
    );
    // Also after a first request: an idle keep-alive connection is closed as well.
    use tokio::io::AsyncWriteExt;
    let mut idle = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let took = closed_within(&mut idle, std::time::Duration::from_secs(5)).await;
    let took = took.expect("an idle keep-alive connection is still open after 5 s");
    assert!(
        took < std::time::Duration::from_millis(2500),
        "closed after {took:?}"
    );
}

#[tokio::test]
async fn finding_1_a_body_sent_at_one_byte_a_second_is_cut_off() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(tight_limits()).await;
    let mut slow = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    slow.write_all(
        b"POST /soap HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\nContent-Length: 1000\r\n\r\n",
    )
    .await
    .expect("write");
    let started = std::time::Instant::now();
    let mut closed = false;
    // One byte a second, for at most 30 s (the issue's client was still answered after 30 s).
    for _ in 0..30 {
        if slow.write_all(b"<").await.is_err() {
            closed = true;
            break;
        }
        if closed_within(&mut slow, std::time::Duration::from_secs(1))
            .await
            .is_some()
        {
            closed = true;
            break;
        }
    }
    let took = started.elapsed();
    assert!(
        closed,
        "a 1 byte/s body was still being read after {took:?}"
    );
    assert!(
        took < std::time::Duration::from_secs(4),
        "cut off after {took:?}"
    );
}

#[tokio::test]
async fn finding_1_connections_past_the_per_address_cap_are_refused_at_once() {
    let app = spawn_app_with(tight_limits()).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            tokio::net::TcpStream::connect(app.addr)
                .await
                .expect("connect"),
        );
    }
    // Give the server a moment to count them.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut extra = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let took = closed_within(&mut extra, std::time::Duration::from_millis(700)).await;
    assert!(
        took.is_some(),
        "a fifth connection from one address was served"
    );
    // The held ones are still open (closed later by the header timeout, not by the cap).
    for stream in &mut held {
        assert!(
            closed_within(stream, std::time::Duration::from_millis(50))
                .await
                .is_none(),
            "a connection within the cap was closed"
        );
    }
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, _) = app.get("/health").await;
    assert_eq!(status, 200, "slots are given back");
}
