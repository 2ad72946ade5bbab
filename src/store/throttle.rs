//! Failed logins and lockouts (`auth_throttle`), shared by every node through the database.
//! A subject is a username, a client address or an SFTP import code, each in its own scope.

use sqlx::Row;

use super::{Db, StoreError};

/// What the table says about one subject now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThrottleState {
    /// Failures counted in the current window.
    pub failures: i64,
    /// Until when (Unix seconds) the subject is locked out, if it is now.
    pub locked_until: Option<i64>,
}

/// How failures turn into lockouts.
#[derive(Clone, Copy, Debug)]
pub struct ThrottleRule {
    /// Failures within `window` seconds that lock the subject out.
    pub max_failures: i64,
    pub window: i64,
    /// The first lockout, in seconds; each further one doubles it, up to a day.
    pub lockout: i64,
}

/// The longest lockout, however often a subject was locked out.
pub const MAX_LOCKOUT_SECONDS: i64 = 24 * 60 * 60;

impl Db {
    /// The state of each `(scope, subject)`, in order (default when it has no row).
    pub async fn throttle_states(
        &self,
        subjects: &[(&str, &str)],
        now: i64,
    ) -> Result<Vec<ThrottleState>, StoreError> {
        let mut out = Vec::with_capacity(subjects.len());
        for (scope, subject) in subjects {
            let row = sqlx::query(
                "SELECT failures, locked_until FROM auth_throttle WHERE scope = $1 AND subject = $2",
            )
            .bind(*scope)
            .bind(*subject)
            .fetch_optional(&self.pool)
            .await?;
            out.push(match row {
                None => ThrottleState::default(),
                Some(row) => {
                    let locked_until: Option<i64> = row.try_get("locked_until")?;
                    ThrottleState {
                        failures: row.try_get("failures")?,
                        locked_until: locked_until.filter(|&t| t > now),
                    }
                }
            });
        }
        Ok(out)
    }

    /// Counts one failure of a subject; when it reaches the rule's count within the window, the
    /// subject is locked out (for longer after each lockout) and the end of the lockout is
    /// returned.
    pub async fn throttle_failure(
        &self,
        scope: &str,
        subject: &str,
        now: i64,
        rule: ThrottleRule,
    ) -> Result<Option<i64>, StoreError> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO auth_throttle (scope, subject, failures, window_start, lockouts) \
             VALUES ($1, $2, 1, $3, 0) \
             ON CONFLICT (scope, subject) DO UPDATE SET \
               failures = CASE WHEN auth_throttle.window_start <= $4 THEN 1 \
                               ELSE auth_throttle.failures + 1 END, \
               window_start = CASE WHEN auth_throttle.window_start <= $4 THEN $3 \
                                   ELSE auth_throttle.window_start END \
             RETURNING failures, lockouts",
        )
        .bind(scope)
        .bind(subject)
        .bind(now)
        .bind(now - rule.window)
        .fetch_one(&mut *tx)
        .await?;
        let failures: i64 = row.try_get("failures")?;
        let lockouts: i64 = row.try_get("lockouts")?;
        let locked = if failures >= rule.max_failures {
            let factor = 1i64 << lockouts.clamp(0, 16);
            let until = now + rule.lockout.saturating_mul(factor).min(MAX_LOCKOUT_SECONDS);
            sqlx::query(
                "UPDATE auth_throttle SET lockouts = lockouts + 1, locked_until = $3, \
                        failures = 0, window_start = $4 \
                  WHERE scope = $1 AND subject = $2",
            )
            .bind(scope)
            .bind(subject)
            .bind(until)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Some(until)
        } else {
            None
        };
        tx.commit().await?;
        Ok(locked)
    }

    /// A successful login: the subject's failures are forgotten (its lockout count stays, so
    /// that a subject locked out again waits longer).
    pub async fn throttle_success(&self, scope: &str, subject: &str) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        sqlx::query(
            "UPDATE auth_throttle SET failures = 0 WHERE scope = $1 AND subject = $2 \
               AND failures > 0",
        )
        .bind(scope)
        .bind(subject)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends a subject's lockout and forgets its failures and lockouts (`izport user unlock`);
    /// whether there was anything to forget.
    pub async fn throttle_unlock(&self, scope: &str, subject: &str) -> Result<bool, StoreError> {
        let _guard = self.write_guard().await;
        let done = sqlx::query("DELETE FROM auth_throttle WHERE scope = $1 AND subject = $2")
            .bind(scope)
            .bind(subject)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
