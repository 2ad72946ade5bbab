//! The SOAP endpoint end to end: real server, real HTTP, real database.

use crate::common::*;

fn connectivity12(body_ns_prefix: &str, echo: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"{SOAP12}\" xmlns:{p}=\"urn:cdc:iisb:2011\"><s:Body>\
         <{p}:connectivityTest><{p}:echoBack>{echo}</{p}:echoBack></{p}:connectivityTest>\
         </s:Body></s:Envelope>",
        p = body_ns_prefix
    )
}

#[tokio::test]
async fn connectivity_test_echoes_over_soap12() {
    let app = spawn_app().await;
    let (status, body) = app
        .soap12(&connectivity12("urn1", "a+b=c &amp; more"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(SOAP12));
    assert!(body.contains("connectivityTestResponse"));
    assert_eq!(return_text(&body).as_deref(), Some("a+b=c & more"));
}

#[tokio::test]
async fn connectivity_test_in_default_namespace_over_soap11() {
    let app = spawn_app().await;
    let envelope = format!(
        "<?xml version=\"1.0\"?><Envelope xmlns=\"{SOAP11}\"><Body>\
         <connectivityTest xmlns=\"urn:cdc:iisb:2011\"><echoBack>hello</echoBack></connectivityTest>\
         </Body></Envelope>"
    );
    let response = app
        .client
        .post(format!("{}/soap", app.base))
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", "\"urn:cdc:iisb:2011:connectivityTest\"")
        .body(envelope)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/xml")));
    let body = response.text().await.expect("body");
    assert!(body.contains(SOAP11), "answered in SOAP 1.1: {body}");
    assert_eq!(return_text(&body).as_deref(), Some("hello"));
}

#[tokio::test]
async fn a_valid_vxu_is_stored_and_acknowledged_aa() {
    let app = spawn_app().await;
    let (status, ack) = app.submit(&vxu("MSG-0001", "MRN-1", "DOSE-1")).await;
    assert_eq!(status, 200, "{ack}");
    assert!(ack.starts_with("MSH|^~\\&|"), "{ack}");
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"), "{ack}");
    assert_eq!(hl7_field(&ack, "MSA", 2).as_deref(), Some("MSG-0001"));
    assert_eq!(hl7_field(&ack, "MSH", 9).as_deref(), Some("ACK^V04^ACK"));
    assert_eq!(hl7_field(&ack, "MSH", 21).as_deref(), Some("Z23^CDCPHINVS"));
    assert!(!ack.contains('\n'), "segments end in CR only");

    let (patient_id, family, given, dob) = app
        .db
        .patient_by_identifier(ORG, "MRN-1")
        .await
        .expect("read")
        .expect("patient stored");
    assert_eq!(
        (family.as_str(), given.as_str(), dob.as_str()),
        ("Tester", "Tina", "2023-04-21")
    );
    let doses = app.db.doses_of(patient_id).await.expect("doses");
    assert_eq!(doses.len(), 1);
    assert_eq!(doses[0].cvx, "08");
    assert_eq!(doses[0].administered_on.to_string(), "2024-05-15");

    let (logged, last) = app.db.message_log_tail().await.expect("log");
    assert_eq!(logged, 1);
    assert_eq!(
        last.as_deref(),
        Some(ack.as_str()),
        "the exact response is stored"
    );
}

#[tokio::test]
async fn the_response_carries_cr_as_character_references() {
    let app = spawn_app().await;
    let (status, body) = app
        .soap12(&submit_envelope(
            USER,
            PASSWORD,
            FACILITY,
            &vxu("M-CR", "MRN-CR", "D-CR"),
        ))
        .await;
    assert_eq!(status, 200);
    assert!(body.contains("&#xD;MSA|AA|M-CR"), "{body}");
    assert!(!body.contains('\r'));
}

