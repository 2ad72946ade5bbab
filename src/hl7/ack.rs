//! The CDC Z23 acknowledgement (`ACK^V04^ACK`, profile `Z23^CDCPHINVS`).
//!
//! [`build_ack`] writes
//!
//! ```text
//! MSH|^~\&|<app>|<fac>|<inbound MSH-3>|<inbound MSH-4>|<ts>||ACK^<event>^ACK|<ctrl>|<P/T/D>|2.5.1|||NE|NE|||||Z23^CDCPHINVS|<inbound MSH-23>|<inbound MSH-22>
//! MSA|<AA/AE/AR>|<inbound MSH-10>
//! ERR||<location>|<code>^<HL7 0357 text>^HL70357|<E/W/I>|<app code>^<text>^<system>|||<message>
//! ```
//!
//! always with the standard delimiters `|^~\&`; fields copied from the inbound message
//! are re-encoded from its delimiters (see [`reencode`]).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use super::encode::{MessageBuilder, SegmentBuilder};
use super::escape::{escape_into, reencode, unescape};
use super::parse::{Delimiters, Message};

/// MSA-1 acknowledgement code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckCode {
    /// Application Accept.
    AA,
    /// Application Error.
    AE,
    /// Application Reject.
    AR,
}

impl AckCode {
    /// `"AA"`, `"AE"` or `"AR"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
        }
    }
}

impl fmt::Display for AckCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ERR-4 severity (HL7 table 0516).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// `E`: the item was rejected or ignored.
    Error,
    /// `W`: accepted with a problem.
    Warning,
    /// `I`: information only.
    Info,
}

impl Severity {
    /// `"E"`, `"W"` or `"I"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "E",
            Severity::Warning => "W",
            Severity::Info => "I",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HL7 table 0357 (message error condition codes) text.
pub fn hl7_0357_text(code: u16) -> Option<&'static str> {
    Some(match code {
        0 => "Message accepted",
        100 => "Segment sequence error",
        101 => "Required field missing",
        102 => "Data type error",
        103 => "Table value not found",
        200 => "Unsupported message type",
        201 => "Unsupported event code",
        202 => "Unsupported processing id",
        203 => "Unsupported version id",
        204 => "Unknown key identifier",
        205 => "Duplicate key identifier",
        206 => "Application record locked",
        207 => "Application internal error",
        _ => return None,
    })
}

/// CDC table 0533 (application error codes) text.
pub fn cdc_0533_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "1" => "Illogical Date error",
        "2" => "Invalid Date",
        "3" => "Illogical Value error",
        "4" => "Invalid value",
        "5" => "Table value not found",
        "6" => "Required observation missing",
        _ => return None,
    })
}

/// ERR-2 error location (ERL): segment id, segment sequence (1-based occurrence), field,
/// field repetition, component, subcomponent. Zero means "not given"; trailing zeros are
/// left out when rendered (`RXA^1^5^1^1`, `MSH^1^12`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ErrLocation {
    pub segment: String,
    pub sequence: u32,
    pub field: u32,
    pub repetition: u32,
    pub component: u32,
    pub subcomponent: u32,
}

impl ErrLocation {
    /// A whole segment: `PID^1`.
    pub fn segment(segment: impl Into<String>, sequence: u32) -> Self {
        ErrLocation {
            segment: segment.into(),
            sequence,
            ..ErrLocation::default()
        }
    }

    /// A field: `ErrLocation::field("PID", 1, 7)` renders `PID^1^7`.
    pub fn field(segment: impl Into<String>, sequence: u32, field: u32) -> Self {
        ErrLocation {
            field,
            ..ErrLocation::segment(segment, sequence)
        }
    }

    /// Sets the field repetition.
    pub fn with_repetition(mut self, repetition: u32) -> Self {
        self.repetition = repetition;
        self
    }

    /// Sets the component (and repetition 1 when no repetition was given).
    pub fn with_component(mut self, component: u32) -> Self {
        self.component = component;
        self.repetition = self.repetition.max(1);
        self
    }

    /// Sets the subcomponent (and component and repetition 1 when not given).
    pub fn with_subcomponent(mut self, subcomponent: u32) -> Self {
        self.subcomponent = subcomponent;
        self.component = self.component.max(1);
        self.repetition = self.repetition.max(1);
        self
    }

