//! The storage port: what the registry needs from a database, in the registry's own terms.
//!
//! [`RegistryStore`] opens transactions and answers the few reads made before one (rule
//! overrides, the resend check); [`RegistryTx`] is everything done inside one. The registry
//! defines these traits and their error ([`StorageError`]); the store (`src/store`) implements them for
//! SQLite and PostgreSQL and maps its own errors in. Nothing in the registry names the store.
//!
//! Times cross the port as [`Timestamp`]s and dates as [`Date`]s; how a column spells them is
//! the store's business.

use std::collections::HashMap;
use std::future::Future;

use jiff::Timestamp;

use crate::date::Date;
use crate::hl7::AckCode;

use super::consent;
use super::history::{StoredDose, StoredObservation};
use super::identity::Demographics;
use super::model::{DoseRecord, Identifier, ObservationRecord, PatientRecord};
use super::validate::Level;

/// A failure of the storage behind the port. The registry never looks inside; callers may
/// [`StorageError::downcast_ref`] to the store's own error type.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StorageError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl StorageError {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> StorageError {
        StorageError(Box::new(error))
    }

    /// The store's error, if it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

/// Why the registry could not answer a message. A message the registry refuses is not an error:
/// it is answered (AR or AE) and logged.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("storage failed: {0}")]
    Storage(#[from] StorageError),
    /// A message that parsed before its transaction did not parse inside it (cannot happen for
    /// the same text; reported rather than assumed).
    #[error("the message could not be read again inside its transaction")]
    Unreadable,
}

/// A consent status and the date it took effect, as recorded on a patient.
pub type ConsentRecord = (consent::Status, Date);

/// What claiming a message's (organization, MSH-10, content) key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyClaim {
    /// First time for this content. `reused` is true when the control id was used before with
    /// different content.
    Claimed { reused: bool },
    /// The same content was answered before: this is the stored response.
    Answered(String),
}

/// The audit record of one message: what came in and exactly what went back.
#[derive(Clone, Debug)]
pub struct LogEntry<'a> {
    pub organization_id: i64,
    pub user_id: i64,
    pub facility_code: &'a str,
    pub control_id: Option<&'a str>,
    pub message_type: Option<&'a str>,
    pub processing_id: Option<&'a str>,
    pub outcome: AckCode,
    pub received_at: Timestamp,
    pub responded_at: Timestamp,
    pub request: &'a str,
    pub response: &'a str,
    pub errors: usize,
    pub warnings: usize,
    /// The content hash of the message key this message claimed (with `control_id`), whose
    /// stored answer this entry becomes.
    pub key_hash: Option<&'a str>,
}

/// Which logged message a write belongs to, who sent it and when: every write after the log
/// entry carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub organization_id: i64,
    pub user_id: i64,
    pub message_id: i64,
    /// When the message was received; a dose report keeps the first receipt (timeliness).
    pub received_at: Timestamp,
    /// When the registry wrote (created and updated times).
    pub at: Timestamp,
}

/// A stored person as matching sees it.
#[derive(Clone, Debug)]
pub struct StoredPerson {
    pub id: i64,
    pub demographics: Demographics,
    pub consent: consent::Status,
}

/// A stored patient as a query answer shows it.
#[derive(Clone, Debug)]
pub struct StoredPatient {
    pub id: i64,
    pub record: PatientRecord,
    pub identifiers: Vec<Identifier>,
    pub consent: consent::Status,
}

/// A transaction's future, borrowing the transaction.
pub type TxFuture<'t, T> =
    std::pin::Pin<Box<dyn Future<Output = Result<T, RegistryError>> + Send + 't>>;

/// Work to run inside one transaction ([`RegistryStore::transact`]). It owns what it needs, so
/// a store may run it on another thread (SQLite's writer).
pub type TxWork<Tx, T> = Box<dyn for<'t> FnOnce(&'t mut Tx) -> TxFuture<'t, T> + Send>;

/// Boxes a transaction's work (the closure's higher-ranked signature is inferred from here).
pub fn work<Tx, T, F>(f: F) -> TxWork<Tx, T>
where
    F: for<'t> FnOnce(&'t mut Tx) -> TxFuture<'t, T> + Send + 'static,
{
    Box::new(f)
}

