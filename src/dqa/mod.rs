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
pub mod weekly;

use futures_util::TryStreamExt;
use jiff::Timestamp;

pub use facts::MessageFacts;
pub use report::{
    Accumulator, Band, DoorCounts, Downtime, Heading, ReadinessInput, Report, Weights,
};

use crate::store::{Db, MessageNotes, SqlTx, StoreError, DEFAULT_REQUIRED_CLEAN_TESTS};

/// What the web-service door records with each message it logs (`web_messages`), read from the
/// message's text once, before its transaction: the report's facts, MSH-10 and the patient as
/// the sender named it (for the consent notification list). Recorded with
/// [`WebNotes::record`] inside the message's transaction, after the registry's work.
#[derive(Clone, Debug)]
pub struct WebNotes {
    facts: MessageFacts,
    control_id: Option<String>,
    submitter: Option<(String, Option<String>)>,
}

impl WebNotes {
    pub fn of_text(text: &str) -> WebNotes {
        // MSH-10 as the batch door records it (read even from a message that does not parse).
        let control_id = crate::hl7::AckContext::salvage(text)
            .control_id()
            .map(str::to_string);
        match crate::hl7::Message::parse(text) {
            Ok(msg) => WebNotes {
                facts: MessageFacts::of_message(&msg),
                control_id,
                submitter: cnf::submitter_in(&msg),
            },
            Err(_) => WebNotes {
                facts: MessageFacts::default(),
                control_id,
                submitter: None,
            },
        }
    }

    /// One insert, in the transaction that logged the message (`r` is the registry's answer
    /// from it). A resend answered from the log has no new log entry and records nothing.
    pub async fn record(
        self,
        tx: &mut SqlTx,
        organization_id: i64,
        received_at: Timestamp,
        r: &crate::registry::Response,
    ) -> Result<(), StoreError> {
        let Some(message_id) = r.message_id else {
            return Ok(());
        };
        let facts = self.facts.with_response(r).to_json();
        // The record a VXU kept (a query's patient is not "reported").
        let kept = r.patient.and(r.patient_id);
        let notes = MessageNotes {
            facts: Some(&facts),
            submitter_id: self.submitter.as_ref().map(|s| s.0.as_str()),
            submitter_authority: self.submitter.as_ref().and_then(|s| s.1.as_deref()),
            patient_id: kept,
        };
        tx.record_web_message(
            message_id,
            organization_id,
            received_at,
            self.control_id.as_deref(),
            r.ack.as_str(),
            &notes,
        )
        .await
    }
}

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
    let mut earliest: Option<crate::date::Date> = None;
    let mut rows = std::pin::pin!(db.run_facts(batch_id));
    while let Some((_, control_id, ack, facts)) = rows.try_next().await? {
        let f = MessageFacts::from_json(facts.as_deref());
        if let Some(d) = f.administered_on() {
            earliest = Some(earliest.map_or(d, |e| e.min(d)));
        }
        acc.add(control_id.as_deref(), &ack, received, &f);
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

/// The report of an organization's period, `from` to `to` (UTC days, both included), made at
/// `now`, over both doors: the web-service messages received in the period and the messages of
/// the batch files whose processing finished in it (each timed from its file's receipt).
pub async fn period_report(
    db: &Db,
    org: &str,
    from: crate::date::Date,
    to: crate::date::Date,
    weights: &Weights,
    now: Timestamp,
) -> Result<Report, StoreError> {
    let organization_id = db
        .organization_id(org)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no organization {org}")))?;
    let end = to
        .tomorrow()
        .map_err(|e| StoreError::Corrupt(format!("the day after {to}: {e}")))?;
    let mut acc = Accumulator::new(weights.clone());
    let mut doors = DoorCounts::default();
    let mut last_run: Option<i64> = None;
    let mut earliest: Option<crate::date::Date> = None;
    let mut bad: Option<StoreError> = None;
    db.period_messages(organization_id, &from.to_string(), &end.to_string(), |m| {
        let received = match parse_ts(&m.received_at) {
            Ok(t) => t,
            Err(e) => {
                bad.get_or_insert(e);
                return;
            }
        };
        match m.door {
            crate::store::Door::WebService => doors.web_service += 1,
            crate::store::Door::BatchFile => {
                doors.batch_file += 1;
                if m.run_id != last_run {
                    doors.files += 1;
                    last_run = m.run_id;
                }
            }
        }
        let f = MessageFacts::from_json(m.facts.as_deref());
        if let Some(d) = f.administered_on() {
            earliest = Some(earliest.map_or(d, |e| e.min(d)));
        }
        acc.add(m.control_id.as_deref(), &m.ack_code, received, &f);
    })
    .await?;
    if let Some(e) = bad {
        return Err(e);
    }
    let until = end
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|e| StoreError::Corrupt(format!("{end}: {e}")))?
        .timestamp();
    let windows = match earliest.and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok()) {
        Some(start) => downtime(db, org, start.timestamp(), until.max(now)).await?,
        None => Vec::new(),
    };
    let heading = Heading {
        organization: org.to_string(),
        file_name: None,
        received_at: None,
        processing_started_at: None,
        processed_at: now.to_string(),
        processing_seconds: None,
        period_from: Some(from.to_string()),
        period_to: Some(to.to_string()),
    };
    let mut report = acc.finish(heading, "period", &windows, None);
    report.doors = Some(doors);
    Ok(report)
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

/// Writes a run's consent notification file to `out`, patient by patient as the database
/// returns them (memory does not grow with the file). Returns the number of patients.
pub async fn write_run_cnf<W>(db: &Db, batch_id: i64, out: &mut W) -> Result<usize, CnfError>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    use futures_util::TryStreamExt;
    use tokio::io::AsyncWriteExt;
    let mut lines = cnf::CnfLines::default();
    out.write_all(cnf::CnfLines::header().as_bytes()).await?;
    let mut rows = std::pin::pin!(db.run_patients_by_patient(batch_id));
    while let Some(row) = rows.try_next().await? {
        if let Some(line) = lines.add(&row) {
            out.write_all(line.as_bytes()).await?;
        }
    }
    if let Some(line) = lines.finish() {
        out.write_all(line.as_bytes()).await?;
    }
    Ok(lines.patients())
}

/// Why a consent notification file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CnfError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the consent notification file: {0}")]
    Io(#[from] std::io::Error),
}

/// The consent notification lines of an organization's period, `from` to `to` (UTC days, both
/// included), over both doors: web-service submissions received in the period and the messages
/// of batch files whose processing finished in it; one line per patient, in the order of each
/// patient's first message, with the consent status of the record now. Returns the text and
/// the number of messages read.
pub async fn period_cnf(
    db: &Db,
    org: &str,
    from: crate::date::Date,
    to: crate::date::Date,
) -> Result<(String, usize), StoreError> {
    let organization_id = db
        .organization_id(org)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no organization {org}")))?;
    let end = to
        .tomorrow()
        .map_err(|e| StoreError::Corrupt(format!("the day after {to}: {e}")))?;
    let mut lines = cnf::CnfLines::default();
    let mut text = cnf::CnfLines::header();
    let n = db
        .period_patients(
            organization_id,
            &from.to_string(),
            &end.to_string(),
            |row| {
                if let Some(line) = lines.add(row) {
                    text.push_str(&line);
                }
            },
        )
        .await?;
    if let Some(line) = lines.finish() {
        text.push_str(&line);
    }
    Ok((text, usize::try_from(n).unwrap_or(usize::MAX)))
}