#[tokio::test]
async fn resubmitting_updates_instead_of_duplicating() {
    let app = spawn_app().await;
    for control in ["R-1", "R-2"] {
        let (_, ack) = app.submit(&vxu(control, "MRN-R", "DOSE-R")).await;
        assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"));
    }
    let (patient_id, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-R")
        .await
        .expect("read")
        .expect("patient");
    assert_eq!(app.db.doses_of(patient_id).await.expect("doses").len(), 1);
}

#[tokio::test]
async fn wrong_credentials_all_get_the_same_security_fault() {
    let app = spawn_app().await;
    app.db
        .create_organization("OTHER", "Other", &["OFAC".to_string()], true)
        .await
        .expect("org");
    app.db
        .create_user(
            "OTHER",
            "disabled-user",
            &izport::auth::hash_password(PASSWORD).expect("hash"),
        )
        .await
        .expect("user");
    app.db
        .set_user_status("disabled-user", "disabled")
        .await
        .expect("disable");
    let message = vxu("SEC-1", "MRN-S", "DOSE-S");
    let cases = [
        (USER, "wrong-password", FACILITY),
        ("nobody", PASSWORD, FACILITY),
        (USER, PASSWORD, "OFAC"),
        (USER, PASSWORD, "NOT-A-FACILITY"),
        ("disabled-user", PASSWORD, "OFAC"),
        ("", "", ""),
    ];
    let mut bodies = Vec::new();
    for (user, pass, fac) in cases {
        let (status, body) = app
            .soap12(&submit_envelope(user, pass, fac, &message))
            .await;
        assert_eq!(status, 400, "{user}/{fac}: {body}");
        assert!(body.contains("SecurityFault"), "{body}");
        assert_eq!(cdc_fault_code(&body).as_deref(), Some("10"));
        assert_eq!(
            element_text(&body, "Value")
                .as_deref()
                .map(|v| v.ends_with("Sender")),
            Some(true)
        );
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "identical faults whatever was wrong"
    );
    assert!(app
        .db
        .patient_by_identifier(ORG, "MRN-S")
        .await
        .expect("read")
        .is_none());
    assert_eq!(app.db.message_log_tail().await.expect("log").0, 0);
}

#[tokio::test]
async fn two_messages_in_one_call_get_message_too_large() {
    let app = spawn_app().await;
    let two = format!("{}\r{}", vxu("A", "MRN-2", "D-A"), vxu("B", "MRN-2", "D-B"));
    let (status, body) = app
        .soap12(&submit_envelope(USER, PASSWORD, FACILITY, &two))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("MessageTooLargeFault"), "{body}");
    assert_eq!(cdc_fault_code(&body).as_deref(), Some("1313"));
    assert!(app
        .db
        .patient_by_identifier(ORG, "MRN-2")
        .await
        .expect("read")
        .is_none());
}

#[tokio::test]
async fn a_message_over_the_size_limit_gets_message_too_large() {
    let app = spawn_app_with(Options {
        limits: izport::server::Limits {
            max_message_bytes: 2048,
            max_body_bytes: 64 * 1024,
            ..izport::server::Limits::default()
        },
        ..Options::default()
    })
    .await;
    let big = format!(
        "{}\rNTE|1||{}",
        vxu("BIG", "MRN-B", "D-B"),
        "x".repeat(4000)
    );
    let (status, body) = app
        .soap12(&submit_envelope(USER, PASSWORD, FACILITY, &big))
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("MessageTooLargeFault"), "{body}");

    // Over the HTTP body limit: still a SOAP fault, never a bare 413.
    let huge = format!(
        "{}\rNTE|1||{}",
        vxu("HUGE", "MRN-B", "D-B"),
        "y".repeat(200_000)
    );
    let (status, body) = app
        .soap12(&submit_envelope(USER, PASSWORD, FACILITY, &huge))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("MessageTooLargeFault"), "{body}");
    assert_eq!(cdc_fault_code(&body).as_deref(), Some("1313"));
}

