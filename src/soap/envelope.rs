//! Decoding of incoming SOAP requests for the CDC IIS web-service contract
//! (`urn:cdc:iisb:2011`).
//!
//! The decoder is a single forward pass over a quick-xml [`NsReader`]. It
//! keeps an explicit stack of open elements (never recursion), so memory is
//! bounded by the input size plus [`MAX_DEPTH`] frames.
//!
//! Routing uses only resolved namespace URIs and local names. Prefixes, the
//! SOAPAction header and the `action` parameter of the content type play no
//! part.
//!
//! Security:
//! * Any document type declaration is refused ([`DecodeError::Dtd`]). The
//!   check runs before the parser reads past `<!DOCTYPE`, so no DTD, entity
//!   declaration or external entity is processed.
//! * Only the five predefined entities and numeric character references are
//!   resolved. Any other entity reference is an error.
//! * Characters that XML 1.0 cannot carry are refused, whether literal or
//!   written as character references.
//!
//! Leniency:
//! * Both SOAP 1.1 and SOAP 1.2 envelopes are accepted. The version of the
//!   request is the namespace of its `Envelope`.
//! * Operation children may be qualified with the CDC namespace or unqualified
//!   (some clients get `elementFormDefault` wrong), and may come in any order.
//! * Header blocks are ignored unless they are marked `mustUnderstand` and are
//!   aimed at this node. WS-Addressing blocks are accepted even then, and the
//!   ones a reply depends on (MessageID, Action, ReplyTo, FaultTo) are kept in
//!   [`Request::addressing`].
//! * Attributes other than `xsi:nil` on operation children (for example
//!   `xsi:type`) are ignored.
//!
//! Field values are kept exactly as sent. Nothing is trimmed, and literal CR,
//! CRLF and LF line ends are left alone (the HL7 layer normalises them).
//! `&#xD;` and `&#13;` become a real CR.

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::wire::{
    is_xml_char, CDC_2011_NS, CDC_2014_NS, CDC_HUB_NS, CONNECTIVITY_TEST, SOAP11_NS, SOAP12_NS,
    SUBMIT_SINGLE_MESSAGE,
};

/// XML Schema instance namespace (for `xsi:nil`).
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// WS-Addressing 1.0 namespace.
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
/// WS-Addressing 2004/08 (member submission) namespace.
pub const WSA_2004_NS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
/// The deepest element nesting the decoder accepts (the `Envelope` is level 1).
pub const MAX_DEPTH: usize = 32;
/// The most attributes one element may carry (namespace declarations included).
pub const MAX_ATTRIBUTES_PER_ELEMENT: usize = 64;
/// The most attributes in a whole request (namespace declarations included).
pub const MAX_ATTRIBUTES: usize = 1024;
/// The most namespace declarations (`xmlns`, `xmlns:p`) one element may carry.
pub const MAX_NAMESPACES_PER_ELEMENT: usize = 32;
/// The most namespace declarations in a whole request.
pub const MAX_NAMESPACES: usize = 128;
/// The most elements in a whole request (a CDC request has about ten).
pub const MAX_ELEMENTS: usize = 4096;

/// SOAP 1.2 roles that address this node (the ultimate receiver).
const SOAP12_ROLE_NEXT: &str = "http://www.w3.org/2003/05/soap-envelope/role/next";
const SOAP12_ROLE_ULTIMATE: &str = "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver";
/// SOAP 1.1 actor that addresses this node.
const SOAP11_ACTOR_NEXT: &str = "http://schemas.xmlsoap.org/soap/actor/next";

/// The SOAP version of a request, taken from the namespace of its `Envelope`.
/// A response or fault is written in the version of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoapVersion {
    /// SOAP 1.1 (`http://schemas.xmlsoap.org/soap/envelope/`).
    V11,
    /// SOAP 1.2 (`http://www.w3.org/2003/05/soap-envelope`), the version the
    /// CDC contract specifies.
    V12,
}

impl SoapVersion {
    /// Content-Type of a response in this version.
    pub fn content_type(self) -> &'static str {
        match self {
            SoapVersion::V12 => "application/soap+xml; charset=utf-8",
            SoapVersion::V11 => "text/xml; charset=utf-8",
        }
    }

    /// Envelope namespace of this version.
    pub fn namespace(self) -> &'static str {
        match self {
            SoapVersion::V12 => SOAP12_NS,
            SoapVersion::V11 => SOAP11_NS,
        }
    }
}

/// A decoded operation of the CDC 2011 contract.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// `connectivityTest`. `echo_back` is `None` when `echoBack` is absent or
    /// `xsi:nil`.
    ConnectivityTest { echo_back: Option<String> },
    /// `submitSingleMessage`. Credentials are `None` when absent or `xsi:nil`.
    /// `hl7_message` is never empty or whitespace only.
    SubmitSingleMessage {
        username: Option<String>,
        password: Option<String>,
        facility_id: Option<String>,
        hl7_message: String,
    },
}

impl Operation {
    /// Local name of the operation element, as in the WSDL.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::ConnectivityTest { .. } => OpKind::ConnectivityTest.name(),
            Operation::SubmitSingleMessage { .. } => OpKind::SubmitSingleMessage.name(),
        }
    }
}

/// Which CDC contract a request's body element belongs to; the reply is written in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Contract {
    /// `urn:cdc:iisb:2011`: `connectivityTest`, `submitSingleMessage`.
    #[default]
    Cdc2011,
    /// `urn:cdc:iisb:2014`: `ConnectivityTestRequest`, `SubmitSingleMessageRequest`.
    Cdc2014,
}

impl Contract {
    pub fn namespace(self) -> &'static str {
        match self {
            Contract::Cdc2011 => CDC_2011_NS,
            Contract::Cdc2014 => CDC_2014_NS,
        }
    }
}

/// IZ Gateway's `HubRequestHeader` (namespace `urn:cdc:iisb:hub:2014`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HubHeader {
    pub destination_id: Option<String>,
}

/// A decoded SOAP request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub version: SoapVersion,
    pub operation: Operation,
    pub contract: Contract,
    /// The hub header, when IZ Gateway sent one.
    pub hub: Option<HubHeader>,
    /// The request's WS-Addressing headers, when it has any.
    pub addressing: Option<Addressing>,
}

/// The WS-Addressing headers of a request that a reply depends on. Values are trimmed (they
/// are URIs). When a request mixes the two addressing namespaces, the first one seen counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Addressing {
    /// [`WSA_NS`] or [`WSA_2004_NS`]: the reply's headers are written in it.
    pub namespace: &'static str,
    pub message_id: Option<String>,
    pub action: Option<String>,
    /// `wsa:ReplyTo/wsa:Address`.
    pub reply_to: Option<String>,
    /// `wsa:FaultTo/wsa:Address`.
    pub fault_to: Option<String>,
}

impl Addressing {
    /// The first of ReplyTo and FaultTo that names an address this service cannot answer at
    /// (anything but the anonymous address, which means "on this connection", or none).
    pub fn non_anonymous(&self) -> Option<(&'static str, &str)> {
        let anonymous = |a: &str| {
            matches!(
                a,
                "http://www.w3.org/2005/08/addressing/anonymous"
                    | "http://www.w3.org/2005/08/addressing/none"
                    | "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
            )
        };
        [("ReplyTo", &self.reply_to), ("FaultTo", &self.fault_to)]
            .into_iter()
            .find_map(|(name, a)| a.as_deref().filter(|a| !anonymous(a)).map(|a| (name, a)))
    }
}

/// The WS-Addressing header values the decoder keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WsaField {
    MessageId,
    Action,
    ReplyTo,
    FaultTo,
    /// `HubRequestHeader/DestinationId` (not WS-Addressing, kept the same way).
    HubDestination,
}

/// The longest WS-Addressing value kept; a longer one is clipped (it is only echoed back).
const MAX_WSA_VALUE: usize = 2048;

/// Why a request could not be decoded.
///
/// Each message is a sentence that can be shown to the sender. The only
/// request content it quotes is element names (and the envelope or operation
/// namespace or an entity name), clipped to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body is in none of the encodings read (UTF-8, UTF-16, ISO-8859-1, US-ASCII), is
    /// not valid in the one it claims, or its declaration names another.
    #[error(
        "The request's character encoding cannot be read; this service reads UTF-8, UTF-16, ISO-8859-1 and US-ASCII."
    )]
    NotUtf8,
    /// The body is not well-formed XML.
    #[error("The request is not well-formed XML: {0}.")]
    Malformed(String),
    /// The body contains a character XML 1.0 does not allow.
    #[error("The request contains a character that XML 1.0 does not allow (at byte {offset}).")]
    IllegalCharacter { offset: usize },
    /// The body contains only whitespace, comments or an XML declaration.
    #[error("The request contains no XML element; a SOAP Envelope was expected.")]
    Empty,
    /// The body contains a document type declaration.
    #[error(
        "The request contains a document type declaration (DOCTYPE); DTDs and entity declarations are not allowed."
    )]
    Dtd,
    /// An entity reference other than the predefined ones; `offset` is where it was read (the
    /// name is not repeated: a fault never quotes the request).
    #[error(
        "The request uses an undefined entity reference (near byte {offset}); only amp, lt, gt, apos, quot and numeric character references are allowed."
    )]
    UndefinedEntity { offset: usize },
    /// The root element is not an `Envelope`.
    #[error(
        "The request is not a SOAP message: the root element must be a SOAP 1.2 (or SOAP 1.1) Envelope."
    )]
    NotAnEnvelope,
    /// The root element is an `Envelope` in a namespace that is not SOAP 1.1
    /// or 1.2 (or in none).
    #[error(
        "The Envelope element is not in a SOAP namespace; use the SOAP 1.2 namespace {SOAP12_NS}."
    )]
    VersionMismatch,
    /// The envelope has no `Body`.
    #[error("The SOAP Envelope has no Body element.")]
    NoBody,
    /// The `Body` does not hold exactly one element.
    #[error("The SOAP Body must contain exactly one element, the operation to perform.")]
    BodyNotSingle,
    /// A header block aimed at this node is marked `mustUnderstand`; `offset` is where the
    /// block ends its start tag.
    #[error(
        "The SOAP header block near byte {offset} is marked mustUnderstand, but this service does not understand it."
    )]
    MustUnderstand { offset: usize },
    /// The Body's element is not an operation of the CDC 2011 contract.
    #[error(
        "The operation in the SOAP Body (near byte {offset}) is not supported; this service supports connectivityTest and submitSingleMessage in namespace {CDC_2011_NS}, and ConnectivityTestRequest and SubmitSingleMessageRequest in namespace {CDC_2014_NS}."
    )]
    UnknownOperation { offset: usize },
    /// A required element is absent, `xsi:nil`, or empty.
    #[error("The required element {0} is missing, empty or nil.")]
    MissingElement(&'static str),
    /// An element appears more than once.
    #[error("The element {0} appears more than once.")]
    DuplicateElement(String),
    /// An element is not allowed where it appears: inside `parent` (one of the
    /// service's own element names), its start tag ending near byte `offset`.
    #[error("The element inside {parent} near byte {offset} is not allowed there.")]
    UnexpectedElement { parent: &'static str, offset: usize },
    /// Non-whitespace text appears where only elements are allowed. The value
    /// is the name of the enclosing element.
    #[error("The element {0} must contain only elements, not text.")]
    UnexpectedText(String),
    /// More attributes, namespace declarations or elements than the limits allow
    /// ([`MAX_ATTRIBUTES_PER_ELEMENT`], [`MAX_ATTRIBUTES`], [`MAX_NAMESPACES_PER_ELEMENT`],
    /// [`MAX_NAMESPACES`], [`MAX_ELEMENTS`]): counted as each start tag is read, so the cost of
    /// a request stays linear in its size.
    #[error(
        "The request has more {what} than this service accepts (near byte {offset}); the limits are {MAX_ATTRIBUTES_PER_ELEMENT} attributes and {MAX_NAMESPACES_PER_ELEMENT} namespace declarations per element, {MAX_ATTRIBUTES} attributes, {MAX_NAMESPACES} namespace declarations and {MAX_ELEMENTS} elements per request."
    )]
    TooMany { what: &'static str, offset: usize },
    /// Elements are nested deeper than [`MAX_DEPTH`].
    #[error("The request nests elements deeper than 32 levels, the most this service accepts.")]
    TooDeep,
}

