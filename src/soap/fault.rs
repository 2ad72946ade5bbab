//! Encoding of SOAP responses and faults for the CDC IIS 2011 contract.
//!
//! Documents are written as strings. Text is escaped with
//! [`wire::escape_into`](super::wire::escape_into) (CR as `&#xD;`, so that HL7
//! segment separators survive the XML line-end normalisation of the receiving
//! parser; LF and tab as references too). The envelope is in the namespace of the request's
//! SOAP version (always with the `soap` prefix), and the body children are
//! qualified with the CDC namespace (`iis` prefix), as
//! `elementFormDefault="qualified"` requires.
//!
//! Fault detail elements follow the contract's schema: `SecurityFault`,
//! `MessageTooLargeFault`, `UnsupportedOperationFault` and the generic
//! `fault`, each holding `Code`, `Reason` and `Detail`.

use super::envelope::{Contract, DecodeError, SoapVersion};
use super::wire::{escape_into, CDC_2011_NS, CDC_2014_NS};

/// The kinds of fault this service sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Bad credentials (`SecurityFault`, code 10).
    Security,
    /// Message too large or more than one message (`MessageTooLargeFault`,
    /// code 1313).
    MessageTooLarge,
    /// The body names an operation this service does not offer
    /// (`UnsupportedOperationFault`, code 8675309).
    UnsupportedOperation,
    /// A server-side failure (generic `fault`, code 54353, Reason
    /// `UnknownFault`).
    Unknown,
    /// A request the server could not read: malformed XML, a DTD, a missing
    /// element and so on (generic `fault`, code 400, Reason `BadRequest`).
    BadRequest,
    /// The envelope is not in a supported SOAP namespace.
    VersionMismatch,
    /// A `mustUnderstand` header block was not understood.
    MustUnderstand,
}

impl FaultKind {
    /// Local name of the CDC detail element (namespace `urn:cdc:iisb:2011`).
    pub fn detail_element(self) -> &'static str {
        match self {
            FaultKind::Security => "SecurityFault",
            FaultKind::MessageTooLarge => "MessageTooLargeFault",
            FaultKind::UnsupportedOperation => "UnsupportedOperationFault",
            // The contract defines no detail element for these. The NIST
            // checker wants a CDC detail element in every fault, so the
            // generic `fault` element (free Reason) is used for all of them.
            FaultKind::Unknown
            | FaultKind::BadRequest
            | FaultKind::VersionMismatch
            | FaultKind::MustUnderstand => "fault",
        }
    }

    /// Value of the detail element's `Code`.
    pub fn detail_code(self) -> u32 {
        match self {
            FaultKind::Security => 10,
            FaultKind::MessageTooLarge => 1313,
            FaultKind::UnsupportedOperation => 8675309,
            // 400 is this service's own code for a request it could not read.
            FaultKind::BadRequest => 400,
            // VersionMismatch and MustUnderstand are SOAP-level faults with no
            // CDC code of their own; they carry the contract's generic
            // (UnknownFault) code 54353 and a Reason naming the SOAP fault.
            FaultKind::Unknown | FaultKind::VersionMismatch | FaultKind::MustUnderstand => 54353,
        }
    }

    /// Value of the detail element's `Reason`. For the three specific faults
    /// this is the value the schema fixes.
    pub fn detail_reason(self) -> &'static str {
        match self {
            FaultKind::Security => "Security",
            FaultKind::MessageTooLarge => "MessageTooLarge",
            FaultKind::UnsupportedOperation => "UnsupportedOperation",
            FaultKind::Unknown => "UnknownFault",
            FaultKind::BadRequest => "BadRequest",
            FaultKind::VersionMismatch => "VersionMismatch",
            FaultKind::MustUnderstand => "MustUnderstand",
        }
    }

    /// Local name of the SOAP 1.2 fault code (`soap:Code/soap:Value`).
    pub fn soap12_code(self) -> &'static str {
        match self {
            FaultKind::Security
            | FaultKind::MessageTooLarge
            | FaultKind::UnsupportedOperation
            | FaultKind::BadRequest => "Sender",
            FaultKind::Unknown => "Receiver",
            FaultKind::VersionMismatch => "VersionMismatch",
            FaultKind::MustUnderstand => "MustUnderstand",
        }
    }

    /// Local name of the SOAP 1.1 fault code (`faultcode`).
    pub fn soap11_code(self) -> &'static str {
        match self.soap12_code() {
            "Sender" => "Client",
            "Receiver" => "Server",
            other => other,
        }
    }

    /// Reason used when a [`Fault`] is built with an empty one.
    fn default_reason(self) -> &'static str {
        match self {
            FaultKind::Security => "The request was refused: the credentials are not valid.",
            FaultKind::MessageTooLarge => "The message is too large for this service.",
            FaultKind::UnsupportedOperation => "The requested operation is not supported.",
            FaultKind::Unknown => "The server could not process the request.",
            FaultKind::BadRequest => "The request could not be read.",
            FaultKind::VersionMismatch => {
                "The SOAP version of the request is not supported; use SOAP 1.2."
            }
            FaultKind::MustUnderstand => "A mandatory SOAP header block was not understood.",
        }
    }
}

