//! Organization authentication for submitSingleMessage: username, password and facility ID.
//!
//! Passwords are argon2id hashes. An attempt that is not in the verified cache costs one argon2
//! verification, whether or not the user exists (a dummy hash stands in), so response time does
//! not reveal which usernames exist. Verifications run on the blocking pool, off the async
//! runtime, at most a few at a time: each one holds 19 MiB, and memory must stay bounded
//! however many requests arrive. All failures look the same to the caller; the log says which
//! check failed, never the password.
//!
//! EHRs send the same credentials with every message. A successful verification is remembered
//! for a few minutes under a keyed BLAKE2 hash of (username, password) — never the password
//! itself — together with the stored hash it matched, so a password change or a new hash ends
//! the entry at once. User status and facility are still read from the database every time.

mod exchange;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use rand::distributions::{Alphanumeric, DistString};
use tokio::sync::Semaphore;

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

/// Credentials verified recently: keyed hash of (username, password) → the stored hash they
/// matched and when the entry expires.
struct VerifiedCache {
    key: [u8; 32],
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], (String, Instant)>>,
}

impl VerifiedCache {
    fn new(ttl: Duration, capacity: usize) -> Self {
        VerifiedCache {
            key: rand::random(),
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn fingerprint(&self, username: &str, password: &str) -> [u8; 32] {
        let mut h = Blake2b::<U32>::new();
        h.update(self.key);
        h.update((username.len() as u64).to_le_bytes());
        h.update(username.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn hit(&self, fingerprint: &[u8; 32], stored_hash: &str) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(fingerprint)
            .is_some_and(|(hash, expires)| hash == stored_hash && *expires > Instant::now())
    }

    fn remember(&self, fingerprint: [u8; 32], stored_hash: &str) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(fingerprint, (stored_hash.to_string(), now + self.ttl));
    }
}

pub struct Authenticator {
    db: Arc<Db>,
    /// Verified against when the user does not exist, so that path costs the same.
    dummy_hash: String,
    /// Bounds concurrent argon2 verifications (and so their memory).
    hashing: Semaphore,
    cache: VerifiedCache,
}

impl Authenticator {
    pub fn new(db: Arc<Db>) -> Result<Self, AuthError> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        Ok(Authenticator {
            db,
            dummy_hash: hash_password(&generate_password())?,
            hashing: Semaphore::new(workers),
            cache: VerifiedCache::new(Duration::from_secs(300), 10_000),
        })
    }

    /// One argon2 verification on the blocking pool, at most `workers` at a time.
    async fn verify_blocking(&self, hash: String, password: &str) -> Result<bool, AuthError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        let password = password.to_string();
        tokio::task::spawn_blocking(move || verify(&hash, &password))
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))
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
        let fingerprint = self.cache.fingerprint(username, password);
        let password_ok = match &found {
            Some(c) if self.cache.hit(&fingerprint, &c.password_hash) => true,
            Some(c) => {
                let ok = self
                    .verify_blocking(c.password_hash.clone(), password)
                    .await?;
                if ok {
                    self.cache.remember(fingerprint, &c.password_hash);
                }
                ok
            }
            None => {
                self.verify_blocking(self.dummy_hash.clone(), password)
                    .await?;
                false
            }
        };
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
            production: creds.production,
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
    fn the_cache_remembers_only_what_matched_this_hash() {
        let cache = VerifiedCache::new(Duration::from_secs(60), 2);
        let fp = cache.fingerprint("user", "secret");
        assert_ne!(fp, cache.fingerprint("user", "secreT"));
        assert_ne!(
            fp,
            cache.fingerprint("use", "rsecret"),
            "username and password are delimited"
        );
        assert!(!cache.hit(&fp, "$argon2id$h1"));
        cache.remember(fp, "$argon2id$h1");
        assert!(cache.hit(&fp, "$argon2id$h1"));
        assert!(
            !cache.hit(&fp, "$argon2id$h2"),
            "a changed password hash ends the entry"
        );
        // Bounded: a full cache makes room.
        cache.remember(cache.fingerprint("a", "1"), "x");
        cache.remember(cache.fingerprint("b", "2"), "y");
        assert!(cache.entries.lock().map(|e| e.len()).unwrap_or(99) <= 2);
        let expired = VerifiedCache::new(Duration::ZERO, 10);
        let fp = expired.fingerprint("user", "secret");
        expired.remember(fp, "h");
        assert!(!expired.hit(&fp, "h"));
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
    }
}