impl DecodeError {
    /// Whether this is about what a well-formed document holds (its elements and their
    /// places), rather than about the XML itself. Only these are worth a second look at the
    /// document's well-formedness.
    fn is_about_content(&self) -> bool {
        matches!(
            self,
            DecodeError::NotAnEnvelope
                | DecodeError::VersionMismatch
                | DecodeError::NoBody
                | DecodeError::BodyNotSingle
                | DecodeError::MustUnderstand { .. }
                | DecodeError::UnknownOperation { .. }
                | DecodeError::MissingElement(_)
                | DecodeError::DuplicateElement(_)
                | DecodeError::UnexpectedElement { .. }
                | DecodeError::UnexpectedText(_)
        )
    }
}

/// Decodes a SOAP request body.
///
/// Never panics. Returns the first problem found; a request is only accepted
/// once the whole document has been read and found well-formed.
pub fn decode(body: &[u8]) -> Result<Request, DecodeError> {
    let (text, source, bom_len) = transcode(body)?;
    let text: &str = &text;
    if let Some((offset, _)) = text.char_indices().find(|(_, c)| !is_xml_char(*c)) {
        return Err(DecodeError::IllegalCharacter {
            offset: offset + bom_len,
        });
    }
    // A cheap bound first (the standard library's substring search): a request with more
    // occurrences of `xmlns` than declarations allowed is refused before the reader binds any.
    if let Some((offset, _)) = text.match_indices("xmlns").nth(MAX_NAMESPACES) {
        return Err(DecodeError::TooMany {
            what: "namespace declarations",
            offset: offset + bom_len,
        });
    }
    match Parser::new(text, bom_len, source).run() {
        // The decoder stops at the first element it cannot use. A body that is not well-formed
        // XML further on is a malformed request all the same, whatever came first.
        Err(e) if e.is_about_content() => Err(well_formedness_problem(text, bom_len).unwrap_or(e)),
        other => other,
    }
}

/// The character encodings a request may come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Utf8,
    Utf16,
    Latin1,
    Ascii,
}

impl Source {
    /// Whether an XML declaration naming `name` fits a document read as this encoding.
    fn declared_as(self, name: &[u8]) -> bool {
        let name = name.to_ascii_lowercase();
        let names: &[&[u8]] = match self {
            Source::Utf8 => &[b"utf-8", b"utf8"],
            Source::Utf16 => &[b"utf-16", b"utf-16le", b"utf-16be", b"utf16"],
            Source::Latin1 => &[b"iso-8859-1", b"iso8859-1", b"iso_8859-1", b"latin1", b"l1"],
            Source::Ascii => &[b"us-ascii", b"ascii"],
        };
        names.contains(&name.as_slice())
    }
}

/// The encoding named by the XML declaration at the start of an ASCII-compatible document.
fn declared_encoding(bytes: &[u8]) -> Option<&[u8]> {
    let decl = bytes.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).take(512).position(|w| w == b"?>")?;
    let decl = &decl[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = decl[at + 8..].trim_ascii_start().strip_prefix(b"=")?;
    let rest = rest.trim_ascii_start();
    let quote = *rest.first().filter(|q| matches!(q, b'"' | b'\''))?;
    let value = &rest[1..];
    let close = value.iter().position(|b| *b == quote)?;
    Some(&value[..close])
}

/// The body as text: UTF-8 (with or without a byte order mark), UTF-16 (a byte order mark, or
/// none and the `<?` of a declaration), or a declaration naming ISO-8859-1 or US-ASCII. Also
/// the encoding it was read as and the length of a byte order mark skipped.
fn transcode(body: &[u8]) -> Result<(std::borrow::Cow<'_, str>, Source, usize), DecodeError> {
    use std::borrow::Cow;
    let utf16 = |bytes: &[u8], little: bool| -> Result<String, DecodeError> {
        if bytes.len() % 2 != 0 {
            return Err(DecodeError::NotUtf8);
        }
        let units = bytes.chunks_exact(2).map(|p| {
            if little {
                u16::from_le_bytes([p[0], p[1]])
            } else {
                u16::from_be_bytes([p[0], p[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| DecodeError::NotUtf8)
    };
    if let Some(rest) = body.strip_prefix(b"\xEF\xBB\xBF") {
        let text = std::str::from_utf8(rest).map_err(|_| DecodeError::NotUtf8)?;
        return Ok((Cow::Borrowed(text), Source::Utf8, 3));
    }
    if let Some(rest) = body.strip_prefix(b"\xFF\xFE") {
        return Ok((Cow::Owned(utf16(rest, true)?), Source::Utf16, 2));
    }
    if let Some(rest) = body.strip_prefix(b"\xFE\xFF") {
        return Ok((Cow::Owned(utf16(rest, false)?), Source::Utf16, 2));
    }
    // XML autodetection (Appendix F) without a byte order mark: `<?` in UTF-16.
    if body.starts_with(b"<\0?\0") {
        return Ok((Cow::Owned(utf16(body, true)?), Source::Utf16, 0));
    }
    if body.starts_with(b"\0<\0?") {
        return Ok((Cow::Owned(utf16(body, false)?), Source::Utf16, 0));
    }
    // Any other zero byte among the first four: UTF-32 or garbage.
    if body.iter().take(4).any(|b| *b == 0) {
        return Err(DecodeError::NotUtf8);
    }
    match declared_encoding(body) {
        Some(name) if Source::Latin1.declared_as(name) => Ok((
            Cow::Owned(body.iter().map(|b| char::from(*b)).collect()),
            Source::Latin1,
            0,
        )),
        Some(name) if Source::Ascii.declared_as(name) => {
            if !body.is_ascii() {
                return Err(DecodeError::NotUtf8);
            }
            let text = std::str::from_utf8(body).map_err(|_| DecodeError::NotUtf8)?;
            Ok((Cow::Borrowed(text), Source::Ascii, 0))
        }
        _ => {
            let text = std::str::from_utf8(body).map_err(|_| DecodeError::NotUtf8)?;
            Ok((Cow::Borrowed(text), Source::Utf8, 0))
        }
    }
}

/// The first well-formedness problem of a whole document (a UTF-8 text already checked for
/// illegal characters), or `None` when it is well-formed. A DOCTYPE ends the check without a
/// verdict: the decoder refuses DTDs before reading them, and so does this.
fn well_formedness_problem(text: &str, bom_len: usize) -> Option<DecodeError> {
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.allow_unmatched_ends = false;
    config.allow_dangling_amp = false;
    config.trim_text(false);
    let at = |reader: &NsReader<&[u8]>| {
        usize::try_from(reader.error_position())
            .unwrap_or(usize::MAX)
            .saturating_add(bom_len)
    };
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        if depth == 0 && doctype_ahead(text, reader.buffer_position()) {
            return None;
        }
        let (ns, event) = match reader.read_resolved_event() {
            Ok(pair) => pair,
            Err(err) => {
                return Some(DecodeError::Malformed(format!(
                    "{} (at byte {})",
                    xml_problem(&err),
                    at(&reader)
                )))
            }
        };
        if let ResolveResult::Unknown(prefix) = ns {
            return Some(undeclared_prefix(&prefix));
        }
        match event {
            Event::Start(start) => {
                if depth == 0 {
                    roots += 1;
                }
                if let Err(e) = read_attrs(&reader, &start, None, at(&reader)) {
                    return Some(e);
                }
                depth += 1;
            }
            Event::Empty(start) => {
                if depth == 0 {
                    roots += 1;
                }
                if let Err(e) = read_attrs(&reader, &start, None, at(&reader)) {
                    return Some(e);
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t)
                if depth == 0 && !t.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) =>
            {
                return Some(DecodeError::Malformed(
                    "text appears outside the root element".to_string(),
                ));
            }
            Event::CData(_) if depth == 0 => {
                return Some(DecodeError::Malformed(
                    "a CDATA section appears outside the root element".to_string(),
                ))
            }
            Event::GeneralRef(reference) => {
                if depth == 0 {
                    return Some(DecodeError::Malformed(
                        "a reference appears outside the root element".to_string(),
                    ));
                }
                if let Err(e) = resolve_reference(&reference, at(&reader)) {
                    return Some(e);
                }
            }
            Event::Eof => {
                return if depth > 0 {
                    Some(DecodeError::Malformed(
                        "the document ends before every element is closed".to_string(),
                    ))
                } else if roots > 1 {
                    Some(DecodeError::Malformed(
                        "the document has more than one root element".to_string(),
                    ))
                } else {
                    None
                };
            }
            _ => {}
        }
        if roots > 1 {
            return Some(DecodeError::Malformed(
                "the document has more than one root element".to_string(),
            ));
        }
    }
}

/// The SOAP version of a request body, judged from its root element alone:
/// `Some` when the root is an `Envelope` in the SOAP 1.1 or 1.2 namespace.
///
/// Meant for answering a request that [`decode`] refused in the version the
/// sender used. Reads only the prolog and the root start tag, and gives `None`
/// for anything it cannot judge safely (not UTF-8, a DOCTYPE, malformed XML).
pub fn envelope_version(body: &[u8]) -> Option<SoapVersion> {
    let (text, _, _) = transcode(body).ok()?;
    let text: &str = &text;
    // Too many declarations to bind cheaply: not judged (see `decode`).
    if text.match_indices("xmlns").nth(MAX_NAMESPACES).is_some() {
        return None;
    }
    let mut reader = NsReader::from_str(text);
    loop {
        if doctype_ahead(text, reader.buffer_position()) {
            return None;
        }
        match reader.read_resolved_event().ok()? {
            (ns, Event::Start(e) | Event::Empty(e)) => {
                if e.local_name().into_inner() != b"Envelope" {
                    return None;
                }
                return match ns {
                    ResolveResult::Bound(ns) if ns.into_inner() == SOAP12_NS.as_bytes() => {
                        Some(SoapVersion::V12)
                    }
                    ResolveResult::Bound(ns) if ns.into_inner() == SOAP11_NS.as_bytes() => {
                        Some(SoapVersion::V11)
                    }
                    _ => None,
                };
            }
            (_, Event::Decl(_) | Event::Comment(_) | Event::PI(_)) => {}
            (_, Event::Text(t)) if t.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) => {}
            _ => return None,
        }
    }
}

/// Whether the next markup after `position` (skipping whitespace) is a
/// document type declaration. Checked before the parser reads it.
fn doctype_ahead(text: &str, position: u64) -> bool {
    let Ok(position) = usize::try_from(position) else {
        return false;
    };
    let rest = text.as_bytes().get(position..).unwrap_or(&[]);
    let start = rest
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(rest.len());
    rest.get(start..start + 9)
        .is_some_and(|a| a.eq_ignore_ascii_case(b"<!DOCTYPE"))
}

/// The two operations of the CDC 2011 contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    ConnectivityTest,
    SubmitSingleMessage,
}

impl OpKind {
    fn name(self) -> &'static str {
        match self {
            OpKind::ConnectivityTest => CONNECTIVITY_TEST,
            OpKind::SubmitSingleMessage => SUBMIT_SINGLE_MESSAGE,
        }
    }

    fn field(self, contract: Contract, local: &str) -> Option<Field> {
        if contract == Contract::Cdc2014 {
            return match (self, local) {
                (OpKind::ConnectivityTest, "EchoBack") => Some(Field::EchoBack),
                (OpKind::SubmitSingleMessage, "Username") => Some(Field::Username),
                (OpKind::SubmitSingleMessage, "Password") => Some(Field::Password),
                (OpKind::SubmitSingleMessage, "FacilityID") => Some(Field::FacilityId),
                (OpKind::SubmitSingleMessage, "Hl7Message") => Some(Field::Hl7Message),
                _ => None,
            };
        }
        match (self, local) {
            (OpKind::ConnectivityTest, "echoBack") => Some(Field::EchoBack),
            (OpKind::SubmitSingleMessage, "username") => Some(Field::Username),
            (OpKind::SubmitSingleMessage, "password") => Some(Field::Password),
            (OpKind::SubmitSingleMessage, "facilityID") => Some(Field::FacilityId),
            (OpKind::SubmitSingleMessage, "hl7Message") => Some(Field::Hl7Message),
            _ => None,
        }
    }
}

/// Children of the operation elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    EchoBack,
    Username,
    Password,
    FacilityId,
    Hl7Message,
}

