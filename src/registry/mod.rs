//! The registry: what a submitted HL7 message means and what to keep of it.
//!
//! Nothing here knows about HTTP, XML or SQL. [`Registry::submit`] takes the text of one message
//! from an authenticated submitter and returns the HL7 response; a door that needs the
//! registry's work inside a transaction of its own (with writes of its own) calls
//! [`Registry::prepare`] and then [`Prepared::apply`], which is what `submit` does. The registry
//! owns its model ([`model`], [`history`]) and defines the storage port it needs ([`port`]);
//! time and response ids come from the [`Clock`] and [`IdSource`] it is given.

mod answer;
mod apply;
pub mod codes;
pub mod consent;
pub mod finding;
pub mod forecast;
pub mod history;
pub mod identity;
pub mod matching;
pub mod model;
pub mod port;
pub mod query;
mod response;
pub mod rules;
pub mod validate;
pub mod vxu;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use crate::clock::{Clock, IdSource};
use validate::Level;

pub use apply::Prepared;
pub use matching::MatchedBy;
pub use model::{
    DoseAction, DoseRecord, Identifier, ObservationKind, ObservationRecord, PatientChanges,
    PatientRecord, Submitter,
};
pub use port::{
    work, ConsentRecord, KeyClaim, LogEntry, RegistryError, RegistryStore, RegistryTx, Stamp,
    StorageError, StoredPatient, StoredPerson, TxFuture, TxWork,
};
pub use response::{PatientOutcome, QueryReport, Response, Stored};

/// How the registry names itself in the responses it writes (MSH-3/MSH-4).
#[derive(Clone, Debug)]
pub struct RegistryIdentity {
    pub application: String,
    pub facility: String,
}

impl Default for RegistryIdentity {
    fn default() -> Self {
        RegistryIdentity {
            application: "IZPORT".into(),
            facility: "IZPORT".into(),
        }
    }
}

/// Registry-wide behaviour an operator configures.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    pub identity: RegistryIdentity,
    pub consent: consent::ConsentConfig,
    /// RCP-2 default and maximum for history queries.
    pub query: query::QueryLimits,
    /// The most ERR segments in an ACK; a last ERR says how many more findings there were.
    pub err_limit: usize,
    /// The CDC supporting data Z44 answers are evaluated and forecast with; `None`: the data
    /// built into the binary (a server puts an imported release here at start).
    pub schedule: Option<forecast::Schedule>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            identity: RegistryIdentity::default(),
            consent: consent::ConsentConfig::default(),
            query: query::QueryLimits::default(),
            err_limit: validate::DEFAULT_ERR_LIMIT,
            schedule: None,
        }
    }
}

/// What every message's work shares: the configuration and the two outside sources.
pub(crate) struct Core {
    config: RegistryConfig,
    /// The supporting data in use, loaded once for the registry's life.
    schedule: forecast::Schedule,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
}

pub struct Registry<S> {
    store: S,
    core: Arc<Core>,
}

/// A second handle on the same registry (same store handle, same core): for a door that
/// prepares messages on other threads.
impl<S: Clone> Clone for Registry<S> {
    fn clone(&self) -> Self {
        Registry {
            store: self.store.clone(),
            core: self.core.clone(),
        }
    }
}

impl<S: RegistryStore> Registry<S> {
    /// A registry over `store`. It reads the time only from `clock` (the time a message is
    /// received, response timestamps, "today" for date checks) and takes response control ids
    /// only from `ids`. Without a schedule in `config` it forecasts with the supporting data
    /// built into the binary, and fails if that cannot be read.
    pub fn new(
        store: S,
        config: RegistryConfig,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> Result<Self, forecast::ScheduleError> {
        let schedule = match &config.schedule {
            Some(schedule) => schedule.clone(),
            None => forecast::Schedule::builtin()?,
        };
        Ok(Registry {
            store,
            core: Arc::new(Core {
                schedule,
                config,
                clock,
                ids,
            }),
        })
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.core.config
    }

    /// Now, by the registry's clock: the receipt time a door that runs the two phases itself
    /// gives [`Registry::prepare`].
    pub fn now(&self) -> Timestamp {
        self.core.clock.now()
    }

    /// The CDC supporting data this registry forecasts with.
    pub fn schedule(&self) -> &forecast::Schedule {
        &self.core.schedule
    }

    /// The first phase of a message, outside any transaction: parse, validate (with the
    /// submitter's rule overrides), plan what to keep, and look for an earlier answer to the
    /// same message (a resend). `received_at` is when the message arrived (for a file, its
    /// receipt); it is logged, kept on new dose reports, and its UTC date is "today" for the
    /// date checks. The result is owned and `Send`, ready to [`Prepared::apply`] in a
    /// transaction.
    pub async fn prepare(
        &self,
        submitter: &Submitter,
        raw: &str,
        received_at: Timestamp,
    ) -> Result<Prepared, RegistryError> {
        let overrides = self.store.rule_overrides(submitter.organization_id).await?;
        let prepared = Prepared::new(self.core.clone(), submitter, raw, received_at, overrides);
        if let Some((control_id, hash)) = prepared.resend_key() {
            let org = submitter.organization_id;
            if let Some(stored) = self.store.stored_response(org, control_id, hash).await? {
                return Ok(prepared.answered(stored));
            }
        }
        Ok(prepared)
    }

    /// An organization's rule levels, read once for many messages ([`Registry::prepare_many`]).
    pub async fn rule_levels(
        &self,
        organization_id: i64,
    ) -> Result<HashMap<String, Level>, RegistryError> {
        Ok(self.store.rule_overrides(organization_id).await?)
    }

    /// The first phase for a door that sends many messages of one submitter at a time (a
    /// batch file): the same parse, validation and plan as [`Registry::prepare`], with rule
    /// levels read once by the caller and no database read at all. A resend is not looked up
    /// here; [`Prepared::apply`] recognizes it when it claims the message key in the
    /// transaction, and answers it with the stored response just the same.
    pub fn prepare_many(
        &self,
        submitter: &Submitter,
        raw: &str,
        received_at: Timestamp,
        levels: &HashMap<String, Level>,
    ) -> Prepared {
        Prepared::new(
            self.core.clone(),
            submitter,
            raw,
            received_at,
            levels.clone(),
        )
    }

    /// Processes one HL7 message from `submitter`, received now. The response is stored with
    /// the data in one transaction and returned only after it commits: an AA is never sent for
    /// unsaved data. A resend of a message already answered gets the stored response and changes
    /// nothing.
    pub async fn submit(
        &self,
        submitter: &Submitter,
        raw: &str,
    ) -> Result<Response, RegistryError> {
        let prepared = self.prepare(submitter, raw, self.core.clock.now()).await?;
        if let Some(answer) = prepared.answer() {
            return Ok(answer);
        }
        self.store
            .transact(work(move |tx| Box::pin(prepared.apply(tx))))
            .await
    }
}
