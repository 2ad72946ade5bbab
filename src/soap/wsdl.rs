//! The service's WSDL (`wsdl/cdc-iis-2011.wsdl`), served at `GET /soap?wsdl`.
//!
//! The file is izport's own description of the CDC IIS 2011 contract
//! (`urn:cdc:iisb:2011`, SOAP 1.2 document/literal, with a SOAP 1.1 binding and
//! port beside the contract's SOAP 1.2 ones). Its port addresses are the
//! placeholder [`ADDRESS_PLACEHOLDER`], which [`render`] replaces with the
//! public address of the SOAP endpoint.

use super::wire::escape;

/// The WSDL as shipped, with the address placeholder in it.
pub const WSDL_TEMPLATE: &str = include_str!("../../wsdl/cdc-iis-2011.wsdl");

/// Stands for the endpoint address in [`WSDL_TEMPLATE`] (the `address location` of
/// ports `client_Port_Soap12` and `client_Port_Soap11`).
pub const ADDRESS_PLACEHOLDER: &str = "{{IZPORT_SOAP_ADDRESS}}";

/// The 2014 contract's WSDL as shipped (`wsdl/cdc-iis-2014.wsdl`), served at
/// `GET /soap/2014?wsdl`, with the same address placeholder.
pub const WSDL_2014_TEMPLATE: &str = include_str!("../../wsdl/cdc-iis-2014.wsdl");

/// The 2014 WSDL with `address` (for example `https://iis.example.org/soap/2014`) as the
/// endpoint location of both ports. The address is XML-escaped.
pub fn render_2014(address: &str) -> String {
    WSDL_2014_TEMPLATE.replace(ADDRESS_PLACEHOLDER, &escape(address))
}

/// Content-Type to serve the WSDL with.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The WSDL with `address` (for example `https://iis.example.org/soap`) as
/// the endpoint location. The address is XML-escaped.
pub fn render(address: &str) -> String {
    WSDL_TEMPLATE.replace(ADDRESS_PLACEHOLDER, &escape(address))
}

#[cfg(test)]
mod tests {
    use super::super::wire::CDC_2011_NS;
    use super::*;
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;
    use quick_xml::NsReader;

    const WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
    const SOAP12_WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
    const XS_NS: &str = "http://www.w3.org/2001/XMLSchema";
    const WSAW_NS: &str = "http://www.w3.org/2005/08/addressing";

    /// A parsed element: `{ns}local` name, attributes by `{ns}local` (or bare
    /// local name when unqualified), parent and children indices.
    #[derive(Debug)]
    struct El {
        name: String,
        attrs: Vec<(String, String)>,
        children: Vec<usize>,
    }

    struct Doc {
        els: Vec<El>,
    }

    impl Doc {
        fn parse(xml: &str) -> Doc {
            let mut reader = NsReader::from_str(xml);
            reader.config_mut().check_end_names = true;
            let mut els: Vec<El> = Vec::new();
            let mut stack: Vec<usize> = Vec::new();
            loop {
                let (ns, event) = reader.read_resolved_event().expect("well-formed WSDL");
                let empty = matches!(event, Event::Empty(_));
                match event {
                    Event::Start(e) | Event::Empty(e) => {
                        let name = clark(ns, e.local_name().into_inner());
                        let mut attrs = Vec::new();
                        for a in e.attributes() {
                            let a = a.expect("attribute");
                            if a.key.as_namespace_binding().is_some() {
                                continue;
                            }
                            let (ans, local) = reader.resolve_attribute(a.key);
                            let value = a.unescape_value().expect("attribute value").into_owned();
                            attrs.push((clark(ans, local.into_inner()), value));
                        }
                        els.push(El {
                            name,
                            attrs,
                            children: Vec::new(),
                        });
                        let index = els.len() - 1;
                        if let Some(parent) = stack.last() {
                            els[*parent].children.push(index);
                        } else {
                            assert_eq!(index, 0, "single root");
                        }
                        if !empty {
                            stack.push(index);
                        }
                    }
                    Event::End(_) => {
                        stack.pop().expect("balanced");
                    }
                    Event::Text(t) if stack.is_empty() => {
                        assert!(t.decode().unwrap().trim().is_empty());
                    }
                    Event::Eof => break,
                    Event::DocType(_) => panic!("no DOCTYPE expected"),
                    Event::GeneralRef(_) | Event::CData(_) if stack.is_empty() => {
                        panic!("unexpected content outside the root")
                    }
                    _ => {}
                }
            }
            assert!(stack.is_empty(), "unclosed elements");
            Doc { els }
        }

