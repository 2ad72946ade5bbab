//! A message's two phases. [`Prepared::new`] (outside any transaction) parses, validates and
//! plans; [`Prepared::apply`] (inside one) claims the message key, matches the patient, decides
//! consent, writes the response to the message log and then the data. A VXU and a query share
//! the production-approval check ([`approval`]), the response's id and time ([`Reply`]) and the
//! log entry ([`Incoming::log_entry`]); the query's own part is in [`super::answer`].

use std::collections::HashMap;
use std::sync::Arc;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use jiff::Timestamp;

use crate::clock::utc_date;
use crate::date::Date;
use crate::hl7::{build_ack, AckCode, AckContext, AckParams, ErrLocation, Message, Severity};

use super::codes::CodeSets;
use super::consent;
use super::finding::{ack_code, patient_rejected, Finding};
use super::matching::{self, Match, MatchedBy, SEVERAL_LINKED};
use super::model::{DoseAction, DoseRecord, ObservationKind, PatientChanges, Submitter};
use super::port::{
    ConsentRecord, KeyClaim, LogEntry, RegistryError, RegistryTx, Stamp, StorageError, StoredPerson,
};
use super::query::{parse_query_with, QueryRequest};
use super::response::{PatientOutcome, Response, Stored};
use super::rules::{self, Level, R};
use super::validate;
use super::{answer, vxu, Core, RegistryConfig, RegistryIdentity};

/// A message ready to apply: everything decided that needs no database, owned (`Send +
/// 'static`), so that it can be applied on another thread or inside a caller's transaction.
pub struct Prepared {
    incoming: Incoming,
    work: Work,
}

/// What every message carries into its transaction.
pub(super) struct Incoming {
    pub core: Arc<Core>,
    pub submitter: Submitter,
    pub raw: String,
    pub received_at: Timestamp,
    /// The submitter's rule levels by rule id.
    pub overrides: HashMap<String, Level>,
    pub control_id: Option<String>,
    /// MSH-9 as sent.
    pub message_type: Option<String>,
    /// MSH-11.
    pub processing_id: Option<String>,
}

enum Work {
    /// The same message was answered before: its stored response.
    Answered(String),
    /// A VXU (or a message that is not a query, rejected whole).
    Vxu {
        findings: Vec<Finding>,
        changes: Option<PatientChanges>,
        hash: String,
    },
    /// A QBP: the query read, or the findings that refuse it.
    Query(Result<QueryRequest, Vec<Finding>>),
}

fn is_query(msg: &Message<'_>) -> bool {
    msg.get("MSH-9-1").as_deref().map(str::trim) == Some("QBP")
}

impl Prepared {
    pub(super) fn new(
        core: Arc<Core>,
        submitter: &Submitter,
        raw: &str,
        received_at: Timestamp,
        overrides: HashMap<String, Level>,
    ) -> Prepared {
        let today = utc_date(received_at);
        let mut incoming = Incoming {
            core,
            submitter: submitter.clone(),
            raw: raw.to_string(),
            received_at,
            overrides,
            control_id: None,
            message_type: None,
            processing_id: None,
        };
        let work = match Message::parse(raw) {
            Err(e) => {
                incoming.control_id = AckContext::salvage(raw).control_id().map(str::to_string);
                Work::Vxu {
                    findings: vec![rules::default_finding(
                        R::HL7_UNREADABLE,
                        ErrLocation::segment("MSH", 1),
                        format!("The message could not be read as HL7 v2: {e}"),
                    )],
                    changes: None,
                    hash: content_hash(raw),
                }
            }
            Ok(msg) => {
                incoming.control_id = msg.get("MSH-10").map(|v| v.into_owned());
                incoming.message_type = msh_raw(&msg, 9);
                incoming.processing_id = msg.get("MSH-11").map(|v| v.into_owned());
                if is_query(&msg) {
                    Work::Query(incoming.read_query(&msg, today))
                } else {
                    let (findings, changes) = incoming.plan_vxu(&msg, today);
                    Work::Vxu {
                        findings,
                        changes,
                        hash: content_hash(raw),
                    }
                }
            }
        };
        Prepared { incoming, work }
    }

