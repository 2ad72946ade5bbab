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
        assert_eq!(status, 500, "{user}/{fac}: {body}");
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
    assert_eq!(status, 500, "{body}");
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
    assert_eq!(status, 500);
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
    assert_eq!(status, 500, "{body}");
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
    assert_eq!(status, 500, "{body}");
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
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("Fault"));
    assert!(!body.contains("root:"), "no file content leaks");

    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>\
         <soap:Envelope xmlns:soap=\"{SOAP12}\"><soap:Body/></soap:Envelope>"
    );
    let (status, _) = app.soap12(&laughs).await;
    assert_eq!(status, 500);
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
        assert_eq!(status, 500, "{body:?} → {text}");
        assert!(text.contains("Fault"), "{text}");
    }
    let (status, text) = app
        .post("application/soap+xml", vec![0xff, 0xfe, 0x00, 0x3c])
        .await;
    assert_eq!(status, 500, "{text}");
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
    assert_eq!(status, 500, "{body}");
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
    assert_eq!(status, 500);
}

/// A SOAP 1.1 submitSingleMessage, for the fault-status checks.
fn submit_envelope11(user: &str, pass: &str, fac: &str, hl7: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"{SOAP11}\"><s:Body><i:submitSingleMessage xmlns:i=\"urn:cdc:iisb:2011\">\
         <i:username>{}</i:username><i:password>{}</i:password><i:facilityID>{}</i:facilityID>\
         <i:hl7Message>{}</i:hl7Message></i:submitSingleMessage></s:Body></s:Envelope>",
        xml_escape(user),
        xml_escape(pass),
        xml_escape(fac),
        xml_escape(hl7)
    )
}

/// The HTTP status of a wrong-password fault over SOAP 1.2 and 1.1, and of a server-side
/// (Receiver) fault: a VersionMismatch, which is not a Sender fault either.
async fn fault_statuses(app: &TestApp) -> (u16, u16, u16) {
    let message = vxu("FS-1", "MRN-FS", "D-FS");
    let (v12, body) = app
        .soap12(&submit_envelope(USER, "wrong", FACILITY, &message))
        .await;
    assert!(body.contains("SecurityFault"), "{body}");
    let (v11, body) = app
        .post(
            "text/xml; charset=utf-8",
            submit_envelope11(USER, "wrong", FACILITY, &message),
        )
        .await;
    assert!(body.contains("SecurityFault"), "{body}");
    assert!(body.contains(SOAP11), "{body}");
    let (mismatch, body) = app
        .soap12("<Envelope xmlns=\"urn:not-soap\"><Body/></Envelope>")
        .await;
    assert!(body.contains("VersionMismatch"), "{body}");
    (v12, v11, mismatch)
}

#[tokio::test]
async fn faults_travel_with_500_unless_told_otherwise() {
    // Finding 1: .NET WCF reads no fault from a 400, so 500 is the default for every fault.
    let app = spawn_app().await;
    assert_eq!(fault_statuses(&app).await, (500, 500, 500));
    let app = spawn_app_with(Options {
        fault_status: FaultStatus::Spec,
        ..Options::default()
    })
    .await;
    assert_eq!(fault_statuses(&app).await, (400, 500, 500));
    let app = spawn_app_with(Options {
        fault_status: FaultStatus::Ok200,
        ..Options::default()
    })
    .await;
    assert_eq!(fault_statuses(&app).await, (200, 200, 200));
}

