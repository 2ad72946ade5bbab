//! Times `assess` on the benchmark's synthetic history (minimum of many runs), for profiling.
use izport_cdsi::{assess, AdministeredDose, Gender, Patient, SupportingData};
use jiff::civil::date;
use std::time::Instant;

fn main() {
    let data = SupportingData::builtin().expect("built-in data parses");
    let cvx: [(i16, i8, i8, u16); 20] = [
        (2023, 3, 15, 8),
        (2023, 5, 16, 110),
        (2023, 5, 16, 49),
        (2023, 5, 16, 133),
        (2023, 5, 16, 116),
        (2023, 7, 18, 110),
        (2023, 7, 18, 49),
        (2023, 7, 18, 133),
        (2023, 7, 18, 116),
        (2023, 9, 19, 110),
        (2023, 9, 19, 133),
        (2023, 9, 19, 116),
        (2023, 10, 20, 150),
        (2023, 11, 21, 150),
        (2024, 3, 18, 3),
        (2024, 3, 18, 21),
        (2024, 3, 18, 83),
        (2024, 6, 17, 49),
        (2024, 6, 17, 133),
        (2024, 6, 17, 20),
    ];
    let doses: Vec<AdministeredDose> = cvx
        .iter()
        .enumerate()
        .map(|(i, &(y, m, d, c))| AdministeredDose {
            id: i.to_string(),
            date: date(y, m, d),
            cvx: c,
            mvx: None,
            lot_expiration: None,
            substandard: false,
        })
        .collect();
    let p = Patient {
        birth_date: date(2023, 3, 15),
        gender: Gender::Female,
        birth_country: None,
    };
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let mut best = f64::MAX;
    for _ in 0..n {
        let t = Instant::now();
        let a = assess(&data, &p, &doses, &[], date(2025, 11, 10));
        std::hint::black_box(&a);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let a = assess(&data, &p, &doses, &[], date(2025, 11, 10));
    for g in &a.vaccine_groups {
        if let Some(f) = g.primary() {
            println!(
                "{:<22} {:<16} #{:?} {:?}",
                g.name,
                f.status.as_str(),
                f.dose_number,
                f.earliest
            );
        }
    }
    println!("min {:.1} µs over {n} runs", best * 1e6);
}