/// Reads and writes inside one transaction, which [`RegistryStore::transact`] opens and commits
/// (or which another caller of [`super::Prepared::apply`] manages, with writes of its own).
pub trait RegistryTx: Send {
    /// Serializes work on the same people across nodes (PostgreSQL advisory locks; SQLite
    /// transactions are already serial). An implementation takes the keys it does not hold yet
    /// in one ordered sweep, so that transactions that each lock once never deadlock.
    fn lock(&mut self, keys: &[String]) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn claim_key(
        &mut self,
        organization_id: i64,
        control_id: &str,
        content_hash: &str,
    ) -> impl Future<Output = Result<KeyClaim, StorageError>> + Send;
    /// Patients (merges followed) linked to any of these identifiers: those with an assigning
    /// authority wherever reported, those without only as reported by this organization.
    fn linked_patients(
        &mut self,
        organization_id: i64,
        identifiers: &[Identifier],
    ) -> impl Future<Output = Result<Vec<StoredPerson>, StorageError>> + Send;
    /// Blocking for demographic matching: same birth date, or same normalized names; at most
    /// `limit`, not merged into another record.
    fn candidates(
        &mut self,
        who: &Demographics,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredPerson>, StorageError>> + Send;
    /// Writes the message log entry and returns its id; with `key_hash`, the message key
    /// claimed earlier (organization, control id, content hash) points at it from then on.
    fn log_message(
        &mut self,
        entry: &LogEntry<'_>,
    ) -> impl Future<Output = Result<i64, StorageError>> + Send;
    fn create_patient(
        &mut self,
        stamp: &Stamp,
        record: &PatientRecord,
        consent: Option<&ConsentRecord>,
    ) -> impl Future<Output = Result<i64, StorageError>> + Send;
    fn update_patient(
        &mut self,
        stamp: &Stamp,
        patient_id: i64,
        record: &PatientRecord,
        consent: Option<&ConsentRecord>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn link_identifiers(
        &mut self,
        stamp: &Stamp,
        patient_id: i64,
        identifiers: &[Identifier],
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn add_review(
        &mut self,
        stamp: &Stamp,
        patient_id: i64,
        candidate_id: i64,
        reason: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn apply_dose(
        &mut self,
        stamp: &Stamp,
        patient_id: i64,
        dose: &DoseRecord,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn add_observation(
        &mut self,
        stamp: &Stamp,
        patient_id: i64,
        observation: &ObservationRecord,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// Everything known of one patient (merges followed), for answering a query.
    fn patient(
        &mut self,
        patient_id: i64,
    ) -> impl Future<Output = Result<Option<StoredPatient>, StorageError>> + Send;
    /// Every dose report and other record of the patient and of the records merged into it,
    /// deleted reports included ([`super::history::consolidate`] makes events of them).
    fn history(
        &mut self,
        patient_id: i64,
    ) -> impl Future<Output = Result<(Vec<StoredDose>, Vec<StoredObservation>), StorageError>> + Send;
    /// Writes a query's log entry and records each patient it returned with what it showed
    /// of them (who looked at which record, when the query was received); returns the entry's
    /// id.
    fn log_query(
        &mut self,
        entry: &LogEntry<'_>,
        shown: &[(i64, &'static str)],
    ) -> impl Future<Output = Result<i64, StorageError>> + Send;
}

/// What the registry needs from storage. Implemented by the store (`src/store`) for both backends.
pub trait RegistryStore: Send + Sync {
    type Tx: RegistryTx;
    /// Runs `work` in one transaction and returns its result only after the transaction has
    /// committed (durably); if `work` fails, nothing it wrote is kept.
    fn transact<T: Send + 'static>(
        &self,
        work: TxWork<Self::Tx, T>,
    ) -> impl Future<Output = Result<T, RegistryError>> + Send;
    /// An organization's severity overrides of the rules, by rule id.
    fn rule_overrides(
        &self,
        organization_id: i64,
    ) -> impl Future<Output = Result<HashMap<String, Level>, StorageError>> + Send;
    /// The response stored for this exact (organization, MSH-10, content), if answered before.
    fn stored_response(
        &self,
        organization_id: i64,
        control_id: &str,
        content_hash: &str,
    ) -> impl Future<Output = Result<Option<String>, StorageError>> + Send;
}