        fn root(&self) -> usize {
            0
        }

        fn attr(&self, el: usize, name: &str) -> Option<&str> {
            self.els[el]
                .attrs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }

        fn children(&self, el: usize, ns: &str, local: &str) -> Vec<usize> {
            let name = format!("{{{ns}}}{local}");
            self.els[el]
                .children
                .iter()
                .copied()
                .filter(|c| self.els[*c].name == name)
                .collect()
        }

        fn child(&self, el: usize, ns: &str, local: &str) -> usize {
            let found = self.children(el, ns, local);
            assert_eq!(found.len(), 1, "one {local} under {}", self.els[el].name);
            found[0]
        }

        fn named(&self, el: usize, ns: &str, local: &str, name: &str) -> usize {
            let found: Vec<usize> = self
                .children(el, ns, local)
                .into_iter()
                .filter(|c| self.attr(*c, "name") == Some(name))
                .collect();
            assert_eq!(found.len(), 1, "one {local} named {name}");
            found[0]
        }

        fn names(&self, el: usize, ns: &str, local: &str) -> Vec<&str> {
            self.children(el, ns, local)
                .into_iter()
                .map(|c| self.attr(c, "name").unwrap_or(""))
                .collect()
        }
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

    fn rendered() -> Doc {
        Doc::parse(&render("http://127.0.0.1:8080/soap"))
    }

    #[test]
    fn the_2014_wsdl_names_what_the_contract_names() {
        const NS14: &str = "urn:cdc:iisb:2014";
        const SOAP11_WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
        assert_eq!(WSDL_2014_TEMPLATE.matches(ADDRESS_PLACEHOLDER).count(), 2);
        let doc = Doc::parse(&render_2014("https://iis.example.org/soap/2014"));
        assert_eq!(doc.attr(doc.root(), "targetNamespace"), Some(NS14));
        let pt = doc.named(doc.root(), WSDL_NS, "portType", "IISPortType");
        assert_eq!(
            doc.names(pt, WSDL_NS, "operation"),
            vec!["ConnectivityTest", "SubmitSingleMessage"]
        );
        let action = "{http://www.w3.org/2006/05/addressing/wsdl}Action";
        for op in ["ConnectivityTest", "SubmitSingleMessage"] {
            let o = doc.named(pt, WSDL_NS, "operation", op);
            for (dir, suffix) in [("input", "Request"), ("output", "Response")] {
                let d = doc.child(o, WSDL_NS, dir);
                assert_eq!(
                    doc.attr(d, action),
                    Some(&*format!("{NS14}:IISPortType:{op}{suffix}"))
                );
                assert_eq!(
                    doc.attr(d, "message"),
                    Some(&*format!("tns:{op}{suffix}Message"))
                );
            }
        }
        for (binding, soap_ns) in [
            ("IISBindingSoap12", SOAP12_WSDL_NS),
            ("IISBindingSoap11", SOAP11_WSDL_NS),
        ] {
            let b = doc.named(doc.root(), WSDL_NS, "binding", binding);
            for op in ["ConnectivityTest", "SubmitSingleMessage"] {
                let o = doc.named(b, WSDL_NS, "operation", op);
                assert_eq!(
                    doc.attr(doc.child(o, soap_ns, "operation"), "soapAction"),
                    Some(&*format!("{NS14}:IISPortType:{op}Request"))
                );
            }
        }
        let service = doc.named(doc.root(), WSDL_NS, "service", "IISService");
        assert_eq!(
            doc.names(service, WSDL_NS, "port"),
            vec!["IISPortSoap12", "IISPortSoap11"]
        );
        let port = doc.named(service, WSDL_NS, "port", "IISPortSoap12");
        assert_eq!(
            doc.attr(doc.child(port, SOAP12_WSDL_NS, "address"), "location"),
            Some("https://iis.example.org/soap/2014")
        );
    }