#[tokio::test]
async fn an_unknown_operation_gets_unsupported_operation_fault() {
    let app = spawn_app().await;
    let envelope = format!(
        "<soap:Envelope xmlns:soap=\"{SOAP12}\"><soap:Body><x:submitSingleMessageX xmlns:x=\"urn:cdc:iisb:2011\">\
         <x:username>???</x:username></x:submitSingleMessageX></soap:Body></soap:Envelope>"
    );
    let (status, body) = app.soap12(&envelope).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("UnsupportedOperationFault"), "{body}");
    assert_eq!(cdc_fault_code(&body).as_deref(), Some("8675309"));
}

#[tokio::test]
async fn dtds_and_entities_are_refused() {
    let app = spawn_app().await;
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
         <soap:Envelope xmlns:soap=\"{SOAP12}\"><soap:Body><i:connectivityTest xmlns:i=\"urn:cdc:iisb:2011\">\
         <i:echoBack>&x;</i:echoBack></i:connectivityTest></soap:Body></soap:Envelope>"
    );
    let (status, body) = app.soap12(&xxe).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Fault"));
    assert!(!body.contains("root:"), "no file content leaks");

    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>\
         <soap:Envelope xmlns:soap=\"{SOAP12}\"><soap:Body/></soap:Envelope>"
    );
    let (status, _) = app.soap12(&laughs).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn garbage_gets_a_sender_fault_not_a_crash() {
    let app = spawn_app().await;
    for body in [
        "",
        "not xml at all",
        "<a><b></a>",
        "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\">",
    ] {
        let (status, text) = app.soap12(body).await;
        assert_eq!(status, 400, "{body:?} → {text}");
        assert!(text.contains("Fault"), "{text}");
    }
    let (status, text) = app
        .post("application/soap+xml", vec![0xff, 0xfe, 0x00, 0x3c])
        .await;
    assert_eq!(status, 400, "{text}");
}

#[tokio::test]
async fn cdata_and_mixed_line_endings_are_accepted() {
    let app = spawn_app().await;
    let message = vxu("CDATA-1", "MRN-C", "DOSE-C").replace('\r', "\r\n");
    let envelope = format!(
        "<e:Envelope xmlns:e=\"{SOAP12}\"><e:Header><wsa:Action xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">\
         urn:cdc:iisb:2011:submitSingleMessage</wsa:Action></e:Header><e:Body>\
         <submitSingleMessage xmlns=\"urn:cdc:iisb:2011\"><username>{USER}</username><password>{PASSWORD}</password>\
         <facilityID>{FACILITY}</facilityID><hl7Message><![CDATA[{message}]]></hl7Message></submitSingleMessage>\
         </e:Body></e:Envelope>"
    );
    let (status, body) = app.soap12(&envelope).await;
    assert_eq!(status, 200, "{body}");
    let ack = return_text(&body).expect("return");
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"), "{ack}");
    assert_eq!(hl7_field(&ack, "MSA", 2).as_deref(), Some("CDATA-1"));

    let lf = vxu("LF-1", "MRN-LF", "DOSE-LF").replace('\r', "\n");
    let (_, ack) = app.submit(&lf).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"), "{ack}");
}

