//! Client certificates bound to organizations (`org_client_certs`, `izport org cert`): a
//! request that comes over mutual TLS with a bound certificate must carry that organization's
//! credentials. Certificates are named by their SHA-256 fingerprint (lowercase hex of the DER).

use sqlx::Row;

use super::{now_text, Db, StoreError};

/// One bound certificate, as `izport org cert CODE --list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClientCert {
    pub fingerprint: String,
    pub created_at: String,
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl Db {
    /// The organization's id, or `NotFound` naming it.
    async fn organization_id_of(&self, code: &str) -> Result<i64, StoreError> {
        self.organization_id(code)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no organization {code}")))
    }

    /// Binds a certificate to an organization. A certificate already bound (to this
    /// organization or another) is a conflict that names the organization.
    pub async fn add_client_cert(
        &self,
        org_code: &str,
        fingerprint: &str,
        certificate_pem: &str,
    ) -> Result<(), StoreError> {
        let organization_id = self.organization_id_of(org_code).await?;
        let inserted = {
            let _guard = self.write_guard().await;
            sqlx::query(
                "INSERT INTO org_client_certs (organization_id, fingerprint, certificate_pem, \
                   created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(organization_id)
            .bind(fingerprint)
            .bind(certificate_pem)
            .bind(now_text())
            .execute(&self.pool)
            .await
        };
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                let holder: Option<String> = sqlx::query_scalar(
                    "SELECT o.code FROM org_client_certs c \
                       JOIN organizations o ON o.id = c.organization_id \
                      WHERE c.fingerprint = $1",
                )
                .bind(fingerprint)
                .fetch_optional(&self.pool)
                .await?;
                Err(StoreError::Conflict(match holder {
                    Some(code) if code == org_code => {
                        format!("certificate {fingerprint} is already bound to {code}")
                    }
                    Some(code) => format!(
                        "certificate {fingerprint} is bound to organization {code}; \
                         remove it there first (izport org cert {code} --remove {fingerprint})"
                    ),
                    None => format!("certificate {fingerprint} is already bound"),
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Unbinds a certificate from an organization; an error when it was not bound to it.
    pub async fn remove_client_cert(
        &self,
        org_code: &str,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        let organization_id = self.organization_id_of(org_code).await?;
        let _guard = self.write_guard().await;
        let done = sqlx::query(
            "DELETE FROM org_client_certs WHERE organization_id = $1 AND fingerprint = $2",
        )
        .bind(organization_id)
        .bind(fingerprint)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no certificate {fingerprint} is bound to {org_code} \
                 (izport org cert {org_code} --list shows those that are)"
            )));
        }
        Ok(())
    }

    /// The certificates bound to an organization, oldest first.
    pub async fn client_certs(&self, org_code: &str) -> Result<Vec<ClientCert>, StoreError> {
        let organization_id = self.organization_id_of(org_code).await?;
        let rows = sqlx::query(
            "SELECT fingerprint, created_at FROM org_client_certs \
              WHERE organization_id = $1 ORDER BY id",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ClientCert {
                    fingerprint: r.try_get("fingerprint")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// The organization a certificate is bound to, if any.
    pub async fn client_cert_organization(
        &self,
        fingerprint: &str,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT organization_id FROM org_client_certs WHERE fingerprint = $1",
        )
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?)
    }
}
