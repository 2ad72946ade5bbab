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
const TYPICAL_VXU: &str = concat!(
    "MSH|^~\\&|NORTHWINDEHR|NWPEDS01|IZPORT|IZPORT|20240515093012-0400||VXU^V04^VXU_V04|NWP-20240515-000187|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS|NWPEDS01|IZPORT\r",
    "PID|1||70044123^^^NWPEDS01^MR~S0000021^^^SSA^SS||Brackenridge^Odessa^Lynn^^^^L~Pell^Odessa^^^^^M|Marchetti^Ilse^^^^^M|20230421|F||2106-3^White^CDCREC|1820 Harrow Creek Rd^Apt 12^Lakemont^MI^48846^USA^P^^MI034||^PRN^PH^^^616^5550199~^NET^Internet^o.family@example.org|||||||||2186-5^Not Hispanic or Latino^CDCREC||Y|2|||||N\r",
    "PD1|||||||||||02^Reminder/Recall - any method^HL70215|N|20240515|||A|20230421|20240515\r",
    "NK1|1|Brackenridge^Ilse^^^^^L|MTH^Mother^HL70063|1820 Harrow Creek Rd^Apt 12^Lakemont^MI^48846^USA^P|^PRN^PH^^^616^5550199\r",
    "ORC|RE||NWP-IZ-558120^NWPEDS01|||||||I-7710^Vasquez^Rita^M^^^^^NWPEDS01^^^^PRN||88231^Holloway^Simon^^^^^^NWPEDS01^L^^^MD|||||NWPEDS01^Northwind Pediatrics^HL70362\r",
    "RXA|0|1|20240515||08^Hep B, adolescent or pediatric^CVX|0.5|mL^milliliters^UCUM||00^New immunization record^NIP001|7710-4^Vasquez^Rita^M^^^^^NWPEDS01^^^^PRN|^^^NWPEDS01||||R4417KX|20250810|MSD^Merck and Co., Inc.^MVX|||CP|A\r",
    "RXR|C28161^Intramuscular^NCIT|RT^Right Thigh^HL70163\r",
    "OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid/Medicaid Managed Care^HL70064||||||F|||20240515|||VXC40^Eligibility captured at the immunization level^CDCPHINVS\r",
    "OBX|2|CE|30956-7^vaccine type^LN|2|45^Hep B, unspecified formulation^CVX||||||F\r",
    "OBX|3|TS|29768-9^Date vaccine information statement published^LN|2|20230512||||||F\r",
    "OBX|4|TS|29769-7^Date vaccine information statement presented^LN|2|20240515||||||F\r",
    "OBX|5|CE|30963-3^Vaccine funding source^LN|3|VXC50^Public^CDCPHINVS||||||F|||20240515\r",
);

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