    /// The encoded ERL value with delimiters `d`; zeros before the last non-zero number
    /// are rendered as empty components.
    pub fn render(&self, d: &Delimiters) -> String {
        let mut out = String::with_capacity(self.segment.len() + 16);
        escape_into(&self.segment, d, &mut out);
        let parts = [
            self.sequence,
            self.field,
            self.repetition,
            self.component,
            self.subcomponent,
        ];
        if let Some(last) = parts.iter().rposition(|&n| n != 0) {
            for &n in &parts[..=last] {
                out.push(d.component);
                if n != 0 {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "{n}");
                }
            }
        }
        out
    }
}

impl fmt::Display for ErrLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&Delimiters::DEFAULT))
    }
}

/// ERR-5 application error code, e.g. `5^Table value not found^HL70533`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AppCode {
    pub code: String,
    pub text: String,
    pub system: String,
}

impl AppCode {
    /// Any coded value.
    pub fn new(
        code: impl Into<String>,
        text: impl Into<String>,
        system: impl Into<String>,
    ) -> Self {
        AppCode {
            code: code.into(),
            text: text.into(),
            system: system.into(),
        }
    }

    /// A CDC table 0533 code with its standard text (empty text for an unknown code).
    pub fn cdc(code: &str) -> Self {
        AppCode::new(code, cdc_0533_text(code).unwrap_or(""), "HL70533")
    }
}

/// One ERR segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ErrEntry {
    /// ERR-2; omitted when `None`.
    pub location: Option<ErrLocation>,
    /// ERR-3 code from HL7 table 0357 (its text is looked up when rendering).
    pub hl7_code: u16,
    /// ERR-4.
    pub severity: Severity,
    /// ERR-5; omitted when `None`.
    pub app_code: Option<AppCode>,
    /// ERR-8 user message.
    pub message: String,
}

impl ErrEntry {
    /// An entry without location or application code.
    pub fn new(severity: Severity, hl7_code: u16, message: impl Into<String>) -> Self {
        ErrEntry {
            location: None,
            hl7_code,
            severity,
            app_code: None,
            message: message.into(),
        }
    }

    /// Severity `E`.
    pub fn error(hl7_code: u16, message: impl Into<String>) -> Self {
        ErrEntry::new(Severity::Error, hl7_code, message)
    }

    /// Severity `W`.
    pub fn warning(hl7_code: u16, message: impl Into<String>) -> Self {
        ErrEntry::new(Severity::Warning, hl7_code, message)
    }

    /// Severity `I`.
    pub fn info(hl7_code: u16, message: impl Into<String>) -> Self {
        ErrEntry::new(Severity::Info, hl7_code, message)
    }

    /// Sets ERR-2.
    pub fn at(mut self, location: ErrLocation) -> Self {
        self.location = Some(location);
        self
    }

    /// Sets ERR-5.
    pub fn with_app_code(mut self, app_code: AppCode) -> Self {
        self.app_code = Some(app_code);
        self
    }
}

/// What an acknowledgement copies from the inbound message. Every text is the raw
/// (encoded) value as it appeared inbound, encoded with `delimiters`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckContext<'a> {
    /// The inbound message's delimiters.
    pub delimiters: Delimiters,
    /// Inbound MSH-3 (becomes the ACK's MSH-5).
    pub sending_application: &'a str,
    /// Inbound MSH-4 (becomes the ACK's MSH-6).
    pub sending_facility: &'a str,
    /// Inbound MSH-5 (becomes the ACK's MSH-3 unless empty).
    pub receiving_application: &'a str,
    /// Inbound MSH-6 (becomes the ACK's MSH-4 unless empty).
    pub receiving_facility: &'a str,
    /// Inbound MSH-9-1, e.g. `VXU`.
    pub message_type: &'a str,
    /// Inbound MSH-9-2, e.g. `V04`.
    pub trigger_event: &'a str,
    /// Inbound MSH-10 (echoed in MSA-2).
    pub control_id: &'a str,
    /// Inbound MSH-11-1 (`P`, `T` or `D`).
    pub processing_id: &'a str,
    /// Inbound MSH-22 (becomes the ACK's MSH-23).
    pub sending_responsible_org: &'a str,
    /// Inbound MSH-23 (becomes the ACK's MSH-22).
    pub receiving_responsible_org: &'a str,
}