const FIELD_COUNT: usize = 5;

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::EchoBack => "echoBack",
            Field::Username => "username",
            Field::Password => "password",
            Field::FacilityId => "facilityID",
            Field::Hl7Message => "hl7Message",
        }
    }

    fn index(self) -> usize {
        match self {
            Field::EchoBack => 0,
            Field::Username => 1,
            Field::Password => 2,
            Field::FacilityId => 3,
            Field::Hl7Message => 4,
        }
    }
}

/// An operation element being read.
#[derive(Debug)]
struct OpState {
    kind: OpKind,
    contract: Contract,
    /// Outer `None`: not seen. `Some(None)`: seen with `xsi:nil`.
    values: [Option<Option<String>>; FIELD_COUNT],
}

impl OpState {
    fn new(kind: OpKind, contract: Contract) -> Self {
        OpState {
            kind,
            contract,
            values: Default::default(),
        }
    }

    fn take(&mut self, field: Field) -> Option<String> {
        self.values[field.index()].take().flatten()
    }

    fn finish(mut self) -> Result<Operation, DecodeError> {
        match self.kind {
            OpKind::ConnectivityTest => Ok(Operation::ConnectivityTest {
                echo_back: self.take(Field::EchoBack),
            }),
            OpKind::SubmitSingleMessage => {
                let hl7_message = match self.take(Field::Hl7Message) {
                    Some(m) if !is_xml_whitespace(&m) => m,
                    _ => return Err(DecodeError::MissingElement(Field::Hl7Message.name())),
                };
                Ok(Operation::SubmitSingleMessage {
                    username: self.take(Field::Username),
                    password: self.take(Field::Password),
                    facility_id: self.take(Field::FacilityId),
                    hl7_message,
                })
            }
        }
    }
}

/// A text field being read.
#[derive(Debug)]
struct FieldState {
    field: Field,
    nil: bool,
    text: String,
}

/// An open element.
#[derive(Debug)]
enum Frame {
    Envelope,
    Header,
    /// A header block or anything inside one: read for well-formedness only.
    Ignored,
    Body,
    Operation(OpState),
    Field(FieldState),
    /// A WS-Addressing header whose text is kept (MessageID, Action, or an endpoint's Address).
    WsaText(WsaField, String),
    /// `wsa:ReplyTo` or `wsa:FaultTo`: an endpoint reference whose `Address` is kept.
    WsaEndpoint(WsaField),
}

impl Frame {
    fn name(&self) -> &'static str {
        match self {
            Frame::Envelope => "Envelope",
            Frame::Header => "Header",
            Frame::Ignored => "header block",
            Frame::Body => "Body",
            Frame::Operation(op) => op.kind.name(),
            Frame::Field(f) => f.field.name(),
            Frame::WsaText(..) | Frame::WsaEndpoint(_) => "header block",
        }
    }
}

/// The attributes of an element that matter to the decoder.
#[derive(Debug, Default)]
struct Attrs {
    /// `xsi:nil` is `true` or `1`.
    nil: bool,
    /// `env:mustUnderstand` is `true` or `1`.
    must_understand: bool,
    /// `env:role` (SOAP 1.2) or `env:actor` (SOAP 1.1).
    role: Option<String>,
}

struct Parser<'i> {
    text: &'i str,
    bom_len: usize,
    reader: NsReader<&'i [u8]>,
    path: Vec<Frame>,
    version: Option<SoapVersion>,
    seen_header: bool,
    seen_body: bool,
    root_done: bool,
    operation: Option<Operation>,
    contract: Contract,
    addressing: Option<Addressing>,
    hub: Option<HubHeader>,
    source: Source,
    /// Elements, attributes and namespace declarations read so far.
    elements: usize,
    attributes: usize,
    namespaces: usize,
}

impl<'i> Parser<'i> {
    fn new(text: &'i str, bom_len: usize, source: Source) -> Self {
        let mut reader = NsReader::from_str(text);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.allow_unmatched_ends = false;
        config.allow_dangling_amp = false;
        config.expand_empty_elements = false;
        config.trim_text(false);
        Parser {
            text,
            bom_len,
            reader,
            path: Vec::with_capacity(8),
            version: None,
            seen_header: false,
            seen_body: false,
            root_done: false,
            operation: None,
            contract: Contract::Cdc2011,
            addressing: None,
            hub: None,
            source,
            elements: 0,
            attributes: 0,
            namespaces: 0,
        }
    }

    fn position(&self) -> usize {
        usize::try_from(self.reader.buffer_position())
            .unwrap_or(usize::MAX)
            .saturating_add(self.bom_len)
    }

    fn malformed(&self, err: &quick_xml::Error) -> DecodeError {
        let at = usize::try_from(self.reader.error_position())
            .unwrap_or(usize::MAX)
            .saturating_add(self.bom_len);
        DecodeError::Malformed(format!("{} (at byte {at})", xml_problem(err)))
    }

    /// Refuses a `<!DOCTYPE` that comes next, before quick-xml reads it.
    fn refuse_doctype_ahead(&self) -> Result<(), DecodeError> {
        if doctype_ahead(self.text, self.reader.buffer_position()) {
            return Err(DecodeError::Dtd);
        }
        Ok(())
    }

    fn run(mut self) -> Result<Request, DecodeError> {
        let mut first_event = true;
        loop {
            if self.path.is_empty() && !self.root_done {
                self.refuse_doctype_ahead()?;
            }
            let (ns, event) = match self.reader.read_resolved_event() {
                Ok((ns, event)) => (owned_namespace(ns), event),
                Err(err) => return Err(self.malformed(&err)),
            };
            let is_first = std::mem::replace(&mut first_event, false);
            match event {
                Event::Start(start) => {
                    self.count(&start)?;
                    let attrs = read_attrs(&self.reader, &start, self.env_ns(), self.position())?;
                    self.open(ns?, local_name(&start)?, attrs)?;
                }
                Event::Empty(start) => {
                    self.count(&start)?;
                    let attrs = read_attrs(&self.reader, &start, self.env_ns(), self.position())?;
                    self.open(ns?, local_name(&start)?, attrs)?;
                    self.close()?;
                }
                Event::End(_) => self.close()?,
                Event::Text(text) => {
                    let text = text.decode().map_err(|_| DecodeError::NotUtf8)?;
                    self.text_content(&text)?;
                }
                Event::CData(cdata) => {
                    if self.path.is_empty() {
                        return Err(DecodeError::Malformed(
                            "a CDATA section appears outside the Envelope element".to_string(),
                        ));
                    }
                    let text = cdata.decode().map_err(|_| DecodeError::NotUtf8)?;
                    self.text_content(&text)?;
                }
                Event::GeneralRef(reference) => {
                    let c = resolve_reference(&reference, self.position())?;
                    let mut buf = [0u8; 4];
                    self.text_content(c.encode_utf8(&mut buf))?;
                }
                Event::Decl(decl) => {
                    if !is_first {
                        return Err(DecodeError::Malformed(
                            "an XML declaration is only allowed at the very start of the document"
                                .to_string(),
                        ));
                    }
                    if let Err(err) = decl.version() {
                        return Err(self.malformed(&err));
                    }
                    match decl.encoding() {
                        None => {}
                        Some(Ok(enc)) if self.source.declared_as(&enc) => {}
                        Some(Ok(_)) => return Err(DecodeError::NotUtf8),
                        Some(Err(_)) => {
                            return Err(DecodeError::Malformed(
                                "the XML declaration is invalid".to_string(),
                            ))
                        }
                    }
                }
                Event::DocType(_) => return Err(DecodeError::Dtd),
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => return self.finish(),
            }
        }
    }

