//! `izport-load seed` and `izport-load bench-z34`: a registry of realistic synthetic patients,
//! written through the service's store, and the history-query latency measured inside the
//! service (around `Registry::submit`) against it.

use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::synth::{Day, Generator, Patient};
use izport::registry::codes::CodeSets;
use izport::registry::vxu::vaccine_group;
use izport::registry::{PatientRecord, Registry, RegistryConfig, Submitter};
use izport::store::{Db, SeedDose, SeedPatient};

/// The childhood schedule the histories follow: (CVX, age in days, manufacturer).
const SCHEDULE: &[(&str, i32, &str)] = &[
    ("08", 0, "MSD"),
    ("08", 60, "MSD"),
    ("116", 60, "MSD"),
    ("20", 60, "PMC"),
    ("49", 60, "MSD"),
    ("133", 60, "PFR"),
    ("10", 60, "PMC"),
    ("116", 120, "MSD"),
    ("20", 120, "PMC"),
    ("49", 120, "MSD"),
    ("133", 120, "PFR"),
    ("10", 120, "PMC"),
    ("08", 180, "MSD"),
    ("20", 180, "PMC"),
    ("133", 180, "PFR"),
    ("10", 180, "PMC"),
    ("150", 200, "SKB"),
    ("150", 230, "SKB"),
    ("49", 365, "MSD"),
    ("133", 365, "PFR"),
    ("03", 365, "MSD"),
    ("21", 365, "MSD"),
    ("83", 365, "SKB"),
    ("20", 450, "PMC"),
    ("83", 545, "SKB"),
    ("150", 565, "SKB"),
    ("150", 930, "SKB"),
    ("20", 1460, "PMC"),
    ("10", 1460, "PMC"),
    ("03", 1460, "MSD"),
    ("21", 1460, "MSD"),
    ("115", 4015, "SKB"),
    ("165", 4015, "MSD"),
    ("114", 4015, "PMC"),
    ("165", 4200, "MSD"),
    ("114", 5840, "PMC"),
];

/// The organization seeded records belong to unless told otherwise.
pub const DEFAULT_SEED_ORG: &str = "SEED";
/// The seed of the synthetic data unless told otherwise.
pub const DEFAULT_SEED: u64 = 1;
/// Most patients one `seed` run creates.
pub const MAX_PATIENTS: u64 = 100_000_000;
/// Queries `bench_z34` sends unless told otherwise.
pub const DEFAULT_QUERIES: usize = 2000;

const SEED_PASSWORD_HASH_INPUT: &str = "seed data has no login";

fn record(p: &Patient, given: &str, multiple: Option<(bool, u8)>) -> PatientRecord {
    let (y, m, d) = p.birth.ymd();
    PatientRecord {
        family_name: p.family.to_string(),
        given_name: given.to_string(),
        middle_name: (!p.middle.is_empty()).then(|| p.middle.to_string()),
        // A synthetic day is always a real date.
        birth_date: izport::date::ymd(i16::try_from(y).unwrap_or(0), m as u8, d as u8)
            .unwrap_or_default(),
        sex: Some(p.sex.to_string()),
        mother_maiden_name: Some(p.mother_maiden.to_string()),
        phone: Some(format!("{}{}", p.area_code, p.phone)),
        street: Some(p.street.clone()),
        city: Some(p.city.to_string()),
        state: Some(p.state.to_string()),
        zip: Some(p.zip.clone()),
        race: Some(p.race.0.to_string()),
        ethnicity: Some(p.ethnicity.0.to_string()),
        multiple_birth: multiple.map(|(y, _)| y),
        birth_order: multiple.map(|(_, o)| o),
        ..PatientRecord::default()
    }
}

fn history(rng: &mut StdRng, birth: Day, today: Day, mrn: &str, codes: &CodeSets) -> Vec<SeedDose> {
    let age = today.0 - birth.0;
    let cap = rng.gen_range(5..=25);
    SCHEDULE
        .iter()
        .filter(|(_, at, _)| *at <= age)
        .take(cap)
        .enumerate()
        .map(|(n, (cvx, at, mvx))| {
            // Real visits drift a little from the schedule, never before birth or after today.
            let day = Day((birth.0 + at + rng.gen_range(0..14)).min(today.0));
            let (y, m, d) = day.ymd();
            SeedDose {
                filler: format!("{mrn}-{n}"),
                date: format!("{y:04}-{m:02}-{d:02}"),
                cvx,
                group: vaccine_group(cvx, codes),
                lot: format!("L{:06}", rng.gen_range(0..1_000_000)),
                mvx,
            }
        })
        .collect()
}

/// A given name one keying slip away ("Sophia" → "Sopha"): a near-duplicate record.
fn slip(name: &str) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    if chars.len() > 3 {
        chars.remove(chars.len() / 2);
    }
    chars.into_iter().collect()
}

pub struct SeedSummary {
    pub patients: u64,
    pub doses: u64,
    pub twins: u64,
    pub near_duplicates: u64,
    pub seconds: f64,
}

