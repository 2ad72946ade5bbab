//! Data quality reports: what an organization reads in `DQA-Reports` about each processed file
//! (and, later, about a period). [`facts`] reads what a report needs from each message when it
//! is processed (stored with the message, no patient data); [`report`] turns those facts into
//! counts, scores and findings (pure); [`html`] and [`Report`]'s JSON form render it. The few
//! functions here read a run's facts, its downtime and readiness from the store and call them.
//!
//! docs/dqa.md describes every measure and weight; docs/dqa-report.schema.json the JSON.

pub mod cnf;
pub mod facts;
pub mod fixes;
pub mod html;
pub mod report;

use jiff::Timestamp;

pub use facts::MessageFacts;
pub use report::{Accumulator, Band, Downtime, Heading, ReadinessInput, Report, Weights};

use crate::store::{Db, StoreError, DEFAULT_REQUIRED_CLEAN_TESTS};

/// The JSON form (pretty, UTF-8).
pub fn to_json(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|_| "{}".to_string())
}

fn parse_ts(text: &str) -> Result<Timestamp, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp '{text}': {e}")))
}

/// The report of one processed run (`batches.id`), made at `now`.
pub async fn file_report(
    db: &Db,
    batch_id: i64,
    weights: &Weights,
    now: Timestamp,
) -> Result<Report, StoreError> {
    let run = db
        .run(batch_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no run {batch_id}")))?;
    let received = parse_ts(&run.received_at)?;
    let started = parse_ts(&run.claimed_at)?;
    let mut acc = Accumulator::new(weights.clone());
    let mut next = 0u64;
    let mut earliest: Option<crate::date::Date> = None;
    loop {
        let page = db.run_facts(batch_id, next, 1000).await?;
        if page.is_empty() {
            break;
        }
        for (idx, control_id, ack, facts) in &page {
            next = idx + 1;
            let f = MessageFacts::from_json(facts.as_deref());
            if let Some(d) = f.administered_on() {
                earliest = Some(earliest.map_or(d, |e| e.min(d)));
            }
            acc.add(control_id.as_deref(), ack, received, &f);
        }
    }
    let windows = match earliest.and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok()) {
        Some(from) => downtime(db, &run.organization, from.timestamp(), received).await?,
        None => Vec::new(),
    };
    let r = db
        .readiness(&run.organization, DEFAULT_REQUIRED_CLEAN_TESTS)
        .await?;
    let readiness = ReadinessInput {
        status: r.status,
        consecutive_clean: r.consecutive_clean as u64,
        required: r.required as u64,
    };
    let seconds = now.duration_since(started).as_secs_f64().max(0.0);
    let heading = Heading {
        organization: run.organization.clone(),
        file_name: Some(run.original_name.clone()),
        received_at: Some(run.received_at.clone()),
        processing_started_at: Some(run.claimed_at.clone()),
        processed_at: now.to_string(),
        processing_seconds: Some((seconds * 10.0).round() / 10.0),
        period_from: None,
        period_to: None,
    };
    Ok(acc.finish(heading, "file", &windows, Some(readiness)))
}

/// Downtime that may excuse the organization's late reports in [from, to): registry-wide
/// windows and the organization's own.
pub async fn downtime(
    db: &Db,
    org: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Downtime>, StoreError> {
    Ok(db
        .downtime_for(org, from, to)
        .await?
        .into_iter()
        .map(|w| Downtime {
            id: w.id,
            kind: match w.kind {
                crate::maintenance::Kind::Scheduled => "scheduled".to_string(),
                crate::maintenance::Kind::Unplanned => "outage".to_string(),
            },
            organization: w.organization,
            starts_at: w.starts_at,
            ends_at: w.ends_at,
        })
        .collect())
}

/// Adds every message of a run to a consent notification file, in order.
pub async fn add_run_to_cnf(
    db: &Db,
    batch_id: i64,
    cnf: &mut cnf::CnfBuilder,
) -> Result<(), StoreError> {
    let mut next = 0u64;
    loop {
        let page = db.run_patients(batch_id, next, 1000).await?;
        if page.is_empty() {
            return Ok(());
        }
        for row in &page {
            next = row.index + 1;
            cnf.add(row);
        }
    }
}

/// The consent notification lines of an organization's batch files processed (runs finished)
/// from `from` to `to`, both days included (UTC): one line per patient over all those files,
/// in the order of each patient's first message, with the consent status of the record now.
/// Web-service submissions are not included. Returns the text and the number of files.
pub async fn period_cnf(
    db: &Db,
    org: &str,
    from: crate::date::Date,
    to: crate::date::Date,
) -> Result<(String, usize), StoreError> {
    let end = to
        .tomorrow()
        .map_err(|e| StoreError::Corrupt(format!("the day after {to}: {e}")))?;
    let runs = db
        .runs_done_between(org, &from.to_string(), &end.to_string())
        .await?;
    let mut cnf = cnf::CnfBuilder::default();
    for id in &runs {
        add_run_to_cnf(db, *id, &mut cnf).await?;
    }
    Ok((cnf.render(), runs.len()))
}
