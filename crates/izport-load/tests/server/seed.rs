//! `izport-load seed` and the in-service Z34 benchmark, at a small size, on a fresh registry.

use izport_load::seed;

use crate::common::fresh_database;

#[tokio::test]
async fn seeded_patients_are_found_by_history_queries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = fresh_database(&dir).await;
    let mut reported = Vec::new();
    let summary = seed::seed(&db, "SEED", 700, 7, |n| reported.push(n))
        .await
        .expect("seed");
    assert_eq!(summary.patients, 700, "exactly the number asked for");
    assert_eq!(
        reported.last().copied(),
        Some(700),
        "progress reaches the end"
    );
    assert!(
        summary.doses >= 700 * 5 && summary.doses <= 700 * 25,
        "{}",
        summary.doses
    );
    assert!(summary.twins > 0 && summary.near_duplicates > 0);

    let bench = seed::bench_z34(db.clone(), "SEED", 50, seed::QueryProfile::Z34)
        .await
        .expect("bench");
    assert_eq!(bench.queries, 50);
    assert_eq!(
        bench.found, 50,
        "every seeded patient's Z32 history comes back for its MRN, name and birth date"
    );
    assert!(bench.p50_ms > 0.0 && bench.p99_ms >= bench.p50_ms);

    // The same patients asked for their evaluated history and forecast: each answer is that
    // patient's Z42.
    let bench = seed::bench_z34(db.clone(), "SEED", 50, seed::QueryProfile::Z44)
        .await
        .expect("bench z44");
    assert_eq!(bench.queries, 50);
    assert_eq!(
        bench.found, 50,
        "every seeded patient's Z42 comes back for its MRN, name and birth date"
    );
}