/// Creates `count` synthetic patients (about 2 % of them twins, 1 % near-duplicates) with
/// 5–25 doses each, in batches; `progress(done)` after each batch.
pub async fn seed(
    db: &Db,
    org_code: &str,
    count: u64,
    seed: u64,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<SeedSummary> {
    let started = Instant::now();
    let hash = izport::auth::hash_password(SEED_PASSWORD_HASH_INPUT)?;
    let (org, _user, message) = db.seed_anchor(org_code, &hash).await?;
    let now = jiff::Timestamp::now();
    let mut generator = Generator::new(seed, 900, "SEEDFAC", now);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED);
    let today_civil = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let today = Day::from_ymd(
        i32::from(today_civil.year()),
        today_civil.month() as u32,
        today_civil.day() as u32,
    );
    let codes = CodeSets::builtin();
    let mut summary = SeedSummary {
        patients: 0,
        doses: 0,
        twins: 0,
        near_duplicates: 0,
        seconds: 0.0,
    };
    let mut batch = Vec::with_capacity(600);
    while summary.patients + (batch.len() as u64) < count {
        let planned = summary.patients + batch.len() as u64;
        let mut p = generator.patient();
        // Old enough for a history: 15 months to 18 years.
        p.birth = Day(today.0 - rng.gen_range(456..6570));
        let roll: f64 = rng.gen();
        if roll < 0.02 && planned + 2 <= count {
            let co_given = if p.given == "Ava" { "Mia" } else { "Ava" };
            for (order, given) in [(1u8, p.given.to_string()), (2, co_given.to_string())] {
                let mrn = format!("{}T{order}", p.mrn);
                batch.push(SeedPatient {
                    record: record(&p, &given, Some((true, order))),
                    doses: history(&mut rng, p.birth, today, &mrn, codes),
                    mrn,
                });
            }
            summary.twins += 2;
        } else {
            batch.push(SeedPatient {
                record: record(&p, p.given, None),
                doses: history(&mut rng, p.birth, today, &p.mrn, codes),
                mrn: p.mrn.clone(),
            });
            if roll < 0.03 && planned + 2 <= count {
                let mrn = format!("{}D", p.mrn);
                batch.push(SeedPatient {
                    record: record(&p, &slip(p.given), None),
                    doses: history(&mut rng, p.birth, today, &mrn, codes),
                    mrn,
                });
                summary.near_duplicates += 1;
            }
        }
        if !batch.is_empty()
            && (batch.len() >= 500 || summary.patients + batch.len() as u64 >= count)
        {
            let n = batch.len() as u64;
            summary.doses += batch.iter().map(|b| b.doses.len() as u64).sum::<u64>();
            db.seed_batch(org, message, &batch).await?;
            batch.clear();
            summary.patients += n;
            progress(summary.patients);
        }
    }
    // After a bulk load PostgreSQL's planner has no statistics for the new rows until
    // autovacuum gets round to them; without them it picks scans that a million rows punish.
    db.refresh_statistics().await?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Latency of Z34 history queries for seeded patients, measured around `Registry::submit`
/// (parse, match, load, encode, and the durable log and audit write), one at a time.
#[derive(Debug, serde::Serialize)]
pub struct QueryBench {
    pub queries: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Queries answered with the Z32 history of the patient asked for (a Z31 candidate list
    /// or another patient does not count).
    pub found: usize,
}

/// The query `bench_z34` sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryProfile {
    /// Request Immunization History, answered with the history (Z32).
    Z34,
    /// Request Evaluated History and Forecast, answered with the evaluated history and the
    /// forecast (Z42).
    Z44,
}

impl QueryProfile {
    pub fn name(self) -> &'static str {
        match self {
            QueryProfile::Z34 => "Z34",
            QueryProfile::Z44 => "Z44",
        }
    }

    fn qpd1(self) -> &'static str {
        match self {
            QueryProfile::Z34 => "Z34^Request Immunization History^CDCPHINVS",
            QueryProfile::Z44 => "Z44^Request Evaluated History and Forecast^CDCPHINVS",
        }
    }

    /// The response profile (MSH-21) a found patient's answer carries.
    fn answer(self) -> &'static str {
        match self {
            QueryProfile::Z34 => "Z32",
            QueryProfile::Z44 => "Z42",
        }
    }
}

pub async fn bench_z34(
    db: Arc<Db>,
    org_code: &str,
    queries: usize,
    profile: QueryProfile,
) -> anyhow::Result<QueryBench> {
    let sample = db.sample_patients(org_code, queries).await?;
    if sample.is_empty() {
        anyhow::bail!("no seeded patients for {org_code}: run `izport-load seed` first");
    }
    let creds = db
        .credentials(
            &format!("{}-seed", org_code.to_ascii_lowercase()),
            "SEEDFAC",
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("the seed user is missing: run `izport-load seed` first"))?;
    let submitter = Submitter {
        organization_id: creds.organization_id,
        organization_code: creds.organization_code,
        user_id: creds.user_id,
        facility_code: "SEEDFAC".into(),
        production: true,
    };
    let registry = Registry::new(
        db,
        RegistryConfig::default(),
        Arc::new(izport::clock::SystemClock),
        Arc::new(izport::clock::RandomIds),
    )?;
    let mut histogram = hdrhistogram::Histogram::<u64>::new(3)?;
    let mut found = 0;
    let answer = profile.answer();
    for (n, (mrn, family, given, dob, sex)) in sample.iter().enumerate() {
        let (profile, qpd1) = (profile.name(), profile.qpd1());
        let text = format!(
            "MSH|^~\\&|BENCH|SEEDFAC|IZPORT|IZPORT|20240601||QBP^Q11^QBP_Q11|BENCH-{n}|P|2.5.1|||ER|AL|||||{profile}^CDCPHINVS\r\
             QPD|{qpd1}|T{n}|{mrn}^^^SEEDEHR^MR|{family}^{given}^^^^^L||{dob}|{sex}\r\
             RCP|I|10^RD&records&HL70126"
        );
        let started = Instant::now();
        let response = registry.submit(&submitter, &text).await?;
        histogram.record(started.elapsed().as_micros().max(1) as u64)?;
        let history = izport::hl7::Message::parse(&response.hl7)
            .is_ok_and(|msg| crate::load::soap::is_history_of(&msg, mrn, answer));
        if history {
            found += 1;
        }
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(QueryBench {
        queries: sample.len(),
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        max_ms: histogram.max() as f64 / 1000.0,
        found,
    })
}
