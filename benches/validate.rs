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
    let ctx = Context::new((2024, 6, 1), CodeSets::builtin());
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