#[tokio::test]
async fn envelope_problems_get_ar() {
    let app = spawn_app().await;
    let qbp = "MSH|^~\\&|EHR|FAC01|IZPORT|IZPORT|20240515||QBP^Q11^QBP_Q11|Q-1|P|2.5.1|||ER|AL|||||Z34^CDCPHINVS\rQPD|Z34^Request Immunization History^CDCPHINVS|T1|MRN-1^^^EHR^MR\rRCP|I|5^RD&records&HL70126";
    // A query without the patient's name and birth date is answered AE (Z33), not run.
    let (_, rsp) = app.submit(qbp).await;
    assert_eq!(hl7_field(&rsp, "MSA", 1).as_deref(), Some("AE"), "{rsp}");
    assert_eq!(hl7_field(&rsp, "MSA", 2).as_deref(), Some("Q-1"));
    assert_eq!(hl7_field(&rsp, "MSH", 21).as_deref(), Some("Z33^CDCPHINVS"));
    assert!(rsp.contains("QPD^1^6"), "{rsp}");
    let unknown = qbp.replace("QBP^Q11^QBP_Q11", "ADT^A01^ADT_A01");
    let (_, ack) = app.submit(&unknown).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AR"), "{ack}");
    assert!(ack.contains("|200^"), "{ack}");

    let old = vxu("V-1", "MRN-V", "D-V").replace("|P|2.5.1|", "|P|2.3.1|");
    let (_, ack) = app.submit(&old).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AR"));
    assert!(ack.contains("MSH^1^12"), "{ack}");
    assert!(ack.contains("|203^"), "{ack}");

    let (_, ack) = app.submit("this is not HL7").await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AR"), "{ack}");
    assert!(app
        .db
        .patient_by_identifier(ORG, "MRN-V")
        .await
        .expect("read")
        .is_none());
    // Even refused messages are in the audit log.
    assert_eq!(app.db.message_log_tail().await.expect("log").0, 4);
}

#[tokio::test]
async fn patient_errors_reject_the_message_dose_errors_only_the_dose() {
    let app = spawn_app().await;
    let no_dob = vxu("P-1", "MRN-P", "D-P").replace("|20230421|F", "||F");
    let (_, ack) = app.submit(&no_dob).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AE"), "{ack}");
    assert!(ack.contains("PID^1^7"), "{ack}");
    assert!(app
        .db
        .patient_by_identifier(ORG, "MRN-P")
        .await
        .expect("read")
        .is_none());

    let bad_dose = format!(
        "{}\rORC|RE||D-2^TESTEHR\rRXA|0|1|20240515||notacode^Junk^XYZ|0.5|mL^^UCUM||00^^NIP001||||||L2|20250810|MSD^^MVX|||CP|A",
        vxu("P-2", "MRN-Q", "D-1")
    );
    let (_, ack) = app.submit(&bad_dose).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AE"), "{ack}");
    assert!(ack.contains("RXA^2^5"), "{ack}");
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-Q")
        .await
        .expect("read")
        .expect("patient kept");
    let doses = app.db.doses_of(patient).await.expect("doses");
    assert_eq!(doses.len(), 1, "the good dose is kept, the bad one is not");
}

#[tokio::test]
async fn test_messages_are_answered_but_not_stored() {
    let app = spawn_app().await;
    let test = vxu("T-1", "MRN-T", "D-T").replace("|P|2.5.1|", "|T|2.5.1|");
    let (_, ack) = app.submit(&test).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"), "{ack}");
    assert_eq!(hl7_field(&ack, "MSH", 11).as_deref(), Some("T"));
    assert!(app
        .db
        .patient_by_identifier(ORG, "MRN-T")
        .await
        .expect("read")
        .is_none());
}

#[tokio::test]
async fn delete_action_hides_the_dose() {
    let app = spawn_app().await;
    app.submit(&vxu("DEL-1", "MRN-D", "DOSE-D")).await;
    let delete = vxu("DEL-2", "MRN-D", "DOSE-D").replace("|||CP|A", "|||CP|D");
    let (_, ack) = app.submit(&delete).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"), "{ack}");
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-D")
        .await
        .expect("read")
        .expect("patient");
    let doses = app.db.doses_of(patient).await.expect("doses");
    assert_eq!(doses.len(), 1);
    assert!(doses[0].deleted);
}

