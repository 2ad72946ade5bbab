//! Criterion benchmarks of the HL7 codec: parsing with field access, ACK encoding, and RSP
//! encoding (a Z32 with a 15-dose history).
//!
//! ```sh
//! cargo bench --bench hl7
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use izport::hl7::{
    build_ack, AckCode, AckContext, AckParams, AppCode, ErrEntry, ErrLocation, Message,
};
use izport::registry::query::{
    build_rsp, parse_query, CodedValue, DoseView, PatientId, PatientView, QueryEcho, QueryLimits,
    QueryOutcome, RspParams,
};

/// A typical VXU: 12 segments, about 1.6 KB, CR-separated. Synthetic data throughout.
// Our own synthetic message (12 segments, ~1.6 KB, CR-separated), shared by the benches.
const TYPICAL_VXU: &str = include_str!("data/vxu-typical.hl7");

const PARAMS: AckParams<'static> = AckParams {
    control_id: "IZ00000000000000A1",
    timestamp: "20240515093013+0000",
    sending_application: "IZPORT",
    sending_facility: "IZPORT",
};

fn parse(text: &str) -> Message<'_> {
    match Message::parse(text) {
        Ok(m) => m,
        Err(e) => panic!("benchmark message does not parse: {e}"),
    }
}

/// Fifteen field reads of the kind the registry does, by path and through segments.
fn read_fields(msg: &Message<'_>) -> usize {
    let mut n = 0;
    for path in [
        "MSH-9-1", "MSH-9-2", "MSH-10", "MSH-11", "MSH-12", "PID-3-1", "PID-5-1", "PID-5-2",
        "PID-7", "PID-8",
    ] {
        n += msg.get(path).map_or(0, |v| v.len());
    }
    if let Some(rxa) = msg.segment("RXA") {
        for (field, component) in [(3, 1), (5, 1), (15, 1), (17, 1), (20, 1)] {
            n += rxa.get(field, component).map_or(0, |v| v.len());
        }
    }
    n
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("hl7");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| b.iter(|| parse(black_box(TYPICAL_VXU))));
    g.bench_function("parse_and_15_field_reads", |b| {
        b.iter(|| read_fields(&parse(black_box(TYPICAL_VXU))))
    });

    let msg = parse(TYPICAL_VXU);
    let ctx = AckContext::from_message(&msg);
    let one_err = [ErrEntry::error(103, "Immunization 1: The vaccine code '9876' (RXA-5) is not a known CVX code. This immunization was not saved; the rest of the message was.")
        .at(ErrLocation::field("RXA", 1, 5).with_component(1))
        .with_app_code(AppCode::cdc("5"))];
    g.bench_function("ack_aa", |b| {
        b.iter(|| build_ack(black_box(&ctx), AckCode::AA, &[], &PARAMS))
    });
    g.bench_function("ack_with_one_err", |b| {
        b.iter(|| build_ack(black_box(&ctx), AckCode::AE, &one_err, &PARAMS))
    });
    let five: Vec<ErrEntry> = (1..=5)
        .map(|i| {
            ErrEntry::warning(
                102,
                format!("Finding {i}: a plain sentence for the clinic, with a code '{i}X'."),
            )
            .at(ErrLocation::field("OBX", i, 5).with_component(1))
            .with_app_code(AppCode::cdc("4"))
        })
        .collect();
    g.bench_function("ack_with_five_err", |b| {
        b.iter(|| build_ack(black_box(&ctx), AckCode::AA, &five, &PARAMS))
    });

    // A Z34 query and its Z32 answer: one patient, 15 administered doses with lot, MVX,
    // route, site and VFC eligibility. Synthetic data throughout.
    let qbp_text = "MSH|^~\\&|EHR|CLINIC|IZPORT|IZPORT|20240515093013-0500||QBP^Q11^QBP_Q11|Q0001|P|2.5.1|||ER|AL|||||Z34^CDCPHINVS\r\
        QPD|Z34^Request Immunization History^CDCPHINVS|QT0001|MR-1001^^^CLINIC^MR|SAMPLE^ALEX^J^^^^L|\
        RIVERS^DANA^^^^^M|20200301|F\r\
        RCP|I|1^RD&Records&HL70126\r";
    let qbp = parse(qbp_text);
    let request = match parse_query(
        &qbp,
        &QueryLimits::default(),
        jiff::civil::date(2024, 5, 15),
    ) {
        Ok(r) => r,
        Err(findings) => panic!("benchmark query is not valid: {findings:?}"),
    };
    let echo = QueryEcho::from(&request);
    let patient = PatientView {
        registry_id: "4711".into(),
        identifiers: vec![PatientId {
            value: "MR-1001".into(),
            authority: "CLINIC".into(),
            id_type: "MR".into(),
        }],
        family: "SAMPLE".into(),
        given: "ALEX".into(),
        middle: Some("J".into()),
        mother_maiden_family: Some("RIVERS".into()),
        birth_date: "2020-03-01".into(),
        sex: Some("F".into()),
        ..PatientView::default()
    };
    let doses: Vec<DoseView> = (0..15)
        .map(|i| DoseView {
            registry_dose_id: format!("D{i}"),
            filler_order_id: Some(format!("ORD-{i}")),
            filler_namespace: Some("CLINIC".into()),
            administered_on: format!("2021-{:02}-15", i % 12 + 1),
            cvx: "20".into(),
            cvx_text: "DTaP".into(),
            amount: Some("0.5".into()),
            units: Some("mL".into()),
            lot: Some(format!("LOT{i}")),
            mvx: Some(CodedValue::new("PMC", "sanofi pasteur", "MVX")),
            route: Some(CodedValue::new("C28161", "Intramuscular", "NCIT")),
            site: Some(CodedValue::new("LT", "Left Thigh", "HL70163")),
            vfc_eligibility: Some(CodedValue::new("V02", "VFC eligible", "HL70064")),
            ..DoseView::default()
        })
        .collect();
    let outcome = QueryOutcome::Found {
        patient: Box::new(patient),
        doses,
        immunity: Vec::new(),
        forecast: None,
    };
    let qbp_ctx = AckContext::from_message(&qbp);
    let rsp_params = RspParams {
        ack: PARAMS,
        assigning_authority: "IZPORT",
    };
    g.bench_function("rsp_z32_15_doses", |b| {
        b.iter(|| build_rsp(black_box(&qbp_ctx), &echo, &outcome, &[], &rsp_params))
    });
    g.finish();
}

criterion_group!(hl7_benches, benches);
criterion_main!(hl7_benches);