    /// The key a resend is recognized by, when this message can have one: (MSH-10, content
    /// hash). Queries are answered afresh every time.
    pub(super) fn resend_key(&self) -> Option<(&str, &str)> {
        match (&self.work, &self.incoming.control_id) {
            (Work::Vxu { hash, .. }, Some(control_id)) => Some((control_id, hash)),
            _ => None,
        }
    }

    /// The keys this message's transaction locks (a VXU's patient identifiers, birth date and
    /// name), so that two transactions never decide the same person at once. A caller that
    /// applies several messages in one transaction takes all of theirs first, in one call to
    /// [`RegistryTx::lock`]: a store that takes keys in order then never deadlocks two such
    /// transactions, and each message finds its keys held already.
    pub fn lock_keys(&self) -> Vec<String> {
        match &self.work {
            Work::Vxu {
                changes: Some(changes),
                ..
            } => lock_keys(self.incoming.submitter.organization_id, changes),
            _ => Vec::new(),
        }
    }

    /// This message as a resend of one answered before.
    pub(super) fn answered(mut self, stored: String) -> Prepared {
        self.work = Work::Answered(stored);
        self
    }

    /// The stored answer, when this message is a resend found before its transaction: it needs
    /// no transaction at all.
    pub fn answer(&self) -> Option<Response> {
        match &self.work {
            Work::Answered(stored) => Some(resent(stored.clone())),
            _ => None,
        }
    }

    /// Whether this is a history query (QBP).
    pub fn is_query(&self) -> bool {
        matches!(self.work, Work::Query(_))
    }

    /// The second phase, inside the caller's transaction: claims the message key, matches the
    /// patient, decides consent, writes the log entry and the data. The response is final once
    /// the transaction commits; if it does not, nothing of this message was kept.
    pub async fn apply<Tx: RegistryTx>(self, tx: &mut Tx) -> Result<Response, RegistryError> {
        let Prepared { incoming, work } = self;
        match work {
            Work::Answered(stored) => Ok(resent(stored)),
            Work::Vxu {
                findings,
                changes,
                hash,
            } => apply_vxu(incoming, findings, changes, hash, tx).await,
            Work::Query(request) => answer::answer(incoming, request, tx).await,
        }
    }
}

#[cfg(test)]
impl Prepared {
    /// A VXU's findings and planned changes (`None` for a query or a resend).
    pub(super) fn vxu_plan(&self) -> Option<(&[Finding], Option<&PatientChanges>)> {
        match &self.work {
            Work::Vxu {
                findings, changes, ..
            } => Some((findings, changes.as_ref())),
            _ => None,
        }
    }

    /// A query as read, or the findings refusing it (`None` for anything else).
    pub(super) fn query_plan(&self) -> Option<Result<&QueryRequest, &[Finding]>> {
        match &self.work {
            Work::Query(request) => Some(request.as_ref().map_err(Vec::as_slice)),
            _ => None,
        }
    }
}

/// The production-approval check, for submissions and queries alike: an organization still
/// onboarding may send test (MSH-11 = T) and debugging messages, not production ones.
pub(super) fn approval(submitter: &Submitter, processing_id: Option<&str>) -> Option<Finding> {
    (processing_id == Some("P") && !submitter.production).then(|| {
        rules::default_finding(
            R::ORG_NOT_IN_PRODUCTION,
            ErrLocation::field("MSH", 1, 11),
            "Your organization is not yet approved for production data: send test messages \
             (MSH-11 = T) until the registry promotes it.",
        )
    })
}

/// A response's own MSH-10 and MSH-7, and the instant they stand for.
pub(super) struct Reply {
    control_id: String,
    timestamp: String,
    pub at: Timestamp,
}

