//! The SOAP side of the load generator: request envelopes (built once, filled per request)
//! and the classification of responses into outcomes.

use std::borrow::Cow;

use hyper::body::Bytes;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use izport::hl7::Message;

use izport::soap::wire::{
    escape_into, is_xml_char, CONNECTIVITY_TEST_ACTION, SUBMIT_SINGLE_MESSAGE_ACTION,
};
pub use izport::soap::wire::{CDC_2011_NS as CDC_NS, SOAP11_NS, SOAP12_NS};

/// Content type of a SOAP 1.2 request for the operation with this action.
fn content_type(action: &str) -> String {
    format!("application/soap+xml; charset=utf-8; action=\"{action}\"")
}

/// Content type of a SOAP 1.2 submitSingleMessage request (the action is the WSDL's).
pub fn submit_content_type() -> String {
    content_type(SUBMIT_SINGLE_MESSAGE_ACTION)
}

/// Content type of a SOAP 1.2 connectivityTest request.
pub fn connectivity_content_type() -> String {
    content_type(CONNECTIVITY_TEST_ACTION)
}

/// A value that cannot be put into an XML document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} contains a character that XML cannot carry")]
pub struct NotXml(pub &'static str);

fn escaped(what: &'static str, text: &str) -> Result<String, NotXml> {
    if !text.chars().all(is_xml_char) {
        return Err(NotXml(what));
    }
    Ok(izport::soap::wire::escape(text))
}

/// SOAP 1.2 request bodies, with everything but the HL7 message built once.
#[derive(Clone, Debug)]
pub struct Envelopes {
    submit_prefix: String,
    /// A submitSingleMessage up to its password, and from the password to the message: the
    /// wrong-password flood puts a new password between them each time.
    guess_head: String,
    guess_tail: String,
    connectivity: Bytes,
    echo: String,
}

const SUBMIT_SUFFIX: &str =
    "</urn:hl7Message></urn:submitSingleMessage></soap:Body></soap:Envelope>";

impl Envelopes {
    /// Envelopes carrying these credentials, and a connectivityTest echoing `echo`.
    pub fn new(
        username: &str,
        password: &str,
        facility: &str,
        echo: &str,
    ) -> Result<Envelopes, NotXml> {
        let head = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <soap:Envelope xmlns:soap=\"{SOAP12_NS}\" xmlns:urn=\"{CDC_NS}\">\
             <soap:Header/><soap:Body>"
        );
        let guess_head = format!(
            "{head}<urn:submitSingleMessage><urn:username>{}</urn:username><urn:password>",
            escaped("the username", username)?,
        );
        let guess_tail = format!(
            "</urn:password><urn:facilityID>{}</urn:facilityID><urn:hl7Message>",
            escaped("the facility ID", facility)?,
        );
        let submit_prefix = format!(
            "{guess_head}{}{guess_tail}",
            escaped("the password", password)?,
        );
        let connectivity = format!(
            "{head}<urn:connectivityTest><urn:echoBack>{}</urn:echoBack></urn:connectivityTest>\
             </soap:Body></soap:Envelope>",
            escaped("the echo text", echo)?
        );
        Ok(Envelopes {
            submit_prefix,
            guess_head,
            guess_tail,
            connectivity: Bytes::from(connectivity),
            echo: echo.to_string(),
        })
    }

    /// The connectivityTest request (the same bytes every time; cloning is cheap).
    pub fn connectivity(&self) -> Bytes {
        self.connectivity.clone()
    }

    /// The text the connectivityTest asks to be echoed.
    pub fn echo(&self) -> &str {
        &self.echo
    }

    /// A submitSingleMessage request carrying `hl7` with `password` (letters and digits)
    /// instead of the user's: a guess.
    pub fn submit_guess(&self, password: &str, hl7: &str) -> Bytes {
        let mut out = String::with_capacity(
            self.guess_head.len()
                + password.len()
                + self.guess_tail.len()
                + hl7.len() * 17 / 16
                + SUBMIT_SUFFIX.len()
                + 32,
        );
        out.push_str(&self.guess_head);
        escape_into(&mut out, password);
        out.push_str(&self.guess_tail);
        escape_into(&mut out, hl7);
        out.push_str(SUBMIT_SUFFIX);
        Bytes::from(out)
    }

    /// A submitSingleMessage request carrying `hl7`. Characters XML cannot carry (never in
    /// generated messages) are replaced by U+FFFD so the document stays well-formed.
    pub fn submit(&self, hl7: &str) -> Bytes {
        let mut out = String::with_capacity(
            self.submit_prefix.len() + hl7.len() + hl7.len() / 16 + SUBMIT_SUFFIX.len() + 32,
        );
        out.push_str(&self.submit_prefix);
        escape_into(&mut out, hl7);
        out.push_str(SUBMIT_SUFFIX);
        Bytes::from(out)
    }
}