    /// Counts an element, its attributes and its namespace declarations against the limits,
    /// before anything looks at them one by one: the reader has bound the declarations (linear
    /// in their number) and resolved the element's name once; checking each attribute for
    /// duplicates and resolving each attribute's name would cost their number squared.
    fn count(&mut self, start: &BytesStart<'_>) -> Result<(), DecodeError> {
        let offset = self.position();
        let too_many = |what| Err(DecodeError::TooMany { what, offset });
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return too_many("elements");
        }
        let (mut attributes, mut namespaces) = (0usize, 0usize);
        for attr in start.attributes().with_checks(false) {
            let Ok(attr) = attr else {
                // Malformed: read_attrs reports it.
                break;
            };
            attributes += 1;
            if attr.key.as_namespace_binding().is_some() {
                namespaces += 1;
            }
            if attributes > MAX_ATTRIBUTES_PER_ELEMENT {
                return too_many("attributes on one element");
            }
            if namespaces > MAX_NAMESPACES_PER_ELEMENT {
                return too_many("namespace declarations on one element");
            }
        }
        self.attributes += attributes;
        self.namespaces += namespaces;
        if self.attributes > MAX_ATTRIBUTES {
            return too_many("attributes");
        }
        if self.namespaces > MAX_NAMESPACES {
            return too_many("namespace declarations");
        }
        Ok(())
    }

    fn env_ns(&self) -> Option<&'static str> {
        self.version.map(SoapVersion::namespace)
    }

    fn open(&mut self, ns: Option<String>, local: String, attrs: Attrs) -> Result<(), DecodeError> {
        // Where the start tag ends: faults name positions, never the request's own names.
        let offset = self.position();
        if self.path.len() >= MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let frame = match self.path.last_mut() {
            None => {
                if self.root_done {
                    return Err(DecodeError::Malformed(
                        "an element appears after the end of the Envelope".to_string(),
                    ));
                }
                if local != "Envelope" {
                    return Err(DecodeError::NotAnEnvelope);
                }
                self.version = Some(match ns.as_deref() {
                    Some(SOAP12_NS) => SoapVersion::V12,
                    Some(SOAP11_NS) => SoapVersion::V11,
                    _ => return Err(DecodeError::VersionMismatch),
                });
                Frame::Envelope
            }
            Some(Frame::Envelope) => {
                let in_envelope_ns = ns.is_some() && ns.as_deref() == self.env_ns();
                match local.as_str() {
                    "Header" if in_envelope_ns => {
                        if self.seen_header {
                            return Err(DecodeError::DuplicateElement("Header".to_string()));
                        }
                        if self.seen_body {
                            return Err(DecodeError::UnexpectedElement {
                                parent: "Envelope",
                                offset,
                            });
                        }
                        self.seen_header = true;
                        Frame::Header
                    }
                    "Body" if in_envelope_ns => {
                        if self.seen_body {
                            return Err(DecodeError::DuplicateElement("Body".to_string()));
                        }
                        self.seen_body = true;
                        Frame::Body
                    }
                    _ => {
                        return Err(DecodeError::UnexpectedElement {
                            parent: "Envelope",
                            offset,
                        })
                    }
                }
            }
            Some(Frame::Header) => {
                let hub = ns.as_deref() == Some(CDC_HUB_NS) && local == "HubRequestHeader";
                if hub {
                    self.hub.get_or_insert_with(HubHeader::default);
                    self.path.push(Frame::WsaEndpoint(WsaField::HubDestination));
                    return Ok(());
                }
                if attrs.must_understand && self.aimed_at_us(attrs.role.as_deref()) {
                    let addressing = matches!(ns.as_deref(), Some(WSA_NS | WSA_2004_NS));
                    if !addressing {
                        return Err(DecodeError::MustUnderstand { offset });
                    }
                }
                let wsa = match ns.as_deref() {
                    Some(WSA_NS) => Some(WSA_NS),
                    Some(WSA_2004_NS) => Some(WSA_2004_NS),
                    _ => None,
                };
                match wsa {
                    Some(wsa) if self.addressing.as_ref().is_none_or(|a| a.namespace == wsa) => {
                        self.addressing.get_or_insert_with(|| Addressing {
                            namespace: wsa,
                            ..Addressing::default()
                        });
                        match local.as_str() {
                            "MessageID" => Frame::WsaText(WsaField::MessageId, String::new()),
                            "Action" => Frame::WsaText(WsaField::Action, String::new()),
                            "ReplyTo" => Frame::WsaEndpoint(WsaField::ReplyTo),
                            "FaultTo" => Frame::WsaEndpoint(WsaField::FaultTo),
                            _ => Frame::Ignored,
                        }
                    }
                    _ => Frame::Ignored,
                }
            }
            Some(Frame::WsaEndpoint(WsaField::HubDestination)) => {
                if ns.as_deref() == Some(CDC_HUB_NS) && local == "DestinationId" {
                    Frame::WsaText(WsaField::HubDestination, String::new())
                } else {
                    Frame::Ignored
                }
            }
            Some(Frame::WsaEndpoint(field)) => {
                let field = *field;
                let in_wsa = self
                    .addressing
                    .as_ref()
                    .is_some_and(|a| ns.as_deref() == Some(a.namespace));
                if in_wsa && local == "Address" {
                    Frame::WsaText(field, String::new())
                } else {
                    Frame::Ignored
                }
            }
            Some(Frame::Ignored | Frame::WsaText(..)) => Frame::Ignored,
            Some(Frame::Body) => {
                if self.operation.is_some() {
                    return Err(DecodeError::BodyNotSingle);
                }
                let (kind, contract) = match (ns.as_deref(), local.as_str()) {
                    (Some(CDC_2011_NS), CONNECTIVITY_TEST) => {
                        (OpKind::ConnectivityTest, Contract::Cdc2011)
                    }
                    (Some(CDC_2011_NS), SUBMIT_SINGLE_MESSAGE) => {
                        (OpKind::SubmitSingleMessage, Contract::Cdc2011)
                    }
                    (Some(CDC_2014_NS), "ConnectivityTestRequest") => {
                        (OpKind::ConnectivityTest, Contract::Cdc2014)
                    }
                    (Some(CDC_2014_NS), "SubmitSingleMessageRequest") => {
                        (OpKind::SubmitSingleMessage, Contract::Cdc2014)
                    }
                    _ => return Err(DecodeError::UnknownOperation { offset }),
                };
                self.contract = contract;
                Frame::Operation(OpState::new(kind, contract))
            }
            Some(Frame::Operation(op)) => {
                let allowed_ns = ns.is_none() || ns.as_deref() == Some(op.contract.namespace());
                let field = match op.kind.field(op.contract, &local) {
                    Some(field) if allowed_ns => field,
                    _ => {
                        return Err(DecodeError::UnexpectedElement {
                            parent: op.kind.name(),
                            offset,
                        })
                    }
                };
                if op.values[field.index()].is_some() {
                    return Err(DecodeError::DuplicateElement(field.name().to_string()));
                }
                Frame::Field(FieldState {
                    field,
                    nil: attrs.nil,
                    text: String::new(),
                })
            }
            Some(Frame::Field(f)) => {
                return Err(DecodeError::UnexpectedElement {
                    parent: f.field.name(),
                    offset,
                })
            }
        };
        self.path.push(frame);
        Ok(())
    }

    /// Whether a header block with this role (SOAP 1.2) or actor (SOAP 1.1)
    /// is aimed at this node, the ultimate receiver.
    fn aimed_at_us(&self, role: Option<&str>) -> bool {
        let Some(role) = role.map(str::trim) else {
            return true;
        };
        match self.version {
            Some(SoapVersion::V12) => role == SOAP12_ROLE_NEXT || role == SOAP12_ROLE_ULTIMATE,
            Some(SoapVersion::V11) => role == SOAP11_ACTOR_NEXT,
            None => true,
        }
    }

    fn close(&mut self) -> Result<(), DecodeError> {
        let Some(frame) = self.path.pop() else {
            return Err(DecodeError::Malformed(
                "an end tag does not match any open element".to_string(),
            ));
        };
        match frame {
            Frame::Envelope => {
                if !self.seen_body {
                    return Err(DecodeError::NoBody);
                }
                self.root_done = true;
            }
            Frame::Header | Frame::Ignored | Frame::WsaEndpoint(_) => {}
            Frame::WsaText(field, text) => {
                let value = clip_to(text.trim_matches(is_xml_space_char), MAX_WSA_VALUE);
                let addressing = self.addressing.as_mut();
                let slot = match field {
                    WsaField::HubDestination => self.hub.as_mut().map(|h| &mut h.destination_id),
                    WsaField::MessageId => addressing.map(|a| &mut a.message_id),
                    WsaField::Action => addressing.map(|a| &mut a.action),
                    WsaField::ReplyTo => addressing.map(|a| &mut a.reply_to),
                    WsaField::FaultTo => addressing.map(|a| &mut a.fault_to),
                };
                if let Some(slot) = slot {
                    *slot = Some(value);
                }
            }
            Frame::Body => {
                if self.operation.is_none() {
                    return Err(DecodeError::BodyNotSingle);
                }
            }
            Frame::Operation(op) => {
                self.operation = Some(op.finish()?);
            }
            Frame::Field(f) => {
                let value = if f.nil { None } else { Some(f.text) };
                match self.path.last_mut() {
                    Some(Frame::Operation(op)) => op.values[f.field.index()] = Some(value),
                    _ => {
                        return Err(DecodeError::Malformed(
                            "a field element is not inside an operation element".to_string(),
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// Character data (text, CDATA or a resolved reference) at the current
    /// position.
    fn text_content(&mut self, text: &str) -> Result<(), DecodeError> {
        match self.path.last_mut() {
            Some(Frame::Field(f)) => {
                f.text.push_str(text);
                Ok(())
            }
            Some(Frame::WsaText(_, kept)) => {
                // Bounded: a value longer than the limit is clipped when the element closes.
                if kept.len() <= MAX_WSA_VALUE {
                    kept.push_str(text);
                }
                Ok(())
            }
            Some(Frame::Ignored | Frame::WsaEndpoint(_)) => Ok(()),
            _ if is_xml_whitespace(text) => Ok(()),
            None if self.root_done => Err(DecodeError::Malformed(
                "text appears after the end of the Envelope".to_string(),
            )),
            None => Err(DecodeError::Malformed(
                "text appears before the root element".to_string(),
            )),
            Some(frame) => Err(DecodeError::UnexpectedText(frame.name().to_string())),
        }
    }

    fn finish(mut self) -> Result<Request, DecodeError> {
        if let Some(frame) = self.path.last() {
            return Err(DecodeError::Malformed(format!(
                "the document ends before the {} element is closed",
                frame.name()
            )));
        }
        if !self.root_done {
            return Err(DecodeError::Empty);
        }
        match (self.version, self.operation.take()) {
            (Some(version), Some(operation)) => Ok(Request {
                version,
                operation,
                contract: self.contract,
                hub: self.hub.take(),
                addressing: self.addressing.take(),
            }),
            (None, _) => Err(DecodeError::NotAnEnvelope),
            (Some(_), None) => Err(DecodeError::BodyNotSingle),
        }
    }
}

/// Converts the namespace of an element to an owned URI (`None` when the
/// element has no namespace). An undeclared prefix is an error.
fn owned_namespace(ns: ResolveResult<'_>) -> Result<Option<String>, DecodeError> {
    match ns {
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Bound(ns) => std::str::from_utf8(ns.into_inner())
            .map(|s| Some(s.to_string()))
            .map_err(|_| DecodeError::NotUtf8),
        ResolveResult::Unknown(prefix) => Err(undeclared_prefix(&prefix)),
    }
}

fn undeclared_prefix(_prefix: &[u8]) -> DecodeError {
    DecodeError::Malformed("a namespace prefix is used without being declared".to_string())
}

fn local_name(start: &BytesStart<'_>) -> Result<String, DecodeError> {
    std::str::from_utf8(start.local_name().into_inner())
        .map(str::to_string)
        .map_err(|_| DecodeError::NotUtf8)
}

/// Reads every attribute of an element (so that malformed attributes and
/// undefined entities are caught everywhere) and keeps the ones that matter.
/// `env_ns` is the envelope namespace once it is known.
fn read_attrs(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    env_ns: Option<&str>,
    offset: usize,
) -> Result<Attrs, DecodeError> {
    let mut attrs = Attrs::default();
    for attr in start.attributes() {
        let attr =
            attr.map_err(|_| DecodeError::Malformed("an attribute is malformed".to_string()))?;
        let (ns, local) = reader.resolve_attribute(attr.key);
        let ns = match ns {
            ResolveResult::Unbound => None,
            ResolveResult::Bound(ns) => Some(ns.into_inner()),
            ResolveResult::Unknown(prefix) => return Err(undeclared_prefix(&prefix)),
        };
        let raw = std::str::from_utf8(&attr.value).map_err(|_| DecodeError::NotUtf8)?;
        let value = unescape_attribute(raw, offset)?;
        let in_env = env_ns.is_some_and(|e| ns == Some(e.as_bytes()));
        match (local.into_inner(), in_env) {
            (b"nil", _) if ns == Some(XSI_NS.as_bytes()) => attrs.nil = is_true(&value),
            (b"mustUnderstand", true) => attrs.must_understand = is_true(&value),
            (b"role" | b"actor", true) => attrs.role = Some(value),
            _ => {}
        }
    }
    Ok(attrs)
}

fn unescape_attribute(raw: &str, offset: usize) -> Result<String, DecodeError> {
    use quick_xml::escape::{unescape_with, EscapeError};
    let value = unescape_with(raw, predefined_entity).map_err(|e| match e {
        EscapeError::UnrecognizedEntity(..) => DecodeError::UndefinedEntity { offset },
        _ => DecodeError::Malformed(format!(
            "an attribute value has an invalid reference (near byte {offset})"
        )),
    })?;
    if value.chars().any(|c| !is_xml_char(c)) {
        return Err(DecodeError::Malformed(
            "an attribute value refers to a character that XML 1.0 does not allow".to_string(),
        ));
    }
    Ok(value.into_owned())
}

/// The five entities predefined by XML 1.0.
fn predefined_entity(name: &str) -> Option<&'static str> {
    match name {
        "amp" => Some("&"),
        "lt" => Some("<"),
        "gt" => Some(">"),
        "apos" => Some("'"),
        "quot" => Some("\""),
        _ => None,
    }
}

/// Resolves `&name;` or `&#...;` in content.
fn resolve_reference(reference: &BytesRef<'_>, position: usize) -> Result<char, DecodeError> {
    let name = reference.decode().map_err(|_| DecodeError::NotUtf8)?;
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) if is_xml_char(c) => Ok(c),
            Ok(Some(_)) => Err(DecodeError::IllegalCharacter { offset: position }),
            Ok(None) => Err(DecodeError::Malformed(
                "invalid character reference".to_string(),
            )),
            Err(_) => Err(DecodeError::Malformed(format!(
                "invalid character reference (near byte {position})"
            ))),
        };
    }
    predefined_entity(&name)
        .and_then(|s| s.chars().next())
        .ok_or(DecodeError::UndefinedEntity { offset: position })
}

/// `xsd:boolean` true (`true` or `1`, surrounding whitespace allowed).
fn is_true(value: &str) -> bool {
    matches!(value.trim_matches(is_xml_space_char), "true" | "1")
}

fn is_xml_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_xml_whitespace(s: &str) -> bool {
    s.chars().all(is_xml_space_char)
}

/// The first `max` bytes of `s` (cut at a character boundary).
fn clip_to(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// What is wrong with the XML, in words that never quote the request (quick-xml's own messages
/// name tags, prefixes and entities as the request spelled them).
fn xml_problem(err: &quick_xml::Error) -> &'static str {
    use quick_xml::errors::{IllFormedError, SyntaxError};
    use quick_xml::Error;
    match err {
        Error::Syntax(SyntaxError::UnclosedComment) => "a comment is not closed",
        Error::Syntax(SyntaxError::UnclosedCData) => "a CDATA section is not closed",
        Error::Syntax(SyntaxError::UnclosedTag) => "a tag is not closed",
        Error::Syntax(SyntaxError::UnclosedPIOrXmlDecl) => {
            "a processing instruction or XML declaration is not closed"
        }
        Error::Syntax(SyntaxError::UnclosedDoctype) => "a document type declaration is not closed",
        Error::Syntax(SyntaxError::InvalidBangMarkup) => "a '<!' markup is not recognised",
        Error::IllFormed(IllFormedError::MismatchedEndTag { .. }) => {
            "an end tag does not match the open element"
        }
        Error::IllFormed(IllFormedError::UnmatchedEndTag(_)) => {
            "an end tag does not match any open element"
        }
        Error::IllFormed(IllFormedError::MissingEndTag(_)) => "an element is not closed",
        Error::IllFormed(IllFormedError::DoubleHyphenInComment) => "a comment contains '--'",
        Error::IllFormed(_) => "the document is not well-formed",
        Error::InvalidAttr(_) => "an attribute is malformed",
        Error::Encoding(_) => "the text is not valid UTF-8",
        Error::Escape(_) => "a character or entity reference is malformed",
        Error::Namespace(_) => "a namespace declaration or prefix is invalid",
        Error::Io(_) => "the document could not be read",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HL7: &str = "MSH|^~\\&|EHR|FAC|IIS|IIS|20240101120000||VXU^V04^VXU_V04|M1|P|2.5.1\rPID|1||123^^^EHR^MR||DOE^JANE||20200101|F\r";

    fn env12(body: &str) -> String {
        format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}" xmlns:iis="{CDC_2011_NS}"><soap:Body>{body}</soap:Body></soap:Envelope>"#
        )
    }

    fn submit12(hl7_xml: &str) -> String {
        env12(&format!(
            "<iis:submitSingleMessage><iis:username>u</iis:username><iis:password>p</iis:password>\
             <iis:facilityID>F</iis:facilityID><iis:hl7Message>{hl7_xml}</iis:hl7Message></iis:submitSingleMessage>"
        ))
    }

    fn ok(xml: &str) -> Request {
        match decode(xml.as_bytes()) {
            Ok(r) => r,
            Err(e) => panic!("decode failed: {e:?}\n{xml}"),
        }
    }

    fn err(xml: &str) -> DecodeError {
        match decode(xml.as_bytes()) {
            Ok(r) => panic!("decode unexpectedly succeeded: {r:?}\n{xml}"),
            Err(e) => e,
        }
    }

    fn hl7_of(req: &Request) -> &str {
        match &req.operation {
            Operation::SubmitSingleMessage { hl7_message, .. } => hl7_message,
            other => panic!("not a submit: {other:?}"),
        }
    }

    /// Escapes text the way a careful client does (CR as `&#xD;`).
    fn escape(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\r' => out.push_str("&#xD;"),
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn connectivity_with_prefixes() {
        let r = ok(&env12(
            "<iis:connectivityTest><iis:echoBack>Hello</iis:echoBack></iis:connectivityTest>",
        ));
        assert_eq!(r.version, SoapVersion::V12);
        assert_eq!(
            r.operation,
            Operation::ConnectivityTest {
                echo_back: Some("Hello".into())
            }
        );
        assert_eq!(r.operation.name(), "connectivityTest");
    }

    #[test]
    fn default_namespaces_and_odd_prefixes() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<!-- leading comment --><?some-pi data?>
<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope">
  <Header/>
  <Body>
    <submitSingleMessage xmlns="urn:cdc:iisb:2011">
      <username>ehr1</username>
      <!-- a comment -->
      <password>secret</password>
      <facilityID>FAC01</facilityID>
      <hl7Message>MSH|^~\&amp;|A&#xD;PID|1&#xD;</hl7Message>
    </submitSingleMessage>
  </Body>
</Envelope>
<!-- trailing comment -->
"#;
        let r = ok(xml);
        assert_eq!(
            r.operation,
            Operation::SubmitSingleMessage {
                username: Some("ehr1".into()),
                password: Some("secret".into()),
                facility_id: Some("FAC01".into()),
                hl7_message: "MSH|^~\\&|A\rPID|1\r".into(),
            }
        );
        // Prefixes that look like something else must not matter.
        let xml = r#"<iis:Envelope xmlns:iis="http://www.w3.org/2003/05/soap-envelope" xmlns:soap="urn:cdc:iisb:2011"><iis:Body><soap:connectivityTest><soap:echoBack>x</soap:echoBack></soap:connectivityTest></iis:Body></iis:Envelope>"#;
        assert_eq!(
            ok(xml).operation,
            Operation::ConnectivityTest {
                echo_back: Some("x".into())
            }
        );
        // ns3-style prefixes declared on the operation element.
        let xml = r#"<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope"><S:Body><ns3:connectivityTest xmlns:ns3="urn:cdc:iisb:2011"><ns3:echoBack>y</ns3:echoBack></ns3:connectivityTest></S:Body></S:Envelope>"#;
        assert_eq!(
            ok(xml).operation,
            Operation::ConnectivityTest {
                echo_back: Some("y".into())
            }
        );
    }

    #[test]
    fn prefix_bound_to_wrong_namespace_is_not_routed() {
        // `iis` prefix, but bound to some other namespace.
        let xml = r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:iis="urn:cdc:iisb:2014"><soap:Body><iis:connectivityTest><iis:echoBack>x</iis:echoBack></iis:connectivityTest></soap:Body></soap:Envelope>"#;
        assert!(matches!(err(xml), DecodeError::UnknownOperation { .. }));
    }

    #[test]
    fn escaped_text_with_char_refs() {
        let r = ok(&submit12(
            "MSH|^~\\&amp;|EHR|FAC&#xD;PID|1&#13;PV1|&lt;x&gt;&quot;&apos;",
        ));
        assert_eq!(hl7_of(&r), "MSH|^~\\&|EHR|FAC\rPID|1\rPV1|<x>\"'");
    }

    #[test]
    fn cdata_text() {
        let r = ok(&submit12("<![CDATA[MSH|^~\\&|EHR|FAC\rPID|1]]>"));
        assert_eq!(hl7_of(&r), "MSH|^~\\&|EHR|FAC\rPID|1");
    }

    #[test]
    fn cdata_escapes_and_text_mixed() {
        let r = ok(&submit12(
            "<![CDATA[MSH|^~\\&|A]]>&#13;PID|&amp;1<![CDATA[&#xD;]]>\nEND\r\n",
        ));
        assert_eq!(hl7_of(&r), "MSH|^~\\&|A\rPID|&1&#xD;\nEND\r\n");
    }

    #[test]
    fn values_are_not_trimmed() {
        let xml = env12(
            "<iis:submitSingleMessage><iis:username> u </iis:username><iis:hl7Message>\n MSH|x \n</iis:hl7Message></iis:submitSingleMessage>",
        );
        match ok(&xml).operation {
            Operation::SubmitSingleMessage {
                username,
                password,
                facility_id,
                hl7_message,
            } => {
                assert_eq!(username.as_deref(), Some(" u "));
                assert_eq!(password, None);
                assert_eq!(facility_id, None);
                assert_eq!(hl7_message, "\n MSH|x \n");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn literal_line_ends_are_kept() {
        assert_eq!(hl7_of(&ok(&submit12("A\r\nB\rC\nD"))), "A\r\nB\rC\nD");
    }

    #[test]
    fn soap11_envelope() {
        let xml = r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:cdc:iisb:2011"><soapenv:Header/><soapenv:Body><urn:connectivityTest><urn:echoBack>?</urn:echoBack></urn:connectivityTest></soapenv:Body></soapenv:Envelope>"#;
        let r = ok(xml);
        assert_eq!(r.version, SoapVersion::V11);
        assert_eq!(
            r.operation,
            Operation::ConnectivityTest {
                echo_back: Some("?".into())
            }
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            SoapVersion::V12.content_type(),
            "application/soap+xml; charset=utf-8"
        );
        assert_eq!(SoapVersion::V11.content_type(), "text/xml; charset=utf-8");
        assert_eq!(SoapVersion::V12.namespace(), SOAP12_NS);
        assert_eq!(SoapVersion::V11.namespace(), SOAP11_NS);
    }

    #[test]
    fn bom_is_accepted() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(
            env12("<iis:connectivityTest><iis:echoBack>b</iis:echoBack></iis:connectivityTest>")
                .as_bytes(),
        );
        assert!(decode(&bytes).is_ok());
    }

    #[test]
    fn ws_addressing_headers_are_kept() {
        for mu in [
            "",
            r#" soap:mustUnderstand="true""#,
            r#" soap:mustUnderstand="1""#,
        ] {
            let xml = format!(
                r#"<soap:Envelope xmlns:soap="{SOAP12_NS}" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:iis="{CDC_2011_NS}">
<soap:Header>
  <wsa:Action{mu}>urn:cdc:iisb:2011:connectivityTest</wsa:Action>
  <wsa:MessageID>urn:uuid:1</wsa:MessageID>
  <wsa:To{mu}>http://example.org/soap</wsa:To>
  <wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>
</soap:Header>
<soap:Body><iis:connectivityTest><iis:echoBack>hi</iis:echoBack></iis:connectivityTest></soap:Body></soap:Envelope>"#
            );
            let r = ok(&xml);
            assert_eq!(
                r.operation,
                Operation::ConnectivityTest {
                    echo_back: Some("hi".into())
                }
            );
            let a = r.addressing.expect("addressing kept");
            assert_eq!(a.namespace, WSA_NS);
            assert_eq!(a.message_id.as_deref(), Some("urn:uuid:1"));
            assert_eq!(
                a.action.as_deref(),
                Some("urn:cdc:iisb:2011:connectivityTest")
            );
            assert_eq!(a.non_anonymous(), None);
        }
        // The 2004/08 namespace, SOAP 1.1 style; a FaultTo elsewhere is named.
        let xml = format!(
            r#"<s:Envelope xmlns:s="{SOAP11_NS}"><s:Header><a:Action xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" s:mustUnderstand="1">x</a:Action><a:FaultTo xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><a:Address> http://elsewhere/ </a:Address><a:ReferenceParameters><a:Address>ignored</a:Address></a:ReferenceParameters></a:FaultTo></s:Header><s:Body><c:connectivityTest xmlns:c="{CDC_2011_NS}"><c:echoBack>e</c:echoBack></c:connectivityTest></s:Body></s:Envelope>"#
        );
        let a = decode(xml.as_bytes()).unwrap().addressing.unwrap();
        assert_eq!(a.namespace, WSA_2004_NS);
        assert_eq!(a.message_id, None);
        assert_eq!(a.non_anonymous(), Some(("FaultTo", "http://elsewhere/")));
        // No addressing headers, none kept; a huge value is clipped.
        assert_eq!(ok(&env12("<iis:connectivityTest/>")).addressing, None);
        let long = "x".repeat(10_000);
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}"><soap:Header><w:MessageID xmlns:w="{WSA_NS}">{long}</w:MessageID></soap:Header><soap:Body><c:connectivityTest xmlns:c="{CDC_2011_NS}"/></soap:Body></soap:Envelope>"#
        );
        let id = ok(&xml).addressing.unwrap().message_id.unwrap();
        assert_eq!(id.len(), MAX_WSA_VALUE);
    }

    #[test]
    fn unknown_must_understand_header_is_refused() {
        let body = "<iis:connectivityTest><iis:echoBack>x</iis:echoBack></iis:connectivityTest>";
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}" xmlns:iis="{CDC_2011_NS}"><soap:Header><wsse:Security xmlns:wsse="urn:example:sec" soap:mustUnderstand="true"><wsse:Token>t</wsse:Token></wsse:Security></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
        );
        assert!(matches!(err(&xml), DecodeError::MustUnderstand { .. }));
        // mustUnderstand="false", or in a namespace that is not the
        // envelope's, or aimed at another role: ignored.
        for attr in [
            r#"soap:mustUnderstand="false""#,
            r#"soap:mustUnderstand="0""#,
            r#"other:mustUnderstand="true" xmlns:other="urn:x""#,
            r#"mustUnderstand="true""#,
            r#"soap:mustUnderstand="true" soap:role="http://www.w3.org/2003/05/soap-envelope/role/none""#,
        ] {
            let xml = format!(
                r#"<soap:Envelope xmlns:soap="{SOAP12_NS}" xmlns:iis="{CDC_2011_NS}"><soap:Header><h:Thing xmlns:h="urn:example" {attr}/></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
            );
            assert!(decode(xml.as_bytes()).is_ok(), "{attr}");
        }
        // Aimed at us explicitly.
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}" xmlns:iis="{CDC_2011_NS}"><soap:Header><Thing soap:mustUnderstand=" 1 " soap:role="http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"/></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
        );
        assert!(matches!(err(&xml), DecodeError::MustUnderstand { .. }));
        // SOAP 1.1: the attribute must be in the 1.1 namespace.
        let xml = format!(
            r#"<s:Envelope xmlns:s="{SOAP11_NS}"><s:Header><h:T xmlns:h="urn:h" s:mustUnderstand="1"/></s:Header><s:Body><c:connectivityTest xmlns:c="{CDC_2011_NS}"/></s:Body></s:Envelope>"#
        );
        assert!(matches!(err(&xml), DecodeError::MustUnderstand { .. }));
    }

    #[test]
    fn doctype_is_refused() {
        let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><c:connectivityTest xmlns:c="urn:cdc:iisb:2011"><c:echoBack>&lol3;</c:echoBack></c:connectivityTest></soap:Body></soap:Envelope>"#;
        assert_eq!(err(billion_laughs), DecodeError::Dtd);
        let xxe = r#"<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><c:connectivityTest xmlns:c="urn:cdc:iisb:2011"><c:echoBack>&xxe;</c:echoBack></c:connectivityTest></soap:Body></soap:Envelope>"#;
        assert_eq!(err(xxe), DecodeError::Dtd);
        // Unterminated, lower case, and after the root.
        assert_eq!(err("<!DOCTYPE x [ <!ENTITY a"), DecodeError::Dtd);
        assert_eq!(err("  <!doctype x><x/>"), DecodeError::Dtd);
        let after = format!(
            "{}<!DOCTYPE x>",
            env12("<iis:connectivityTest><iis:echoBack>a</iis:echoBack></iis:connectivityTest>")
        );
        assert!(decode(after.as_bytes()).is_err());
    }

    #[test]
    fn undefined_entity_is_refused() {
        assert!(matches!(
            err(&submit12("MSH|&foo;")),
            DecodeError::UndefinedEntity { .. }
        ));
        // Also in attributes and header blocks.
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}"><soap:Header><h a="&nbsp;"/></soap:Header><soap:Body/></soap:Envelope>"#
        );
        assert!(matches!(err(&xml), DecodeError::UndefinedEntity { .. }));
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}"><soap:Header><h>&copy;</h></soap:Header><soap:Body/></soap:Envelope>"#
        );
        assert!(matches!(err(&xml), DecodeError::UndefinedEntity { .. }));
    }

    #[test]
    fn unknown_operation() {
        let xml = env12(
            "<iis:submitSingleMessageX><iis:hl7Message>MSH|</iis:hl7Message></iis:submitSingleMessageX>",
        );
        assert!(matches!(err(&xml), DecodeError::UnknownOperation { .. }));
        // Right name, no namespace.
        let xml = env12("<submitSingleMessage><hl7Message>MSH|</hl7Message></submitSingleMessage>");
        assert!(matches!(err(&xml), DecodeError::UnknownOperation { .. }));
        // Case matters.
        let xml = env12("<iis:ConnectivityTest/>");
        assert!(matches!(err(&xml), DecodeError::UnknownOperation { .. }));
        // The message is a sentence naming the position, never the request's own names.
        let msg = err(&env12("<iis:submitSingleMessageX/>")).to_string();
        assert!(
            msg.starts_with("The operation in the SOAP Body (near byte ")
                && msg.ends_with(
                    "is not supported; this service supports connectivityTest and \
                     submitSingleMessage in namespace urn:cdc:iisb:2011, and \
                     ConnectivityTestRequest and SubmitSingleMessageRequest in namespace \
                     urn:cdc:iisb:2014."
                ),
            "{msg}"
        );
        assert!(!msg.contains("submitSingleMessageX"), "{msg}");
    }

    #[test]
    fn missing_and_nil_hl7() {
        let missing = env12(
            "<iis:submitSingleMessage><iis:username>u</iis:username></iis:submitSingleMessage>",
        );
        assert_eq!(err(&missing), DecodeError::MissingElement("hl7Message"));
        let nil = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}" xmlns:iis="{CDC_2011_NS}" xmlns:xsi="{XSI_NS}"><soap:Body><iis:submitSingleMessage><iis:hl7Message xsi:nil="true"/></iis:submitSingleMessage></soap:Body></soap:Envelope>"#
        );
        assert_eq!(err(&nil), DecodeError::MissingElement("hl7Message"));
        for empty in [
            "<iis:hl7Message/>",
            "<iis:hl7Message></iis:hl7Message>",
            "<iis:hl7Message>  \r\n </iis:hl7Message>",
        ] {
            let xml = env12(&format!(
                "<iis:submitSingleMessage>{empty}</iis:submitSingleMessage>"
            ));
            assert_eq!(err(&xml), DecodeError::MissingElement("hl7Message"));
        }
        assert_eq!(
            err(&env12("<iis:submitSingleMessage/>")),
            DecodeError::MissingElement("hl7Message")
        );
    }

    #[test]
    fn nil_and_absent_fields() {
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}" xmlns:iis="{CDC_2011_NS}" xmlns:i="{XSI_NS}"><soap:Body><iis:submitSingleMessage><iis:username i:nil="true"/><iis:password i:nil="1"></iis:password><iis:facilityID i:nil="false">F</iis:facilityID><iis:hl7Message i:type="xsd:string" xmlns:xsd="http://www.w3.org/2001/XMLSchema">MSH|</iis:hl7Message></iis:submitSingleMessage></soap:Body></soap:Envelope>"#
        );
        assert_eq!(
            ok(&xml).operation,
            Operation::SubmitSingleMessage {
                username: None,
                password: None,
                facility_id: Some("F".into()),
                hl7_message: "MSH|".into()
            }
        );
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}" xmlns:iis="{CDC_2011_NS}" xmlns:xsi="{XSI_NS}"><soap:Body><iis:connectivityTest><iis:echoBack xsi:nil="true"/></iis:connectivityTest></soap:Body></soap:Envelope>"#
        );
        assert_eq!(
            ok(&xml).operation,
            Operation::ConnectivityTest { echo_back: None }
        );
        assert_eq!(
            ok(&env12("<iis:connectivityTest/>")).operation,
            Operation::ConnectivityTest { echo_back: None }
        );
        assert_eq!(
            ok(&env12(
                "<iis:connectivityTest><iis:echoBack/></iis:connectivityTest>"
            ))
            .operation,
            Operation::ConnectivityTest {
                echo_back: Some(String::new())
            }
        );
    }

    #[test]
    fn unqualified_children_are_accepted() {
        let xml = env12(
            "<iis:submitSingleMessage><username>u</username><password>p</password><facilityID>f</facilityID><hl7Message>MSH|1</hl7Message></iis:submitSingleMessage>",
        );
        assert_eq!(
            ok(&xml).operation,
            Operation::SubmitSingleMessage {
                username: Some("u".into()),
                password: Some("p".into()),
                facility_id: Some("f".into()),
                hl7_message: "MSH|1".into()
            }
        );
        // Any order.
        let xml = env12(
            "<iis:submitSingleMessage><hl7Message>MSH|1</hl7Message><iis:username>u</iis:username></iis:submitSingleMessage>",
        );
        assert!(decode(xml.as_bytes()).is_ok());
    }

    #[test]
    fn wrong_children() {
        let xml = env12(
            "<iis:submitSingleMessage><iis:UserName>u</iis:UserName><iis:hl7Message>M</iis:hl7Message></iis:submitSingleMessage>",
        );
        assert!(matches!(err(&xml), DecodeError::UnexpectedElement { .. }));
        let xml = env12(
            "<iis:submitSingleMessage><x:username xmlns:x=\"urn:other\">u</x:username><iis:hl7Message>M</iis:hl7Message></iis:submitSingleMessage>",
        );
        assert!(matches!(err(&xml), DecodeError::UnexpectedElement { .. }));
        let xml = env12(
            "<iis:submitSingleMessage><iis:hl7Message>MSH<b>x</b></iis:hl7Message></iis:submitSingleMessage>",
        );
        assert!(matches!(err(&xml), DecodeError::UnexpectedElement { .. }));
        let xml = env12(
            "<iis:submitSingleMessage><iis:hl7Message>A</iis:hl7Message><iis:hl7Message>B</iis:hl7Message></iis:submitSingleMessage>",
        );
        assert_eq!(
            err(&xml),
            DecodeError::DuplicateElement("hl7Message".into())
        );
        let xml = env12(
            "<iis:connectivityTest><iis:echoBack>a</iis:echoBack><iis:hl7Message>B</iis:hl7Message></iis:connectivityTest>",
        );
        assert!(matches!(err(&xml), DecodeError::UnexpectedElement { .. }));
        let xml = env12(
            "<iis:connectivityTest>stray<iis:echoBack>a</iis:echoBack></iis:connectivityTest>",
        );
        assert_eq!(
            err(&xml),
            DecodeError::UnexpectedText("connectivityTest".into())
        );
    }

    #[test]
    fn body_shape() {
        assert_eq!(err(&env12("")), DecodeError::BodyNotSingle);
        assert_eq!(err(&env12("  <!-- c -->  ")), DecodeError::BodyNotSingle);
        let two = env12("<iis:connectivityTest/><iis:connectivityTest/>");
        assert_eq!(err(&two), DecodeError::BodyNotSingle);
        let xml =
            format!(r#"<soap:Envelope xmlns:soap="{SOAP12_NS}"><soap:Header/></soap:Envelope>"#);
        assert_eq!(err(&xml), DecodeError::NoBody);
        let xml = format!(r#"<soap:Envelope xmlns:soap="{SOAP12_NS}"/>"#);
        assert_eq!(err(&xml), DecodeError::NoBody);
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}"><soap:Body><c:connectivityTest xmlns:c="{CDC_2011_NS}"/></soap:Body><soap:Body/></soap:Envelope>"#
        );
        assert_eq!(err(&xml), DecodeError::DuplicateElement("Body".into()));
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}"><soap:Body><c:connectivityTest xmlns:c="{CDC_2011_NS}"/></soap:Body><soap:Header/></soap:Envelope>"#
        );
        assert!(matches!(err(&xml), DecodeError::UnexpectedElement { .. }));
        let xml = format!(r#"<soap:Envelope xmlns:soap="{SOAP12_NS}"><Body/></soap:Envelope>"#);
        assert!(matches!(err(&xml), DecodeError::UnexpectedElement { .. }));
        let xml = env12("text<iis:connectivityTest/>");
        assert_eq!(err(&xml), DecodeError::UnexpectedText("Body".into()));
    }

    #[test]
    fn envelope_identity() {
        assert_eq!(err("<root/>"), DecodeError::NotAnEnvelope);
        assert!(matches!(
            err(r#"<Envelope xmlns="urn:something"><Body/></Envelope>"#),
            DecodeError::VersionMismatch
        ));
        assert!(matches!(
            err("<Envelope><Body/></Envelope>"),
            DecodeError::VersionMismatch
        ));
        assert!(matches!(
            err("<soap:Envelope><soap:Body/></soap:Envelope>"),
            DecodeError::Malformed(_)
        ));
        let msg = DecodeError::VersionMismatch.to_string();
        assert!(msg.contains("not in a SOAP namespace"), "{msg}");
    }

    #[test]
    fn garbage_and_encodings() {
        assert_eq!(err(""), DecodeError::Empty);
        assert_eq!(err("   \n"), DecodeError::Empty);
        assert_eq!(
            err("<?xml version=\"1.0\"?><!-- only -->"),
            DecodeError::Empty
        );
        assert!(matches!(err("not xml at all"), DecodeError::Malformed(_)));
        assert!(matches!(
            err(&env12(
                "<iis:connectivityTest><iis:echoBack></iis:connectivityTest>"
            )),
            DecodeError::Malformed(_)
        ));
        assert!(matches!(
            err(&env12(
                "<iis:connectivityTest><iis:echoBack>a & b</iis:echoBack></iis:connectivityTest>"
            )),
            DecodeError::Malformed(_)
        ));
        // UTF-16 is read (and then found not to be an envelope); broken UTF-16 is not.
        assert_eq!(
            decode(b"\xff\xfe<\0a\0/\0>\0"),
            Err(DecodeError::NotAnEnvelope)
        );
        assert!(matches!(
            decode(b"<\0?\0x\0m\0l\0"),
            Err(DecodeError::Malformed(_))
        ));
        assert_eq!(decode(b"\xff\xfe<\0a"), Err(DecodeError::NotUtf8));
        assert_eq!(decode(b"\xff\xfe\x00\xd8a\0"), Err(DecodeError::NotUtf8));
        assert_eq!(decode(b"<\0\0\0a"), Err(DecodeError::NotUtf8));
        assert_eq!(decode(b"<a>\xc3\x28</a>"), Err(DecodeError::NotUtf8));
        assert_eq!(
            decode(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>"),
            Err(DecodeError::NotAnEnvelope)
        );
        assert_eq!(
            decode(b"<?xml version=\"1.0\" encoding=\"US-ASCII\"?><a>\xe9</a>"),
            Err(DecodeError::NotUtf8)
        );
        assert_eq!(
            decode(b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><a/>"),
            Err(DecodeError::NotUtf8)
        );
        assert_eq!(
            decode(b"<a>\x01</a>"),
            Err(DecodeError::IllegalCharacter { offset: 3 })
        );
        assert!(matches!(
            err(&submit12("MSH|&#1;")),
            DecodeError::IllegalCharacter { .. }
        ));
        assert!(matches!(
            err(&submit12("MSH|&#0;")),
            DecodeError::Malformed(_)
        ));
        assert!(matches!(
            err(&submit12("MSH|&#xD800;")),
            DecodeError::Malformed(_)
        ));
        // Unclosed document.
        let xml = env12("<iis:connectivityTest/>");
        let cut = &xml[..xml.len() - "</soap:Envelope>".len()];
        assert!(matches!(err(cut), DecodeError::Malformed(_)));
        // Content after the Envelope.
        let good = env12("<iis:connectivityTest/>");
        assert!(decode(format!("{good} \n<!-- ok --><?pi ok?>").as_bytes()).is_ok());
        assert!(matches!(
            err(&format!("{good}x")),
            DecodeError::Malformed(_)
        ));
        assert!(matches!(
            err(&format!("{good}<a/>")),
            DecodeError::Malformed(_)
        ));
        assert!(matches!(
            err(&format!("{good}&amp;")),
            DecodeError::Malformed(_)
        ));
        // Text before the root, declaration not first.
        assert!(matches!(
            err(&format!("x{good}")),
            DecodeError::Malformed(_)
        ));
        assert!(matches!(
            err(&format!(" <?xml version=\"1.0\"?>{good}")),
            DecodeError::Malformed(_)
        ));
    }

    #[test]
    fn the_2014_contract_and_its_hub_header() {
        let xml = format!(
            r#"<s:Envelope xmlns:s="{SOAP12_NS}"><s:Header><h:HubRequestHeader xmlns:h="{CDC_HUB_NS}" s:mustUnderstand="true"><h:DestinationId>dev</h:DestinationId></h:HubRequestHeader></s:Header><s:Body><i:SubmitSingleMessageRequest xmlns:i="{CDC_2014_NS}"><i:Username>u</i:Username><i:Password>p</i:Password><i:FacilityID>f</i:FacilityID><i:Hl7Message>MSH|x</i:Hl7Message></i:SubmitSingleMessageRequest></s:Body></s:Envelope>"#
        );
        let r = ok(&xml);
        assert_eq!(r.contract, Contract::Cdc2014);
        assert_eq!(
            r.hub,
            Some(HubHeader {
                destination_id: Some("dev".into())
            })
        );
        assert_eq!(
            r.operation,
            Operation::SubmitSingleMessage {
                username: Some("u".into()),
                password: Some("p".into()),
                facility_id: Some("f".into()),
                hl7_message: "MSH|x".into()
            }
        );
        let xml = env12(&format!(
            r#"<ConnectivityTestRequest xmlns="{CDC_2014_NS}"><EchoBack>e</EchoBack></ConnectivityTestRequest>"#
        ));
        let r = ok(&xml);
        assert_eq!(r.contract, Contract::Cdc2014);
        assert_eq!(r.hub, None);
        // 2011 names in the 2014 namespace, and the reverse, are not operations or fields.
        let xml = env12(&format!(r#"<c:connectivityTest xmlns:c="{CDC_2014_NS}"/>"#));
        assert!(matches!(err(&xml), DecodeError::UnknownOperation { .. }));
        let xml = env12(&format!(
            r#"<c:SubmitSingleMessageRequest xmlns:c="{CDC_2014_NS}"><c:hl7Message>M</c:hl7Message></c:SubmitSingleMessageRequest>"#
        ));
        assert!(matches!(err(&xml), DecodeError::UnexpectedElement { .. }));
        let xml = env12(&format!(
            r#"<c:SubmitSingleMessageRequest xmlns:c="{CDC_2014_NS}"><o:Hl7Message xmlns:o="{CDC_2011_NS}">M</o:Hl7Message></c:SubmitSingleMessageRequest>"#
        ));
        assert!(matches!(err(&xml), DecodeError::UnexpectedElement { .. }));
        assert_eq!(ok(&submit12("M")).contract, Contract::Cdc2011);
    }

    #[test]
    fn utf16_and_single_byte_encodings_are_read() {
        let xml = submit12("MSH|\u{e9}t\u{e9}");
        let utf16 = |little: bool, bom: bool, decl: &str| {
            let text = format!("{decl}{xml}");
            let mut out: Vec<u8> = Vec::new();
            if bom {
                out.extend_from_slice(if little { b"\xff\xfe" } else { b"\xfe\xff" });
            }
            for u in text.encode_utf16() {
                out.extend_from_slice(&if little {
                    u.to_le_bytes()
                } else {
                    u.to_be_bytes()
                });
            }
            out
        };
        let decl16 = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>";
        for (little, bom, decl) in [
            (true, true, ""),
            (false, true, ""),
            (true, true, decl16),
            (true, false, decl16),
            (false, false, decl16),
        ] {
            let r = decode(&utf16(little, bom, decl)).expect("UTF-16");
            assert_eq!(hl7_of(&r), "MSH|\u{e9}t\u{e9}", "{little} {bom} {decl}");
        }
        // ISO-8859-1: é is one byte, 0xE9.
        let mut latin1 = b"<?xml version='1.0' encoding='iso-8859-1'?>".to_vec();
        latin1.extend(submit12("MSH|\u{e9}").chars().map(|c| c as u8));
        assert_eq!(hl7_of(&decode(&latin1).unwrap()), "MSH|\u{e9}");
        let ascii = format!(
            "<?xml version=\"1.0\" encoding=\"US-ASCII\"?>{}",
            submit12("MSH|x")
        );
        assert_eq!(hl7_of(&decode(ascii.as_bytes()).unwrap()), "MSH|x");
        // A declaration that contradicts how the document was read is refused.
        let wrong = format!("<?xml version=\"1.0\" encoding=\"UTF-16\"?>{xml}");
        assert_eq!(decode(wrong.as_bytes()), Err(DecodeError::NotUtf8));
        assert_eq!(
            envelope_version(&utf16(true, true, "")),
            Some(SoapVersion::V12)
        );
    }

    #[test]
    fn envelope_version_sniffing() {
        let soap11 = format!(
            r#"<?xml version="1.0"?><!-- c --><s:Envelope xmlns:s="{SOAP11_NS}"><s:Body><x/></s:Body></s:Envelope>"#
        );
        assert_eq!(envelope_version(soap11.as_bytes()), Some(SoapVersion::V11));
        assert_eq!(
            envelope_version(env12("<broken").as_bytes()),
            Some(SoapVersion::V12)
        );
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(format!("<Envelope xmlns='{SOAP12_NS}'/>").as_bytes());
        assert_eq!(envelope_version(&bom), Some(SoapVersion::V12));
        for other in [
            "<Envelope/>",
            "<Envelope xmlns='urn:x'/>",
            "<root/>",
            "text<Envelope/>",
            "<!DOCTYPE x><Envelope xmlns='http://www.w3.org/2003/05/soap-envelope'/>",
            "",
        ] {
            assert_eq!(envelope_version(other.as_bytes()), None, "{other}");
        }
        assert_eq!(envelope_version(b"\xff\xfe<"), None);
        assert_eq!(envelope_version(b"\xff\xfe<\0"), None);
        // A request decode refuses can still be answered in its own version.
        let bad11 = format!(
            r#"<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body><c:submitSingleMessage xmlns:c="{CDC_2011_NS}"/></s:Body></s:Envelope>"#
        );
        assert_eq!(
            decode(bad11.as_bytes()),
            Err(DecodeError::MissingElement("hl7Message"))
        );
        assert_eq!(envelope_version(bad11.as_bytes()), Some(SoapVersion::V11));
    }

    #[test]
    fn too_deep() {
        let mut inner = String::new();
        for _ in 0..40 {
            inner.push_str("<x>");
        }
        for _ in 0..40 {
            inner.push_str("</x>");
        }
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}"><soap:Header>{inner}</soap:Header><soap:Body/></soap:Envelope>"#
        );
        assert_eq!(err(&xml), DecodeError::TooDeep);
        // Exactly 32 levels is fine: Envelope, Header, then 30 more.
        let mut inner = String::new();
        for _ in 0..29 {
            inner.push_str("<x>");
        }
        inner.push_str("<y/>");
        for _ in 0..29 {
            inner.push_str("</x>");
        }
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}"><soap:Header>{inner}</soap:Header><soap:Body><c:connectivityTest xmlns:c="{CDC_2011_NS}"/></soap:Body></soap:Envelope>"#
        );
        assert!(decode(xml.as_bytes()).is_ok());
        // A huge nesting is refused early without recursion.
        let deep = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP12_NS}"><soap:Header>{}"#,
            "<a>".repeat(200_000)
        );
        assert_eq!(decode(deep.as_bytes()), Err(DecodeError::TooDeep));
    }

    #[test]
    fn attributes_namespaces_and_elements_are_counted_as_they_are_read() {
        let body = "<iis:connectivityTest><iis:echoBack>x</iis:echoBack></iis:connectivityTest>";
        let envelope = |extra: &str, header: &str| {
            format!(
                r#"<soap:Envelope xmlns:soap="{SOAP12_NS}" xmlns:iis="{CDC_2011_NS}"{extra}><soap:Header>{header}</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
            )
        };
        let declarations = |n: usize| -> String {
            (0..n)
                .map(|i| format!(r#" xmlns:p{i}="urn:p{i}""#))
                .collect()
        };
        let attributes = |n: usize| -> String { (0..n).map(|i| format!(r#" a{i}="v""#)).collect() };
        // At the limits: accepted (the Envelope already declares two namespaces).
        let at = envelope(&declarations(MAX_NAMESPACES_PER_ELEMENT - 2), "");
        assert!(decode(at.as_bytes()).is_ok());
        let at = envelope(
            "",
            &format!("<h{}/>", attributes(MAX_ATTRIBUTES_PER_ELEMENT)),
        );
        assert!(decode(at.as_bytes()).is_ok());
        // One over: refused.
        let over = envelope(&declarations(MAX_NAMESPACES_PER_ELEMENT - 1), "");
        assert!(matches!(err(&over), DecodeError::TooMany { .. }));
        let over = envelope(
            "",
            &format!("<h{}/>", attributes(MAX_ATTRIBUTES_PER_ELEMENT + 1)),
        );
        assert!(matches!(err(&over), DecodeError::TooMany { .. }));
        // Per request: many elements each within the element limits.
        let spread = format!("<h{}/>", declarations(2)).repeat(MAX_NAMESPACES / 2);
        assert!(matches!(
            err(&envelope("", &spread)),
            DecodeError::TooMany { .. }
        ));
        let spread = format!("<h{}/>", attributes(40)).repeat(MAX_ATTRIBUTES / 40 + 1);
        assert!(matches!(
            err(&envelope("", &spread)),
            DecodeError::TooMany { .. }
        ));
        let elements = "<h/>".repeat(MAX_ELEMENTS);
        assert!(matches!(
            err(&envelope("", &elements)),
            DecodeError::TooMany { .. }
        ));
        // The declaration bomb of issue 15: 24,000 declarations on the root, refused at once.
        let bomb = envelope(&declarations(24_000), "");
        assert!(bomb.len() > 500_000);
        let msg = err(&bomb).to_string();
        assert!(msg.contains("namespace declarations"), "{msg}");
    }

    #[test]
    fn error_messages_are_sentences_without_content() {
        let secret = "s3cr3t-PASSWORD";
        let cases = [
            submit12(&format!("{secret}&bogus;")),
            submit12(&format!("{secret}<b/>")),
            submit12(&format!("{secret}&#1;")),
            env12(&format!("<iis:connectivityTest><iis:echoBack>{secret}</iis:echoBack>x</iis:connectivityTest>")),
        ];
        for xml in cases {
            let msg = err(&xml).to_string();
            assert!(!msg.contains(secret), "{msg}");
            assert!(msg.starts_with("The "), "{msg}");
            assert!(msg.ends_with('.'), "{msg}");
        }
        let long = "x".repeat(5000);
        let msg = err(&env12(&format!("<iis:{long}/>"))).to_string();
        assert!(msg.len() < 600, "{}", msg.len());
    }

    #[test]
    #[ignore = "needs IZPORT_NIST_SOAP_DIR: NIST's SOAP connectivity test cases"]
    fn nist_requests_decode() {
        let Ok(dir) = std::env::var("IZPORT_NIST_SOAP_DIR") else {
            panic!("IZPORT_NIST_SOAP_DIR is not set: this test needs NIST's SOAP test cases");
        };
        let dir = std::path::Path::new(&dir);
        let read = |case: &str| {
            let path = dir.join(case).join("Request.xml");
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let r = decode(&read("SOAPCON_1_BasicMessage_ConnectivityResponse")).unwrap();
        assert_eq!(r.version, SoapVersion::V12);
        assert_eq!(
            r.operation,
            Operation::ConnectivityTest {
                echo_back: Some("Hello world!".into())
            }
        );
        for case in [
            "SOAPCON_2_SubmitSingleMessage_Response",
            "SOAPCON_3_FaultDetection-Generation_AuthenticationFault",
        ] {
            let r = decode(&read(case)).unwrap();
            let Operation::SubmitSingleMessage {
                username,
                hl7_message,
                ..
            } = r.operation
            else {
                panic!("{case}: not a submit");
            };
            assert_eq!(username.as_deref(), Some("???"));
            assert!(hl7_message.starts_with("MSH|^~\\&|Test EHR Application|"));
            assert_eq!(hl7_message.matches('\r').count(), 3, "{case}");
        }
        let r = decode(&read(
            "SOAPCON_4_FaultDetection-Generation_MessageSizeFault",
        ))
        .unwrap();
        let Operation::SubmitSingleMessage { hl7_message, .. } = r.operation else {
            panic!("SOAPCON_4: not a submit");
        };
        assert_eq!(hl7_message.matches("MSH|").count(), 2);
        assert!(matches!(
            decode(&read(
                "SOAPCON_5_FaultDetection-Generation_UnsupportedOp_Fault"
            )),
            Err(DecodeError::UnknownOperation { .. })
        ));
    }

    /// Characters a SOAP client can carry, weighted towards the awkward ones.
    fn hl7_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::sample::select(vec![
                '&', '<', '>', '\r', '\n', '\t', '|', '^', '~', '\\', ']', '"', '\'', ';', '#', ' ',
                'M', 'S', 'H', 'é', '\u{FFFD}', '\u{1F600}', '\u{85}', '\u{2028}',
            ]),
            1 => any::<char>().prop_filter("XML char", |c| is_xml_char(*c)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
            let _ = envelope_version(&bytes);
        }

        #[test]
        fn never_panics_on_splices(
            insert in proptest::collection::vec(any::<u8>(), 0..64),
            text in "\\PC{0,40}",
            at in 0usize..10_000,
            use_bytes in any::<bool>(),
        ) {
            let base = submit12(&escape(HL7));
            let at = at % (base.len() + 1);
            let mut doc = base.as_bytes()[..at].to_vec();
            if use_bytes {
                doc.extend_from_slice(&insert);
            } else {
                doc.extend_from_slice(text.as_bytes());
            }
            doc.extend_from_slice(&base.as_bytes()[at..]);
            let _ = decode(&doc);
        }

        #[test]
        fn never_panics_on_markup_soup(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "<", ">", "</", "/>", "<!DOCTYPE", "<![CDATA[", "]]>", "<!--", "-->", "<?", "?>",
                "&", ";", "&#x", "&#", "&amp;", "soap:", "iis:", "xmlns:soap=\"", "\"", "'", "=",
                "Envelope", "Body", "Header", "submitSingleMessage", "hl7Message", " ",
                "http://www.w3.org/2003/05/soap-envelope", "urn:cdc:iisb:2011", "xsi:nil=\"true\"",
            ]), 0..60),
        ) {
            let doc: String = parts.concat();
            let _ = decode(doc.as_bytes());
            let spliced = submit12(&doc);
            let _ = decode(spliced.as_bytes());
        }

        #[test]
        fn hl7_round_trips(s in proptest::collection::vec(hl7_char(), 1..300)
            .prop_map(|v| v.into_iter().collect::<String>())
            .prop_filter("not blank", |s| !is_xml_whitespace(s)))
        {
            let req = decode(submit12(&escape(&s)).as_bytes());
            prop_assert!(req.is_ok(), "{:?}", req);
            let req = req.unwrap();
            prop_assert_eq!(hl7_of(&req), s.as_str());
        }
    }
}