/// Which HTTP status a SOAP fault travels with (`--fault-http-status`).
///
/// SOAP 1.2's HTTP binding allows 400 for a Sender fault, but .NET WCF reports a 400 as a bare
/// `ProtocolException` and never reads the fault in it; every client tried reads a fault sent
/// with 500, which is also what SOAP 1.1 prescribes. So 500 is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FaultStatus {
    /// HTTP 500 for every fault, SOAP 1.1 or 1.2.
    #[default]
    #[value(name = "500")]
    Always500,
    /// SOAP 1.2 Sender faults with 400, every other fault with 500 (the bindings' own choice).
    #[value(name = "spec")]
    Spec,
    /// HTTP 200 for every fault, for legacy clients that read no body from an error status.
    #[value(name = "200")]
    Ok200,
}

impl std::fmt::Display for FaultStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FaultStatus::Always500 => "500",
            FaultStatus::Spec => "spec",
            FaultStatus::Ok200 => "200",
        })
    }
}

/// A SOAP fault to send back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// `soap:Reason/soap:Text` (SOAP 1.2) or `faultstring` (SOAP 1.1): a full
    /// sentence. An empty reason is replaced by a default sentence.
    pub reason: String,
    /// Text of the CDC detail element's `Detail`. An empty detail is replaced
    /// by the reason.
    pub detail: String,
}

impl Fault {
    pub fn new(kind: FaultKind, reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Fault {
            kind,
            reason: reason.into(),
            detail: detail.into(),
        }
    }

    /// The fault to answer a request that could not be decoded:
    /// `VersionMismatch` and `MustUnderstand` map to the SOAP faults of the
    /// same name, an unknown operation to `UnsupportedOperation`, everything
    /// else to `BadRequest`. Reason and detail are the error's message.
    pub fn from_decode_error(err: &DecodeError) -> Self {
        let kind = match err {
            DecodeError::VersionMismatch => FaultKind::VersionMismatch,
            DecodeError::MustUnderstand { .. } => FaultKind::MustUnderstand,
            DecodeError::UnknownOperation { .. } => FaultKind::UnsupportedOperation,
            _ => FaultKind::BadRequest,
        };
        let message = err.to_string();
        Fault::new(kind, message.clone(), message)
    }

    /// HTTP status for this fault under `policy` (see [`FaultStatus`]).
    pub fn http_status(&self, version: SoapVersion, policy: FaultStatus) -> u16 {
        match policy {
            FaultStatus::Always500 => 500,
            FaultStatus::Ok200 => 200,
            // SOAP 1.2 HTTP binding: 400 for a Sender fault, 500 for any other. SOAP 1.1: 500.
            FaultStatus::Spec => match version {
                SoapVersion::V12 if self.kind.soap12_code() == "Sender" => 400,
                SoapVersion::V12 | SoapVersion::V11 => 500,
            },
        }
    }

    /// The whole fault envelope in the given SOAP version.
    pub fn encode(&self, version: SoapVersion) -> String {
        self.encode_with_header(version, "")
    }

