//! One full `assess` for a synthetic child with 20 doses across several vaccine groups.
//!
//! `cargo bench -p izport-cdsi --bench forecast`

use criterion::{criterion_group, criterion_main, Criterion};
use izport_cdsi::{assess, AdministeredDose, Gender, Patient, SupportingData};
use jiff::civil::{date, Date};
use std::hint::black_box;

fn dose(id: usize, d: Date, cvx: u16) -> AdministeredDose {
    AdministeredDose {
        id: id.to_string(),
        date: d,
        cvx,
        mvx: None,
        lot_expiration: None,
        substandard: false,
    }
}

/// A made-up routine childhood history: HepB, DTaP-HepB-IPV, Hib, PCV, rotavirus, MMR,
/// varicella, HepA and influenza over the first two years.
fn history() -> (Patient, Vec<AdministeredDose>, Date) {
    let dob = date(2023, 3, 15);
    let plan: [(Date, u16); 20] = [
        (date(2023, 3, 15), 8),    // HepB birth dose
        (date(2023, 5, 16), 110),  // DTaP-HepB-IPV
        (date(2023, 5, 16), 49),   // Hib PRP-OMP
        (date(2023, 5, 16), 133),  // PCV13
        (date(2023, 5, 16), 116),  // rotavirus
        (date(2023, 7, 18), 110),  // DTaP-HepB-IPV
        (date(2023, 7, 18), 49),   // Hib
        (date(2023, 7, 18), 133),  // PCV13
        (date(2023, 7, 18), 116),  // rotavirus
        (date(2023, 9, 19), 110),  // DTaP-HepB-IPV
        (date(2023, 9, 19), 133),  // PCV13
        (date(2023, 9, 19), 116),  // rotavirus
        (date(2023, 10, 20), 150), // influenza
        (date(2023, 11, 21), 150), // influenza
        (date(2024, 3, 18), 3),    // MMR
        (date(2024, 3, 18), 21),   // varicella
        (date(2024, 3, 18), 83),   // HepA
        (date(2024, 6, 17), 49),   // Hib booster
        (date(2024, 6, 17), 133),  // PCV13 booster
        (date(2024, 6, 17), 20),   // DTaP
    ];
    let doses = plan
        .iter()
        .enumerate()
        .map(|(i, (d, c))| dose(i, *d, *c))
        .collect();
    let patient = Patient {
        birth_date: dob,
        gender: Gender::Female,
        birth_country: None,
    };
    (patient, doses, date(2025, 11, 10))
}

fn bench(c: &mut Criterion) {
    let data = SupportingData::builtin().expect("built-in data parses");
    let (patient, doses, today) = history();
    c.bench_function("assess/20 doses, all vaccine groups", |b| {
        b.iter(|| {
            black_box(assess(
                black_box(&data),
                black_box(&patient),
                black_box(&doses),
                &[],
                today,
            ))
        })
    });
    c.bench_function("from_compact/built-in 4.64", |b| {
        b.iter(|| {
            black_box(SupportingData::from_compact(black_box(
                izport_cdsi::BUILTIN_COMPACT,
            )))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