impl<'a> AckContext<'a> {
    /// Nothing known about the inbound message.
    pub fn unknown() -> Self {
        AckContext::default()
    }

    /// The inbound control id (raw MSH-10) when there is one.
    pub fn control_id(&self) -> Option<&'a str> {
        (!is_blank(self.control_id)).then_some(self.control_id)
    }

    /// Takes the values from a parsed message's MSH.
    pub fn from_message(msg: &Message<'a>) -> Self {
        let msh = msg.msh();
        let f = |n| msh.field(n).raw();
        AckContext {
            delimiters: msg.delimiters(),
            sending_application: f(3),
            sending_facility: f(4),
            receiving_application: f(5),
            receiving_facility: f(6),
            message_type: msh.field(9).component(1).raw(),
            trigger_event: msh.field(9).component(2).raw(),
            control_id: f(10),
            processing_id: msh.field(11).component(1).raw(),
            sending_responsible_org: f(22),
            receiving_responsible_org: f(23),
        }
    }

    /// Best effort for any text: the values of the parsed message when it parses;
    /// otherwise, if some line starts with `MSH|` (after a BOM and whitespace), its
    /// fields read with the standard delimiters; otherwise [`AckContext::unknown`].
    pub fn salvage(raw: &'a str) -> Self {
        if let Ok(msg) = Message::parse(raw) {
            return AckContext::from_message(&msg);
        }
        for line in raw.split(['\r', '\n']) {
            let line = line.trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
            let Some(rest) = line.strip_prefix("MSH|") else {
                continue;
            };
            // rest = MSH-2 | MSH-3 | ...
            let f = |n: usize| rest.split('|').nth(n - 2).unwrap_or("");
            let comp = |n: usize, c: usize| f(n).split('^').nth(c - 1).unwrap_or("");
            return AckContext {
                delimiters: Delimiters::DEFAULT,
                sending_application: f(3),
                sending_facility: f(4),
                receiving_application: f(5),
                receiving_facility: f(6),
                message_type: comp(9, 1),
                trigger_event: comp(9, 2),
                control_id: f(10),
                processing_id: comp(11, 1),
                sending_responsible_org: f(22),
                receiving_responsible_org: f(23),
            };
        }
        AckContext::unknown()
    }
}

/// The ACK's own values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckParams<'p> {
    /// The ACK's MSH-10 (plain text; escaped).
    pub control_id: &'p str,
    /// The ACK's MSH-7, already formatted, e.g. `20240515093012-0500` (plain text).
    pub timestamp: &'p str,
    /// MSH-3 when the inbound MSH-5 is empty: encoded HD text in the standard
    /// delimiters (`IZPORT`, or `RIIIS^2.16.840.1.113883.3.72^ISO`).
    pub sending_application: &'p str,
    /// MSH-4 when the inbound MSH-6 is empty; encoded like `sending_application`.
    pub sending_facility: &'p str,
}

fn is_blank(raw: &str) -> bool {
    raw.is_empty() || raw == "\"\""
}

/// The decimal text of a table 0357 code, without allocating for the standard ones.
fn code_text(code: u16) -> Cow<'static, str> {
    Cow::Borrowed(match code {
        0 => "0",
        100 => "100",
        101 => "101",
        102 => "102",
        103 => "103",
        200 => "200",
        201 => "201",
        202 => "202",
        203 => "203",
        204 => "204",
        205 => "205",
        206 => "206",
        207 => "207",
        _ => return Cow::Owned(code.to_string()),
    })
}

/// The inbound value re-encoded, or `default` when it is empty or null.
fn or_default<'x>(raw: &'x str, default: &'x str, from: &Delimiters) -> Cow<'x, str> {
    if is_blank(raw) {
        Cow::Borrowed(default)
    } else {
        reencode(raw, from, &Delimiters::DEFAULT)
    }
}

