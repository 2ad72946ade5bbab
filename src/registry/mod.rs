//! The registry: what a submitted HL7 message means and what to keep of it.
//!
//! Nothing here knows about HTTP or XML. `Registry::submit` takes the text of one message from
//! an authenticated submitter and returns the HL7 response; the SOAP endpoint, tests and (later)
//! the batch path all come in through it. Storage is behind [`RegistryStore`].

pub mod codes;
pub mod finding;
pub mod vxu;

use std::future::Future;

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
}

#[derive(Clone, Debug, PartialEq)]
pub struct PatientRecord {
    pub family_name: String,
    pub given_name: String,
    pub middle_name: Option<String>,
    /// YYYY-MM-DD
    pub birth_date: String,
    pub sex: Option<String>,
    pub mother_maiden_name: Option<String>,
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
}

/// The data changes one accepted message asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct PatientChanges {
    pub patient: PatientRecord,
    pub identifiers: Vec<Identifier>,
    pub doses: Vec<DoseRecord>,
}

/// The audit record of one message: what came in and exactly what went back.
#[derive(Clone, Debug)]
pub struct LogEntry<'a> {
    pub control_id: Option<String>,
    pub message_type: Option<String>,
    pub processing_id: Option<String>,
    pub outcome: AckCode,
    pub received_at: String,
    pub request: &'a str,
    pub response: &'a str,
}

/// Everything one message writes, applied by the store in one transaction.
pub struct Submission<'a> {
    pub submitter: &'a Submitter,
    pub log: LogEntry<'a>,
    pub changes: Option<&'a PatientChanges>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub message_id: i64,
    pub patient_id: Option<i64>,
}