impl Reply {
    pub fn params<'a>(&'a self, identity: &'a RegistryIdentity) -> AckParams<'a> {
        AckParams {
            control_id: &self.control_id,
            timestamp: &self.timestamp,
            sending_application: &identity.application,
            sending_facility: &identity.facility,
        }
    }
}

impl Incoming {
    pub fn config(&self) -> &RegistryConfig {
        &self.core.config
    }

    /// A fresh control id and the current time for the response.
    pub fn reply(&self) -> Reply {
        let at = self.core.clock.now();
        Reply {
            control_id: self.core.ids.control_id(),
            timestamp: at.strftime("%Y%m%d%H%M%S+0000").to_string(),
            at,
        }
    }

    /// The message-log entry: the request, exactly the response sent, and how many errors and
    /// warnings it reported.
    pub fn log_entry<'a>(
        &'a self,
        outcome: AckCode,
        response: &'a str,
        findings: &[Finding],
        responded_at: Timestamp,
    ) -> LogEntry<'a> {
        let count = |severity| findings.iter().filter(|f| f.severity == severity).count();
        LogEntry {
            organization_id: self.submitter.organization_id,
            user_id: self.submitter.user_id,
            facility_code: &self.submitter.facility_code,
            control_id: self.control_id.as_deref(),
            message_type: self.message_type.as_deref(),
            processing_id: self.processing_id.as_deref(),
            outcome,
            received_at: self.received_at,
            responded_at,
            request: &self.raw,
            response,
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            key_hash: None,
        }
    }

    /// What the writes after the log entry carry.
    pub fn stamp(&self, message_id: i64, at: Timestamp) -> Stamp {
        Stamp {
            organization_id: self.submitter.organization_id,
            user_id: self.submitter.user_id,
            message_id,
            received_at: self.received_at,
            at,
        }
    }

    /// A QBP: the query, or the findings that refuse it (the production check included).
    fn read_query(&self, msg: &Message<'_>, today: Date) -> Result<QueryRequest, Vec<Finding>> {
        let request = parse_query_with(msg, &self.config().query, today, &self.overrides)?;
        match approval(&self.submitter, self.processing_id.as_deref()) {
            Some(refused) => Err(vec![refused]),
            None => Ok(request),
        }
    }

    /// A VXU: its findings, and what to keep of it unless it is a test message or rejected.
    fn plan_vxu(&self, msg: &Message<'_>, today: Date) -> (Vec<Finding>, Option<PatientChanges>) {
        let codes = CodeSets::active();
        let context = validate::Context::new(today, codes).with_overrides(&self.overrides);
        let mut findings = validate::validate(msg, &context);
        if ack_code(&findings) != AckCode::AR {
            findings.extend(approval(&self.submitter, self.processing_id.as_deref()));
        }
        // Test (T) and debugging (D) messages are validated and answered, never stored.
        let production = self.processing_id.as_deref() == Some("P");
        let changes = if production && ack_code(&findings) != AckCode::AR {
            vxu::extract(msg, codes, &mut findings)
        } else {
            None
        };
        (findings, changes)
    }
}

