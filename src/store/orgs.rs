//! Organizations, their facilities and their users: written by the CLI, read by authentication.

use sqlx::Row;

use super::{now_text, Db, StoreError};

/// What authentication needs to know about a username, in one read.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user_id: i64,
    pub organization_id: i64,
    pub organization_code: String,
    pub password_hash: String,
    pub active: bool,
    /// Whether the facility named in the request belongs to the user's organization.
    pub facility_known: bool,
    /// The organization is approved for production data.
    pub production: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OrgSummary {
    pub code: String,
    pub name: String,
    /// `production` (approved for production data) or `onboarding` (test messages only).
    pub status: String,
    pub facilities: Vec<String>,
    pub users: Vec<String>,
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl Db {
    /// Registers an organization. New organizations are `onboarding` (test messages only) unless
    /// `production` is set.
    pub async fn create_organization(
        &self,
        code: &str,
        name: &str,
        facilities: &[String],
        production: bool,
    ) -> Result<i64, StoreError> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let created = sqlx::query(
            "INSERT INTO organizations (code, name, created_at, status) VALUES ($1, $2, $3, $4) \
             RETURNING id",
        )
        .bind(code)
        .bind(name)
        .bind(now_text())
        .bind(if production {
            "production"
        } else {
            "onboarding"
        })
        .fetch_one(&mut *tx)
        .await;
        let org_id: i64 = match created {
            Ok(row) => row.try_get("id")?,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "organization {code} already exists"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        for facility in facilities {
            sqlx::query(
                "INSERT INTO facilities (organization_id, facility_code) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(org_id)
            .bind(facility)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(org_id)
    }

    pub async fn list_organizations(&self) -> Result<Vec<OrgSummary>, StoreError> {
        let orgs = sqlx::query("SELECT id, code, name, status FROM organizations ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        let facilities = sqlx::query(
            "SELECT organization_id, facility_code FROM facilities ORDER BY facility_code",
        )
        .fetch_all(&self.pool)
        .await?;
        let users =
            sqlx::query("SELECT organization_id, username, status FROM users ORDER BY username")
                .fetch_all(&self.pool)
                .await?;
        let mut out = Vec::with_capacity(orgs.len());
        for org in orgs {
            let id: i64 = org.try_get("id")?;
            let mut summary = OrgSummary {
                code: org.try_get("code")?,
                name: org.try_get("name")?,
                status: org.try_get("status")?,
                facilities: Vec::new(),
                users: Vec::new(),
            };
            for f in &facilities {
                if f.try_get::<i64, _>("organization_id")? == id {
                    summary.facilities.push(f.try_get("facility_code")?);
                }
            }
            for u in &users {
                if u.try_get::<i64, _>("organization_id")? == id {
                    let name: String = u.try_get("username")?;
                    let status: String = u.try_get("status")?;
                    summary.users.push(if status == "active" {
                        name
                    } else {
                        format!("{name} ({status})")
                    });
                }
            }
            out.push(summary);
        }
        Ok(out)
    }

    pub async fn create_user(
        &self,
        org_code: &str,
        username: &str,
        password_hash: &str,
    ) -> Result<i64, StoreError> {
        let _guard = self.write_guard().await;
        let org: Option<i64> = sqlx::query_scalar("SELECT id FROM organizations WHERE code = $1")
            .bind(org_code)
            .fetch_optional(&self.pool)
            .await?;
        let org_id =
            org.ok_or_else(|| StoreError::NotFound(format!("no organization {org_code}")))?;
        let now = now_text();
        let created = sqlx::query(
            "INSERT INTO users (organization_id, username, password_hash, status, created_at, updated_at) \
             VALUES ($1, $2, $3, 'active', $4, $4) RETURNING id",
        )
        .bind(org_id)
        .bind(username)
        .bind(password_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await;
        match created {
            Ok(row) => Ok(row.try_get("id")?),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "user {username} already exists"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn set_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        self.update_user(
            "UPDATE users SET password_hash = $2, updated_at = $3 WHERE username = $1",
            username,
            password_hash,
        )
        .await
    }

    pub async fn set_user_status(&self, username: &str, status: &str) -> Result<(), StoreError> {
        self.update_user(
            "UPDATE users SET status = $2, updated_at = $3 WHERE username = $1",
            username,
            status,
        )
        .await
    }

    async fn update_user(&self, sql: &str, username: &str, value: &str) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        let done = sqlx::query(sql)
            .bind(username)
            .bind(value)
            .bind(now_text())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no user {username}")));
        }
        Ok(())
    }

    /// The stored credentials of `username`, and whether `facility` is one of its organization's.
    pub async fn credentials(
        &self,
        username: &str,
        facility: &str,
    ) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.organization_id, o.code, u.password_hash, u.status AS user_status, \
                    (SELECT COUNT(*) FROM facilities f \
                      WHERE f.organization_id = u.organization_id AND f.facility_code = $2) \
                      AS facility_count, \
                    o.status AS organization_status \
               FROM users u JOIN organizations o ON o.id = u.organization_id \
              WHERE u.username = $1",
        )
        .bind(username)
        .bind(facility)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("user_status")?;
        let facility_count: i64 = row.try_get("facility_count")?;
        Ok(Some(Credentials {
            user_id: row.try_get("id")?,
            organization_id: row.try_get("organization_id")?,
            organization_code: row.try_get("code")?,
            password_hash: row.try_get("password_hash")?,
            active: status == "active",
            facility_known: facility_count > 0,
            production: row.try_get::<String, _>("organization_status")? == "production",
        }))
    }
}

impl Db {
    /// Sets (or with `None`, removes) an organization's severity for one validation rule.
    pub async fn set_rule_override(
        &self,
        org_code: &str,
        rule_id: &str,
        level: Option<&str>,
    ) -> Result<(), StoreError> {
        let org: Option<i64> = sqlx::query_scalar("SELECT id FROM organizations WHERE code = $1")
            .bind(org_code)
            .fetch_optional(&self.pool)
            .await?;
        let org = org.ok_or_else(|| StoreError::NotFound(format!("no organization {org_code}")))?;
        let _guard = self.write_guard().await;
        match level {
            Some(level) => {
                sqlx::query(
                    "INSERT INTO rule_overrides (organization_id, rule_id, level, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id, rule_id) \
                     DO UPDATE SET level = excluded.level, updated_at = excluded.updated_at",
                )
                .bind(org)
                .bind(rule_id)
                .bind(level)
                .bind(now_text())
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM rule_overrides WHERE organization_id = $1 AND rule_id = $2",
                )
                .bind(org)
                .bind(rule_id)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// An organization's overrides: (rule id, level).
    pub async fn rule_overrides(
        &self,
        organization_id: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT rule_id, level FROM rule_overrides WHERE organization_id = $1 ORDER BY rule_id",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("rule_id")?, r.try_get("level")?)))
            .collect()
    }
}

impl Db {
    /// Replaces the imported code tables with `tables` (name, TSV content), in one transaction.
    pub async fn save_code_tables(&self, tables: &[(&str, String)]) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM code_tables")
            .execute(&mut *tx)
            .await?;
        let now = now_text();
        for (name, content) in tables {
            sqlx::query("INSERT INTO code_tables (name, content, imported_at) VALUES ($1, $2, $3)")
                .bind(*name)
                .bind(content)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The imported code tables: (name, content, imported at); empty when none were imported.
    pub async fn code_tables(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT name, content, imported_at FROM code_tables ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("name")?,
                    r.try_get("content")?,
                    r.try_get("imported_at")?,
                ))
            })
            .collect()
    }

    pub async fn clear_code_tables(&self) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        sqlx::query("DELETE FROM code_tables")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces the imported CDSi supporting data: (release, compact text).
    pub async fn save_cdsi_data(&self, version: &str, compact: &str) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM cdsi_supporting_data")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO cdsi_supporting_data (id, version, compact, imported_at) \
             VALUES (1, $1, $2, $3)",
        )
        .bind(version)
        .bind(compact)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The imported CDSi supporting data: (release, compact text, imported at), if any.
    pub async fn cdsi_data(&self) -> Result<Option<(String, String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT version, compact, imported_at FROM cdsi_supporting_data WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                r.try_get("version")?,
                r.try_get("compact")?,
                r.try_get("imported_at")?,
            ))
        })
        .transpose()
    }

    /// Forgets the imported CDSi supporting data (servers use the built-in data again).
    pub async fn clear_cdsi_data(&self) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        sqlx::query("DELETE FROM cdsi_supporting_data")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