fn fill_err<'e>(s: &mut SegmentBuilder<'e>, e: &'e ErrEntry, d: &Delimiters) {
    if let Some(loc) = &e.location {
        s.set_raw(2, loc.render(d));
    }
    s.set_comp(3, 1, code_text(e.hl7_code));
    s.set_comp(3, 2, hl7_0357_text(e.hl7_code).unwrap_or(""));
    s.set_comp(3, 3, "HL70357");
    s.set(4, e.severity.as_str());
    if let Some(app) = &e.app_code {
        let text = match (app.text.is_empty(), app.system.as_str()) {
            (true, "HL70533") => cdc_0533_text(&app.code).unwrap_or(""),
            _ => app.text.as_str(),
        };
        s.set_comp(5, 1, app.code.as_str())
            .set_comp(5, 2, text)
            .set_comp(5, 3, app.system.as_str());
    }
    s.set(8, e.message.as_str());
}

/// Builds the Z23 acknowledgement; see the module documentation for the layout. The
/// result uses the standard delimiters, ends every segment with CR and parses with
/// [`Message::parse`].
pub fn build_ack<'a>(
    ctx: &AckContext<'a>,
    code: AckCode,
    errors: &[ErrEntry],
    params: &AckParams<'_>,
) -> String {
    let d = Delimiters::DEFAULT;
    let from = &ctx.delimiters;
    let copy = |raw: &'a str| reencode(raw, from, &d);
    let event: Cow<'_, str> = if unescape(ctx.message_type, from).eq_ignore_ascii_case("VXU") {
        Cow::Borrowed("V04")
    } else {
        unescape(ctx.trigger_event, from)
    };
    let processing = match unescape(ctx.processing_id, from).trim() {
        "T" => "T",
        "D" => "D",
        _ => "P",
    };
    let mut m = MessageBuilder::new(d);
    m.msh(|s| {
        s.set_raw(
            3,
            or_default(ctx.receiving_application, params.sending_application, from),
        )
        .set_raw(
            4,
            or_default(ctx.receiving_facility, params.sending_facility, from),
        )
        .set_raw(5, copy(ctx.sending_application))
        .set_raw(6, copy(ctx.sending_facility))
        .set(7, params.timestamp)
        .set_comp(9, 1, "ACK")
        .set_comp(9, 2, event)
        .set_comp(9, 3, "ACK")
        .set(10, params.control_id)
        .set(11, processing)
        .set(12, "2.5.1")
        .set(15, "NE")
        .set(16, "NE")
        .set_comp(21, 1, "Z23")
        .set_comp(21, 2, "CDCPHINVS")
        .set_raw(22, copy(ctx.receiving_responsible_org))
        .set_raw(23, copy(ctx.sending_responsible_org));
    });
    m.segment("MSA", |s| {
        s.set(1, code.as_str()).set_raw(2, copy(ctx.control_id));
    });
    for e in errors {
        m.segment("ERR", |s| fill_err(s, e, &d));
    }
    m.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::parse::tests::VXU;
    use proptest::prelude::*;

    const PARAMS: AckParams<'static> = AckParams {
        control_id: "IZP-20240515-0001",
        timestamp: "20240515093013-0500",
        sending_application: "IZPORT",
        sending_facility: "IZFAC",
    };

    fn parse(text: &str) -> Message<'_> {
        match Message::parse(text) {
            Ok(m) => m,
            Err(e) => panic!("{e}: {text:?}"),
        }
    }

    #[test]
    fn codes_and_tables() {
        assert_eq!(AckCode::AA.as_str(), "AA");
        assert_eq!(AckCode::AE.to_string(), "AE");
        assert_eq!(AckCode::AR.as_str(), "AR");
        assert_eq!(Severity::Error.as_str(), "E");
        assert_eq!(Severity::Warning.to_string(), "W");
        assert_eq!(Severity::Info.as_str(), "I");
        assert_eq!(hl7_0357_text(0), Some("Message accepted"));
        assert_eq!(hl7_0357_text(101), Some("Required field missing"));
        assert_eq!(hl7_0357_text(103), Some("Table value not found"));
        assert_eq!(hl7_0357_text(207), Some("Application internal error"));
        assert_eq!(hl7_0357_text(208), None);
        assert_eq!(hl7_0357_text(999), None);
        assert_eq!(cdc_0533_text("1"), Some("Illogical Date error"));
        assert_eq!(cdc_0533_text("5"), Some("Table value not found"));
        assert_eq!(cdc_0533_text("6"), Some("Required observation missing"));
        assert_eq!(cdc_0533_text("7"), None);
        assert_eq!(cdc_0533_text(""), None);
        assert_eq!(
            AppCode::cdc("2"),
            AppCode::new("2", "Invalid Date", "HL70533")
        );
    }

    #[test]
    fn err_location_rendering() {
        let l = ErrLocation::field("RXA", 1, 5).with_component(1);
        assert_eq!(l.to_string(), "RXA^1^5^1^1");
        assert_eq!(ErrLocation::field("MSH", 1, 12).to_string(), "MSH^1^12");
        assert_eq!(ErrLocation::segment("PID", 1).to_string(), "PID^1");
        assert_eq!(ErrLocation::segment("", 0).to_string(), "");
        assert_eq!(
            ErrLocation::field("PID", 1, 3)
                .with_repetition(2)
                .to_string(),
            "PID^1^3^2"
        );
        assert_eq!(
            ErrLocation::field("PID", 1, 3)
                .with_repetition(2)
                .with_component(4)
                .to_string(),
            "PID^1^3^2^4"
        );
        assert_eq!(
            ErrLocation::field("PID", 1, 11)
                .with_subcomponent(2)
                .to_string(),
            "PID^1^11^1^1^2"
        );
        let gap = ErrLocation {
            segment: "OBX".into(),
            sequence: 2,
            field: 5,
            repetition: 0,
            component: 3,
            subcomponent: 0,
        };
        assert_eq!(gap.to_string(), "OBX^2^5^^3");
        let odd = ErrLocation::field("A^B", 1, 2);
        assert_eq!(odd.to_string(), "A\\S\\B^1^2");
    }

    #[test]
    fn full_ack_for_sample_vxu() {
        let m = parse(VXU);
        let ctx = AckContext::from_message(&m);
        assert_eq!(ctx.control_id, "NIST-IZ-AD-2.1_Send_V04_Z22");
        assert_eq!(ctx.message_type, "VXU");
        assert_eq!(ctx.trigger_event, "V04");
        assert_eq!(ctx.processing_id, "P");
        let ack = build_ack(&ctx, AckCode::AA, &[], &PARAMS);
        assert_eq!(
            ack,
            concat!(
                "MSH|^~\\&|IIS-SANDBOX|RIIIS|MYEHR2.5|RI88140101|20240515093013-0500||ACK^V04^ACK|IZP-20240515-0001|P|2.5.1|||NE|NE|||||Z23^CDCPHINVS|RIIIS|DCS\r",
                "MSA|AA|NIST-IZ-AD-2.1_Send_V04_Z22\r",
            )
        );
        let p = parse(&ack);
        assert_eq!(p.segment_count(), 2);
        assert_eq!(
            p.get("MSA-2").as_deref(),
            Some("NIST-IZ-AD-2.1_Send_V04_Z22")
        );
        assert_eq!(p.get("MSH-21").as_deref(), Some("Z23"));
    }

    #[test]
    fn ack_with_errors() {
        let m = parse(VXU);
        let ctx = AckContext::from_message(&m);
        let errors = [
            ErrEntry::warning(103, "Vaccine code 999 | unknown")
                .at(ErrLocation::field("RXA", 1, 5).with_component(1))
                .with_app_code(AppCode::cdc("5")),
            ErrEntry::error(101, "Patient birth date is required")
                .at(ErrLocation::field("PID", 1, 7))
                .with_app_code(AppCode::new("6", "", "HL70533")),
            ErrEntry::info(0, ""),
            ErrEntry::error(999, "x").with_app_code(AppCode::new("L1", "Local", "99LOCAL")),
        ];
        let ack = build_ack(&ctx, AckCode::AE, &errors, &PARAMS);
        let lines: Vec<&str> = ack.split_terminator('\r').collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[1], "MSA|AE|NIST-IZ-AD-2.1_Send_V04_Z22");
        assert_eq!(
            lines[2],
            "ERR||RXA^1^5^1^1|103^Table value not found^HL70357|W|5^Table value not found^HL70533|||Vaccine code 999 \\F\\ unknown"
        );
        assert_eq!(
            lines[3],
            "ERR||PID^1^7|101^Required field missing^HL70357|E|6^Required observation missing^HL70533|||Patient birth date is required"
        );
        assert_eq!(lines[4], "ERR|||0^Message accepted^HL70357|I");
        assert_eq!(lines[5], "ERR|||999^^HL70357|E|L1^Local^99LOCAL|||x");
        let p = parse(&ack);
        assert_eq!(p.segments_named("ERR").count(), 4);
        assert_eq!(
            p.get("ERR-8").as_deref(),
            Some("Vaccine code 999 | unknown")
        );
        assert_eq!(p.get("ERR-2-3").as_deref(), Some("5"));
        assert_eq!(
            p.get("ERR(2)-3-2").as_deref(),
            Some("Required field missing")
        );
        assert!(ack.ends_with('\r'));
    }

    #[test]
    fn defaults_swaps_and_processing_id() {
        let text = "MSH|^~\\&|SND^1.2.3^ISO|SF|||20240101||QBP^Q11^QBP_Q11|Q-1|T^|2.5.1||||||||||ORG22|ORG23\r";
        let m = parse(text);
        let ctx = AckContext::from_message(&m);
        let ack = build_ack(&ctx, AckCode::AR, &[], &PARAMS);
        assert_eq!(
            ack,
            "MSH|^~\\&|IZPORT|IZFAC|SND^1.2.3^ISO|SF|20240515093013-0500||ACK^Q11^ACK|IZP-20240515-0001|T|2.5.1|||NE|NE|||||Z23^CDCPHINVS|ORG23|ORG22\rMSA|AR|Q-1\r"
        );
        // Null receiving application/facility also fall back to the defaults.
        let m = parse("MSH|^~\\&|A|B|\"\"|\"\"|||VXU^V04|C1|X\r");
        let ack = build_ack(&AckContext::from_message(&m), AckCode::AA, &[], &PARAMS);
        assert!(ack.starts_with("MSH|^~\\&|IZPORT|IZFAC|A|B|"), "{ack}");
        assert!(ack.contains("|ACK^V04^ACK|IZP-20240515-0001|P|2.5.1|"));
        // Defaults may be HD values with components.
        let params = AckParams {
            sending_application: "IZ^2.16.840.1^ISO",
            sending_facility: "bad|fac",
            ..PARAMS
        };
        let ack = build_ack(&AckContext::unknown(), AckCode::AR, &[], &params);
        assert_eq!(
            ack,
            "MSH|^~\\&|IZ^2.16.840.1^ISO|bad\\F\\fac|||20240515093013-0500||ACK^^ACK|IZP-20240515-0001|P|2.5.1|||NE|NE|||||Z23^CDCPHINVS\rMSA|AR\r"
        );
        assert_eq!(parse(&ack).get("MSH-3-2").as_deref(), Some("2.16.840.1"));
    }

    #[test]
    fn inbound_with_other_delimiters_is_reencoded() {
        let text = "MSH#*@!$#APP*X!S!Y#FAC^1##RCV#20240101##VXU*V04#CTL!F!1^Z#D#2.5.1\rPID#1\r";
        let m = parse(text);
        assert_eq!(m.get("MSH-10").as_deref(), Some("CTL#1^Z"));
        let ctx = AckContext::from_message(&m);
        let ack = build_ack(&ctx, AckCode::AA, &[], &PARAMS);
        assert_eq!(
            ack,
            "MSH|^~\\&|IZPORT|RCV|APP^X*Y|FAC\\S\\1|20240515093013-0500||ACK^V04^ACK|IZP-20240515-0001|D|2.5.1|||NE|NE|||||Z23^CDCPHINVS\rMSA|AA|CTL#1\\S\\Z\r"
        );
        let p = parse(&ack);
        assert_eq!(p.get("MSA-2").as_deref(), Some("CTL#1^Z"));
        assert_eq!(p.get("MSH-5-2").as_deref(), Some("X*Y"));
        assert_eq!(p.get("MSH-6").as_deref(), Some("FAC^1"));
    }

    #[test]
    fn salvage_for_unparseable_text() {
        // Junk before the MSH: Message::parse fails, the MSH line is still found.
        let text = "garbage line\r\nMSH|^~\\&|SND|SF|RCV|RF|2024||VXU^V04|CTRL-42|P|2.5.1\rPID|1";
        assert!(Message::parse(text).is_err());
        let ctx = AckContext::salvage(text);
        assert_eq!(ctx.control_id, "CTRL-42");
        assert_eq!(ctx.control_id(), Some("CTRL-42"));
        assert_eq!(AckContext::unknown().control_id(), None);
        assert_eq!(ctx.sending_application, "SND");
        assert_eq!(ctx.message_type, "VXU");
        let ack = build_ack(
            &ctx,
            AckCode::AR,
            &[ErrEntry::error(100, "The message must start with MSH")],
            &PARAMS,
        );
        let p = parse(&ack);
        assert_eq!(p.get("MSA-2").as_deref(), Some("CTRL-42"));
        assert_eq!(p.get("MSH-3").as_deref(), Some("RCV"));
        assert_eq!(p.get("MSH-9-2").as_deref(), Some("V04"));
        // Bad encoding characters: the default delimiters are assumed.
        let ctx = AckContext::salvage("\u{feff}MSH|^^\\&|A|B|C|D|E|F|G|ID-7");
        assert_eq!(ctx.control_id, "ID-7");
        assert_eq!(ctx.message_type, "G");
        // A short MSH line.
        let ctx = AckContext::salvage("xx\nMSH|");
        assert_eq!(
            ctx,
            AckContext {
                ..AckContext::unknown()
            }
        );
        // Parseable text: same as from_message.
        let m = parse(VXU);
        assert_eq!(AckContext::salvage(VXU), AckContext::from_message(&m));
        // Nothing at all.
        assert_eq!(AckContext::salvage(""), AckContext::unknown());
        assert_eq!(AckContext::salvage("<xml/>"), AckContext::default());
        let ack = build_ack(&AckContext::unknown(), AckCode::AR, &[], &PARAMS);
        assert!(ack.ends_with("\rMSA|AR\r"));
        assert!(Message::parse(&ack).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            // No regression files: this module must not write outside src/hl7.
            failure_persistence: None,
            ..ProptestConfig::with_cases(512)
        })]

        #[test]
        fn ack_always_parses(
            raw in any::<String>(),
            junk in "MSH[|^~\\\\&#*!$@A-Z0-9\"\r\n.-]{0,80}",
            msg in any::<String>(),
            seg in "[A-Z^|&]{0,4}",
            code in 0u16..300,
        ) {
            for text in [raw.as_str(), junk.as_str()] {
                let ctx = AckContext::salvage(text);
                let errors = [ErrEntry::error(code, msg.clone())
                    .at(ErrLocation::field(seg.clone(), 1, 2).with_component(3))
                    .with_app_code(AppCode::new(msg.clone(), "", "HL70533"))];
                let ack = build_ack(&ctx, AckCode::AE, &errors, &PARAMS);
                let p = Message::parse(&ack).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(p.segment_count(), 3);
                prop_assert!(p.get("MSH-9").as_deref() == Some("ACK"));
                prop_assert!(p.get("MSA-1").as_deref() == Some("AE"));
                prop_assert_eq!(p.segment("ERR").map(|s| s.field(8).value().into_owned()), Some(msg.clone()));
                if let Ok(m) = Message::parse(text) {
                    let inbound = m.msh().field(10);
                    let echoed = p.segment("MSA").map(|s| s.field(2));
                    prop_assert_eq!(
                        echoed.map(|f| f.decoded().into_owned()),
                        Some(inbound.decoded().into_owned())
                    );
                }
            }
        }
    }

    /// `cargo test --release -- --ignored --nocapture ack_speed`
    #[test]
    #[ignore = "manual: speed check, run in release with --nocapture"]
    fn ack_speed() {
        use std::hint::black_box;
        use std::time::Instant;
        let m = parse(VXU);
        let ctx = AckContext::from_message(&m);
        let errors = [ErrEntry::warning(103, "Vaccine code 999 is not recognized")
            .at(ErrLocation::field("RXA", 1, 5).with_component(1))
            .with_app_code(AppCode::cdc("5"))];
        for (label, errs) in [("AA, no ERR", &errors[..0]), ("AE, one ERR", &errors[..])] {
            let n = 500_000u32;
            let start = Instant::now();
            for _ in 0..n {
                black_box(build_ack(
                    black_box(&ctx),
                    AckCode::AA,
                    black_box(errs),
                    &PARAMS,
                ));
            }
            let per = start.elapsed().as_secs_f64() / f64::from(n);
            println!("build_ack ({label}): {:.0} ns", per * 1e9);
        }
    }
}
