//! Data quality over a period, for both doors: the notes the web service keeps with each message
//! (`web_messages`, written inside the message's transaction), the one query that reads an
//! organization's messages of a period from both doors, and the weekly reports' claims
//! (`dqa_weekly_reports`). Migration 0014.

use futures_util::TryStreamExt;
use jiff::Timestamp;
use sqlx::Row;

use super::files::{run_patient_row, to_u64, Blob, MessageNotes, RunPatientRow};
use super::records::timestamp_text;
use super::sql::args;
use super::{now_text, Db, SqlTx, StoreError};

/// Which door a message came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    WebService,
    BatchFile,
}

/// One message of a period as a data quality report reads it.
#[derive(Clone, Debug)]
pub struct PeriodMessage {
    pub door: Door,
    /// The message's receipt (web service) or its file's receipt (batch file), as stored.
    pub received_at: String,
    /// The run (`batches.id`) of a batch file's message.
    pub run_id: Option<i64>,
    pub control_id: Option<String>,
    pub ack_code: String,
    pub facts: Option<String>,
}

/// The period's messages from both doors: web-service messages received in [from, to), and the
/// messages of the organization's batch files whose processing finished in [from, to) (`from`
/// and `to` are timestamps or `YYYY-MM-DD` dates, compared as stored text), in that order of
/// time. Web-service messages answered from the log (a resend) are not recorded again.
const PERIOD_MESSAGES: &str = "\
    SELECT 'web' AS door, w.received_at AS at, w.received_at AS received_at, w.message_id AS k1, \
      0 AS k2, w.control_id, w.ack_code, w.facts, w.submitter_id, w.submitter_authority, \
      w.patient_id \
    FROM web_messages w WHERE w.organization_id = $1 AND w.received_at >= $2 AND w.received_at < $3 \
    UNION ALL \
    SELECT 'file' AS door, b.finished_at AS at, b.received_at AS received_at, b.id AS k1, \
      m.idx AS k2, m.control_id, m.ack_code, m.facts, m.submitter_id, m.submitter_authority, \
      m.patient_id \
    FROM batch_messages m JOIN batches b ON b.id = m.batch_id \
    WHERE b.organization_id = $1 AND b.state = 'done' AND b.finished_at >= $2 \
      AND b.finished_at < $3";

impl Db {
    /// Calls `each` for every message of the organization's period (see [`PERIOD_MESSAGES`]),
    /// streamed (a long period is never held in memory). Returns how many there were.
    pub async fn period_messages(
        &self,
        organization_id: i64,
        from: &str,
        to: &str,
        mut each: impl FnMut(PeriodMessage),
    ) -> Result<u64, StoreError> {
        let sql = format!("{PERIOD_MESSAGES} ORDER BY at, door DESC, k1, k2");
        let mut rows = sqlx::query(&sql)
            .bind(organization_id)
            .bind(from)
            .bind(to)
            .fetch(&self.pool);
        let mut n = 0u64;
        while let Some(r) = rows.try_next().await? {
            let door: String = r.try_get("door")?;
            each(PeriodMessage {
                door: if door == "web" {
                    Door::WebService
                } else {
                    Door::BatchFile
                },
                received_at: r.try_get("received_at")?,
                run_id: (door != "web").then(|| r.try_get("k1")).transpose()?,
                control_id: r.try_get("control_id")?,
                ack_code: r.try_get("ack_code")?,
                facts: r.try_get("facts")?,
            });
            n += 1;
        }
        Ok(n)
    }