    #[test]
    fn render_substitutes_escaped_address() {
        // One address per port: SOAP 1.2 and SOAP 1.1.
        assert_eq!(WSDL_TEMPLATE.matches(ADDRESS_PLACEHOLDER).count(), 2);
        let wsdl = render("https://iis.example.org/soap?a=1&b=\"2\"<>");
        assert!(!wsdl.contains(ADDRESS_PLACEHOLDER));
        assert!(wsdl
            .contains("location=\"https://iis.example.org/soap?a=1&amp;b=&quot;2&quot;&lt;&gt;\""));
        let doc = Doc::parse(&wsdl);
        let service = doc.named(doc.root(), WSDL_NS, "service", "client_Service");
        let port = doc.named(service, WSDL_NS, "port", "client_Port_Soap12");
        let address = doc.child(port, SOAP12_WSDL_NS, "address");
        assert_eq!(
            doc.attr(address, "location"),
            Some("https://iis.example.org/soap?a=1&b=\"2\"<>")
        );
        assert_eq!(doc.attr(port, "binding"), Some("tns:client_Binding_Soap12"));
    }

    #[test]
    fn definitions_and_schema() {
        let doc = rendered();
        let root = doc.root();
        assert_eq!(doc.els[root].name, format!("{{{WSDL_NS}}}definitions"));
        assert_eq!(doc.attr(root, "targetNamespace"), Some(CDC_2011_NS));
        assert!(WSDL_TEMPLATE.contains("xmlns:tns=\"urn:cdc:iisb:2011\""));
        let types = doc.child(root, WSDL_NS, "types");
        let schema = doc.child(types, XS_NS, "schema");
        assert_eq!(doc.attr(schema, "targetNamespace"), Some(CDC_2011_NS));
        assert_eq!(doc.attr(schema, "elementFormDefault"), Some("qualified"));

        let globals: Vec<(&str, &str)> = doc
            .children(schema, XS_NS, "element")
            .into_iter()
            .map(|e| (doc.attr(e, "name").unwrap(), doc.attr(e, "type").unwrap()))
            .collect();
        assert_eq!(
            globals,
            vec![
                ("connectivityTest", "tns:connectivityTestRequestType"),
                (
                    "connectivityTestResponse",
                    "tns:connectivityTestResponseType"
                ),
                ("submitSingleMessage", "tns:submitSingleMessageRequestType"),
                (
                    "submitSingleMessageResponse",
                    "tns:submitSingleMessageResponseType"
                ),
                ("fault", "tns:soapFaultType"),
                (
                    "UnsupportedOperationFault",
                    "tns:UnsupportedOperationFaultType"
                ),
                ("SecurityFault", "tns:SecurityFaultType"),
                ("MessageTooLargeFault", "tns:MessageTooLargeFaultType"),
            ]
        );

        // (name, type, minOccurs, maxOccurs, nillable, fixed)
        type Row<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        let s = Some("xs:string");
        let int = Some("xs:integer");
        let one = Some("1");
        let zero = Some("0");
        let t = Some("true");
        let fault_rows = |fixed: &'static str| -> Vec<Row<'static>> {
            vec![
                ("Code", int, one, None, None, None),
                ("Reason", None, None, None, None, Some(fixed)),
                ("Detail", s, one, None, None, None),
            ]
        };
        let expected: Vec<(&str, Vec<Row<'static>>)> = vec![
            (
                "connectivityTestRequestType",
                vec![("echoBack", s, one, one, t, None)],
            ),
            (
                "connectivityTestResponseType",
                vec![("return", s, one, one, t, None)],
            ),
            (
                "submitSingleMessageRequestType",
                vec![
                    ("username", s, zero, one, t, None),
                    ("password", s, zero, one, t, None),
                    ("facilityID", s, zero, one, t, None),
                    ("hl7Message", s, one, one, t, None),
                ],
            ),
            (
                "submitSingleMessageResponseType",
                vec![("return", s, one, one, t, None)],
            ),
            (
                "soapFaultType",
                vec![
                    ("Code", int, one, None, None, None),
                    ("Reason", s, one, None, None, None),
                    ("Detail", s, one, None, None, None),
                ],
            ),
            (
                "UnsupportedOperationFaultType",
                fault_rows("UnsupportedOperation"),
            ),
            ("SecurityFaultType", fault_rows("Security")),
            ("MessageTooLargeFaultType", fault_rows("MessageTooLarge")),
        ];
        assert_eq!(
            doc.names(schema, XS_NS, "complexType"),
            expected.iter().map(|(n, _)| *n).collect::<Vec<_>>()
        );
        for (type_name, rows) in expected {
            let ct = doc.named(schema, XS_NS, "complexType", type_name);
            let seq = doc.child(ct, XS_NS, "sequence");
            let actual: Vec<Row<'_>> = doc
                .children(seq, XS_NS, "element")
                .into_iter()
                .map(|e| {
                    (
                        doc.attr(e, "name").unwrap(),
                        doc.attr(e, "type"),
                        doc.attr(e, "minOccurs"),
                        doc.attr(e, "maxOccurs"),
                        doc.attr(e, "nillable"),
                        doc.attr(e, "fixed"),
                    )
                })
                .collect();
            assert_eq!(actual, rows, "{type_name}");
        }
    }

