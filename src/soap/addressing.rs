//! WS-Addressing on replies. A request that carries WS-Addressing headers gets a reply that
//! carries them back, in the request's addressing namespace: `wsa:Action` (the operation's
//! response action, or the fault action), `wsa:MessageID` (new), `wsa:RelatesTo` (the
//! request's MessageID) and `wsa:To` (anonymous: the reply travels on the same connection).
//! Clients that require addressing (JAX-WS with `@Addressing(required = true)`, WCF's
//! `Soap12WSAddressing10`) refuse a reply without them.

use rand::RngCore;

use super::envelope::{Addressing, WSA_2004_NS, WSA_NS};
use super::wire::escape_into;

/// The action of a fault reply in each addressing namespace.
pub fn fault_action(namespace: &str) -> &'static str {
    if namespace == WSA_2004_NS {
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
    } else {
        "http://www.w3.org/2005/08/addressing/fault"
    }
}

/// The anonymous address in each addressing namespace.
fn anonymous(namespace: &str) -> &'static str {
    if namespace == WSA_2004_NS {
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    } else {
        "http://www.w3.org/2005/08/addressing/anonymous"
    }
}

/// A new message id: a random (version 4) UUID as a URN.
pub fn new_message_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The `soap:Header` of a reply to a request with `addressing`, with `action`, and `extra`
/// header blocks after the addressing ones; empty when there is neither.
pub fn reply_header(addressing: Option<&Addressing>, action: &str, extra: &str) -> String {
    let Some(a) = addressing else {
        return if extra.is_empty() {
            String::new()
        } else {
            format!("<soap:Header>{extra}</soap:Header>")
        };
    };
    let ns = if a.namespace == WSA_2004_NS {
        WSA_2004_NS
    } else {
        WSA_NS
    };
    let mut out = String::with_capacity(400);
    out.push_str("<soap:Header xmlns:wsa=\"");
    out.push_str(ns);
    out.push_str("\"><wsa:Action>");
    escape_into(&mut out, action);
    out.push_str("</wsa:Action><wsa:MessageID>");
    out.push_str(&new_message_id());
    out.push_str("</wsa:MessageID>");
    if let Some(id) = &a.message_id {
        out.push_str("<wsa:RelatesTo>");
        escape_into(&mut out, id);
        out.push_str("</wsa:RelatesTo>");
    }
    out.push_str("<wsa:To>");
    out.push_str(anonymous(ns));
    out.push_str("</wsa:To>");
    out.push_str(extra);
    out.push_str("</soap:Header>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_uuid_urns() {
        let a = new_message_id();
        let b = new_message_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), "urn:uuid:".len() + 36, "{a}");
        assert_eq!(a.as_bytes()["urn:uuid:".len() + 14], b'4', "{a}");
    }

    #[test]
    fn no_addressing_no_header() {
        assert_eq!(reply_header(None, "x", ""), "");
        assert_eq!(
            reply_header(None, "x", "<h/>"),
            "<soap:Header><h/></soap:Header>"
        );
    }

    #[test]
    fn the_header_answers_in_the_request_namespace() {
        let a = Addressing {
            namespace: WSA_2004_NS,
            message_id: Some("uuid:<1>".into()),
            ..Addressing::default()
        };
        let h = reply_header(Some(&a), "urn:x:Response", "");
        assert!(h.starts_with(&format!("<soap:Header xmlns:wsa=\"{WSA_2004_NS}\">")));
        assert!(h.contains("<wsa:Action>urn:x:Response</wsa:Action>"));
        assert!(h.contains("<wsa:RelatesTo>uuid:&lt;1&gt;</wsa:RelatesTo>"));
        assert!(h.contains("role/anonymous</wsa:To>"));
    }
}
