//! Organization authentication for submitSingleMessage: username, password and facility ID.
//!
//! Passwords are argon2id hashes. An attempt that is not in the verified cache costs one argon2
//! verification, whether or not the user exists (a dummy hash stands in), so response time does
//! not reveal which usernames exist. Verifications run on the blocking pool, off the async
//! runtime, at most a few at a time: each one holds 19 MiB, and memory must stay bounded
//! however many requests arrive. All failures look the same to the caller; the log says which
//! check failed, never the password.
//!
//! EHRs send the same credentials with every message. A request that passed every check
//! (password, user enabled, facility of the organization) is remembered for a few minutes under
//! a keyed BLAKE2 hash of (username, facility, password) — never the password itself — together
//! with the stored hash it matched, so a password change or a new hash ends the entry at once.
//! User status and facility are still read from the database every time, and a refusal always
//! costs one verification: a cached password never makes a refusal faster.
//!
//! Failed attempts are counted per username and per client address (SFTP: per import code and
//! address) in the database, so every node sees them: [`ThrottleConfig::max_failures`] within
//! the window lock the subject out for [`ThrottleConfig::lockout`], doubled at each further
//! lockout up to a day. A locked-out attempt is refused like any other, also with the right
//! password, after the same verification cost.
//!
//! Over mutual TLS, a request may come with a client certificate (verified by the TLS layer
//! against the client CA). When that certificate is bound to an organization (`izport org
//! cert`), the credentials must be of a user of that organization; otherwise the request is
//! refused like any other refusal (same fault, a failure counted, one verification spent). An
//! unbound certificate, or none, adds no condition.

mod certs;
mod exchange;

pub use certs::{
    fingerprint, parse_fingerprint, read_pem_certificate, CertError, ClientCertificate,
};

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use rand::distributions::{Alphanumeric, DistString};
use tokio::sync::Semaphore;

use crate::registry::Submitter;
use crate::store::{Db, StoreError, ThrottleRule};

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

#[cfg(test)]
fn verify(hash: &str, password: &str) -> bool {
    verify_in(hash, password, &mut Vec::new())
}

/// The most argon2 memory a stored hash may ask for (1 GiB of 1 KiB blocks): a hash that
/// asks for more is refused rather than allowed to take the server's memory.
const MAX_BLOCKS: usize = 1 << 20;

/// Whether `password` matches the PHC string `hash` (any argon2 variant, version and
/// parameters), computed in `blocks`, which grows to the hash's memory cost and is kept by
/// the caller for the next verification: argon2's working memory (19 MiB at the defaults) is
/// then allocated once per concurrent verification, not once per attempt. Freed and
/// re-allocated per attempt on the blocking pool's many threads, it ended up held in glibc's
/// per-thread arenas: a wrong-password flood left the server at 600 MB (issue 15, finding 6).
/// The comparison is constant-time (`password_hash::Output`'s equality).
fn verify_in(hash: &str, password: &str, blocks: &mut Vec<argon2::Block>) -> bool {
    use argon2::{Algorithm, Params, Version};
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buffer = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buffer) else {
        return false;
    };
    let needed = params.block_count();
    if needed > MAX_BLOCKS {
        return false;
    }
    if blocks.len() < needed {
        blocks.resize(needed, argon2::Block::default());
    }
    let mut out = [0u8; argon2::password_hash::Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let Some(memory) = blocks.get_mut(..needed) else {
        return false;
    };
    if Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, out, memory)
        .is_err()
    {
        return false;
    }
    argon2::password_hash::Output::new(out).is_ok_and(|computed| computed == expected)
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

    fn fingerprint(&self, username: &str, password: &str, facility: &str) -> [u8; 32] {
        let mut h = Blake2b::<U32>::new();
        h.update(self.key);
        h.update((username.len() as u64).to_le_bytes());
        h.update(username.as_bytes());
        h.update((facility.len() as u64).to_le_bytes());
        h.update(facility.as_bytes());
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

/// When failed logins lock a subject (a username, a client address, an SFTP import code) out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures within `window` that lock the subject out (`--auth-max-failures`).
    pub max_failures: u32,
    /// `--auth-failure-window`.
    pub window: Duration,
    /// The first lockout (`--auth-lockout`); each further one doubles it, up to a day.
    pub lockout: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            max_failures: 10,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
        }
    }
}

impl ThrottleConfig {
    fn rule(&self) -> ThrottleRule {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1);
        ThrottleRule {
            max_failures: i64::from(self.max_failures.max(1)),
            window: secs(self.window),
            lockout: secs(self.lockout),
        }
    }
}

/// The reason of a refusal whose username is no account (the log then leaves the name out:
/// it may be a password typed into the wrong field).
pub const UNKNOWN_USERNAME: &str = "unknown username";