    #[test]
    fn messages() {
        let doc = rendered();
        let root = doc.root();
        let expected = [
            (
                "connectivityTest_Message",
                "parameters",
                "tns:connectivityTest",
            ),
            (
                "connectivityTestResponse_Message",
                "parameters",
                "tns:connectivityTestResponse",
            ),
            (
                "submitSingleMessage_Message",
                "parameters",
                "tns:submitSingleMessage",
            ),
            (
                "submitSingleMessageResponse_Message",
                "parameters",
                "tns:submitSingleMessageResponse",
            ),
            ("UnknownFault_Message", "fault", "tns:fault"),
            (
                "UnsupportedOperationFault_Message",
                "fault",
                "tns:UnsupportedOperationFault",
            ),
            ("SecurityFault_Message", "fault", "tns:SecurityFault"),
            (
                "MessageTooLargeFault_Message",
                "fault",
                "tns:MessageTooLargeFault",
            ),
        ];
        assert_eq!(
            doc.names(root, WSDL_NS, "message"),
            expected.iter().map(|(n, _, _)| *n).collect::<Vec<_>>()
        );
        for (name, part, element) in expected {
            let message = doc.named(root, WSDL_NS, "message", name);
            let p = doc.child(message, WSDL_NS, "part");
            assert_eq!(doc.attr(p, "name"), Some(part));
            assert_eq!(doc.attr(p, "element"), Some(element));
        }
    }

    const OPERATIONS: [(&str, &[&str]); 2] = [
        (
            "connectivityTest",
            &["UnknownFault", "UnsupportedOperationFault"],
        ),
        (
            "submitSingleMessage",
            &["UnknownFault", "SecurityFault", "MessageTooLargeFault"],
        ),
    ];

    #[test]
    fn port_type() {
        let doc = rendered();
        let pt = doc.named(doc.root(), WSDL_NS, "portType", "IIS_PortType");
        assert_eq!(
            doc.names(pt, WSDL_NS, "operation"),
            vec!["connectivityTest", "submitSingleMessage"]
        );
        let action = format!("{{{WSAW_NS}}}Action");
        for (op, faults) in OPERATIONS {
            let o = doc.named(pt, WSDL_NS, "operation", op);
            let input = doc.child(o, WSDL_NS, "input");
            assert_eq!(
                doc.attr(input, "message"),
                Some(&*format!("tns:{op}_Message"))
            );
            assert_eq!(
                doc.attr(input, &action),
                Some(&*format!("urn:cdc:iisb:2011:{op}"))
            );
            let output = doc.child(o, WSDL_NS, "output");
            assert_eq!(
                doc.attr(output, "message"),
                Some(&*format!("tns:{op}Response_Message"))
            );
            assert_eq!(
                doc.attr(output, &action),
                Some(&*format!("urn:cdc:iisb:2011:{op}Response"))
            );
            assert_eq!(doc.names(o, WSDL_NS, "fault"), faults.to_vec());
            for fault in faults {
                let f = doc.named(o, WSDL_NS, "fault", fault);
                assert_eq!(
                    doc.attr(f, "message"),
                    Some(&*format!("tns:{fault}_Message"))
                );
            }
        }
    }