    /// The period's messages (both doors) with the patient each named and that record's consent
    /// now, patient by patient: each patient's (PID-3.1, PID-3.4) messages together in time
    /// order, patients in the order of their first message; what a consent notification list
    /// over a period reads. Streamed (the database sorts): calls `each` for every row and
    /// returns how many there were.
    pub async fn period_patients(
        &self,
        organization_id: i64,
        from: &str,
        to: &str,
        mut each: impl FnMut(&RunPatientRow),
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT y.rn, y.control_id, y.ack_code, y.facts, y.submitter_id, \
               y.submitter_authority, s.id AS registry_id, s.consent_status, s.consent_date, \
               MIN(y.rn) OVER (PARTITION BY y.submitter_id, \
                 COALESCE(y.submitter_authority, '')) AS first_rn \
             FROM (SELECT x.*, ROW_NUMBER() OVER (ORDER BY x.at, x.door DESC, x.k1, x.k2) AS rn \
                   FROM ({PERIOD_MESSAGES}) x) y \
             LEFT JOIN patients p ON p.id = y.patient_id \
             LEFT JOIN patients s ON s.id = COALESCE(p.merged_into, p.id) \
             ORDER BY first_rn, y.rn"
        );
        let mut rows = sqlx::query(&sql)
            .bind(organization_id)
            .bind(from)
            .bind(to)
            .fetch(&self.pool);
        let mut n = 0u64;
        while let Some(r) = rows.try_next().await? {
            let index = to_u64(r.try_get("rn")?);
            each(&run_patient_row(&super::sql::Row::Any(r), index)?);
            n += 1;
        }
        Ok(n)
    }

    /// The organizations (id, code) with at least one message in [from, to) through either
    /// door, by code.
    pub async fn organizations_with_messages(
        &self,
        from: &str,
        to: &str,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, o.code FROM organizations o WHERE \
               EXISTS (SELECT 1 FROM web_messages w WHERE w.organization_id = o.id \
                 AND w.received_at >= $1 AND w.received_at < $2) \
               OR EXISTS (SELECT 1 FROM batches b WHERE b.organization_id = o.id \
                 AND b.state = 'done' AND b.finished_at >= $1 AND b.finished_at < $2) \
             ORDER BY o.code",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("code")?)))
            .collect()
    }

    /// The organization's id, if there is one with that code.
    pub async fn organization_id(&self, code: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM organizations WHERE code = $1")
                .bind(code)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Whether the organization's weekly report for the week starting `week_from` was written.
    pub async fn weekly_report_written(
        &self,
        organization_id: i64,
        week_from: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT node FROM dqa_weekly_reports WHERE organization_id = $1 AND week_from = $2",
        )
        .bind(organization_id)
        .bind(week_from)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Places a weekly report's files (contents already stored) into the organization's
    /// `DQA-Reports`, in the same transaction as its claim row: when another node has claimed
    /// the week already nothing is placed and `None` is returned (the contents become orphans,
    /// removed by the next orphan sweep); otherwise the names the files were given.
    pub async fn place_weekly_report(
        &self,
        organization_id: i64,
        week_from: &str,
        week_to: &str,
        node: &str,
        files: &[(String, Blob)],
    ) -> Result<Option<Vec<String>>, StoreError> {
        let now = now_text();
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO dqa_weekly_reports (organization_id, week_from, week_to, node, \
               written_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (organization_id, week_from) DO NOTHING",
        )
        .bind(organization_id)
        .bind(week_from)
        .bind(week_to)
        .bind(node)
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut names = Vec::with_capacity(files.len());
        for (name, blob) in files {
            names.push(
                super::files::place_file(&mut tx, organization_id, "reports", name, blob, &now)
                    .await?
                    .1,
            );
        }
        tx.commit().await?;
        Ok(Some(names))
    }
}

impl SqlTx {
    /// Records a web-service message's notes (see [`MessageNotes`]) with its log entry, inside
    /// the message's transaction.
    pub async fn record_web_message(
        &mut self,
        message_id: i64,
        organization_id: i64,
        received_at: Timestamp,
        control_id: Option<&str>,
        ack_code: &str,
        notes: &MessageNotes<'_>,
    ) -> Result<(), StoreError> {
        let received_at = timestamp_text(received_at);
        self.exec(
            "INSERT INTO web_messages (message_id, organization_id, received_at, control_id, \
               ack_code, facts, submitter_id, submitter_authority, patient_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &args![
                message_id,
                organization_id,
                received_at.as_str(),
                control_id,
                ack_code,
                notes.facts,
                notes.submitter_id,
                notes.submitter_authority,
                notes.patient_id
            ],
        )
        .await?;
        Ok(())
    }
}