/// What a response was checked against.
#[derive(Clone, Copy, Debug)]
pub enum Expect<'a> {
    /// connectivityTest: `return` must be the echo text.
    Echo(&'a str),
    /// A wrong password: the answer must be a SecurityFault.
    Refusal,
    /// VXU: an ACK with MSA-1 `AA` and MSA-2 the sent MSH-10.
    Ack { control_id: &'a str },
    /// Z34: an RSP with MSA-1 `AA`, MSA-2 the sent MSH-10 and QAK-1 the sent tag; for a
    /// patient this run created (`mrn`), the Z32 history of that patient ([`is_history_of`]);
    /// for one it did not (`None`), QAK-2 `NF`.
    Query {
        control_id: &'a str,
        tag: &'a str,
        mrn: Option<&'a str>,
    },
}

/// How one request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The response was what the request asked for.
    Ok,
    /// HTTP status other than 200 without a SOAP fault in the body (e.g. a 503 from a proxy).
    Http(u16),
    /// A SOAP fault; the local name of its CDC detail element (`SecurityFault`, `fault`, …),
    /// or `None` when it has none.
    SoapFault(Option<String>),
    /// An HL7 acknowledgement code other than AA in MSA-1 (`AE`, `AR`, …).
    Ack(String),
    /// MSA-2 (or QAK-1 for a query) does not name what was sent.
    Mismatch,
    /// An RSP whose QAK-2 is not the one expected: `NF` for a patient this run created, `OK`
    /// for one it did not, `TM`, `PD`, `AE`, ….
    Qak(String),
    /// QAK-2 `OK`, but not the Z32 history of the patient asked for (e.g. a Z31 candidate list).
    NotThePatient,
    /// The body could not be read as the expected SOAP response (or HL7 in it).
    BadResponse,
    /// A request that had to be refused (a wrong password) was answered.
    Accepted,
    /// No complete response within the per-request timeout.
    Timeout,
    /// No connection could be made.
    ConnectError,
    /// The connection failed while the request was in flight.
    IoError,
}

/// Keeps a code from the wire usable as a report key: 1–32 of `[A-Za-z0-9_.-]`.
fn code_key(code: &str) -> Option<&str> {
    let ok = !code.is_empty()
        && code.len() <= 32
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    ok.then_some(code)
}

impl Outcome {
    /// The name of this outcome in reports: `ok`, `http_503`, `soap_fault_SecurityFault`,
    /// `ack_AE`, `ack_AR`, `ack_mismatch`, `qak_TM`, `not_the_patient`, `bad_response`, `timeout`,
    /// `connect_error`, `io_error`.
    pub fn key(&self) -> Cow<'static, str> {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Http(status) => format!("http_{status}").into(),
            Outcome::SoapFault(None) => "soap_fault".into(),
            Outcome::SoapFault(Some(detail)) => match code_key(detail) {
                Some(d) => format!("soap_fault_{d}").into(),
                None => "soap_fault_other".into(),
            },
            Outcome::Ack(code) => match code_key(code) {
                Some(c) => format!("ack_{c}").into(),
                None => "ack_other".into(),
            },
            Outcome::Mismatch => "ack_mismatch".into(),
            Outcome::Qak(code) => match code_key(code) {
                Some(c) => format!("qak_{c}").into(),
                None => "qak_other".into(),
            },
            Outcome::NotThePatient => "not_the_patient".into(),
            Outcome::BadResponse => "bad_response".into(),
            Outcome::Accepted => "accepted".into(),
            Outcome::Timeout => "timeout".into(),
            Outcome::ConnectError => "connect_error".into(),
            Outcome::IoError => "io_error".into(),
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

/// What a SOAP response body holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `…Response/return`: the operation's local name and the decoded text.
    Return { operation: String, text: String },
    /// A SOAP fault and the local name of the element inside its `Detail`, if any.
    Fault { detail: Option<String> },
}