/// Hex BLAKE2b-256 of a message's text: "the same content" for safe resend.
fn content_hash(raw: &str) -> String {
    let digest = Blake2b::<U32>::digest(raw.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn msh_raw(msg: &Message<'_>, field: usize) -> Option<String> {
    let msh = msg.segment("MSH")?;
    let raw = msh.field(field).raw();
    (!raw.is_empty()).then(|| raw.to_string())
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
    let mut response = Response::bare(stored, ack);
    response.resent = true;
    response
}

/// Advisory-lock keys for the people a VXU may touch: its identifiers, its birth date with each
/// name, its names.
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
    // The same pairs the candidate lookup reads (matching.rs): two VXUs that could match the
    // same stored person, or each other, share one of these keys. The birth date alone is not
    // a key, so a file of children born on a few days does not serialize on them.
    let who = changes.patient.demographics();
    if !who.family.is_empty() {
        keys.push(format!("dob-family|{}|{}", who.birth_date, who.family));
    }
    if !who.given.is_empty() {
        keys.push(format!("dob-given|{}|{}", who.birth_date, who.given));
    }
    if !who.family.is_empty() && !who.given.is_empty() {
        keys.push(format!("names|{}|{}", who.family, who.given));
    }
    keys
}

/// A VXU's patient, decided: the record to write to (or none: a new one), the pairs for the
/// review list, the consent to record, and the changes consent lets the registry keep.
#[derive(Debug)]
pub(super) struct PatientPlan {
    pub changes: PatientChanges,
    pub existing: Option<(StoredPerson, MatchedBy)>,
    pub reviews: Vec<(i64, String)>,
    pub consent: Option<ConsentRecord>,
}

/// Decides a VXU's patient from the match and the consent policy. `None` when consent rejects
/// the patient (a finding says so); disaster-only consent drops the other records (and says so).
pub(super) fn plan_patient(
    config: &RegistryConfig,
    mut changes: PatientChanges,
    found: Match,
    received_on: Date,
    findings: &mut Vec<Finding>,
) -> Option<PatientPlan> {
    let (existing, reviews) = match found {
        Match::One { person, by } => (Some((person, by)), Vec::new()),
        Match::Several { first, others } => (
            Some((first, MatchedBy::Identifier)),
            others
                .iter()
                .map(|p| (p.id, SEVERAL_LINKED.to_string()))
                .collect(),
        ),
        Match::Unsure { possible } => (None, possible),
    };
    let affirmation = consent::affirmation(
        changes.patient.protection.as_deref(),
        changes.patient.protection_date,
        received_on,
    );
    let is_disaster =
        |d: &DoseRecord| d.disaster_indicated || config.consent.disaster_cvx.contains(&d.cvx);
    let decision = consent::decide(
        config.consent.policy,
        existing.as_ref().map(|(p, _)| p.consent),
        &affirmation,
        changes.doses.iter().any(is_disaster),
    );
    if decision.reject_patient {
        findings.push(rules::default_finding(
            R::CONSENT_MISSING,
            ErrLocation::field("PD1", 1, 12),
            "Client rejected: no consent on file and none affirmed in this message \
             (PD1-12 = N with the affirmation date in PD1-13); nothing was saved.",
        ));
        return None;
    }
    if decision.disaster_only {
        let before = changes.doses.len() + changes.observations.len();
        changes.doses.retain(is_disaster);
        changes.observations.clear();
        let dropped = before - changes.doses.len();
        if dropped > 0 {
            findings.push(rules::default_finding(
                R::CONSENT_DISASTER_ONLY,
                ErrLocation::field("PD1", 1, 12),
                format!(
                    "Immunizations rejected: consent is required to keep non-disaster \
                     immunizations; {dropped} record(s) were not saved, disaster-related doses \
                     were."
                ),
            ));
        }
    }
    Some(PatientPlan {
        changes,
        existing,
        reviews,
        consent: decision.record,
    })
}

/// Writes a decided patient and what is kept of the message; returns the record's id and what
/// was written.
async fn write_patient<Tx: RegistryTx>(
    tx: &mut Tx,
    stamp: &Stamp,
    plan: PatientPlan,
) -> Result<(i64, PatientOutcome, Stored), StorageError> {
    let PatientPlan {
        changes,
        existing,
        reviews,
        consent,
    } = plan;
    let id = match &existing {
        Some((person, _)) => {
            tx.update_patient(stamp, person.id, &changes.patient, consent.as_ref())
                .await?;
            person.id
        }
        None => {
            tx.create_patient(stamp, &changes.patient, consent.as_ref())
                .await?
        }
    };
    tx.link_identifiers(stamp, id, &changes.identifiers).await?;
    let mut reviewed = 0;
    for (candidate, reason) in &reviews {
        if *candidate != id {
            tx.add_review(stamp, id, *candidate, reason).await?;
            reviewed += 1;
        }
    }
    let mut stored = Stored::default();
    for dose in &changes.doses {
        tx.apply_dose(stamp, id, dose).await?;
        match dose.action {
            DoseAction::Upsert => stored.doses += 1,
            DoseAction::Delete => stored.deleted += 1,
        }
    }
    for observation in &changes.observations {
        tx.add_observation(stamp, id, observation).await?;
        match observation.kind {
            ObservationKind::Refusal => stored.refusals += 1,
            ObservationKind::NotAdministered => stored.not_administered += 1,
            ObservationKind::Immunity => stored.immunity += 1,
        }
    }
    let outcome = PatientOutcome {
        matched: existing.map(|(_, by)| by),
        reviews: reviewed,
    };
    Ok((id, outcome, stored))
}

/// A VXU's second phase (see [`Prepared::apply`]).
async fn apply_vxu<Tx: RegistryTx>(
    incoming: Incoming,
    mut findings: Vec<Finding>,
    mut changes: Option<PatientChanges>,
    hash: String,
    tx: &mut Tx,
) -> Result<Response, RegistryError> {
    let org = incoming.submitter.organization_id;
    if let Some(changes) = &changes {
        tx.lock(&lock_keys(org, changes)).await?;
    }
    if let Some(control_id) = &incoming.control_id {
        match tx.claim_key(org, control_id, &hash).await? {
            KeyClaim::Answered(stored) => return Ok(resent(stored)),
            KeyClaim::Claimed { reused: true } => {
                let refused = rules::severity(R::MSH_10_REUSED.info(), &incoming.overrides)
                    == Some(Severity::Error);
                let what = if refused {
                    "this one was not processed"
                } else {
                    "this one was processed normally"
                };
                findings.extend(rules::finding(
                    R::MSH_10_REUSED,
                    &incoming.overrides,
                    ErrLocation::field("MSH", 1, 10),
                    format!(
                        "Message control ID '{control_id}' was used before for a different \
                         message; {what}. Use a new MSH-10 for every new message."
                    ),
                ));
            }
            KeyClaim::Claimed { reused: false } => {}
        }
    }
    if patient_rejected(&findings) {
        changes = None;
    }

    // Who is it, and may we keep it?
    let plan = match changes {
        Some(changes) => {
            let who = changes.patient.demographics();
            let found = matching::find(tx, org, &changes.identifiers, &who).await?;
            let received_on = utc_date(incoming.received_at);
            plan_patient(
                incoming.config(),
                changes,
                found,
                received_on,
                &mut findings,
            )
        }
        None => None,
    };

    // The response, now that every finding is known; then the log entry, then the data.
    let ack = ack_code(&findings);
    let errs = validate::ack_errors(&findings, incoming.config().err_limit);
    let reply = incoming.reply();
    let hl7 = {
        let parsed = Message::parse(&incoming.raw);
        let ctx = match &parsed {
            Ok(msg) => AckContext::from_message(msg),
            Err(_) => AckContext::salvage(&incoming.raw),
        };
        build_ack(&ctx, ack, &errs, &reply.params(&incoming.config().identity))
    };
    let message_id = tx
        .log_message(&LogEntry {
            key_hash: incoming.control_id.as_ref().map(|_| hash.as_str()),
            ..incoming.log_entry(ack, &hl7, &findings, reply.at)
        })
        .await?;

    let stamp = incoming.stamp(message_id, reply.at);
    let (patient_id, patient, stored) = match plan {
        Some(plan) => {
            let (id, outcome, stored) = write_patient(tx, &stamp, plan).await?;
            (Some(id), Some(outcome), stored)
        }
        None => (None, None, Stored::default()),
    };
    Ok(Response {
        hl7,
        ack,
        message_id: Some(message_id),
        patient_id,
        resent: false,
        findings,
        patient,
        stored,
        query: None,
    })
}
