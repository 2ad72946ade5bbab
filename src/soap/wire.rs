//! What both ends of the CDC IIS SOAP exchange agree on: the namespaces, the operation names
//! and their actions, and how text is written into XML.
//!
//! The server (envelope decoding, responses, faults, the WSDL) and any client (the load
//! generator in `crates/izport-load`) take these from here, so there is one spelling of each
//! name and one escaping rule.
//!
//! # Escaping
//!
//! [`escape_into`] (and [`escape`]) write text for element content and for double-quoted
//! attribute values alike:
//!
//! * `&`, `<`, `>` and `"` as `&amp;`, `&lt;`, `&gt;` and `&quot;`;
//! * CR as `&#xD;`, LF as `&#xA;` and tab as `&#x9;`: character references survive a
//!   receiver's end-of-line handling (which turns a literal CR into LF) and attribute-value
//!   normalisation (which turns literal LF and tab into spaces), so HL7 segment separators
//!   arrive as CR whatever the receiving parser is;
//! * characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF) as U+FFFD, so
//!   the document stays well-formed;
//! * everything else as is (UTF-8).

/// SOAP 1.2 envelope namespace.
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// SOAP 1.1 envelope namespace.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Namespace of the CDC IIS 2011 WSDL (operations, their children and fault details).
pub const CDC_2011_NS: &str = "urn:cdc:iisb:2011";
/// Namespace of the CDC IIS 2014 WSDL (IZ Gateway's destinations).
pub const CDC_2014_NS: &str = "urn:cdc:iisb:2014";
/// Namespace of IZ Gateway's hub headers (`HubRequestHeader`, `HubResponseHeader`).
pub const CDC_HUB_NS: &str = "urn:cdc:iisb:hub:2014";
/// The WS-Addressing action of a 2014 `ConnectivityTest` reply.
pub const CONNECTIVITY_TEST_2014_RESPONSE_ACTION: &str =
    "urn:cdc:iisb:2014:IISPortType:ConnectivityTestResponse";
/// The WS-Addressing action of a 2014 `SubmitSingleMessage` reply.
pub const SUBMIT_SINGLE_MESSAGE_2014_RESPONSE_ACTION: &str =
    "urn:cdc:iisb:2014:IISPortType:SubmitSingleMessageResponse";

/// The operation that carries one HL7 message.
pub const SUBMIT_SINGLE_MESSAGE: &str = "submitSingleMessage";
/// The operation that echoes its `echoBack`.
pub const CONNECTIVITY_TEST: &str = "connectivityTest";
/// The SOAP action of [`SUBMIT_SINGLE_MESSAGE`] in the 2011 WSDL.
pub const SUBMIT_SINGLE_MESSAGE_ACTION: &str = "urn:cdc:iisb:2011:submitSingleMessage";
/// The SOAP action of [`CONNECTIVITY_TEST`] in the 2011 WSDL.
pub const CONNECTIVITY_TEST_ACTION: &str = "urn:cdc:iisb:2011:connectivityTest";
/// The WS-Addressing action of a [`SUBMIT_SINGLE_MESSAGE`] reply in the 2011 WSDL.
pub const SUBMIT_SINGLE_MESSAGE_RESPONSE_ACTION: &str =
    "urn:cdc:iisb:2011:submitSingleMessageResponse";
/// The WS-Addressing action of a [`CONNECTIVITY_TEST`] reply in the 2011 WSDL.
pub const CONNECTIVITY_TEST_RESPONSE_ACTION: &str = "urn:cdc:iisb:2011:connectivityTestResponse";

/// The `Char` production of XML 1.0: whether `c` may appear in a document at all.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Appends `text` to `out` escaped as the module documentation says.
pub fn escape_into(out: &mut String, text: &str) {
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let replacement = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\r' => "&#xD;",
            '\n' => "&#xA;",
            '\t' => "&#x9;",
            c if is_xml_char(c) => continue,
            _ => "\u{FFFD}",
        };
        out.push_str(&text[start..i]);
        out.push_str(replacement);
        start = i + c.len_utf8();
    }
    out.push_str(&text[start..]);
}

/// `text` escaped as the module documentation says.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    escape_into(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_line_ends_become_references() {
        assert_eq!(
            escape("a&b<c>d\re\"f\n\tg'h"),
            "a&amp;b&lt;c&gt;d&#xD;e&quot;f&#xA;&#x9;g'h"
        );
        assert_eq!(escape("]]>"), "]]&gt;");
        assert_eq!(escape(""), "");
        assert_eq!(escape("é—𝄞"), "é—𝄞");
    }

    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        assert_eq!(
            escape("x\u{1}\u{B}y\u{FFFF}\u{FFFE}z"),
            "x\u{FFFD}\u{FFFD}y\u{FFFD}\u{FFFD}z"
        );
        assert!(!is_xml_char('\u{0}'));
        assert!(is_xml_char('\u{10FFFF}'));
    }

    /// What an independent XML parser (quick-xml) reads back is the text we escaped, in
    /// element content and in an attribute value.
    #[test]
    fn a_parser_reads_back_the_text() {
        use quick_xml::events::Event;
        let text = "MSH|^~\\&|A\rPID|1\n\t\"<x>\"";
        let doc = format!("<r a=\"{}\">{}</r>", escape(text), escape(text));
        let mut reader = quick_xml::Reader::from_str(&doc);
        let mut content = String::new();
        let mut attribute = None;
        loop {
            match reader.read_event().expect("well-formed") {
                Event::Start(e) => {
                    let a = e.try_get_attribute("a").expect("attr").expect("a");
                    attribute = Some(a.unescape_value().expect("value").into_owned());
                }
                Event::Text(t) => content.push_str(&t.xml10_content().expect("text")),
                Event::GeneralRef(r) => match r.resolve_char_ref().expect("char ref") {
                    Some(c) => content.push(c),
                    None => content.push_str(
                        quick_xml::escape::resolve_predefined_entity(&r.decode().expect("name"))
                            .expect("predefined"),
                    ),
                },
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(content, text);
        assert_eq!(attribute.as_deref(), Some(text));
    }
}