    /// The whole fault envelope with `header` (a complete `soap:Header` element, or empty).
    pub fn encode_with_header(&self, version: SoapVersion, header: &str) -> String {
        self.encode_in(version, header, Contract::Cdc2011, None)
    }

    /// The whole fault envelope in `contract`'s fault elements. The 2014 contract's
    /// `MessageTooLargeFault` carries `Size` and `MaxSize` (`sizes`); its `SecurityFault` and
    /// `UnsupportedOperationFault` are empty; it has no element for any other fault, which then
    /// goes without a detail (the SOAP code and reason still say what happened).
    pub fn encode_in(
        &self,
        version: SoapVersion,
        header: &str,
        contract: Contract,
        sizes: Option<(usize, usize)>,
    ) -> String {
        let reason = if self.reason.trim().is_empty() {
            self.kind.default_reason()
        } else {
            self.reason.as_str()
        };
        let detail = if self.detail.trim().is_empty() {
            reason
        } else {
            self.detail.as_str()
        };
        let mut out = String::with_capacity(640 + header.len() + reason.len() + detail.len());
        open_envelope(&mut out, version, contract.namespace(), header);
        let detail_element = |out: &mut String| match contract {
            Contract::Cdc2011 => {
                self.push_detail_element(out, detail);
                true
            }
            Contract::Cdc2014 => self.push_detail_2014(out, sizes),
        };
        out.push_str("<soap:Fault>");
        match version {
            SoapVersion::V12 => {
                push_all(
                    &mut out,
                    &[
                        "<soap:Code><soap:Value>soap:",
                        self.kind.soap12_code(),
                        "</soap:Value></soap:Code>",
                        "<soap:Reason><soap:Text xml:lang=\"en\">",
                    ],
                );
                escape_into(&mut out, reason);
                out.push_str("</soap:Text></soap:Reason>");
                let mut d = String::new();
                if detail_element(&mut d) {
                    push_all(&mut out, &["<soap:Detail>", &d, "</soap:Detail>"]);
                }
            }
            SoapVersion::V11 => {
                push_all(
                    &mut out,
                    &[
                        "<faultcode>soap:",
                        self.kind.soap11_code(),
                        "</faultcode><faultstring>",
                    ],
                );
                escape_into(&mut out, reason);
                out.push_str("</faultstring>");
                let mut d = String::new();
                if detail_element(&mut d) {
                    push_all(&mut out, &["<detail>", &d, "</detail>"]);
                }
            }
        }
        out.push_str("</soap:Fault>");
        close_envelope(&mut out);
        out
    }

    /// The 2014 detail element, if the contract has one for this fault.
    fn push_detail_2014(&self, out: &mut String, sizes: Option<(usize, usize)>) -> bool {
        match self.kind {
            FaultKind::Security => out.push_str("<iis:SecurityFault/>"),
            FaultKind::UnsupportedOperation => out.push_str("<iis:UnsupportedOperationFault/>"),
            FaultKind::MessageTooLarge => {
                let (size, max) = sizes.unwrap_or((0, 0));
                out.push_str(&format!(
                    "<iis:MessageTooLargeFault><iis:Size>{size}</iis:Size>\
                     <iis:MaxSize>{max}</iis:MaxSize></iis:MessageTooLargeFault>"
                ));
            }
            _ => return false,
        }
        true
    }

    fn push_detail_element(&self, out: &mut String, detail: &str) {
        let element = self.kind.detail_element();
        push_all(out, &["<iis:", element, "><iis:Code>"]);
        out.push_str(&self.kind.detail_code().to_string());
        push_all(
            out,
            &[
                "</iis:Code><iis:Reason>",
                self.kind.detail_reason(),
                "</iis:Reason><iis:Detail>",
            ],
        );
        escape_into(out, detail);
        push_all(out, &["</iis:Detail></iis:", element, ">"]);
    }
}

/// `connectivityTestResponse` with `text` as its `return`.
pub fn connectivity_response(version: SoapVersion, text: &str) -> String {
    response(version, "", "connectivityTestResponse", text)
}

/// `submitSingleMessageResponse` with the HL7 acknowledgement or response
/// `hl7` as its `return`.
pub fn submit_response(version: SoapVersion, hl7: &str) -> String {
    response(version, "", "submitSingleMessageResponse", hl7)
}