    #[test]
    fn binding() {
        let doc = rendered();
        let b = doc.named(doc.root(), WSDL_NS, "binding", "client_Binding_Soap12");
        assert_eq!(doc.attr(b, "type"), Some("tns:IIS_PortType"));
        let sb = doc.child(b, SOAP12_WSDL_NS, "binding");
        assert_eq!(doc.attr(sb, "style"), Some("document"));
        assert_eq!(
            doc.attr(sb, "transport"),
            Some("http://schemas.xmlsoap.org/soap/http")
        );
        assert_eq!(
            doc.names(b, WSDL_NS, "operation"),
            vec!["connectivityTest", "submitSingleMessage"]
        );
        for (op, faults) in OPERATIONS {
            let o = doc.named(b, WSDL_NS, "operation", op);
            let so = doc.child(o, SOAP12_WSDL_NS, "operation");
            assert_eq!(
                doc.attr(so, "soapAction"),
                Some(&*format!("urn:cdc:iisb:2011:{op}"))
            );
            for dir in ["input", "output"] {
                let d = doc.child(o, WSDL_NS, dir);
                let body = doc.child(d, SOAP12_WSDL_NS, "body");
                assert_eq!(doc.attr(body, "use"), Some("literal"));
            }
            assert_eq!(doc.names(o, WSDL_NS, "fault"), faults.to_vec());
            for fault in faults {
                let f = doc.named(o, WSDL_NS, "fault", fault);
                let sf = doc.child(f, SOAP12_WSDL_NS, "fault");
                assert_eq!(doc.attr(sf, "name"), Some(*fault));
                assert_eq!(doc.attr(sf, "use"), Some("literal"));
            }
        }
        let service = doc.named(doc.root(), WSDL_NS, "service", "client_Service");
        assert_eq!(
            doc.names(service, WSDL_NS, "port"),
            vec!["client_Port_Soap12", "client_Port_Soap11"]
        );
    }

    #[test]
    fn a_soap11_binding_mirrors_the_soap12_one() {
        const SOAP11_WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
        let doc = rendered();
        let b = doc.named(doc.root(), WSDL_NS, "binding", "client_Binding_Soap11");
        assert_eq!(doc.attr(b, "type"), Some("tns:IIS_PortType"));
        let sb = doc.child(b, SOAP11_WSDL_NS, "binding");
        assert_eq!(doc.attr(sb, "style"), Some("document"));
        assert_eq!(
            doc.attr(sb, "transport"),
            Some("http://schemas.xmlsoap.org/soap/http")
        );
        for (op, faults) in OPERATIONS {
            let o = doc.named(b, WSDL_NS, "operation", op);
            let so = doc.child(o, SOAP11_WSDL_NS, "operation");
            assert_eq!(
                doc.attr(so, "soapAction"),
                Some(&*format!("urn:cdc:iisb:2011:{op}"))
            );
            for dir in ["input", "output"] {
                let d = doc.child(o, WSDL_NS, dir);
                let body = doc.child(d, SOAP11_WSDL_NS, "body");
                assert_eq!(doc.attr(body, "use"), Some("literal"));
            }
            assert_eq!(doc.names(o, WSDL_NS, "fault"), faults.to_vec());
            for fault in faults {
                let f = doc.named(o, WSDL_NS, "fault", fault);
                assert_eq!(
                    doc.attr(doc.child(f, SOAP11_WSDL_NS, "fault"), "use"),
                    Some("literal")
                );
            }
        }
        let service = doc.named(doc.root(), WSDL_NS, "service", "client_Service");
        let port = doc.named(service, WSDL_NS, "port", "client_Port_Soap11");
        assert_eq!(doc.attr(port, "binding"), Some("tns:client_Binding_Soap11"));
        let address = doc.child(port, SOAP11_WSDL_NS, "address");
        assert_eq!(
            doc.attr(address, "location"),
            Some("http://127.0.0.1:8080/soap")
        );
    }
}