#[tokio::test]
async fn a_body_that_is_not_well_formed_is_malformed_whatever_its_first_element() {
    // Finding 7: the first Body child is unknown, and the document is cut off after it.
    let app = spawn_app().await;
    let cut = format!(
        "<soap:Envelope xmlns:soap=\"{SOAP12}\"><soap:Body><x:notAnOperation xmlns:x=\"urn:cdc:iisb:2011\">\
         <x:username>u</x:username"
    );
    let (status, body) = app.soap12(&cut).await;
    assert_eq!(status, 500, "{body}");
    assert!(!body.contains("UnsupportedOperationFault"), "{body}");
    assert_eq!(cdc_fault_code(&body).as_deref(), Some("400"), "{body}");
    assert!(
        body.contains("<iis:Reason>BadRequest</iis:Reason>"),
        "{body}"
    );
    // Unknown and well-formed stays an unsupported operation.
    let whole = format!("{cut}></x:notAnOperation></soap:Body></soap:Envelope>");
    let (_, body) = app.soap12(&whole).await;
    assert_eq!(cdc_fault_code(&body).as_deref(), Some("8675309"), "{body}");
    // A mismatched end tag after a missing field is malformed too.
    let crossed = format!(
        "<soap:Envelope xmlns:soap=\"{SOAP12}\"><soap:Body><i:submitSingleMessage xmlns:i=\"urn:cdc:iisb:2011\">\
         </i:submitSingleMessage></soap:Body></soap:Envelop>"
    );
    let (_, body) = app.soap12(&crossed).await;
    assert_eq!(cdc_fault_code(&body).as_deref(), Some("400"), "{body}");
    assert!(body.contains("well-formed"), "{body}");
}

const WSA10: &str = "http://www.w3.org/2005/08/addressing";
const WSA2004: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";

/// A submitSingleMessage with WS-Addressing headers in `wsa` (as JAX-WS sends them when
/// addressing is required), replies to `reply_to`.
fn addressed_submit(wsa: &str, message_id: &str, reply_to: &str, hl7: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"{SOAP12}\" xmlns:a=\"{wsa}\"><s:Header>\
         <a:To s:mustUnderstand=\"true\">http://localhost/soap</a:To>\
         <a:Action s:mustUnderstand=\"1\">urn:cdc:iisb:2011:submitSingleMessage</a:Action>\
         <a:ReplyTo><a:Address>{reply_to}</a:Address></a:ReplyTo>\
         <a:MessageID>{message_id}</a:MessageID></s:Header><s:Body>\
         <i:submitSingleMessage xmlns:i=\"urn:cdc:iisb:2011\"><i:username>{USER}</i:username>\
         <i:password>{PASSWORD}</i:password><i:facilityID>{FACILITY}</i:facilityID>\
         <i:hl7Message>{}</i:hl7Message></i:submitSingleMessage></s:Body></s:Envelope>",
        xml_escape(hl7)
    )
}