/// A 2011 response: `element` (in the CDC namespace) holding `return` with `value`, after
/// `header` (a complete `soap:Header` element, or empty).
pub fn response(version: SoapVersion, header: &str, element: &str, value: &str) -> String {
    let mut out = String::with_capacity(320 + header.len() + value.len() + value.len() / 8);
    open_envelope(&mut out, version, CDC_2011_NS, header);
    push_all(&mut out, &["<iis:", element, "><iis:return>"]);
    escape_into(&mut out, value);
    push_all(&mut out, &["</iis:return></iis:", element, ">"]);
    close_envelope(&mut out);
    out
}

/// A 2014 response: `element` (in `urn:cdc:iisb:2014`) holding `child` with `value`, after
/// `header` (a complete `soap:Header` element, or empty).
pub fn response_2014(
    version: SoapVersion,
    header: &str,
    element: &str,
    child: &str,
    value: &str,
) -> String {
    let mut out = String::with_capacity(320 + header.len() + value.len() + value.len() / 8);
    open_envelope(&mut out, version, CDC_2014_NS, header);
    push_all(&mut out, &["<iis:", element, "><iis:", child, ">"]);
    escape_into(&mut out, value);
    push_all(&mut out, &["</iis:", child, "></iis:", element, ">"]);
    close_envelope(&mut out);
    out
}

fn open_envelope(out: &mut String, version: SoapVersion, iis_ns: &str, header: &str) {
    push_all(
        out,
        &[
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"",
            version.namespace(),
            "\" xmlns:iis=\"",
            iis_ns,
            "\">",
            header,
            "<soap:Body>",
        ],
    );
}

fn close_envelope(out: &mut String) {
    out.push_str("</soap:Body></soap:Envelope>");
}