/// The doors, as the `door` label of the login metrics names them.
const DOOR_SOAP: &str = "soap";
const DOOR_SFTP: &str = "sftp";

/// Scopes of `auth_throttle`.
pub const SCOPE_USER: &str = "user";
pub const SCOPE_ADDRESS: &str = "address";
pub const SCOPE_EXCHANGE: &str = "exchange";

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub struct Authenticator {
    db: Arc<Db>,
    /// Verified against when the user does not exist, so that path costs the same.
    dummy_hash: String,
    /// Bounds concurrent argon2 verifications (and so their memory).
    hashing: Semaphore,
    /// argon2's working memory, one buffer per verification under way at most: taken with a
    /// permit, given back after.
    memory: Mutex<Vec<Vec<argon2::Block>>>,
    cache: VerifiedCache,
    throttle: ThrottleConfig,
    lockouts: AtomicU64,
    refused_locked: AtomicU64,
}

impl Authenticator {
    pub fn new(db: Arc<Db>) -> Result<Self, AuthError> {
        Self::with_throttle(db, ThrottleConfig::default())
    }

    pub fn with_throttle(db: Arc<Db>, throttle: ThrottleConfig) -> Result<Self, AuthError> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        Ok(Authenticator {
            db,
            dummy_hash: hash_password(&generate_password())?,
            hashing: Semaphore::new(workers),
            memory: Mutex::new(Vec::with_capacity(workers)),
            cache: VerifiedCache::new(Duration::from_secs(300), 10_000),
            throttle,
            lockouts: AtomicU64::new(0),
            refused_locked: AtomicU64::new(0),
        })
    }

    /// Lockouts begun by this node since it started (the metric of `/status`-style reports).
    pub fn lockouts(&self) -> u64 {
        self.lockouts.load(Ordering::Relaxed)
    }

    /// Attempts this node refused because their subject was locked out.
    pub fn refused_while_locked(&self) -> u64 {
        self.refused_locked.load(Ordering::Relaxed)
    }

    /// One argon2 verification on the blocking pool, at most `workers` at a time.
    async fn verify_blocking(&self, hash: String, password: &str) -> Result<bool, AuthError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        let password = password.to_string();
        let mut blocks = self
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        let (ok, blocks) = tokio::task::spawn_blocking(move || {
            let ok = verify_in(&hash, &password, &mut blocks);
            (ok, blocks)
        })
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?;
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(blocks);
        Ok(ok)
    }

    /// Whether any subject is locked out now, and whether any has failures on record.
    async fn throttle_check(&self, subjects: &[(&str, &str)]) -> Result<(bool, bool), AuthError> {
        let states = self.db.throttle_states(subjects, unix_now()).await?;
        Ok((
            states.iter().any(|s| s.locked_until.is_some()),
            states.iter().any(|s| s.failures > 0),
        ))
    }

    /// A refusal: counts a failure against every subject, logs and counts lockouts it begins.
    /// `known` says whether the username (or import code) names an account: only then is it
    /// written in the lockout's log line.
    async fn throttle_failed(
        &self,
        subjects: &[(&str, &str)],
        door: &'static str,
        known: bool,
    ) -> Result<(), AuthError> {
        let now = unix_now();
        for (scope, subject) in subjects {
            if let Some(until) = self
                .db
                .throttle_failure(scope, subject, now, self.throttle.rule())
                .await?
            {
                self.lockouts.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(crate::telemetry::AUTH_LOCKOUTS, "door" => door).increment(1);
                // The name is what `izport user unlock` needs, and names an organization's
                // account, not a patient. A name that is no account has nothing to unlock and
                // may be a password typed into the wrong field: it is left out.
                let shown = if *scope == SCOPE_ADDRESS || known {
                    *subject
                } else {
                    "(not an account)"
                };
                tracing::warn!(
                    door,
                    scope,
                    subject = shown,
                    seconds = until - now,
                    "too many failed logins: locked out"
                );
            }
        }
        Ok(())
    }

    async fn throttle_succeeded(&self, subjects: &[(&str, &str)]) -> Result<(), AuthError> {
        for (scope, subject) in subjects {
            self.db.throttle_success(scope, subject).await?;
        }
        Ok(())
    }

    /// `client` is the address the request came from (None when unknown: no address throttle);
    /// `certificate` the client certificate of its TLS connection, if it presented one.
    pub async fn authenticate(
        &self,
        username: Option<&str>,
        password: Option<&str>,
        facility: Option<&str>,
        client: Option<IpAddr>,
        certificate: Option<&ClientCertificate>,
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
        let address = client.map(|a| a.to_string());
        let mut subjects = vec![(SCOPE_USER, username)];
        if let Some(a) = &address {
            subjects.push((SCOPE_ADDRESS, a.as_str()));
        }
        let (locked, had_failures) = self.throttle_check(&subjects).await?;
        if locked {
            // Costs what any refusal costs (the same reads, one verification, the failure
            // counted, so attempts during a lockout lead to a longer one), and tells nothing
            // about the password.
            let known = self.db.credentials(username, facility).await?.is_some();
            self.verify_blocking(self.dummy_hash.clone(), password)
                .await?;
            self.throttle_failed(&subjects, DOOR_SOAP, known).await?;
            self.refused_locked.fetch_add(1, Ordering::Relaxed);
            return Err(AuthError::Denied("locked out after too many failures"));
        }
        let found = self.db.credentials(username, facility).await?;
        // A certificate bound to an organization admits only that organization's users. Read
        // before the cache is consulted: a refusal for the certificate costs a verification
        // like every other refusal.
        let bound_to = match certificate {
            Some(c) => self.db.client_cert_organization(c.fingerprint()).await?,
            None => None,
        };
        let certificate_ok = match (&found, bound_to) {
            (Some(c), Some(org)) => c.organization_id == org,
            _ => true,
        };
        // The cache key names the facility too: an entry stands for a request that passed
        // every check, never for a password alone.
        let fingerprint = self.cache.fingerprint(username, password, facility);
        let cached = found.as_ref().is_some_and(|c| {
            c.active
                && c.facility_known
                && certificate_ok
                && self.cache.hit(&fingerprint, &c.password_hash)
        });
        let password_ok = match &found {
            _ if cached => true,
            Some(c) => {
                self.verify_blocking(c.password_hash.clone(), password)
                    .await?
            }
            None => {
                self.verify_blocking(self.dummy_hash.clone(), password)
                    .await?;
                false
            }
        };
        let refusal = match &found {
            None => Some(UNKNOWN_USERNAME),
            Some(_) if !password_ok => Some("wrong password"),
            Some(c) if !c.active => Some("user disabled"),
            Some(c) if !c.facility_known => {
                Some("facilityID is not one of the organization's facilities")
            }
            Some(_) if !certificate_ok => {
                Some("client certificate is bound to another organization")
            }
            Some(_) => None,
        };
        if let Some(why) = refusal {
            self.throttle_failed(&subjects, DOOR_SOAP, found.is_some())
                .await?;
            return Err(AuthError::Denied(why));
        }
        let Some(creds) = found else {
            return Err(AuthError::Denied(UNKNOWN_USERNAME));
        };
        if !cached {
            self.cache.remember(fingerprint, &creds.password_hash);
        }
        if had_failures {
            self.throttle_succeeded(&subjects).await?;
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
    fn verification_reuses_its_memory_and_agrees_with_the_argon2_crate() {
        use argon2::PasswordVerifier;
        let mut blocks = Vec::new();
        // The defaults (argon2id, 19 MiB) and other parameters, variants and lengths.
        let hashes = [
            hash_password("pw-1").expect("hash"),
            argon2::Argon2::new(
                argon2::Algorithm::Argon2i,
                argon2::Version::V0x10,
                argon2::Params::new(64, 3, 2, Some(20)).expect("params"),
            )
            .hash_password(b"pw-1", &SaltString::generate(&mut OsRng))
            .expect("hash")
            .to_string(),
        ];
        for hash in &hashes {
            let parsed = PasswordHash::new(hash).expect("parse");
            for attempt in ["pw-1", "pw-2", ""] {
                let crate_says = Argon2::default()
                    .verify_password(attempt.as_bytes(), &parsed)
                    .is_ok();
                assert_eq!(verify_in(hash, attempt, &mut blocks), crate_says, "{hash}");
                assert_eq!(crate_says, attempt == "pw-1");
            }
        }
        // The buffer kept the largest memory asked for (19 MiB = 19,456 blocks), once.
        assert_eq!(blocks.len(), 19 * 1024);
        // A hash asking for more memory than the bound is refused without allocating it.
        let greedy = hashes[0].replace("m=19456", "m=4194304");
        assert!(!verify_in(&greedy, "pw-1", &mut blocks));
        assert_eq!(blocks.len(), 19 * 1024);
    }

    #[test]
    fn the_cache_remembers_only_what_matched_this_hash() {
        let cache = VerifiedCache::new(Duration::from_secs(60), 2);
        let fp = cache.fingerprint("user", "secret", "F");
        assert_ne!(fp, cache.fingerprint("user", "secreT", "F"));
        assert_ne!(
            fp,
            cache.fingerprint("use", "rsecret", "F"),
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
        cache.remember(cache.fingerprint("a", "1", "F"), "x");
        cache.remember(cache.fingerprint("b", "2", "F"), "y");
        assert!(cache.entries.lock().map(|e| e.len()).unwrap_or(99) <= 2);
        let expired = VerifiedCache::new(Duration::ZERO, 10);
        let fp = expired.fingerprint("user", "secret", "F");
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