#[tokio::test]
async fn ws_addressing_requests_get_addressed_replies() {
    // Finding 2: the reply carries Action, RelatesTo and a new MessageID, in the request's
    // addressing namespace.
    let app = spawn_app().await;
    let request_id = "urn:uuid:6b29fc40-ca47-1067-b31d-00dd010662da";
    let (status, body) = app
        .soap12(&addressed_submit(
            WSA10,
            request_id,
            &format!("{WSA10}/anonymous"),
            &vxu("WSA-1", "MRN-WSA", "D-WSA"),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        element_text_in(&body, Some(WSA10), "Action").as_deref(),
        Some("urn:cdc:iisb:2011:submitSingleMessageResponse"),
        "{body}"
    );
    assert_eq!(
        element_text_in(&body, Some(WSA10), "RelatesTo").as_deref(),
        Some(request_id)
    );
    let reply_id = element_text_in(&body, Some(WSA10), "MessageID").expect("MessageID");
    assert!(reply_id.starts_with("urn:uuid:") && reply_id != request_id);
    let ack = return_text(&body).expect("return");
    assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"), "{ack}");

    // The member-submission namespace is answered in kind; its anonymous address is another.
    let (status, body) = app
        .soap12(&addressed_submit(
            WSA2004,
            "uuid:second",
            &format!("{WSA2004}/role/anonymous"),
            &vxu("WSA-2", "MRN-WSA", "D-WSA2"),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        element_text_in(&body, Some(WSA2004), "RelatesTo").as_deref(),
        Some("uuid:second"),
        "{body}"
    );
    assert_eq!(element_text_in(&body, Some(WSA10), "Action"), None);

    // A fault to an addressed request is addressed too, with the fault action.
    let (_, body) = app
        .soap12(
            &addressed_submit(
                WSA10,
                "urn:uuid:third",
                &format!("{WSA10}/anonymous"),
                &vxu("WSA-3", "MRN-WSA", "D-WSA3"),
            )
            .replace(PASSWORD, "wrong"),
        )
        .await;
    assert!(body.contains("SecurityFault"), "{body}");
    assert_eq!(
        element_text_in(&body, Some(WSA10), "Action").as_deref(),
        Some("http://www.w3.org/2005/08/addressing/fault")
    );
    assert_eq!(
        element_text_in(&body, Some(WSA10), "RelatesTo").as_deref(),
        Some("urn:uuid:third")
    );

    // Without addressing headers, no header comes back.
    let (_, body) = app.soap12(&connectivity12("iis", "plain")).await;
    assert!(!body.contains("Header"), "{body}");
}

#[tokio::test]
async fn a_reply_address_elsewhere_is_refused_before_anything_is_stored() {
    let app = spawn_app().await;
    let (status, body) = app
        .soap12(&addressed_submit(
            WSA10,
            "urn:uuid:elsewhere",
            "http://client.example.org/callback",
            &vxu("WSA-4", "MRN-ELSEWHERE", "D-E"),
        ))
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("OnlyAnonymousAddressSupported"), "{body}");
    assert_eq!(
        element_text_in(&body, Some(WSA10), "RelatesTo").as_deref(),
        Some("urn:uuid:elsewhere")
    );
    assert!(app
        .db
        .patient_by_identifier(ORG, "MRN-ELSEWHERE")
        .await
        .expect("read")
        .is_none());
    assert_eq!(app.db.message_log_tail().await.expect("log").0, 0);
}

#[tokio::test]
async fn the_wsdl_has_a_soap11_port_beside_the_soap12_one() {
    // Finding 4: wsimport makes no client from a SOAP 1.2 port alone.
    let app = spawn_app().await;
    let (status, wsdl) = app.get("/soap?wsdl").await;
    assert_eq!(status, 200);
    let address = format!("location=\"http://{}/soap\"", app.addr);
    assert_eq!(wsdl.matches(&address).count(), 2, "{wsdl}");
    assert!(wsdl.contains("name=\"client_Port_Soap11\""), "{wsdl}");
    assert!(
        wsdl.contains("binding=\"tns:client_Binding_Soap11\""),
        "{wsdl}"
    );
    assert!(wsdl.contains("xmlns:soap11=\"http://schemas.xmlsoap.org/wsdl/soap/\""));
}

async fn wsdl_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = app.client.get(format!("{}{path}", app.base));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("request");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

#[tokio::test]
async fn behind_a_proxy_the_wsdl_follows_forwarded_headers_when_trusted() {
    // Finding 6.
    let proxied = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "iis.example.org"),
    ];
    let app = spawn_app_with(Options {
        trust_forwarded_headers: true,
        ..Options::default()
    })
    .await;
    let (_, wsdl) = wsdl_with(&app, "/soap?wsdl", &proxied).await;
    assert!(
        wsdl.contains("location=\"https://iis.example.org/soap\""),
        "{wsdl}"
    );
    let (_, wsdl) = wsdl_with(
        &app,
        "/soap?wsdl",
        &[(
            "forwarded",
            "for=192.0.2.1;proto=https;host=iis2.example.org:8443",
        )],
    )
    .await;
    assert!(
        wsdl.contains("location=\"https://iis2.example.org:8443/soap\""),
        "{wsdl}"
    );
    // The trailing slash is the same endpoint.
    let (status, wsdl) = wsdl_with(&app, "/soap/?wsdl", &proxied).await;
    assert_eq!(status, 200);
    assert!(wsdl.contains("https://iis.example.org/soap\""), "{wsdl}");
    let response = app
        .client
        .post(format!("{}/soap/", app.base))
        .header("content-type", "application/soap+xml")
        .body(connectivity12("iis", "slash"))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        return_text(&response.text().await.expect("body")).as_deref(),
        Some("slash")
    );

    // Untrusted (the default), the headers are ignored.
    let app = spawn_app().await;
    let (_, wsdl) = wsdl_with(&app, "/soap?wsdl", &proxied).await;
    assert!(!wsdl.contains("iis.example.org"), "{wsdl}");
    assert!(
        wsdl.contains(&format!("http://{}/soap", app.addr)),
        "{wsdl}"
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

#[tokio::test]
async fn utf16_latin1_and_compressed_bodies_are_read() {
    // Finding 5.
    let app = spawn_app().await;
    let submit = |envelope: Vec<u8>, encoding: Option<&'static str>| {
        let mut request = app
            .client
            .post(format!("{}/soap", app.base))
            .header("content-type", "application/soap+xml");
        if let Some(e) = encoding {
            request = request.header("content-encoding", e);
        }
        async move {
            let response = request.body(envelope).send().await.expect("post");
            let status = response.status().as_u16();
            (status, response.text().await.expect("body"))
        }
    };
    let ack_of = |body: &str| {
        let ack = return_text(body).unwrap_or_else(|| panic!("{body}"));
        hl7_field(&ack, "MSA", 1)
    };

    // UTF-16LE with a byte order mark, the family name with an é.
    let message = vxu("ENC-16", "MRN-ENC16", "D-E16").replace("Tester", "T\u{e9}ster");
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in submit_envelope(USER, PASSWORD, FACILITY, &message).encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let (status, body) = submit(utf16, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ack_of(&body).as_deref(), Some("AA"), "{body}");
    let (_, family, _, _) = app
        .db
        .patient_by_identifier(ORG, "MRN-ENC16")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(family, "T\u{e9}ster");

    // An ISO-8859-1 declaration.
    let message = vxu("ENC-L1", "MRN-ENCL1", "D-EL1");
    let latin1 = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{}",
        submit_envelope(USER, PASSWORD, FACILITY, &message)
    );
    let (status, body) = submit(latin1.into_bytes(), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ack_of(&body).as_deref(), Some("AA"), "{body}");

    // Content-Encoding: gzip.
    let message = vxu("ENC-GZ", "MRN-ENCGZ", "D-EGZ");
    let zipped = gzip(submit_envelope(USER, PASSWORD, FACILITY, &message).as_bytes());
    let (status, body) = submit(zipped, Some("gzip")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ack_of(&body).as_deref(), Some("AA"), "{body}");

    // A gzip bomb: small on the wire, far over the body limit once decoded.
    let mut bomb = submit_envelope(USER, PASSWORD, FACILITY, "MSH|").into_bytes();
    bomb.extend(std::iter::repeat_n(b' ', 50 * 1024 * 1024));
    let bomb = gzip(&bomb);
    assert!(bomb.len() < 200 * 1024, "{}", bomb.len());
    let (status, body) = submit(bomb, Some("gzip")).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("MessageTooLargeFault"), "{body}");

    // An encoding this service does not read is named in a Sender fault.
    let (status, body) = submit(b"x".to_vec(), Some("br")).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("Content-Encoding"), "{body}");
}

