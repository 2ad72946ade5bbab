//! The registry: what a submitted HL7 message means and what to keep of it.
//!
//! Nothing here knows about HTTP or XML. `Registry::submit` takes the text of one message from
//! an authenticated submitter and returns the HL7 response; the SOAP endpoint, tests and (later)
//! the batch path all come in through it. Storage is behind [`RegistryStore`].

mod answer;
pub mod codes;
pub mod consent;
pub mod finding;
pub mod identity;
pub mod query;
pub mod validate;
pub mod vxu;

use std::future::Future;
use std::sync::Arc;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

use crate::hl7::{build_ack, AckCode, AckContext, AckParams, ErrEntry, ErrLocation, Message};
use crate::store::StoreError;

use finding::{hl7_code, Finding, Scope};

/// The authenticated sender of a message.
#[derive(Clone, Debug)]
pub struct Submitter {
    pub organization_id: i64,
    pub organization_code: String,
    pub user_id: i64,
    pub facility_code: String,
    /// Approved for production data (`izport org promote`); onboarding organizations may only
    /// send test (MSH-11 = T) messages.
    pub production: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatientRecord {
    pub family_name: String,
    pub given_name: String,
    pub middle_name: Option<String>,
    /// YYYY-MM-DD
    pub birth_date: String,
    pub sex: Option<String>,
    pub mother_maiden_name: Option<String>,
    pub phone: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub race: Option<String>,
    pub ethnicity: Option<String>,
    pub multiple_birth: Option<bool>,
    pub birth_order: Option<u8>,
    pub death_date: Option<String>,
    /// PD1-11
    pub publicity: Option<String>,
    /// PD1-12 and PD1-13 (YYYY-MM-DD)
    pub protection: Option<String>,
    pub protection_date: Option<String>,
    /// PD1-16
    pub registry_status: Option<String>,
}

impl PatientRecord {
    pub fn demographics(&self) -> identity::Demographics {
        identity::Demographics::new(
            &self.family_name,
            &self.given_name,
            &self.birth_date,
            self.sex.as_deref(),
            self.mother_maiden_name.as_deref(),
            self.phone.as_deref(),
            self.zip.as_deref(),
            self.street.as_deref(),
            self.multiple_birth,
            self.birth_order,
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Identifier {
    pub value: String,
    pub authority: String,
    pub id_type: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoseAction {
    Upsert,
    Delete,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DoseRecord {
    pub action: DoseAction,
    /// ORC-3: the submitter's own id for the dose; with the organization, the dose's key.
    pub filler_order_id: String,
    /// YYYY-MM-DD
    pub administered_on: String,
    pub cvx: String,
    /// The event key across submitters: the vaccine group(s) of the CVX.
    pub vaccine_group: String,
    pub vaccine_text: Option<String>,
    pub amount: Option<String>,
    pub amount_units: Option<String>,
    pub info_source: Option<String>,
    pub lot_number: Option<String>,
    pub lot_expiration: Option<String>,
    pub mvx: Option<String>,
    pub completion_status: Option<String>,
    pub action_code: Option<String>,
    pub route: Option<String>,
    pub site: Option<String>,
    /// OBX 59785-6 = DISASTER in the dose's observation group.
    pub disaster_indicated: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObservationKind {
    /// RXA-20 RE with the reason in RXA-18.
    Refusal,
    /// RXA-20 NA, or CVX 998.
    NotAdministered,
    /// OBX 59784-9: disease with presumed immunity (SNOMED).
    Immunity,
}

impl ObservationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObservationKind::Refusal => "refusal",
            ObservationKind::NotAdministered => "not_administered",
            ObservationKind::Immunity => "immunity",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservationRecord {
    pub kind: ObservationKind,
    pub code: String,
    pub code_text: Option<String>,
    /// YYYY-MM-DD
    pub observed_on: String,
    pub reason_code: Option<String>,
    pub reason_text: Option<String>,
}

/// The data changes one accepted message asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct PatientChanges {
    pub patient: PatientRecord,
    pub identifiers: Vec<Identifier>,
    pub doses: Vec<DoseRecord>,
    pub observations: Vec<ObservationRecord>,
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
    pub received_at: &'a str,
    pub request: &'a str,
    pub response: &'a str,
    pub errors: usize,
    pub warnings: usize,
}

/// A stored person as matching sees it.
#[derive(Clone, Debug)]
pub struct StoredPerson {
    pub id: i64,
    pub demographics: identity::Demographics,
    pub consent: consent::Status,
}

/// What claiming a message's (organization, MSH-10, content) key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyClaim {
    /// First time for this content. `reused` is true when the control id was used before with
    /// different content.
    Claimed { reused: bool },
    /// The same content was answered before: this is the stored response.
    Answered(String),
}

/// A transaction's future, borrowing the transaction.
pub type TxFuture<'t, T> =
    std::pin::Pin<Box<dyn Future<Output = Result<T, RegistryError>> + Send + 't>>;

/// Work to run inside one transaction ([`RegistryStore::transact`]). It owns what it needs, so
/// a store may run it on another thread (SQLite's writer).
pub type TxWork<Tx, T> = Box<dyn for<'t> FnOnce(&'t mut Tx) -> TxFuture<'t, T> + Send>;

/// Reads and writes inside one transaction, which [`RegistryStore::transact`] opens and commits.
pub trait RegistryTx: Send {
    /// Serializes work on the same people across nodes (PostgreSQL advisory locks; SQLite
    /// transactions are already serial).
    fn lock(&mut self, keys: &[String]) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn claim_key(
        &mut self,
        organization_id: i64,
        control_id: &str,
        content_hash: &str,
    ) -> impl Future<Output = Result<KeyClaim, StoreError>> + Send;
    /// Patients (merges followed) linked to any of these identifiers: those with an assigning
    /// authority wherever reported, those without only as reported by this organization.
    fn linked_patients(
        &mut self,
        organization_id: i64,
        identifiers: &[Identifier],
    ) -> impl Future<Output = Result<Vec<StoredPerson>, StoreError>> + Send;
    /// Blocking for demographic matching: same birth date, or same normalized names.
    fn candidates(
        &mut self,
        who: &identity::Demographics,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredPerson>, StoreError>> + Send;
    fn create_patient(
        &mut self,
        organization_id: i64,
        record: &PatientRecord,
        consent: Option<&(consent::Status, String)>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
    fn update_patient(
        &mut self,
        patient_id: i64,
        record: &PatientRecord,
        consent: Option<&(consent::Status, String)>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn link_identifiers(
        &mut self,
        patient_id: i64,
        organization_id: i64,
        identifiers: &[Identifier],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn add_review(
        &mut self,
        patient_id: i64,
        candidate_id: i64,
        reason: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn log_message(
        &mut self,
        entry: &LogEntry<'_>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
    fn set_key_message(
        &mut self,
        organization_id: i64,
        control_id: &str,
        content_hash: &str,
        message_id: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn apply_dose(
        &mut self,
        organization_id: i64,
        patient_id: i64,
        message_id: i64,
        dose: &DoseRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn add_observation(
        &mut self,
        organization_id: i64,
        patient_id: i64,
        message_id: i64,
        observation: &ObservationRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Everything known of one patient (merges followed), for answering a query.
    fn patient(
        &mut self,
        patient_id: i64,
    ) -> impl Future<Output = Result<Option<StoredPatient>, StoreError>> + Send;
    /// The patient's vaccination events (consolidated) and other records.
    fn history(
        &mut self,
        patient_id: i64,
    ) -> impl Future<
        Output = Result<
            (
                Vec<crate::store::ConsolidatedDose>,
                Vec<crate::store::StoredObservation>,
            ),
            StoreError,
        >,
    > + Send;
    /// Records that a query returned this patient (who looked at this record).
    fn audit_query(
        &mut self,
        entry: &LogEntry<'_>,
        message_id: i64,
        patient_id: i64,
        returned: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A stored patient as a query answer shows it.
#[derive(Clone, Debug)]
pub struct StoredPatient {
    pub id: i64,
    pub record: PatientRecord,
    pub identifiers: Vec<Identifier>,
    pub consent: consent::Status,
}

/// What the registry needs from storage. Implemented by [`crate::store::Db`] for both backends.
pub trait RegistryStore: Send + Sync {
    type Tx: RegistryTx;
    /// Runs `work` in one transaction and returns its result only after the transaction has
    /// committed (durably); if `work` fails, nothing it wrote is kept.
    fn transact<T: Send + 'static>(
        &self,
        work: TxWork<Self::Tx, T>,
    ) -> impl Future<Output = Result<T, RegistryError>> + Send;
    /// An organization's severity overrides of validation rules.
    fn rule_overrides(
        &self,
        organization_id: i64,
    ) -> impl Future<Output = Result<std::collections::HashMap<String, validate::Level>, StoreError>>
           + Send;
    /// The response stored for this exact (organization, MSH-10, content), if answered before.
    fn stored_response(
        &self,
        organization_id: i64,
        control_id: &str,
        content_hash: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// A message that parsed before its transaction did not parse inside it (cannot happen for
    /// the same text; reported rather than assumed).
    #[error("the message could not be read again inside its transaction")]
    Unreadable,
}

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
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            identity: RegistryIdentity::default(),
            consent: consent::ConsentConfig::default(),
            query: query::QueryLimits::default(),
            err_limit: validate::DEFAULT_ERR_LIMIT,
        }
    }
}

/// The HL7 response to one message and how it was judged.
#[derive(Clone, Debug)]
pub struct Response {
    pub hl7: String,
    pub ack: AckCode,
    /// The message-log entry written for it; `None` for a resend answered from the log.
    pub message_id: Option<i64>,
    pub patient_id: Option<i64>,
}

pub struct Registry<S> {
    store: S,
    config: Arc<RegistryConfig>,
}

/// Boxes a transaction's work (the closure's higher-ranked signature is inferred from here).
pub(crate) fn work<Tx, T, F>(f: F) -> TxWork<Tx, T>
where
    F: for<'t> FnOnce(&'t mut Tx) -> TxFuture<'t, T> + Send + 'static,
{
    Box::new(f)
}

fn envelope_error(
    location: ErrLocation,
    code: u16,
    rule: &'static str,
    message: String,
) -> Finding {
    Finding::error(rule, Scope::Envelope, location, code, message)
}

fn today_utc() -> vxu::Date {
    let now = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    (now.year(), now.month() as u8, now.day() as u8)
}

fn hl7_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y%m%d%H%M%S+0000")
        .to_string()
}

fn new_control_id() -> String {
    format!("IZ{:016X}", rand::random::<u64>())
}

/// Hex BLAKE2b-256 of a message's text: "the same content" for safe resend.
fn content_hash(raw: &str) -> String {
    let digest = Blake2b::<U32>::digest(raw.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a parsed message asks for, before the database has been consulted.
struct Prepared {
    findings: Vec<Finding>,
    changes: Option<PatientChanges>,
    control_id: Option<String>,
    message_type: Option<String>,
    processing_id: Option<String>,
}

fn prepare(
    raw: &str,
    parsed: Result<Message<'_>, crate::hl7::ParseError>,
    submitter: &Submitter,
    today: vxu::Date,
    overrides: &std::collections::HashMap<String, validate::Level>,
) -> Prepared {
    let msg = match parsed {
        Ok(msg) => msg,
        Err(e) => {
            let control_id = AckContext::salvage(raw).control_id().map(str::to_string);
            return Prepared {
                findings: vec![envelope_error(
                    ErrLocation::segment("MSH", 1),
                    hl7_code::SEGMENT_SEQUENCE,
                    "HL7-unreadable",
                    format!("The message could not be read as HL7 v2: {e}"),
                )],
                changes: None,
                control_id,
                message_type: None,
                processing_id: None,
            };
        }
    };
    let codes = codes::CodeSets::active();
    let context = validate::Context::new(today, codes).with_overrides(overrides);
    let mut findings = validate::validate(&msg, &context);
    let processing = msg.get("MSH-11").map(|v| v.into_owned());
    let envelope_ok = finding::ack_code(&findings) != AckCode::AR;
    if envelope_ok && processing.as_deref() == Some("P") && !submitter.production {
        findings.push(envelope_error(
            ErrLocation::field("MSH", 1, 11),
            hl7_code::UNSUPPORTED_PROCESSING_ID,
            "ORG-not-in-production",
            "Your organization is not yet approved for production data: send test messages \
             (MSH-11 = T) until the registry promotes it."
                .to_string(),
        ));
    }
    // Test (T) and debugging (D) messages are validated and answered, never stored.
    let changes =
        if finding::ack_code(&findings) != AckCode::AR && processing.as_deref() == Some("P") {
            vxu::extract(&msg, codes, &mut findings)
        } else {
            None
        };
    Prepared {
        findings,
        changes,
        control_id: msg.get("MSH-10").map(|v| v.into_owned()),
        message_type: msh_raw(&msg, 9),
        processing_id: processing,
    }
}

fn lock_keys(organization_id: i64, changes: &PatientChanges) -> Vec<String> {
    let mut keys: Vec<String> = changes
        .identifiers
        .iter()
        .map(|i| {
            if i.authority.is_empty() {
                format!("id|{organization_id}|{}|{}", i.id_type, i.value)
            } else {
                format!("id|{}|{}", i.authority, i.value)
            }
        })
        .collect();
    let who = changes.patient.demographics();
    keys.push(format!("dob|{}", who.birth_date));
    keys.push(format!("name|{}|{}", who.family, who.given));
    keys
}

impl<S: RegistryStore> Registry<S> {
    pub fn new(store: S, config: RegistryConfig) -> Self {
        Registry {
            store,
            config: Arc::new(config),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Processes one HL7 message from `submitter`. The response is stored with the data in one
    /// transaction and returned only after it commits: an AA is never sent for unsaved data. A
    /// resend of a message already answered gets the stored response and changes nothing.
    pub async fn submit(
        &self,
        submitter: &Submitter,
        raw: &str,
    ) -> Result<Response, RegistryError> {
        let received_at = crate::store::now_text();
        let today = today_utc();
        let parsed = Message::parse(raw);
        if let Ok(msg) = &parsed {
            if msg.get("MSH-9-1").as_deref().map(str::trim) == Some("QBP") {
                let job = answer::AnswerJob {
                    config: self.config.clone(),
                    submitter: submitter.clone(),
                    raw: raw.to_string(),
                    received_at,
                };
                return self
                    .store
                    .transact(work(move |tx| Box::pin(job.run(tx))))
                    .await;
            }
        }
        let overrides = self.store.rule_overrides(submitter.organization_id).await?;
        let prepared = prepare(raw, parsed, submitter, today, &overrides);
        let hash = content_hash(raw);

        if let Some(control_id) = &prepared.control_id {
            let org = submitter.organization_id;
            if let Some(stored) = self.store.stored_response(org, control_id, &hash).await? {
                return Ok(resent(stored));
            }
        }
        let job = ApplyJob {
            config: self.config.clone(),
            submitter: submitter.clone(),
            raw: raw.to_string(),
            hash,
            received_at,
            today,
            prepared,
        };
        self.store
            .transact(work(move |tx| Box::pin(job.run(tx))))
            .await
    }
}

/// A validated VXU (or a message rejected whole), owned, to apply inside one transaction.
struct ApplyJob {
    config: Arc<RegistryConfig>,
    submitter: Submitter,
    raw: String,
    hash: String,
    received_at: String,
    today: vxu::Date,
    prepared: Prepared,
}

impl ApplyJob {
    /// Claims the message key, matches the patient, decides consent, writes the response to the
    /// log and the data; the store commits.
    async fn run<Tx: RegistryTx>(self, tx: &mut Tx) -> Result<Response, RegistryError> {
        let ApplyJob {
            config,
            submitter,
            raw,
            hash,
            received_at,
            today,
            mut prepared,
        } = self;
        let submitter = &submitter;
        let org = submitter.organization_id;
        let parsed = Message::parse(&raw);
        let ctx = match &parsed {
            Ok(msg) => AckContext::from_message(msg),
            Err(_) => AckContext::salvage(&raw),
        };
        if let Some(changes) = &prepared.changes {
            tx.lock(&lock_keys(org, changes)).await?;
        }
        if let Some(control_id) = &prepared.control_id {
            match tx.claim_key(org, control_id, &hash).await? {
                KeyClaim::Answered(stored) => return Ok(resent(stored)),
                KeyClaim::Claimed { reused: true } => prepared.findings.push(Finding::warning(
                    "MSH-10-reused",
                    ErrLocation::field("MSH", 1, 10),
                    205,
                    format!(
                        "Message control ID '{control_id}' was used before for a different message; \
                         this one was processed normally. Use a new MSH-10 for every new message."
                    ),
                )),
                KeyClaim::Claimed { reused: false } => {}
            }
        }

        // Who is it, and may we keep it?
        let mut patient_plan = None;
        if let Some(mut changes) = prepared.changes.take() {
            let who = changes.patient.demographics();
            let linked = tx.linked_patients(org, &changes.identifiers).await?;
            let (existing, reviews) = match linked.as_slice() {
                [one] => {
                    let same = identity::judge(&who, &one.demographics);
                    let dob_and_name_differ = one.demographics.birth_date != who.birth_date
                        && one.demographics.family != who.family;
                    if dob_and_name_differ && same.verdict == identity::Verdict::NoMatch {
                        (None, vec![(one.id, "identifier already linked to a person with a different name and birth date".to_string())])
                    } else {
                        (Some(one.clone()), Vec::new())
                    }
                }
                [first, rest @ ..] => (
                    Some(first.clone()),
                    rest.iter()
                        .map(|p| {
                            (
                                p.id,
                                "identifiers of one report point at several records".to_string(),
                            )
                        })
                        .collect(),
                ),
                [] => {
                    let candidates: Vec<_> = tx
                        .candidates(&who, 50)
                        .await?
                        .into_iter()
                        .map(|p| (p.id, p))
                        .collect();
                    let pairs: Vec<(i64, identity::Demographics)> = candidates
                        .iter()
                        .map(|(id, p)| (*id, p.demographics.clone()))
                        .collect();
                    match identity::decide(&who, &pairs) {
                        identity::Decision::Link(id) => (
                            candidates
                                .into_iter()
                                .find(|(i, _)| *i == id)
                                .map(|(_, p)| p),
                            Vec::new(),
                        ),
                        identity::Decision::New { review } => (None, review),
                    }
                }
            };

            let affirmation = consent::affirmation(
                changes.patient.protection.as_deref(),
                changes.patient.protection_date.as_deref(),
                &vxu::format_date(today),
            );
            let is_disaster = |d: &DoseRecord| {
                d.disaster_indicated || config.consent.disaster_cvx.contains(&d.cvx)
            };
            let has_disaster = changes.doses.iter().any(&is_disaster);
            let decision = consent::decide(
                config.consent.policy,
                existing.as_ref().map(|p| p.consent),
                &affirmation,
                has_disaster,
            );
            if decision.reject_patient {
                prepared.findings.push(Finding::error(
                    "CONSENT-missing",
                    Scope::Patient,
                    ErrLocation::field("PD1", 1, 12),
                    hl7_code::REQUIRED_FIELD_MISSING,
                    "Client rejected: no consent on file and none affirmed in this message \
                     (PD1-12 = N with the affirmation date in PD1-13); nothing was saved.",
                ));
            } else {
                if decision.disaster_only {
                    let before = changes.doses.len() + changes.observations.len();
                    changes.doses.retain(&is_disaster);
                    changes.observations.clear();
                    let dropped = before - changes.doses.len();
                    if dropped > 0 {
                        prepared.findings.push(Finding::error(
                            "CONSENT-disaster-only",
                            Scope::Dose,
                            ErrLocation::field("PD1", 1, 12),
                            hl7_code::REQUIRED_FIELD_MISSING,
                            format!(
                                "Immunizations rejected: consent is required to keep non-disaster \
                                 immunizations; {dropped} record(s) were not saved, disaster-related \
                                 doses were."
                            ),
                        ));
                    }
                }
                patient_plan = Some((changes, existing, reviews, decision.record));
            }
        }

        // The response, now that every finding is known; then the log entry, then the data.
        let ack = finding::ack_code(&prepared.findings);
        let errs: Vec<ErrEntry> = validate::ack_errors(&prepared.findings, config.err_limit);
        let ack_id = new_control_id();
        let timestamp = hl7_now();
        let params = AckParams {
            control_id: &ack_id,
            timestamp: &timestamp,
            sending_application: &config.identity.application,
            sending_facility: &config.identity.facility,
        };
        let hl7 = build_ack(&ctx, ack, &errs, &params);
        let count = |sev| {
            prepared
                .findings
                .iter()
                .filter(|f| f.severity == sev)
                .count()
        };
        let message_id = tx
            .log_message(&LogEntry {
                organization_id: org,
                user_id: submitter.user_id,
                facility_code: &submitter.facility_code,
                control_id: prepared.control_id.as_deref(),
                message_type: prepared.message_type.as_deref(),
                processing_id: prepared.processing_id.as_deref(),
                outcome: ack,
                received_at: &received_at,
                request: &raw,
                response: &hl7,
                errors: count(crate::hl7::Severity::Error),
                warnings: count(crate::hl7::Severity::Warning),
            })
            .await?;
        if let Some(control_id) = &prepared.control_id {
            tx.set_key_message(org, control_id, &hash, message_id)
                .await?;
        }

        let mut patient_id = None;
        if let Some((changes, existing, reviews, consent_record)) = patient_plan {
            let id = match &existing {
                Some(person) => {
                    tx.update_patient(person.id, &changes.patient, consent_record.as_ref())
                        .await?;
                    person.id
                }
                None => {
                    tx.create_patient(org, &changes.patient, consent_record.as_ref())
                        .await?
                }
            };
            tx.link_identifiers(id, org, &changes.identifiers).await?;
            for (candidate, reason) in &reviews {
                if *candidate != id {
                    tx.add_review(id, *candidate, reason).await?;
                }
            }
            for dose in &changes.doses {
                tx.apply_dose(org, id, message_id, dose).await?;
            }
            for observation in &changes.observations {
                tx.add_observation(org, id, message_id, observation).await?;
            }
            patient_id = Some(id);
        }
        Ok(Response {
            hl7,
            ack,
            message_id: Some(message_id),
            patient_id,
        })
    }
}

/// The answer to a resend: the stored response, byte for byte.
fn resent(stored: String) -> Response {
    let ack = match Message::parse(&stored)
        .ok()
        .and_then(|m| m.get("MSA-1").map(|v| v.into_owned()))
    {
        Some(code) if code == "AA" => AckCode::AA,
        Some(code) if code == "AE" => AckCode::AE,
        _ => AckCode::AR,
    };
    Response {
        hl7: stored,
        ack,
        message_id: None,
        patient_id: None,
    }
}

fn msh_raw(msg: &Message<'_>, field: usize) -> Option<String> {
    let msh = msg.segment("MSH")?;
    let raw = msh.field(field).raw();
    (!raw.is_empty()).then(|| raw.to_string())
}
