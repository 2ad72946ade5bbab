//! Criterion benchmarks of the HL7 codec: parsing with field access, and ACK encoding.
//!
//! ```sh
//! cargo bench --bench hl7
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use izport::hl7::{
    build_ack, AckCode, AckContext, AckParams, AppCode, ErrEntry, ErrLocation, Message,
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
    g.finish();
}

criterion_group!(hl7_benches, benches);
criterion_main!(hl7_benches);
