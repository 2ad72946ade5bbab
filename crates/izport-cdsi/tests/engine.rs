//! Engine behaviour on small hand-made histories with the built-in 4.64 data.
//! Expected values come from the 4.64 data and the logic specification (worked by hand), except
//! where a comment says a value is a snapshot of this engine's own output.

use izport_cdsi::{
    assess, AdministeredDose, EvaluationReason, EvaluationStatus, Gender, LotExpiration, Patient,
    SeriesStatus, SupportingData,
};
use jiff::civil::{date, Date};

fn data() -> &'static SupportingData {
    static DATA: std::sync::OnceLock<SupportingData> = std::sync::OnceLock::new();
    DATA.get_or_init(|| SupportingData::builtin().expect("built-in data parses"))
}

fn child(dob: Date) -> Patient {
    Patient {
        birth_date: dob,
        gender: Gender::Female,
        birth_country: None,
    }
}

fn dose(id: &str, d: Date, cvx: u16) -> AdministeredDose {
    AdministeredDose {
        id: id.into(),
        date: d,
        cvx,
        mvx: None,
        lot_expiration: None,
        substandard: false,
    }
}

// DTaP dose 1 for a newborn: earliest = birth + 6 weeks, recommended = + 2 months,
// past due = + (3 months + 4 weeks) − 1 day (4.64 Diphtheria/Tetanus/Pertussis dose 1).
#[test]
fn newborn_dtap_forecast() {
    let dob = date(2025, 11, 10);
    let a = assess(data(), &child(dob), &[], &[], dob);
    let f = a
        .vaccine_group("DTaP/Tdap/Td")
        .and_then(|g| g.primary())
        .expect("a DTaP forecast");
    assert_eq!(f.status, SeriesStatus::NotComplete);
    assert_eq!(f.dose_number, Some(1));
    assert_eq!(f.earliest, Some(date(2025, 12, 22)));
    assert_eq!(f.recommended, Some(date(2026, 1, 10)));
    assert_eq!(f.past_due, Some(date(2026, 3, 9)));
}

// Dose 2 one day before the absolute minimum age (10 weeks − 4 days) is too young, and the next
// earliest date is counted from that invalid dose (interval from the previous Not Valid dose).
#[test]
fn too_young_second_dose() {
    let dob = date(2025, 9, 6);
    let doses = [
        dose("a", date(2025, 10, 15), 107),
        dose("b", date(2025, 11, 10), 107),
    ];
    let a = assess(data(), &child(dob), &doses, &[], date(2025, 11, 10));
    let second = &a.doses[1];
    assert!(!second.components.is_empty());
    for c in &second.components {
        assert_eq!(c.status, EvaluationStatus::NotValid, "{}", c.antigen);
        assert!(c.reasons.contains(EvaluationReason::AgeTooYoung));
        assert_eq!(c.target_dose, Some(2));
    }
    let f = a
        .vaccine_group("DTaP/Tdap/Td")
        .and_then(|g| g.primary())
        .unwrap();
    assert_eq!(f.dose_number, Some(2));
    assert_eq!(f.earliest, Some(date(2025, 12, 8)));
}

// CVX 121 (zoster live) counts for Varicella before 50 years and for Zoster from 50
// (association ages of the CVX-to-antigen map).
#[test]
fn association_ages_split_cvx_121() {
    let dob = date(1970, 6, 1);
    let old = [dose("z", date(2025, 1, 1), 121)];
    let a = assess(data(), &child(dob), &old, &[], date(2025, 2, 1));
    let antigens: Vec<&str> = a.doses[0].components.iter().map(|c| c.antigen).collect();
    assert!(antigens.contains(&"Zoster"), "{antigens:?}");
    assert!(!antigens.contains(&"Varicella"), "{antigens:?}");
    let young_doses = [dose("v", date(2000, 1, 1), 121)];
    let young = assess(data(), &child(dob), &young_doses, &[], date(2000, 2, 1));
    assert!(young.doses[0]
        .components
        .iter()
        .all(|c| c.antigen == "Varicella"));
}

