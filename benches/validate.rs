//! Criterion benchmarks of the VXU validation rule engine.
//!
//! ```sh
//! cargo bench --bench validate
//! ```
//!
//! `validate/typical_vxu` is the figure the service's throughput target refers to (one core,
//! message already parsed); the others add parsing, findings and ERR entries.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use izport::hl7::Message;
use izport::registry::codes::CodeSets;
use izport::registry::finding::ack_code;
use izport::registry::validate::{ack_errors, validate, Context, DEFAULT_ERR_LIMIT};

/// A typical VXU: 12 segments, about 1.6 KB, CR-separated; one administered HepB dose with VFC
/// eligibility, VIS (vaccine type, edition and presentation dates) and funding observations.
/// Synthetic: the people, the clinic and every identifier are made up.
// Our own synthetic message (12 segments, ~1.6 KB, CR-separated), shared by the benches.
const TYPICAL_VXU: &str = include_str!("data/vxu-typical.hl7");

/// The same message with problems: a missing sex, an unknown race, a dose with an unknown site
/// and a second dose whose vaccine code is unknown (rejected).
fn with_findings() -> String {
    let mut text = TYPICAL_VXU
        .replace("|20230421|F||2106-3^White", "|20230421|||9999-9^Other")
        .replace("RT^Right Thigh", "ZZ^Nowhere");
    text.push_str(
        "ORC|RE||NWP-IZ-558121^NWPEDS01\r\
         RXA|0|1|20240515||9876^Unknown^CVX|0.5|mL^mL^UCUM||00^New^NIP001||||||R4417KX||MSD^Merck^MVX|||CP|A\r",
    );
    text
}

fn parse(text: &str) -> Message<'_> {
    match Message::parse(text) {
        Ok(m) => m,
        Err(e) => panic!("benchmark message does not parse: {e}"),
    }
}

fn benches(c: &mut Criterion) {
    let ctx = Context::new(jiff::civil::date(2024, 6, 1), CodeSets::builtin());
    let typical = parse(TYPICAL_VXU);
    let clean = validate(&typical, &ctx);
    assert!(
        clean.is_empty(),
        "the typical VXU should be clean: {clean:#?}"
    );
    let noisy_text = with_findings();
    let noisy = parse(&noisy_text);
    let found = validate(&noisy, &ctx);
    assert_eq!(ack_code(&found).as_str(), "AE", "{found:#?}");

    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("typical_vxu", |b| {
        b.iter(|| validate(black_box(&typical), &ctx))
    });
    g.bench_function("parse_and_validate", |b| {
        b.iter(|| {
            let msg = parse(black_box(TYPICAL_VXU));
            validate(&msg, &ctx)
        })
    });
    g.bench_function("with_findings_and_err", |b| {
        b.iter(|| {
            let findings = validate(black_box(&noisy), &ctx);
            ack_errors(&findings, DEFAULT_ERR_LIMIT)
        })
    });
    g.finish();
}

criterion_group!(validate_benches, benches);
criterion_main!(validate_benches);