fn is_soap_ns(ns: &ResolveResult<'_>) -> bool {
    match ns {
        ResolveResult::Bound(n) => {
            n.as_ref() == SOAP12_NS.as_bytes() || n.as_ref() == SOAP11_NS.as_bytes()
        }
        _ => false,
    }
}

/// Where [`read_reply`] is in the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Root,
    Envelope,
    Body,
    Fault,
    Detail,
    Response,
    Return,
    /// The reply is known; the rest of the document is only checked to be well-formed.
    Done,
}

/// Reads a SOAP 1.2 or 1.1 response: the first element of the Body is either a Fault or an
/// operation response whose `return` child is collected (entity and character references
/// resolved, XML end-of-line handling applied). `None` when the body is not such a document
/// or is not well-formed to its end.
pub fn read_reply(body: &[u8]) -> Option<Reply> {
    let text = std::str::from_utf8(body).ok()?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut state = State::Root;
    // Depth of the innermost open element (the Envelope is 1).
    let mut depth = 0usize;
    let mut operation = String::new();
    let mut value = String::new();
    let mut reply = None;
    loop {
        let (ns, event) = reader.read_resolved_event().ok()?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name();
                let local = local.as_ref();
                depth += 1;
                match state {
                    State::Root if depth == 1 && is_soap_ns(&ns) && local == b"Envelope" => {
                        state = State::Envelope
                    }
                    State::Root => return None,
                    State::Envelope if depth == 2 && is_soap_ns(&ns) && local == b"Body" => {
                        state = State::Body
                    }
                    State::Body if depth == 3 => {
                        if is_soap_ns(&ns) && local == b"Fault" {
                            state = State::Fault;
                        } else {
                            operation = String::from_utf8_lossy(local).into_owned();
                            state = State::Response;
                        }
                    }
                    State::Fault if depth == 4 && local.eq_ignore_ascii_case(b"Detail") => {
                        state = State::Detail;
                    }
                    State::Detail if depth == 5 => {
                        reply = Some(Reply::Fault {
                            detail: Some(String::from_utf8_lossy(local).into_owned()),
                        });
                        state = State::Done;
                    }
                    State::Response if depth == 4 && local == b"return" => state = State::Return,
                    _ => {}
                }
                if matches!(event, Event::Empty(_)) {
                    state = match close(state, depth, &mut operation, &mut value) {
                        Ok(next) => next,
                        Err(found) => {
                            reply = Some(found?);
                            State::Done
                        }
                    };
                    depth -= 1;
                }
            }
            Event::End(_) => {
                state = match close(state, depth, &mut operation, &mut value) {
                    Ok(next) => next,
                    Err(found) => {
                        reply = Some(found?);
                        State::Done
                    }
                };
                depth = depth.checked_sub(1)?;
            }
            Event::Text(t) if state == State::Return => {
                value.push_str(&t.xml10_content().ok()?);
            }
            Event::CData(t) if state == State::Return => {
                value.push_str(&t.xml10_content().ok()?);
            }
            Event::GeneralRef(r) if state == State::Return => match r.resolve_char_ref().ok()? {
                Some(c) => value.push(c),
                None => {
                    let name = r.decode().ok()?;
                    value.push_str(quick_xml::escape::resolve_predefined_entity(&name)?);
                }
            },
            Event::Eof if depth == 0 => return reply,
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// The element at `depth` closes: the next state, or `Err` with the reply (`None`: the
/// document is not a SOAP response).
fn close(
    state: State,
    depth: usize,
    operation: &mut String,
    value: &mut String,
) -> Result<State, Option<Reply>> {
    match state {
        State::Return if depth == 4 => Err(Some(Reply::Return {
            operation: std::mem::take(operation),
            text: std::mem::take(value),
        })),
        // A Detail without an element in it; the Fault may still be read to its end.
        State::Detail if depth == 4 => Ok(State::Fault),
        State::Fault if depth == 3 => Err(Some(Reply::Fault { detail: None })),
        // A response without `return`, an empty Body, an Envelope without Body.
        State::Response if depth == 3 => Err(None),
        State::Body if depth == 2 => Err(None),
        State::Envelope if depth == 1 => Err(None),
        other => Ok(other),
    }
}

/// Classifies a response with HTTP status `status` and body `body` to a request that
/// expected `expect`.
pub fn classify(status: u16, body: &[u8], expect: &Expect<'_>) -> Outcome {
    let reply = read_reply(body);
    match (status, reply) {
        (_, Some(Reply::Fault { detail }))
            if matches!(expect, Expect::Refusal) && detail.as_deref() == Some("SecurityFault") =>
        {
            Outcome::Ok
        }
        (_, Some(Reply::Fault { detail })) => Outcome::SoapFault(detail),
        // A guess that was answered instead of refused.
        (200, Some(Reply::Return { .. })) if matches!(expect, Expect::Refusal) => Outcome::Accepted,
        (200, Some(Reply::Return { operation, text })) => check_return(&operation, &text, expect),
        (200, None) => Outcome::BadResponse,
        (other, _) => Outcome::Http(other),
    }
}

fn check_return(operation: &str, text: &str, expect: &Expect<'_>) -> Outcome {
    match *expect {
        Expect::Refusal => Outcome::Accepted,
        Expect::Echo(echo) => {
            // izport echoes the text as is; some IIS prefix it ("End-point is ready.
            // Echoing: …"), which is accepted too.
            if operation == "connectivityTestResponse" && (text == echo || text.ends_with(echo)) {
                Outcome::Ok
            } else {
                Outcome::BadResponse
            }
        }
        Expect::Ack { control_id } => {
            if operation != "submitSingleMessageResponse" {
                return Outcome::BadResponse;
            }
            let Ok(msg) = Message::parse(text) else {
                return Outcome::BadResponse;
            };
            match msa(&msg, control_id) {
                Err(outcome) => outcome,
                Ok(()) => Outcome::Ok,
            }
        }
        Expect::Query {
            control_id,
            tag,
            mrn,
        } => {
            if operation != "submitSingleMessageResponse" {
                return Outcome::BadResponse;
            }
            let Ok(msg) = Message::parse(text) else {
                return Outcome::BadResponse;
            };
            if let Err(outcome) = msa(&msg, control_id) {
                return outcome;
            }
            if msg.get("MSH-9-1").as_deref() != Some("RSP") {
                return Outcome::BadResponse;
            }
            let Some(status) = msg.get("QAK-2") else {
                return Outcome::BadResponse;
            };
            if msg.get("QAK-1").as_deref().map(str::trim) != Some(tag) {
                return Outcome::Mismatch;
            }
            match (status.trim(), mrn) {
                ("OK", Some(mrn)) if is_history_of(&msg, mrn, "Z32") => Outcome::Ok,
                // An OK that is not this patient's Z32 (a Z31 candidate list, another patient).
                ("OK", Some(_)) => Outcome::NotThePatient,
                ("NF", None) => Outcome::Ok,
                // A stranger shares a birth date and family name with someone the run created
                // (synthetic names repeat, many patients are newborns): listing those people as
                // possible matches (Z31) is a right answer too; naming one as the patient is not.
                ("OK", None) if msg.get("MSH-21-1").as_deref().map(str::trim) == Some("Z31") => {
                    Outcome::Ok
                }
                (other, _) => Outcome::Qak(other.to_string()),
            }
        }
    }
}

/// Whether `msg` is what a history query for the patient with medical record number `mrn`
/// gets when the registry holds that patient: an RSP whose profile (MSH-21) is Z32, with QAK-2
/// `OK` and one PID that lists `mrn` among its identifiers (PID-3). A Z31 (a list of candidates,
/// also QAK-2 `OK`) is not.
pub fn is_history_of(msg: &Message<'_>, mrn: &str, profile: &str) -> bool {
    let one_pid = msg.segments_named("PID").count() == 1;
    let lists_mrn = msg.segment("PID").is_some_and(|pid| {
        pid.field(3)
            .repetitions()
            .any(|id| id.component(1).value() == mrn)
    });
    msg.get("MSH-9-1").as_deref() == Some("RSP")
        && msg.get("MSH-21-1").as_deref().map(str::trim) == Some(profile)
        && msg.get("QAK-2").as_deref().map(str::trim) == Some("OK")
        && one_pid
        && lists_mrn
}

/// Checks MSA-1 (must be AA) and MSA-2 (must be the sent control id).
fn msa(msg: &Message<'_>, control_id: &str) -> Result<(), Outcome> {
    let Some(code) = msg.get("MSA-1") else {
        return Err(Outcome::BadResponse);
    };
    let code = code.trim();
    if code != "AA" {
        return Err(Outcome::Ack(code.to_string()));
    }
    if msg.get("MSA-2").as_deref().map(str::trim) != Some(control_id) {
        return Err(Outcome::Mismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(ns: &str, body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"{ns}\" \
             xmlns:iis=\"{CDC_NS}\"><soap:Body>{body}</soap:Body></soap:Envelope>"
        )
    }

    fn submit_response(hl7: &str) -> String {
        let mut escaped = String::new();
        escape_into(&mut escaped, hl7);
        envelope(
            SOAP12_NS,
            &format!(
                "<iis:submitSingleMessageResponse><iis:return>{escaped}</iis:return>\
                 </iis:submitSingleMessageResponse>"
            ),
        )
    }

    /// A fault as izport writes it (src/soap/fault.rs).
    fn fault(detail_element: &str, code: u32) -> String {
        envelope(
            SOAP12_NS,
            &format!(
                "<soap:Fault><soap:Code><soap:Value>soap:Sender</soap:Value></soap:Code>\
                 <soap:Reason><soap:Text xml:lang=\"en\">Invalid username, password or facility ID.</soap:Text></soap:Reason>\
                 <soap:Detail><iis:{detail_element}><iis:Code>{code}</iis:Code><iis:Reason>Security</iis:Reason>\
                 <iis:Detail>Invalid username &amp; password</iis:Detail></iis:{detail_element}></soap:Detail></soap:Fault>"
            ),
        )
    }

    const ACK_AA: &str = "MSH|^~\\&|IZPORT|IZPORT|IZLOAD|LFAC|20250304||ACK^V04^ACK|IZ1|P|2.5.1|||NE|NE|||||Z23^CDCPHINVS\rMSA|AA|M123\r";
    const ACK_AR_QBP: &str = "MSH|^~\\&|IZPORT|IZPORT|IZLOAD|LFAC|20250304||ACK^Q11^ACK|IZ2|P|2.5.1|||NE|NE|||||Z23^CDCPHINVS\rMSA|AR|M200\rERR||MSH^1^9|200^Unsupported message type^HL70357|E\r";

    #[test]
    fn vxu_acks() {
        let ack = Expect::Ack { control_id: "M123" };
        assert_eq!(
            classify(200, submit_response(ACK_AA).as_bytes(), &ack),
            Outcome::Ok
        );
        let other = Expect::Ack { control_id: "M124" };
        assert_eq!(
            classify(200, submit_response(ACK_AA).as_bytes(), &other),
            Outcome::Mismatch
        );
        let ae = ACK_AA.replace("MSA|AA|", "MSA|AE|");
        assert_eq!(
            classify(200, submit_response(&ae).as_bytes(), &ack).key(),
            "ack_AE"
        );
        let ar = ACK_AA.replace("MSA|AA|", "MSA|AR|");
        assert_eq!(
            classify(200, submit_response(&ar).as_bytes(), &ack).key(),
            "ack_AR"
        );
        // Not HL7 inside the return; no MSA.
        assert_eq!(
            classify(200, submit_response("hello").as_bytes(), &ack),
            Outcome::BadResponse
        );
        let no_msa = "MSH|^~\\&|A|B|C|D|2025||ACK|1|P|2.5.1\r";
        assert_eq!(
            classify(200, submit_response(no_msa).as_bytes(), &ack),
            Outcome::BadResponse
        );
        // Segment separators written as literal CR would be normalised to LF by XML; the
        // HL7 parser takes LF as a separator too.
        let literal = envelope(
            SOAP12_NS,
            &format!(
                "<iis:submitSingleMessageResponse><iis:return>{}</iis:return></iis:submitSingleMessageResponse>",
                ACK_AA.replace('\r', "\r\n").replace('&', "&amp;")
            ),
        );
        assert_eq!(classify(200, literal.as_bytes(), &ack), Outcome::Ok);
    }

    #[test]
    fn a_refused_query_is_a_failure() {
        let q = Expect::Query {
            control_id: "M200",
            tag: "Q200",
            mrn: Some("MRN1"),
        };
        assert_eq!(
            classify(200, submit_response(ACK_AR_QBP).as_bytes(), &q).key(),
            "ack_AR"
        );
    }

    /// An RSP in the shape of the CDC IG's Z32/Z31/Z33 examples: profile in MSH-21, QAK-2
    /// status, then one PID per patient returned.
    fn rsp(profile: &str, qak: &str, tag: &str, pids: &[&str]) -> String {
        let mut hl7 = format!(
            "MSH|^~\\&|IZPORT|IZPORT|IZLOAD|LFAC|20250304||RSP^K11^RSP_K11|IZ3|P|2.5.1|||NE|NE|||||{profile}^CDCPHINVS\r\
             MSA|AA|M7\rQAK|{tag}|{qak}|Z34^Request Immunization History^CDCPHINVS\r\
             QPD|Z34^Request Immunization History^CDCPHINVS|{tag}\r"
        );
        for (n, pid3) in pids.iter().enumerate() {
            hl7.push_str(&format!("PID|{}||{pid3}||Doe^Jane||20200101|F\r", n + 1));
        }
        submit_response(&hl7)
    }

    #[test]
    fn query_responses() {
        let q = Expect::Query {
            control_id: "M7",
            tag: "Q7",
            mrn: Some("MRN7"),
        };
        let history = rsp("Z32", "OK", "Q7", &["42^^^IZPORT^SR~MRN7^^^IZLOAD^MR"]);
        assert_eq!(classify(200, history.as_bytes(), &q), Outcome::Ok);
        // The patient this run created is not found: a failure.
        let nf = rsp("Z33", "NF", "Q7", &[]);
        assert_eq!(classify(200, nf.as_bytes(), &q).key(), "qak_NF");
        // A Z31 candidate list is QAK-2 OK too, but not the history asked for.
        let z31 = rsp(
            "Z31",
            "OK",
            "Q7",
            &["42^^^IZPORT^SR~MRN7^^^IZLOAD^MR", "43^^^IZPORT^SR"],
        );
        assert_eq!(classify(200, z31.as_bytes(), &q).key(), "not_the_patient");
        // Another patient's history.
        let other = rsp("Z32", "OK", "Q7", &["44^^^IZPORT^SR~MRN8^^^IZLOAD^MR"]);
        assert_eq!(classify(200, other.as_bytes(), &q), Outcome::NotThePatient);
        assert_eq!(
            classify(200, rsp("Z32", "OK", "Q8", &["MRN7"]).as_bytes(), &q),
            Outcome::Mismatch
        );
        assert_eq!(
            classify(200, rsp("Z33", "TM", "Q7", &[]).as_bytes(), &q).key(),
            "qak_TM"
        );
        // A query for a patient no VXU of the run created: NF is the right answer.
        let stranger = Expect::Query {
            control_id: "M7",
            tag: "Q7",
            mrn: None,
        };
        assert_eq!(classify(200, nf.as_bytes(), &stranger), Outcome::Ok);
        assert_eq!(classify(200, history.as_bytes(), &stranger).key(), "qak_OK");
        assert_eq!(classify(200, z31.as_bytes(), &stranger), Outcome::Ok);
        // An AA ACK (not an RSP) to a query is not an answer.
        assert_eq!(
            classify(
                200,
                submit_response(&ACK_AA.replace("M123", "M7")).as_bytes(),
                &q
            ),
            Outcome::BadResponse
        );
        let ae = rsp("Z33", "AE", "Q7", &[]).replace("MSA|AA|", "MSA|AE|");
        assert_eq!(classify(200, ae.as_bytes(), &q).key(), "ack_AE");
    }

    #[test]
    fn a_guess_must_be_refused_with_a_security_fault() {
        let guess = Expect::Refusal;
        let sec = fault("SecurityFault", 10);
        assert_eq!(classify(500, sec.as_bytes(), &guess), Outcome::Ok);
        assert_eq!(
            classify(500, fault("fault", 54353).as_bytes(), &guess).key(),
            "soap_fault_fault"
        );
        assert_eq!(
            classify(200, submit_response(ACK_AA).as_bytes(), &guess).key(),
            "accepted"
        );
        assert_eq!(classify(503, b"<html/>", &guess).key(), "http_503");
        let envelopes = Envelopes::new("u&1", "right", "F", "e").expect("envelopes");
        let body = envelopes.submit_guess("guess-1", "MSH|x");
        let text = std::str::from_utf8(&body).expect("utf-8");
        assert!(text.contains("<urn:username>u&amp;1</urn:username><urn:password>guess-1</urn:password><urn:facilityID>F</urn:facilityID><urn:hl7Message>MSH|x</urn:hl7Message>"), "{text}");
        assert!(!text.contains("right"));
    }

    #[test]
    fn faults() {
        let ack = Expect::Ack { control_id: "M1" };
        let sec = fault("SecurityFault", 10);
        assert_eq!(
            classify(400, sec.as_bytes(), &ack).key(),
            "soap_fault_SecurityFault"
        );
        assert_eq!(
            classify(500, fault("fault", 54353).as_bytes(), &ack).key(),
            "soap_fault_fault"
        );
        assert_eq!(
            classify(400, fault("MessageTooLargeFault", 1313).as_bytes(), &ack).key(),
            "soap_fault_MessageTooLargeFault"
        );
        // A fault with HTTP 200 is still a fault.
        assert_eq!(
            classify(200, sec.as_bytes(), &ack).key(),
            "soap_fault_SecurityFault"
        );
        // SOAP 1.1: lowercase detail, unqualified.
        let v11 = envelope(
            SOAP11_NS,
            "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>no</faultstring>\
             <detail><iis:UnsupportedOperationFault><iis:Code>8675309</iis:Code>\
             </iis:UnsupportedOperationFault></detail></soap:Fault>",
        );
        assert_eq!(
            classify(500, v11.as_bytes(), &ack).key(),
            "soap_fault_UnsupportedOperationFault"
        );
        // No detail element at all.
        let bare = envelope(
            SOAP12_NS,
            "<soap:Fault><soap:Code><soap:Value>soap:Receiver</soap:Value></soap:Code>\
             <soap:Reason><soap:Text xml:lang=\"en\">x</soap:Text></soap:Reason></soap:Fault>",
        );
        assert_eq!(classify(500, bare.as_bytes(), &ack).key(), "soap_fault");
        let empty_detail = envelope(SOAP12_NS, "<soap:Fault><soap:Detail/></soap:Fault>");
        assert_eq!(
            classify(500, empty_detail.as_bytes(), &ack).key(),
            "soap_fault"
        );
        // A detail element name that is not a usable key.
        assert_eq!(
            Outcome::SoapFault(Some("x".repeat(40))).key(),
            "soap_fault_other"
        );
    }

    #[test]
    fn non_soap_bodies() {
        let ack = Expect::Ack { control_id: "M1" };
        let html = b"<html><head><title>503 Service Unavailable</title></head>\
                     <body><h1>503 Service Unavailable</h1></body></html>";
        assert_eq!(classify(503, html, &ack).key(), "http_503");
        assert_eq!(classify(502, b"", &ack).key(), "http_502");
        assert_eq!(classify(404, b"not found", &ack).key(), "http_404");
        assert_eq!(classify(200, html, &ack), Outcome::BadResponse);
        assert_eq!(classify(200, b"", &ack), Outcome::BadResponse);
        assert_eq!(classify(200, b"\xff\xfe", &ack), Outcome::BadResponse);
        assert_eq!(
            classify(200, envelope(SOAP12_NS, "").as_bytes(), &ack),
            Outcome::BadResponse
        );
        // Truncated document.
        let full = submit_response(ACK_AA);
        let aa = Expect::Ack { control_id: "M123" };
        assert_eq!(classify(200, full.as_bytes(), &aa), Outcome::Ok);
        for cut in [10, 30, full.len() / 2] {
            assert_eq!(
                classify(200, &full.as_bytes()[..full.len() - cut], &aa),
                Outcome::BadResponse,
                "cut {cut}"
            );
        }
        // Trailing garbage after the document.
        let trailing = format!("{full}<x>");
        assert_eq!(
            classify(200, trailing.as_bytes(), &aa),
            Outcome::BadResponse
        );
        // Wrong envelope namespace.
        let wrong = full.replace(SOAP12_NS, "urn:not-soap");
        assert_eq!(classify(200, wrong.as_bytes(), &ack), Outcome::BadResponse);
    }

    #[test]
    fn connectivity() {
        let echo = Expect::Echo("izport-load a&b <c>");
        let ok = envelope(
            SOAP12_NS,
            "<iis:connectivityTestResponse><iis:return>izport-load a&amp;b &lt;c&gt;</iis:return>\
             </iis:connectivityTestResponse>",
        );
        assert_eq!(classify(200, ok.as_bytes(), &echo), Outcome::Ok);
        let prefixed = ok.replace("<iis:return>", "<iis:return>End-point is ready. Echoing: ");
        assert_eq!(classify(200, prefixed.as_bytes(), &echo), Outcome::Ok);
        let wrong = ok.replace("a&amp;b", "ab");
        assert_eq!(classify(200, wrong.as_bytes(), &echo), Outcome::BadResponse);
        let empty = envelope(
            SOAP12_NS,
            "<iis:connectivityTestResponse><iis:return/></iis:connectivityTestResponse>",
        );
        assert_eq!(classify(200, empty.as_bytes(), &echo), Outcome::BadResponse);
        assert_eq!(
            classify(200, empty.as_bytes(), &Expect::Echo("")),
            Outcome::Ok
        );
        // Wrong operation for the request.
        assert_eq!(
            classify(
                200,
                submit_response("izport-load a&b <c>").as_bytes(),
                &echo
            ),
            Outcome::BadResponse
        );
    }

    #[test]
    fn reply_reading_decodes_references() {
        let body = envelope(
            SOAP12_NS,
            "<iis:submitSingleMessageResponse><iis:return>A&#xD;B&#13;C&amp;&lt;&gt;&quot;&apos;<![CDATA[<x>]]></iis:return>\
             </iis:submitSingleMessageResponse>",
        );
        assert_eq!(
            read_reply(body.as_bytes()),
            Some(Reply::Return {
                operation: "submitSingleMessageResponse".into(),
                text: "A\rB\rC&<>\"'<x>".into()
            })
        );
    }

    #[test]
    fn envelopes_round_trip() {
        let env = Envelopes::new("u&<", "p\"w", "F>1", "echo\r1").unwrap();
        let hl7 = "MSH|^~\\&|A|B\rPID|1||X&Y<Z>\r";
        let body = env.submit(hl7);
        let text = std::str::from_utf8(&body).unwrap();
        assert!(text.contains("<urn:username>u&amp;&lt;</urn:username>"));
        assert!(text.contains("<urn:password>p&quot;w</urn:password>"));
        assert!(text.contains("<urn:facilityID>F&gt;1</urn:facilityID>"));
        assert!(
            text.contains("MSH|^~\\&amp;|A|B&#xD;PID|1||X&amp;Y&lt;Z&gt;&#xD;</urn:hl7Message>")
        );
        assert!(!text.contains('\r'));
        // The connectivity request decodes back to the echo.
        let conn = env.connectivity();
        let conn = std::str::from_utf8(&conn).unwrap();
        assert!(conn.contains("<urn:echoBack>echo&#xD;1</urn:echoBack>"));
        assert_eq!(env.echo(), "echo\r1");
        assert_eq!(
            Envelopes::new("u\u{1}", "p", "f", "e").unwrap_err(),
            NotXml("the username")
        );
        // Control characters in HL7 are replaced, never break the document.
        let body = env.submit("MSH|\u{B}x");
        assert!(std::str::from_utf8(&body)
            .unwrap()
            .contains("MSH|\u{FFFD}x"));
    }
}