// A dose given after its lot expired (known by month only: end of month) is Sub-standard.
#[test]
fn expired_lot_is_substandard() {
    let dob = date(2025, 1, 1);
    let mut d = dose("h", date(2025, 3, 1), 8);
    d.lot_expiration = Some(LotExpiration::Month {
        year: 2025,
        month: 2,
    });
    let doses = [d];
    let a = assess(data(), &child(dob), &doses, &[], date(2025, 3, 2));
    let c = a.doses[0].components.first().expect("HepB component");
    assert_eq!(c.status, EvaluationStatus::SubStandard);
    assert!(c.reasons.contains(EvaluationReason::Expired));
}

// Born before 1957: MMR immunity (birth-date immunity of Measles, Mumps, Rubella).
#[test]
fn born_before_1957_is_immune_to_mmr() {
    let a = assess(
        data(),
        &child(date(1950, 1, 1)),
        &[],
        &[],
        date(2025, 11, 10),
    );
    let f = a.vaccine_group("MMR").and_then(|g| g.primary()).unwrap();
    assert_eq!(f.status, SeriesStatus::Immune);
    assert_eq!(f.dose_number, None);
}

// MMR then MMRV 24 days later: within the live virus conflict (28 days), Not Valid.
#[test]
fn live_virus_conflict() {
    let dob = date(2024, 9, 17);
    let doses = [
        dose("m", date(2025, 10, 17), 3),
        dose("v", date(2025, 11, 10), 94),
    ];
    let a = assess(data(), &child(dob), &doses, &[], date(2025, 11, 10));
    let measles = a.doses[1]
        .components
        .iter()
        .find(|c| c.antigen == "Measles")
        .unwrap();
    assert_eq!(measles.status, EvaluationStatus::NotValid);
    assert!(measles
        .reasons
        .contains(EvaluationReason::LiveVirusConflict));
}

// Unknown CVX codes are ignored, never a panic; the dose is echoed with no component.
#[test]
fn unknown_cvx_is_ignored() {
    let doses = [dose("x", date(2021, 1, 1), 9999)];
    let a = assess(
        data(),
        &child(date(2020, 1, 1)),
        &doses,
        &[],
        date(2025, 1, 1),
    );
    assert_eq!(a.doses[0].id, "x");
    assert!(a.doses[0].components.is_empty());
    assert_eq!(a.vaccine_groups.len(), 26);
}

// Table 7-7 reads "all preferable vaccines for the relevant patient series". Observation 079
// (encephalopathy after a pertussis-containing dose) lists every DTaP and Tdap vaccine in the 4.64
// Diphtheria, Tetanus and Pertussis data. Every preferable vaccine of the Pertussis standard series
// is on that list, so the series is Contraindicated; the Diphtheria and Tetanus series also prefer
// Td (CVX 09, 113) from 7 years, so they are not, and forecast dose 2. The vaccine group is
// Contraindicated (Table 9-4: a contraindicated member comes first).
#[test]
fn vaccine_contraindication_covers_the_whole_series() {
    let dob = date(2011, 2, 2);
    let doses = [dose("a", date(2011, 4, 2), 110)];
    let obs = [izport_cdsi::ObservationCode {
        code: "079".into(),
        date: None,
    }];
    let a = assess(data(), &child(dob), &doses, &obs, date(2011, 4, 2));
    let best = |antigen: &str| {
        a.antigen(antigen)
            .and_then(|x| x.best_series().next())
            .map(|s| s.status)
    };
    assert_eq!(best("Pertussis"), Some(SeriesStatus::Contraindicated));
    assert_eq!(best("Diphtheria"), Some(SeriesStatus::NotComplete));
    assert_eq!(best("Tetanus"), Some(SeriesStatus::NotComplete));
    let g = a
        .vaccine_group("DTaP/Tdap/Td")
        .and_then(|g| g.primary())
        .expect("a DTaP forecast");
    assert_eq!(g.status, SeriesStatus::Contraindicated);
}