fn push_all(out: &mut String, parts: &[&str]) {
    for part in parts {
        out.push_str(part);
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::{SOAP11_NS, SOAP12_NS};
    use super::*;
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;
    use quick_xml::NsReader;

    const KINDS: [FaultKind; 7] = [
        FaultKind::Security,
        FaultKind::MessageTooLarge,
        FaultKind::UnsupportedOperation,
        FaultKind::Unknown,
        FaultKind::BadRequest,
        FaultKind::VersionMismatch,
        FaultKind::MustUnderstand,
    ];

    /// One element of a parsed document: its path of `{ns}local` names, its
    /// attributes (`{ns}local` or `local`), and its text.
    #[derive(Debug)]
    struct Node {
        depth: usize,
        path: String,
        attrs: Vec<(String, String)>,
        text: String,
    }

    fn clark(ns: ResolveResult<'_>, local: &[u8]) -> String {
        let local = String::from_utf8(local.to_vec()).unwrap();
        match ns {
            ResolveResult::Bound(ns) => {
                format!("{{{}}}{local}", String::from_utf8(ns.0.to_vec()).unwrap())
            }
            ResolveResult::Unbound => local,
            ResolveResult::Unknown(p) => panic!("undeclared prefix {p:?}"),
        }
    }

    /// Parses a document strictly (well-formed, balanced, all references
    /// resolved) into a flat list of elements.
    fn parse(xml: &str) -> Vec<Node> {
        let mut reader = NsReader::from_str(xml);
        reader.config_mut().check_end_names = true;
        let mut nodes: Vec<Node> = Vec::new();
        let mut stack: Vec<usize> = Vec::new();
        let mut roots = 0;
        loop {
            let (ns, event) = reader.read_resolved_event().expect("well-formed");
            let empty = matches!(event, Event::Empty(_));
            match event {
                Event::Start(e) | Event::Empty(e) => {
                    let name = clark(ns, e.local_name().into_inner());
                    let parent = stack.last().map(|i| nodes[*i].path.clone());
                    if parent.is_none() {
                        roots += 1;
                    }
                    let mut attrs = Vec::new();
                    for a in e.attributes() {
                        let a = a.unwrap();
                        let (ans, alocal) = reader.resolve_attribute(a.key);
                        let value = a.unescape_value().unwrap().into_owned();
                        attrs.push((clark(ans, alocal.into_inner()), value));
                    }
                    nodes.push(Node {
                        depth: stack.len() + 1,
                        path: match parent {
                            Some(p) => format!("{p}/{name}"),
                            None => name,
                        },
                        attrs,
                        text: String::new(),
                    });
                    if !empty {
                        stack.push(nodes.len() - 1);
                    }
                }
                Event::End(_) => {
                    stack.pop().expect("balanced");
                }
                Event::Text(t) => {
                    let t = t.decode().unwrap();
                    match stack.last() {
                        Some(i) => nodes[*i].text.push_str(&t),
                        None => assert!(t.trim().is_empty()),
                    }
                }
                Event::GeneralRef(r) => {
                    let c = match r.resolve_char_ref().unwrap() {
                        Some(c) => c.to_string(),
                        None => quick_xml::escape::resolve_predefined_entity(&r.decode().unwrap())
                            .expect("predefined entity")
                            .to_string(),
                    };
                    nodes[*stack.last().expect("inside an element")]
                        .text
                        .push_str(&c);
                }
                Event::Decl(_) => {}
                Event::Eof => break,
                other => panic!("unexpected event {other:?}"),
            }
        }
        assert!(stack.is_empty(), "unclosed elements");
        assert_eq!(roots, 1);
        nodes
    }

    fn node<'a>(nodes: &'a [Node], path: &str) -> &'a Node {
        let found: Vec<&Node> = nodes.iter().filter(|n| n.path == path).collect();
        assert_eq!(found.len(), 1, "{path} in {nodes:#?}");
        found[0]
    }

    fn q(ns: &str, local: &str) -> String {
        format!("{{{ns}}}{local}")
    }

    #[test]
    fn faults_parse_back_soap12() {
        for kind in KINDS {
            let fault = Fault::new(
                kind,
                "Some reason & <why>\r\nsecond line.",
                "Detail \"d\"\r",
            );
            let xml = fault.encode(SoapVersion::V12);
            let nodes = parse(&xml);
            let env = |l: &str| q(SOAP12_NS, l);
            let base = format!("{}/{}/{}", env("Envelope"), env("Body"), env("Fault"));
            let value = node(&nodes, &format!("{base}/{}/{}", env("Code"), env("Value")));
            assert_eq!(value.text, format!("soap:{}", kind.soap12_code()));
            let text = node(&nodes, &format!("{base}/{}/{}", env("Reason"), env("Text")));
            assert_eq!(text.text, "Some reason & <why>\r\nsecond line.");
            assert_eq!(
                text.attrs,
                vec![(
                    q("http://www.w3.org/XML/1998/namespace", "lang"),
                    "en".to_string()
                )]
            );
            let detail = format!(
                "{base}/{}/{}",
                env("Detail"),
                q(CDC_2011_NS, kind.detail_element())
            );
            node(&nodes, &detail);
            let child = |l: &str| {
                node(&nodes, &format!("{detail}/{}", q(CDC_2011_NS, l)))
                    .text
                    .clone()
            };
            assert_eq!(child("Code"), kind.detail_code().to_string());
            assert_eq!(child("Reason"), kind.detail_reason());
            assert_eq!(child("Detail"), "Detail \"d\"\r");
            // Fault holds exactly Code, Reason, Detail.
            let children: Vec<&str> = nodes
                .iter()
                .filter(|n| n.depth == 4)
                .filter_map(|n| n.path.strip_prefix(&base))
                .collect();
            let expected: Vec<String> = ["Code", "Reason", "Detail"]
                .iter()
                .map(|l| format!("/{}", env(l)))
                .collect();
            assert_eq!(children, expected);
            assert!(xml.contains(&format!("xmlns:soap=\"{SOAP12_NS}\"")));
        }
    }

    #[test]
    fn faults_parse_back_soap11() {
        for kind in KINDS {
            let fault = Fault::new(kind, "Reason.", "Detail.");
            let xml = fault.encode(SoapVersion::V11);
            let nodes = parse(&xml);
            let env = |l: &str| q(SOAP11_NS, l);
            let base = format!("{}/{}/{}", env("Envelope"), env("Body"), env("Fault"));
            assert_eq!(
                node(&nodes, &format!("{base}/faultcode")).text,
                format!("soap:{}", kind.soap11_code())
            );
            assert_eq!(node(&nodes, &format!("{base}/faultstring")).text, "Reason.");
            let detail = format!("{base}/detail/{}", q(CDC_2011_NS, kind.detail_element()));
            let child = |l: &str| {
                node(&nodes, &format!("{detail}/{}", q(CDC_2011_NS, l)))
                    .text
                    .clone()
            };
            assert_eq!(child("Code"), kind.detail_code().to_string());
            assert_eq!(child("Reason"), kind.detail_reason());
            assert_eq!(child("Detail"), "Detail.");
            assert!(xml.contains(&format!("xmlns:soap=\"{SOAP11_NS}\"")));
        }
    }

    #[test]
    fn fault_codes_and_details() {
        let table = [
            (
                FaultKind::Security,
                "SecurityFault",
                10,
                "Security",
                "Sender",
                "Client",
            ),
            (
                FaultKind::MessageTooLarge,
                "MessageTooLargeFault",
                1313,
                "MessageTooLarge",
                "Sender",
                "Client",
            ),
            (
                FaultKind::UnsupportedOperation,
                "UnsupportedOperationFault",
                8675309,
                "UnsupportedOperation",
                "Sender",
                "Client",
            ),
            (
                FaultKind::Unknown,
                "fault",
                54353,
                "UnknownFault",
                "Receiver",
                "Server",
            ),
            (
                FaultKind::BadRequest,
                "fault",
                400,
                "BadRequest",
                "Sender",
                "Client",
            ),
            (
                FaultKind::VersionMismatch,
                "fault",
                54353,
                "VersionMismatch",
                "VersionMismatch",
                "VersionMismatch",
            ),
            (
                FaultKind::MustUnderstand,
                "fault",
                54353,
                "MustUnderstand",
                "MustUnderstand",
                "MustUnderstand",
            ),
        ];
        for (kind, element, code, reason, c12, c11) in table {
            assert_eq!(kind.detail_element(), element);
            assert_eq!(kind.detail_code(), code);
            assert_eq!(kind.detail_reason(), reason);
            assert_eq!(kind.soap12_code(), c12);
            assert_eq!(kind.soap11_code(), c11);
        }
    }

    #[test]
    fn faults_in_the_2014_contract() {
        const NS14: &str = "urn:cdc:iisb:2014";
        let detail_of = |kind, sizes| {
            let xml = Fault::new(kind, "r", "d").encode_in(
                SoapVersion::V12,
                "",
                Contract::Cdc2014,
                sizes,
            );
            parse(&xml)
                .into_iter()
                .filter(|n| n.path.contains("}Detail/"))
                .map(|n| (n.path.rsplit('/').next().unwrap().to_string(), n.text))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            detail_of(FaultKind::Security, None),
            vec![(format!("{{{NS14}}}SecurityFault"), String::new())]
        );
        assert_eq!(
            detail_of(FaultKind::MessageTooLarge, Some((70_000, 65_536))),
            vec![
                (format!("{{{NS14}}}MessageTooLargeFault"), String::new()),
                (format!("{{{NS14}}}Size"), "70000".to_string()),
                (format!("{{{NS14}}}MaxSize"), "65536".to_string()),
            ]
        );
        // The 2014 contract has no element for an unknown or malformed-request fault.
        assert!(detail_of(FaultKind::BadRequest, None).is_empty());
        let xml = Fault::new(FaultKind::Unknown, "r", "d").encode_in(
            SoapVersion::V11,
            "",
            Contract::Cdc2014,
            None,
        );
        assert!(!xml.contains("detail"), "{xml}");
        parse(&xml);
    }

    #[test]
    fn http_statuses() {
        let spec = |kind, v| Fault::new(kind, "r", "d").http_status(v, FaultStatus::Spec);
        for kind in [
            FaultKind::Security,
            FaultKind::MessageTooLarge,
            FaultKind::UnsupportedOperation,
            FaultKind::BadRequest,
        ] {
            assert_eq!(spec(kind, SoapVersion::V12), 400);
        }
        for kind in [
            FaultKind::Unknown,
            FaultKind::VersionMismatch,
            FaultKind::MustUnderstand,
        ] {
            assert_eq!(spec(kind, SoapVersion::V12), 500);
        }
        for kind in KINDS {
            assert_eq!(spec(kind, SoapVersion::V11), 500);
            for v in [SoapVersion::V11, SoapVersion::V12] {
                let fault = Fault::new(kind, "r", "d");
                assert_eq!(fault.http_status(v, FaultStatus::Always500), 500);
                assert_eq!(fault.http_status(v, FaultStatus::Ok200), 200);
                assert_eq!(fault.http_status(v, FaultStatus::default()), 500);
            }
        }
    }

    #[test]
    fn empty_reason_and_detail_get_defaults() {
        let xml = Fault::new(FaultKind::Security, "  ", "").encode(SoapVersion::V12);
        let nodes = parse(&xml);
        let text = nodes.iter().find(|n| n.path.ends_with("}Text")).unwrap();
        assert!(text.text.ends_with('.') && text.text.len() > 10);
        let detail = nodes
            .iter()
            .find(|n| n.path.ends_with("SecurityFault/{urn:cdc:iisb:2011}Detail"))
            .unwrap();
        assert_eq!(detail.text, text.text);
    }

    #[test]
    fn from_decode_errors() {
        let cases = [
            (DecodeError::VersionMismatch, FaultKind::VersionMismatch),
            (
                DecodeError::MustUnderstand { offset: 10 },
                FaultKind::MustUnderstand,
            ),
            (
                DecodeError::UnknownOperation { offset: 10 },
                FaultKind::UnsupportedOperation,
            ),
            (DecodeError::Dtd, FaultKind::BadRequest),
            (
                DecodeError::MissingElement("hl7Message"),
                FaultKind::BadRequest,
            ),
            (DecodeError::NotUtf8, FaultKind::BadRequest),
        ];
        for (err, kind) in cases {
            let fault = Fault::from_decode_error(&err);
            assert_eq!(fault.kind, kind);
            assert_eq!(fault.reason, err.to_string());
            parse(&fault.encode(SoapVersion::V12));
            parse(&fault.encode(SoapVersion::V11));
        }
    }

    #[test]
    fn responses_escape_text() {
        let hl7 =
            "MSH|^~\\&|IIS|IIS|EHR|FAC|20240101||ACK^V04^ACK|A1|P|2.5.1\rMSA|AA|M1\r<x>\n\t\"'";
        for version in [SoapVersion::V12, SoapVersion::V11] {
            let xml = submit_response(version, hl7);
            assert!(xml.contains("MSH|^~\\&amp;|IIS"));
            assert!(xml.contains("2.5.1&#xD;MSA|AA|M1&#xD;&lt;x&gt;&#xA;&#x9;&quot;'"));
            assert!(!xml.contains('\r'));
            let nodes = parse(&xml);
            let env = |l: &str| q(version.namespace(), l);
            let ret = node(
                &nodes,
                &format!(
                    "{}/{}/{}/{}",
                    env("Envelope"),
                    env("Body"),
                    q(CDC_2011_NS, "submitSingleMessageResponse"),
                    q(CDC_2011_NS, "return")
                ),
            );
            assert_eq!(ret.text, hl7);

            let xml = connectivity_response(version, "End-point is ready. Echoing: a+b=c & <d>\r");
            let nodes = parse(&xml);
            let ret = node(
                &nodes,
                &format!(
                    "{}/{}/{}/{}",
                    env("Envelope"),
                    env("Body"),
                    q(CDC_2011_NS, "connectivityTestResponse"),
                    q(CDC_2011_NS, "return")
                ),
            );
            assert_eq!(ret.text, "End-point is ready. Echoing: a+b=c & <d>\r");
        }
        assert!(connectivity_response(SoapVersion::V12, "").contains("<iis:return></iis:return>"));
    }

    #[test]
    fn control_characters_never_break_the_document() {
        // Control characters from an HL7 layer never break the document.
        parse(&submit_response(SoapVersion::V12, "\u{B}MSH|\u{1C}\r"));
    }
}