const CDC2014: &str = "urn:cdc:iisb:2014";
const HUB: &str = "urn:cdc:iisb:hub:2014";

/// A 2014 SubmitSingleMessageRequest as IZ Gateway sends it: the hub header, WS-Addressing.
fn submit2014(password: &str, hl7: &str) -> String {
    format!(
        "<soap:Envelope xmlns:soap=\"{SOAP12}\" xmlns:iis=\"{CDC2014}\" xmlns:hub=\"{HUB}\" \
         xmlns:wsa=\"{WSA10}\"><soap:Header>\
         <hub:HubRequestHeader soap:mustUnderstand=\"true\"><hub:DestinationId>dev</hub:DestinationId>\
         </hub:HubRequestHeader>\
         <wsa:Action>urn:cdc:iisb:2014:IISPortType:SubmitSingleMessageRequest</wsa:Action>\
         <wsa:MessageID>urn:uuid:2014-request</wsa:MessageID></soap:Header><soap:Body>\
         <iis:SubmitSingleMessageRequest><iis:Username>{USER}</iis:Username>\
         <iis:Password>{}</iis:Password><iis:FacilityID>{FACILITY}</iis:FacilityID>\
         <iis:Hl7Message>{}</iis:Hl7Message></iis:SubmitSingleMessageRequest></soap:Body></soap:Envelope>",
        xml_escape(password),
        xml_escape(hl7)
    )
}

