//! Organization authentication for submitSingleMessage: username, password and facility ID.
//!
//! Passwords are argon2id hashes. Every attempt costs one argon2 verification, whether or not
//! the user exists (a dummy hash stands in), so response time does not reveal which usernames
//! exist; the verification runs on the blocking pool, off the async runtime. All failures look
//! the same to the caller; the log says which check failed, never the password.

use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};
use rand::distributions::{Alphanumeric, DistString};

use crate::registry::Submitter;
use crate::store::{Db, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credentials were refused. The reason is for the log only.
    #[error("authentication failed: {0}")]
    Denied(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// A random password for `izport user add` when none is supplied: 24 alphanumerics (~142 bits).
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24)
}

fn verify(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

pub struct Authenticator {
    db: Arc<Db>,
    /// Verified against when the user does not exist, so that path costs the same.
    dummy_hash: String,
}

impl Authenticator {
    pub fn new(db: Arc<Db>) -> Result<Self, AuthError> {
        Ok(Authenticator {
            db,
            dummy_hash: hash_password(&generate_password())?,
        })
    }

    pub async fn authenticate(
        &self,
        username: Option<&str>,
        password: Option<&str>,
        facility: Option<&str>,
    ) -> Result<Submitter, AuthError> {
        let (Some(username), Some(password), Some(facility)) = (username, password, facility)
        else {
            return Err(AuthError::Denied(
                "username, password or facilityID missing",
            ));
        };
        if username.is_empty() || password.is_empty() || facility.is_empty() {
            return Err(AuthError::Denied("username, password or facilityID empty"));
        }
        let found = self.db.credentials(username, facility).await?;
        let hash = found
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |c| c.password_hash.clone());
        let password = password.to_string();
        let password_ok = tokio::task::spawn_blocking(move || verify(&hash, &password))
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        let Some(creds) = found else {
            return Err(AuthError::Denied("unknown username"));
        };
        if !password_ok {
            return Err(AuthError::Denied("wrong password"));
        }
        if !creds.active {
            return Err(AuthError::Denied("user disabled"));
        }
        if !creds.facility_known {
            return Err(AuthError::Denied(
                "facilityID is not one of the organization's facilities",
            ));
        }
        Ok(Submitter {
            organization_id: creds.organization_id,
            organization_code: creds.organization_code,
            user_id: creds.user_id,
            facility_code: facility.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify(&hash, "correct horse"));
        assert!(!verify(&hash, "correct horsE"));
        assert!(!verify("not a hash", "correct horse"));
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
    }
}