/// What the registry needs from storage. Implemented by [`crate::store::Db`] for both backends.
pub trait RegistryStore: Send + Sync {
    /// Applies the changes and writes the log entry in one transaction; returns after commit.
    fn record_submission(
        &self,
        submission: &Submission<'_>,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
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

/// The HL7 response to one message and how it was judged.
#[derive(Clone, Debug)]
pub struct Response {
    pub hl7: String,
    pub ack: AckCode,
    pub recorded: Recorded,
}

pub struct Registry<S> {
    store: S,
    identity: RegistryIdentity,
}

fn envelope_error(
    location: ErrLocation,
    code: u16,
    rule: &'static str,
    message: String,
) -> Finding {
    Finding::error(rule, Scope::Envelope, location, code, message)
}

/// Checks MSH-9, MSH-11 and MSH-12: what decides whether the message is processed at all.
fn header_findings(msg: &Message<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let msh = msg.segment("MSH");
    let get = |field, comp| {
        msh.as_ref()
            .and_then(|m| m.get(field, comp))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let (kind, event) = (get(9, 1), get(9, 2));
    match (kind.as_str(), event.as_str()) {
        ("VXU", "V04") => {}
        ("VXU", other) => findings.push(envelope_error(
            ErrLocation::field("MSH", 1, 9).with_component(2),
            hl7_code::UNSUPPORTED_EVENT,
            "MSH-9-event",
            format!("Unsupported event '{other}' for VXU; only VXU^V04 is accepted."),
        )),
        ("QBP", _) => findings.push(envelope_error(
            ErrLocation::field("MSH", 1, 9),
            hl7_code::UNSUPPORTED_MESSAGE_TYPE,
            "MSH-9-type",
            "Unsupported message type: immunization history queries (QBP) are not yet answered \
             by this registry; only VXU^V04 is accepted."
                .to_string(),
        )),
        ("", _) => findings.push(envelope_error(
            ErrLocation::field("MSH", 1, 9),
            hl7_code::REQUIRED_FIELD_MISSING,
            "MSH-9-missing",
            "Message type (MSH-9) is missing; only VXU^V04 is accepted.".to_string(),
        )),
        (other, _) => findings.push(envelope_error(
            ErrLocation::field("MSH", 1, 9),
            hl7_code::UNSUPPORTED_MESSAGE_TYPE,
            "MSH-9-type",
            format!("Unsupported message type '{other}'; only VXU^V04 is accepted."),
        )),
    }
    let processing = get(11, 1);
    if !matches!(processing.as_str(), "P" | "T" | "D") {
        findings.push(envelope_error(
            ErrLocation::field("MSH", 1, 11),
            hl7_code::UNSUPPORTED_PROCESSING_ID,
            "MSH-11-invalid",
            format!("Processing ID (MSH-11) '{processing}' is not P, T or D."),
        ));
    }
    let version = get(12, 1);
    if version != "2.5.1" {
        findings.push(envelope_error(
            ErrLocation::field("MSH", 1, 12),
            hl7_code::UNSUPPORTED_VERSION,
            "MSH-12-version",
            format!("Unsupported HL7 version '{version}' (MSH-12); send version 2.5.1."),
        ));
    }
    findings
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

impl<S: RegistryStore> Registry<S> {
    pub fn new(store: S, identity: RegistryIdentity) -> Self {
        Registry { store, identity }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Processes one HL7 message from `submitter`. The response is stored with the data in one
    /// transaction and returned only after it commits: an AA is never sent for unsaved data.
    pub async fn submit(
        &self,
        submitter: &Submitter,
        raw: &str,
    ) -> Result<Response, RegistryError> {
        let received_at = crate::store::now_text();
        let ack_id = new_control_id();
        let timestamp = hl7_now();
        let params = AckParams {
            control_id: &ack_id,
            timestamp: &timestamp,
            sending_application: &self.identity.application,
            sending_facility: &self.identity.facility,
        };

        let (hl7, ack, log_fields, changes) = match Message::parse(raw) {
            Err(e) => {
                let ctx = AckContext::salvage(raw);
                let errs = [ErrEntry {
                    location: Some(ErrLocation::segment("MSH", 1)),
                    hl7_code: hl7_code::SEGMENT_SEQUENCE,
                    severity: crate::hl7::Severity::Error,
                    app_code: None,
                    message: format!("The message could not be read as HL7 v2: {e}"),
                }];
                let control_id = ctx.control_id().map(str::to_string);
                let hl7 = build_ack(&ctx, AckCode::AR, &errs, &params);
                (hl7, AckCode::AR, (control_id, None, None), None)
            }
            Ok(msg) => {
                let mut findings = header_findings(&msg);
                let mut changes = None;
                if findings.is_empty() {
                    let (more, planned) = vxu::plan(&msg, today_utc());
                    findings.extend(more);
                    // Test (T) and debugging (D) messages are validated and answered, never stored.
                    if msg.get("MSH-11").as_deref() == Some("P") {
                        changes = planned;
                    }
                }
                let ack = finding::ack_code(&findings);
                let errs: Vec<ErrEntry> = findings.iter().map(Finding::to_err).collect();
                let ctx = AckContext::from_message(&msg);
                let hl7 = build_ack(&ctx, ack, &errs, &params);
                let log_fields = (
                    msg.get("MSH-10").map(|v| v.into_owned()),
                    msh_raw(&msg, 9),
                    msg.get("MSH-11").map(|v| v.into_owned()),
                );
                (hl7, ack, log_fields, changes)
            }
        };

        let (control_id, message_type, processing_id) = log_fields;
        let submission = Submission {
            submitter,
            log: LogEntry {
                control_id,
                message_type,
                processing_id,
                outcome: ack,
                received_at,
                request: raw,
                response: &hl7,
            },
            changes: changes.as_ref(),
        };
        let recorded = self.store.record_submission(&submission).await?;
        Ok(Response { hl7, ack, recorded })
    }
}

fn msh_raw(msg: &Message<'_>, field: usize) -> Option<String> {
    let msh = msg.segment("MSH")?;
    let raw = msh.field(field).raw();
    (!raw.is_empty()).then(|| raw.to_string())
}
