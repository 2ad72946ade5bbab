//! Operator work on the registry's people and submitters: the possible-match review list,
//! reversible merges, organization status and onboarding readiness.

use sqlx::Row;

use super::{now_text, Db, StoreError};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Review {
    pub id: i64,
    pub patient_id: i64,
    pub candidate_id: i64,
    pub reason: String,
    pub status: String,
    pub created_at: String,
}

/// One test message of an onboarding organization.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestMessage {
    pub received_at: String,
    pub control_id: Option<String>,
    pub outcome: String,
    pub errors: i64,
    pub warnings: i64,
}

/// Error-free test messages in a row an onboarding organization needs unless told otherwise
/// (`org readiness`, the DQA report's "ready for production?").
pub const DEFAULT_REQUIRED_CLEAN_TESTS: usize = 3;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Readiness {
    pub organization: String,
    pub status: String,
    /// Latest first.
    pub recent_tests: Vec<TestMessage>,
    /// How many of the latest test messages in a row had no error.
    pub consecutive_clean: usize,
    pub required: usize,
    pub ready: bool,
}

impl Db {
    pub async fn set_organization_status(
        &self,
        code: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        let done = sqlx::query("UPDATE organizations SET status = $2 WHERE code = $1")
            .bind(code)
            .bind(status)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no organization {code}")));
        }
        Ok(())
    }

    /// The latest test messages of an organization and whether it has `required` error-free
    /// test messages in a row (the registry's onboarding rule: 3 to 5).
    pub async fn readiness(&self, code: &str, required: usize) -> Result<Readiness, StoreError> {
        let org = sqlx::query("SELECT id, status FROM organizations WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no organization {code}")))?;
        let (org_id, status): (i64, String) = (org.try_get("id")?, org.try_get("status")?);
        let rows = sqlx::query(
            "SELECT received_at, control_id, outcome, error_count, warning_count FROM message_log \
             WHERE organization_id = $1 AND processing_id = 'T' ORDER BY id DESC LIMIT 20",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        let recent_tests = rows
            .iter()
            .map(|r| {
                Ok(TestMessage {
                    received_at: r.try_get("received_at")?,
                    control_id: r.try_get("control_id")?,
                    outcome: r.try_get("outcome")?,
                    errors: r.try_get("error_count")?,
                    warnings: r.try_get("warning_count")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let consecutive_clean = recent_tests
            .iter()
            .take_while(|t| t.errors == 0 && t.outcome != "AR")
            .count();
        Ok(Readiness {
            organization: code.to_string(),
            status,
            ready: consecutive_clean >= required,
            recent_tests,
            consecutive_clean,
            required,
        })
    }

    pub async fn reviews(&self, all: bool) -> Result<Vec<Review>, StoreError> {
        let rows = sqlx::query(if all {
            "SELECT id, patient_id, candidate_id, reason, status, created_at FROM match_reviews ORDER BY id"
        } else {
            "SELECT id, patient_id, candidate_id, reason, status, created_at FROM match_reviews \
             WHERE status = 'open' ORDER BY id"
        })
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Review {
                    id: r.try_get("id")?,
                    patient_id: r.try_get("patient_id")?,
                    candidate_id: r.try_get("candidate_id")?,
                    reason: r.try_get("reason")?,
                    status: r.try_get("status")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn review(&self, id: i64) -> Result<Review, StoreError> {
        self.reviews(true)
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("no review {id}")))
    }

    /// The two records of a review are one person: the newer is merged into the older. Reads
    /// follow the merge; nothing is deleted, so `split` undoes it. Returns (survivor, merged).
    pub async fn merge_review(&self, id: i64) -> Result<(i64, i64), StoreError> {
        let review = self.review(id).await?;
        if review.status != "open" {
            return Err(StoreError::Conflict(format!(
                "review {id} is {}, not open",
                review.status
            )));
        }
        let survivor = review.patient_id.min(review.candidate_id);
        let merged = review.patient_id.max(review.candidate_id);
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let now = now_text();
        // Records already merged into the one being merged follow it to the survivor.
        sqlx::query("UPDATE patients SET merged_into = $1 WHERE id = $2 OR merged_into = $2")
            .bind(survivor)
            .bind(merged)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO patient_merges (survivor_id, merged_id, review_id, merged_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(survivor)
        .bind(merged)
        .bind(id)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE match_reviews SET status = 'merged', resolved_at = $2 WHERE id = $1")
            .bind(id)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((survivor, merged))
    }

    /// The two records of a review are different people: an open review is closed as such, a
    /// merged one is undone (audited in patient_merges).
    pub async fn split_review(&self, id: i64) -> Result<(), StoreError> {
        let review = self.review(id).await?;
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let now = now_text();
        match review.status.as_str() {
            "open" => {}
            "merged" => {
                let merged = review.patient_id.max(review.candidate_id);
                sqlx::query("UPDATE patients SET merged_into = NULL WHERE id = $1")
                    .bind(merged)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE patient_merges SET unmerged_at = $2 \
                     WHERE review_id = $1 AND unmerged_at IS NULL",
                )
                .bind(id)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            }
            other => {
                return Err(StoreError::Conflict(format!(
                    "review {id} is already {other}"
                )));
            }
        }
        sqlx::query("UPDATE match_reviews SET status = 'split', resolved_at = $2 WHERE id = $1")
            .bind(id)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