async fn post_to(app: &TestApp, path: &str, envelope: String) -> (u16, String) {
    let response = app
        .client
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/soap+xml; charset=utf-8")
        .body(envelope)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn the_2014_contract_at_soap_2014_and_soap() {
    // Finding 3.
    let app = spawn_app().await;
    for path in ["/soap/2014", "/soap"] {
        let control = format!("M14{}", path.len());
        let (status, body) = post_to(
            &app,
            path,
            submit2014(PASSWORD, &vxu(&control, "MRN-2014", "D-2014")),
        )
        .await;
        assert_eq!(status, 200, "{path}: {body}");
        let ack = element_text_in(&body, Some(CDC2014), "Hl7Message").expect("Hl7Message");
        assert_eq!(hl7_field(&ack, "MSA", 1).as_deref(), Some("AA"), "{ack}");
        assert_eq!(hl7_field(&ack, "MSA", 2).as_deref(), Some(control.as_str()));
        assert!(body.contains("SubmitSingleMessageResponse"), "{body}");
        assert_eq!(
            element_text_in(&body, Some(HUB), "DestinationId").as_deref(),
            Some("dev")
        );
        assert_eq!(
            element_text_in(&body, Some(HUB), "DestinationUri"),
            Some(format!("http://{}{path}", app.addr))
        );
        assert_eq!(
            element_text_in(&body, Some(WSA10), "Action").as_deref(),
            Some("urn:cdc:iisb:2014:IISPortType:SubmitSingleMessageResponse")
        );
        assert_eq!(
            element_text_in(&body, Some(WSA10), "RelatesTo").as_deref(),
            Some("urn:uuid:2014-request")
        );
    }

    // ConnectivityTest: the EchoBack comes back in the response's EchoBack.
    let envelope = format!(
        "<s:Envelope xmlns:s=\"{SOAP12}\"><s:Body><ConnectivityTestRequest xmlns=\"{CDC2014}\">\
         <EchoBack>ping 2014</EchoBack></ConnectivityTestRequest></s:Body></s:Envelope>"
    );
    let (status, body) = post_to(&app, "/soap/2014", envelope).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ConnectivityTestResponse"), "{body}");
    assert_eq!(
        element_text_in(&body, Some(CDC2014), "EchoBack").as_deref(),
        Some("ping 2014")
    );
    assert!(
        !body.contains("Header"),
        "no hub or addressing header asked for: {body}"
    );

    // Faults use the 2014 fault elements.
    let (status, body) = post_to(
        &app,
        "/soap/2014",
        submit2014("wrong", &vxu("M14-BAD", "MRN-2014", "D-2014B")),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains(&format!("xmlns:iis=\"{CDC2014}\"")), "{body}");
    assert!(body.contains("<iis:SecurityFault/>"), "{body}");
    assert_eq!(
        element_text_in(&body, Some(HUB), "DestinationId").as_deref(),
        Some("dev")
    );
    let two = format!(
        "{}\r{}",
        vxu("A14", "MRN-2", "D-A"),
        vxu("B14", "MRN-2", "D-B")
    );
    let (_, body) = post_to(&app, "/soap/2014", submit2014(PASSWORD, &two)).await;
    assert_eq!(
        element_text_in(&body, Some(CDC2014), "Size").as_deref(),
        Some("2"),
        "{body}"
    );
    assert_eq!(
        element_text_in(&body, Some(CDC2014), "MaxSize").as_deref(),
        Some("1")
    );
    // An unreadable request at /soap/2014 is answered without a 2011 detail element.
    let (status, body) = post_to(&app, "/soap/2014", "<broken".to_string()).await;
    assert_eq!(status, 500, "{body}");
    assert!(!body.contains("urn:cdc:iisb:2011"), "{body}");

    // The 2014 WSDL, with its address at /soap/2014.
    let (status, wsdl) = app.get("/soap/2014?wsdl").await;
    assert_eq!(status, 200);
    assert!(wsdl.contains(&format!("targetNamespace=\"{CDC2014}\"")));
    assert_eq!(
        wsdl.matches(&format!("location=\"http://{}/soap/2014\"", app.addr))
            .count(),
        2,
        "{wsdl}"
    );
}
