//! Runs against a small in-process SOAP server that answers like izport (or badly, on
//! purpose), so the worker loop, stop conditions and failure paths are tested without the
//! registry.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::*;
use izport::hl7::Message;

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    /// Answers like izport: AA for a VXU; for a Z34, the Z32 history of a patient an earlier VXU
    /// created, else NF; the echo.
    Good,
    /// As `Good`, but closes the connection after every response.
    CloseEach,
    /// 503 with an HTML page.
    Unavailable,
    /// Sleeps 2 s before answering.
    Slow,
    /// A SecurityFault for every submit.
    Refuse,
}

struct Mock {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
}

fn decode_hl7(body: &str) -> Option<String> {
    let start = body.find("<urn:hl7Message>")? + "<urn:hl7Message>".len();
    let end = body.find("</urn:hl7Message>")?;
    Some(
        body[start..end]
            .replace("&#xD;", "\r")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

fn envelope(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"{}\" \
         xmlns:iis=\"urn:cdc:iisb:2011\"><soap:Body>{inner}</soap:Body></soap:Envelope>",
        soap::SOAP12_NS
    )
}

/// MRNs of the patients the mock's VXUs created.
type Known = Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

fn answer(body: &str, known: &Known) -> (u16, String) {
    if body.contains("connectivityTest>") {
        let start = body.find("<urn:echoBack>").map_or(0, |i| i + 14);
        let end = body.find("</urn:echoBack>").unwrap_or(start);
        return (
            200,
            envelope(&format!(
                "<iis:connectivityTestResponse><iis:return>{}</iis:return></iis:connectivityTestResponse>",
                &body[start..end]
            )),
        );
    }
    let hl7 = decode_hl7(body).expect("hl7Message");
    let msg = Message::parse(&hl7).expect("request HL7 parses");
    let control = msg.get("MSH-10").expect("MSH-10").into_owned();
    let reply = match msg.get("MSH-9-1").as_deref() {
        Some("VXU") => {
            let mrn = msg.get("PID-3-1").expect("PID-3").into_owned();
            assert!(msg.get("RXA-5-1").is_some());
            known.lock().expect("known").insert(mrn);
            format!("MSH|^~\\&amp;|IZPORT|IZPORT|||20250101||ACK^V04^ACK|A1|P|2.5.1\r\nMSA|AA|{control}\r\n")
                .replace("\r\n", "&#xD;")
        }
        Some("QBP") => {
            let tag = msg.get("QPD-2").expect("QPD-2").into_owned();
            let mrn = msg.get("QPD-3-1").expect("QPD-3").into_owned();
            let (profile, status, pid) = if known.lock().expect("known").contains(&mrn) {
                (
                    "Z32",
                    "OK",
                    format!("PID|1||7^^^IZPORT^SR~{mrn}^^^IZLOAD^MR&#xD;"),
                )
            } else {
                ("Z33", "NF", String::new())
            };
            format!(
                "MSH|^~\\&amp;|IZPORT|IZPORT|||20250101||RSP^K11^RSP_K11|A2|P|2.5.1|||||||||{profile}^CDCPHINVS&#xD;\
                 MSA|AA|{control}&#xD;QAK|{tag}|{status}|Z34^Request Immunization History^CDCPHINVS&#xD;{pid}"
            )
        }
        other => panic!("unexpected message type {other:?}"),
    };
    (
        200,
        envelope(&format!(
            "<iis:submitSingleMessageResponse><iis:return>{reply}</iis:return></iis:submitSingleMessageResponse>"
        )),
    )
}

async fn handle(
    behaviour: Behaviour,
    requests: Arc<AtomicU64>,
    known: Known,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    requests.fetch_add(1, Ordering::Relaxed);
    assert_eq!(req.uri().path(), "/soap");
    assert!(req.headers().contains_key("host"));
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8(body.to_vec()).expect("UTF-8 request");
    let (status, text) = match behaviour {
        Behaviour::Unavailable => (
            503,
            "<html><body><h1>503 Service Unavailable</h1></body></html>".to_string(),
        ),
        Behaviour::Refuse if !body.contains("connectivityTest>") => (
            400,
            envelope(
                "<soap:Fault><soap:Code><soap:Value>soap:Sender</soap:Value></soap:Code>\
                 <soap:Reason><soap:Text xml:lang=\"en\">no</soap:Text></soap:Reason><soap:Detail>\
                 <iis:SecurityFault><iis:Code>10</iis:Code><iis:Reason>Security</iis:Reason>\
                 <iis:Detail>no</iis:Detail></iis:SecurityFault></soap:Detail></soap:Fault>",
            ),
        ),
        Behaviour::Slow => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            answer(&body, &known)
        }
        _ => answer(&body, &known),
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
    if behaviour == Behaviour::CloseEach {
        response
            .headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
    }
    Ok(response)
}

async fn mock(behaviour: Behaviour) -> Mock {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(AtomicU64::new(0));
    let connections = Arc::new(AtomicU64::new(0));
    let (r, c) = (requests.clone(), connections.clone());
    let known = Known::default();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            c.fetch_add(1, Ordering::Relaxed);
            let (r, known) = (r.clone(), known.clone());
            tokio::spawn(async move {
                let service =
                    service_fn(move |req| handle(behaviour, r.clone(), known.clone(), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Mock {
        addr,
        requests,
        connections,
    }
}

fn options(addr: SocketAddr, mix: &str, stop: Stop) -> LoadOptions {
    LoadOptions {
        username: "u".into(),
        password: "p".into(),
        facility: "F".into(),
        concurrency: 4,
        stop,
        mix: mix.parse().expect("mix"),
        timeout: Duration::from_secs(5),
        ..LoadOptions::new(format!("http://{addr}/soap"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_count_is_exact_and_connections_are_kept() {
    let m = mock(Behaviour::Good).await;
    let mut o = options(m.addr, "vxu=50,z34=30,connectivity=20", Stop::Requests(600));
    o.concurrency = 7;
    let r = run(&o).await.expect("run");
    assert_eq!(r.requests, 600, "{}", r.render_text());
    assert_eq!(m.requests.load(Ordering::Relaxed), 600);
    assert_eq!(r.failures(), 0, "{}", r.render_text());
    assert_eq!(r.outcomes.get("ok"), Some(&600));
    // One keep-alive connection per worker.
    assert_eq!(m.connections.load(Ordering::Relaxed), 7);
    let kinds: u64 = r.by_kind.values().map(|k| k.count).sum();
    assert_eq!(kinds, 600);
    assert!(r.by_kind["vxu"].count > 200 && r.by_kind["z34"].count > 100);
    assert!(r.throughput > 0.0 && r.latency_ms.max >= r.latency_ms.p50);
    assert_eq!(r.concurrency, 7);
    assert_eq!(r.mix, "vxu=50,z34=30,connectivity=20");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_stop() {
    let m = mock(Behaviour::Good).await;
    let o = options(
        m.addr,
        "connectivity",
        Stop::Duration(Duration::from_millis(300)),
    );
    let started = Instant::now();
    let r = run(&o).await.expect("run");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(r.elapsed_s >= 0.3 && r.elapsed_s < 2.0, "{}", r.elapsed_s);
    assert!(r.requests > 10);
    assert_eq!(r.failures(), 0);
    assert_eq!(r.requests, m.requests.load(Ordering::Relaxed));
    assert_eq!(r.by_kind.keys().collect::<Vec<_>>(), vec!["connectivity"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_closing_each_connection_is_not_a_failure() {
    let m = mock(Behaviour::CloseEach).await;
    let o = options(m.addr, "vxu=50,connectivity=50", Stop::Requests(200));
    let r = run(&o).await.expect("run");
    assert_eq!(r.requests, 200);
    assert_eq!(r.failures(), 0, "{}", r.render_text());
    assert!(m.connections.load(Ordering::Relaxed) >= 190);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_by_outcome() {
    let m = mock(Behaviour::Unavailable).await;
    let r = run(&options(m.addr, "vxu", Stop::Requests(20)))
        .await
        .expect("run");
    assert_eq!(r.outcomes.get("http_503"), Some(&20));
    assert_eq!(r.failures(), 20);
    assert_eq!(r.by_kind["vxu"].ok, 0);

    let m = mock(Behaviour::Refuse).await;
    let r = run(&options(
        m.addr,
        "vxu=50,connectivity=50",
        Stop::Requests(40),
    ))
    .await
    .expect("run");
    let faults = r
        .outcomes
        .get("soap_fault_SecurityFault")
        .copied()
        .unwrap_or(0);
    assert_eq!(faults, r.by_kind["vxu"].count);
    assert_eq!(
        r.outcomes.get("ok").copied().unwrap_or(0),
        r.by_kind["connectivity"].count
    );
    assert!(r.render_text().contains("soap_fault_SecurityFault"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts() {
    let m = mock(Behaviour::Slow).await;
    let mut o = options(m.addr, "connectivity", Stop::Requests(4));
    o.concurrency = 2;
    o.timeout = Duration::from_millis(150);
    let started = Instant::now();
    let r = run(&o).await.expect("run");
    assert_eq!(r.outcomes.get("timeout"), Some(&4), "{}", r.render_text());
    assert!(started.elapsed() < Duration::from_secs(2));
    // Timed-out requests are not timed.
    assert_eq!(r.latency_ms, Latencies::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_the_run_early() {
    let m = mock(Behaviour::Good).await;
    let o = options(
        m.addr,
        "connectivity",
        Stop::Duration(Duration::from_secs(60)),
    );
    let started = Instant::now();
    let r = run_until(&o, tokio::time::sleep(Duration::from_millis(200)))
        .await
        .expect("run");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(r.requests > 0);
    assert_eq!(r.failures(), 0);
}

#[tokio::test]
async fn nothing_listening_is_an_error_before_any_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = run(&options(addr, "connectivity", Stop::Requests(5)))
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, LoadError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn invalid_options_are_refused() {
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let check = |o: LoadOptions, needle: &str| {
        let err = o.validate().expect_err(needle);
        assert!(err.to_string().contains(needle), "{err}");
    };
    let mut o = options(addr, "vxu", Stop::Requests(1));
    o.concurrency = 0;
    check(o.clone(), "concurrency");
    o.concurrency = MAX_CONCURRENCY + 1;
    check(o.clone(), "concurrency");
    o.concurrency = 1;
    check(
        LoadOptions {
            stop: Stop::Requests(0),
            ..o.clone()
        },
        "positive",
    );
    check(
        LoadOptions {
            stop: Stop::Requests(MAX_REQUESTS + 1),
            ..o.clone()
        },
        "at most",
    );
    check(
        LoadOptions {
            stop: Stop::Duration(Duration::ZERO),
            ..o.clone()
        },
        "positive",
    );
    check(
        LoadOptions {
            stop: Stop::Duration(MAX_DURATION + Duration::from_secs(1)),
            ..o.clone()
        },
        "at most",
    );
    check(
        LoadOptions {
            timeout: Duration::ZERO,
            ..o.clone()
        },
        "timeout",
    );
    check(
        LoadOptions {
            username: String::new(),
            ..o.clone()
        },
        "username",
    );
    // Connectivity alone needs no credentials.
    let mut c = LoadOptions::new("http://127.0.0.1:9/soap");
    c.mix = Mix::only(RequestKind::Connectivity);
    assert!(c.validate().is_ok());
    let err = run(&LoadOptions {
        username: "a\u{0}".into(),
        ..o.clone()
    })
    .await
    .expect_err("NUL");
    assert!(matches!(err, LoadError::InvalidOption(_)), "{err}");
}