#[tokio::test]
async fn data_survives_a_restart() {
    let mut app = spawn_app().await;
    let (_, ack) = app.submit(&vxu("RS-1", "MRN-RS", "DOSE-RS")).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"));
    app.restart().await;
    let (patient, ..) = app
        .db
        .patient_by_identifier(ORG, "MRN-RS")
        .await
        .expect("read")
        .expect("patient survived the restart");
    assert_eq!(app.db.doses_of(patient).await.expect("doses").len(), 1);
    // And the restarted server still serves.
    let (_, ack) = app.submit(&vxu("RS-2", "MRN-RS", "DOSE-RS2")).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"));
}

#[tokio::test]
async fn the_wsdl_names_this_server() {
    let app = spawn_app().await;
    let (status, wsdl) = app.get("/soap?wsdl").await;
    assert_eq!(status, 200);
    assert!(wsdl.contains("urn:cdc:iisb:2011"));
    assert!(
        wsdl.contains(&format!("http://{}/soap", app.addr)),
        "{wsdl}"
    );
    assert!(wsdl.contains("submitSingleMessage"));
    assert!(!wsdl.contains("{{IZPORT_SOAP_ADDRESS}}"));
}

#[tokio::test]
async fn the_wsdl_address_follows_public_url() {
    let app = spawn_app_with(Options {
        public_url: Some("https://iis.example.org/".to_string()),
        ..Options::default()
    })
    .await;
    let (_, wsdl) = app.get("/soap?wsdl").await;
    assert!(wsdl.contains("\"https://iis.example.org/soap\""), "{wsdl}");
}

#[tokio::test]
async fn health_reports_the_database() {
    let app = spawn_app().await;
    let (status, body) = app.get("/health").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"database\":\"ok\""), "{body}");
}

#[tokio::test]
async fn https_with_rustls() {
    let app = spawn_app_with(Options {
        tls: true,
        ..Options::default()
    })
    .await;
    assert!(app.base.starts_with("https://"));
    let (status, body) = app.soap12(&connectivity12("iis", "over tls")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(return_text(&body).as_deref(), Some("over tls"));
    let (_, ack) = app.submit(&vxu("TLS-1", "MRN-TLS", "D-TLS")).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"), "{ack}");
    let (_, wsdl) = app.get("/soap?wsdl").await;
    assert!(wsdl.contains("https://localhost:"), "{wsdl}");
}

#[tokio::test]
async fn plain_http_on_a_public_address_needs_an_explicit_flag() {
    let app = spawn_app().await;
    let refused = izport::server::start(
        app.db.clone(),
        izport::server::ServerOptions::local("0.0.0.0:0".parse().expect("addr")),
    )
    .await;
    let err = refused.err().expect("refused without TLS").to_string();
    assert!(err.contains("--insecure-http"), "{err}");
}

#[tokio::test]
async fn a_password_change_ends_a_remembered_credential_at_once() {
    let app = spawn_app().await;
    let (_, ack) = app.submit(&vxu("PW-1", "MRN-PW", "D-PW1")).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"));
    // The same credentials again: served (from the verified cache).
    let (_, ack) = app.submit(&vxu("PW-2", "MRN-PW", "D-PW2")).await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"));
    app.db
        .set_password(
            USER,
            &izport::auth::hash_password("a-brand-new-password").expect("hash"),
        )
        .await
        .expect("passwd");
    let (status, body) = app.submit(&vxu("PW-3", "MRN-PW", "D-PW3")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("SecurityFault"));
    let (_, ack) = app
        .submit_as(
            USER,
            "a-brand-new-password",
            FACILITY,
            &vxu("PW-4", "MRN-PW", "D-PW4"),
        )
        .await;
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"));
    // Disabling is read from the database on every request, cache or not.
    app.db
        .set_user_status(USER, "disabled")
        .await
        .expect("disable");
    let (status, _) = app
        .submit_as(
            USER,
            "a-brand-new-password",
            FACILITY,
            &vxu("PW-5", "MRN-PW", "D-PW5"),
        )
        .await;
    assert_eq!(status, 400);
}
