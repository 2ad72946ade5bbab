//! Answering QBP^Q11 history queries (Z34, and Z44 without evaluation) with RSP^K11.
//!
//! The same matcher as for VXU: identifiers already linked first, then blocked demographic
//! candidates. One clear match → Z32 with the consolidated history; possible matches within
//! RCP-2 → Z31 (Z34 only); more → Z33 TM; none → Z33 NF; a record whose consent does not allow
//! sharing → Z33 PD (opt-out) or NF (opt-in). Every query is logged with its exact response, and
//! every patient it returned is recorded in the query audit.

use crate::hl7::{AckContext, AckParams, Message};
use crate::store::{ConsolidatedDose, StoredObservation};

use super::codes::CodeSets;
use super::consent::{Policy, Status};
use super::finding::{hl7_code, Finding, Scope};
use super::identity::{self, Demographics, Verdict};
use super::query::{
    build_rsp, parse_query, AddressView, CodedValue, DoseKind, DoseView, ImmunityView, PatientId,
    PatientView, PhoneView, QueryEcho, QueryOutcome, QueryProfile, QueryRequest, RspParams,
};
use super::{
    new_control_id, today_utc, Identifier, LogEntry, RegistryConfig, RegistryError, RegistryTx,
    Response, StoredPatient, Submitter,
};

fn coded(code: Option<&str>, text: &str, system: &str) -> Option<CodedValue> {
    let code = code?.trim();
    (!code.is_empty()).then(|| CodedValue::new(code, text, system))
}

pub(super) fn patient_view(p: &StoredPatient) -> PatientView {
    let r = &p.record;
    let address = AddressView {
        street: r.street.clone().unwrap_or_default(),
        city: r.city.clone().unwrap_or_default(),
        state: r.state.clone().unwrap_or_default(),
        zip: r.zip.clone().unwrap_or_default(),
        address_type: "P".into(),
        ..AddressView::default()
    };
    PatientView {
        registry_id: p.id.to_string(),
        identifiers: p
            .identifiers
            .iter()
            .map(|i| PatientId::new(i.value.clone(), i.authority.clone(), i.id_type.clone()))
            .collect(),
        family: r.family_name.clone(),
        given: r.given_name.clone(),
        middle: r.middle_name.clone(),
        mother_maiden_family: r.mother_maiden_name.clone(),
        birth_date: r.birth_date.clone(),
        sex: r.sex.clone(),
        address: (!address.is_empty() && address.street.len() + address.zip.len() > 0)
            .then_some(address),
        phone: r.phone.as_deref().and_then(PhoneView::from_digits),
        race: coded(r.race.as_deref(), "", "CDCREC"),
        ethnicity: coded(r.ethnicity.as_deref(), "", "CDCREC"),
        multiple_birth: r.multiple_birth,
        birth_order: r.birth_order,
        publicity: coded(r.publicity.as_deref(), "", "HL70215"),
        protection: r.protection.as_deref().map(|v| v == "Y"),
        protection_date: r.protection_date.clone(),
        registry_status: r.registry_status.clone(),
        ..PatientView::default()
    }
}

fn route_system(code: &str) -> &'static str {
    if code.starts_with('C') && code[1..].bytes().all(|b| b.is_ascii_digit()) {
        "NCIT"
    } else {
        "HL70162"
    }
}

pub(super) fn dose_view(event: &ConsolidatedDose, codes: &CodeSets) -> DoseView {
    let d = &event.dose;
    let kind = if d.info_source.as_deref() == Some("00") {
        DoseKind::Administered
    } else {
        DoseKind::Historical
    };
    let cvx_text = d
        .vaccine_text
        .clone()
        .or_else(|| codes.cvx(&d.cvx).map(|c| c.short_name.clone()))
        .unwrap_or_default();
    DoseView {
        kind,
        registry_dose_id: d.id.to_string(),
        filler_order_id: Some(d.filler_order_id.clone()),
        filler_namespace: Some(d.organization_code.clone()),
        administered_on: d.administered_on.clone(),
        cvx: d.cvx.clone(),
        cvx_text,
        amount: d.amount.clone(),
        units: d.amount_units.clone(),
        info_source: d.info_source.clone(),
        lot: d.lot_number.clone(),
        lot_expiration: d
            .lot_expiration
            .as_deref()
            .and_then(|raw| crate::hl7::parse_dtm(raw).ok())
            .and_then(|dtm| dtm.date())
            .map(super::vxu::format_date),
        mvx: d.mvx.as_deref().map(|m| {
            let name = codes.mvx(m).map(|x| x.name.clone()).unwrap_or_default();
            CodedValue::new(m, name, "MVX")
        }),
        completion_status: d.completion_status.clone(),
        route: d
            .route
            .as_deref()
            .map(|r| CodedValue::new(r, "", route_system(r))),
        site: coded(d.site.as_deref(), "", "HL70163"),
        ..DoseView::default()
    }
}

/// Refusals and not-administered records become ORDER groups; evidence of immunity its own.
fn other_records(observations: &[StoredObservation]) -> (Vec<DoseView>, Vec<ImmunityView>) {
    let mut doses = Vec::new();
    let mut immunity = Vec::new();
    for (n, o) in observations.iter().enumerate() {
        match o.kind.as_str() {
            "immunity" => immunity.push(ImmunityView {
                snomed_code: o.code.clone(),
                text: o.code_text.clone().unwrap_or_default(),
                date: o.observed_on.clone(),
            }),
            kind => doses.push(DoseView {
                kind: if kind == "refusal" {
                    DoseKind::Refusal
                } else {
                    DoseKind::NotAdministered
                },
                registry_dose_id: format!("O{n}"),
                administered_on: o.observed_on.clone(),
                cvx: o.code.clone(),
                cvx_text: o.code_text.clone().unwrap_or_default(),
                completion_status: Some(if kind == "refusal" { "RE" } else { "NA" }.into()),
                refusal_reason: coded(
                    o.reason_code.as_deref(),
                    o.reason_text.as_deref().unwrap_or(""),
                    "NIP002",
                ),
                ..DoseView::default()
            }),
        }
    }
    (doses, immunity)
}

fn demographics_of(req: &QueryRequest) -> Demographics {
    let phone = req
        .phone
        .as_ref()
        .map(|p| format!("{}{}", p.area_code, p.local_number));
    Demographics::new(
        &req.family,
        &req.given,
        &req.birth_date,
        req.sex.as_deref(),
        req.mother_maiden_family.as_deref(),
        phone.as_deref(),
        req.address.as_ref().map(|a| a.zip.as_str()),
        req.address.as_ref().map(|a| a.street.as_str()),
        req.multiple_birth,
        req.birth_order,
    )
}

/// One query, owned, to answer inside a transaction (reads, the log entry and the audit rows).
pub(super) struct AnswerJob {
    pub config: std::sync::Arc<RegistryConfig>,
    pub submitter: Submitter,
    pub raw: String,
    pub received_at: String,
}

impl AnswerJob {
    /// Answers the QBP in `raw` (which `submit` found to parse).
    pub(super) async fn run<Tx: RegistryTx>(self, tx: &mut Tx) -> Result<Response, RegistryError> {
        let Ok(msg) = Message::parse(&self.raw) else {
            return Err(RegistryError::Unreadable);
        };
        let msg = &msg;
        let submitter = &self.submitter;
        let raw = self.raw.as_str();
        let received_at = self.received_at.as_str();
        let today = today_utc();
        let processing = msg.get("MSH-11").map(|v| v.into_owned());
        let mut returned: Vec<(i64, &'static str)> = Vec::new();
        let (echo, outcome, warnings) = match parse_query(msg, &self.config.query, today) {
            Err(findings) => (
                QueryEcho::from_message(msg),
                QueryOutcome::Rejected(findings),
                Vec::new(),
            ),
            Ok(_) if processing.as_deref() == Some("P") && !submitter.production => (
                QueryEcho::from_message(msg),
                QueryOutcome::Rejected(vec![Finding::error(
                    "ORG-not-in-production",
                    Scope::Envelope,
                    crate::hl7::ErrLocation::field("MSH", 1, 11),
                    hl7_code::UNSUPPORTED_PROCESSING_ID,
                    "Your organization is not yet approved for production data: send test \
                     messages (MSH-11 = T) until the registry promotes it.",
                )]),
                Vec::new(),
            ),
            Ok(req) => {
                let outcome = self.find(tx, submitter, &req, &mut returned).await?;
                (QueryEcho::from(&req), outcome, req.warnings.clone())
            }
        };

        let ack_id = new_control_id();
        let timestamp = super::hl7_now();
        let params = RspParams {
            ack: AckParams {
                control_id: &ack_id,
                timestamp: &timestamp,
                sending_application: &self.config.identity.application,
                sending_facility: &self.config.identity.facility,
            },
            assigning_authority: &self.config.identity.application,
        };
        let ctx = AckContext::from_message(msg);
        let hl7 = build_rsp(&ctx, &echo, &outcome, &warnings, &params);
        let ack = outcome.ack_code();
        let control_id = msg.get("MSH-10").map(|v| v.into_owned());
        let entry = LogEntry {
            organization_id: submitter.organization_id,
            user_id: submitter.user_id,
            facility_code: &submitter.facility_code,
            control_id: control_id.as_deref(),
            message_type: msg.segment("MSH").map(|m| m.field(9).raw()),
            processing_id: processing.as_deref(),
            outcome: ack,
            received_at,
            request: raw,
            response: &hl7,
            errors: 0,
            warnings: warnings.len(),
        };
        let message_id = tx.log_message(&entry).await?;
        for (patient, what) in &returned {
            tx.audit_query(&entry, message_id, *patient, what).await?;
        }
        Ok(Response {
            hl7,
            ack,
            message_id: Some(message_id),
            patient_id: returned.first().map(|(id, _)| *id),
        })
    }

    /// Matches the query and loads what the answer shows; `returned` collects who is shown.
    async fn find<Tx: RegistryTx>(
        &self,
        tx: &mut Tx,
        submitter: &Submitter,
        req: &QueryRequest,
        returned: &mut Vec<(i64, &'static str)>,
    ) -> Result<QueryOutcome, RegistryError> {
        let identifiers: Vec<Identifier> = req
            .identifiers
            .iter()
            .map(|i| Identifier {
                value: i.value.clone(),
                authority: i.authority.clone(),
                id_type: i.id_type.clone(),
            })
            .collect();
        let linked = tx
            .linked_patients(submitter.organization_id, &identifiers)
            .await?;
        let who = demographics_of(req);
        let (found, mut candidates): (Option<i64>, Vec<i64>) = if linked.len() == 1 {
            (Some(linked[0].id), Vec::new())
        } else {
            let pool = tx.candidates(&who, 100).await?;
            let mut matches = Vec::new();
            let mut possible: Vec<i64> = linked.iter().map(|p| p.id).collect();
            for person in &pool {
                match identity::judge(&who, &person.demographics).verdict {
                    Verdict::Match => matches.push(person.id),
                    Verdict::Possible => possible.push(person.id),
                    Verdict::NoMatch => {}
                }
            }
            if matches.len() == 1 && linked.is_empty() {
                (Some(matches[0]), Vec::new())
            } else {
                matches.extend(possible);
                (None, matches)
            }
        };

        let policy = self.config.consent.policy;
        let shareable = |status: Status| match policy {
            Policy::OptOut => status.shareable(),
            Policy::OptIn => status == Status::Consented,
        };
        let codes = CodeSets::active();
        if let Some(id) = found {
            let Some(patient) = tx.patient(id).await? else {
                return Ok(QueryOutcome::NotFound);
            };
            if !shareable(patient.consent) {
                return Ok(match policy {
                    Policy::OptOut => QueryOutcome::Protected,
                    Policy::OptIn => QueryOutcome::NotFound,
                });
            }
            let (events, observations) = tx.history(patient.id).await?;
            let mut doses: Vec<DoseView> = events.iter().map(|e| dose_view(e, codes)).collect();
            let (others, immunity) = other_records(&observations);
            doses.extend(others);
            doses.sort_by(|a, b| a.administered_on.cmp(&b.administered_on));
            returned.push((patient.id, "Z32"));
            return Ok(QueryOutcome::Found {
                patient: Box::new(patient_view(&patient)),
                doses,
                immunity,
            });
        }

        candidates.sort_unstable();
        candidates.dedup();
        if candidates.len() > req.max_candidates as usize {
            return Ok(QueryOutcome::TooMany);
        }
        // Z44 asks for one evaluated history; a list of candidates is not an answer to it.
        if candidates.is_empty() || req.profile == QueryProfile::Z44 {
            return Ok(QueryOutcome::NotFound);
        }
        let mut views = Vec::new();
        for id in candidates {
            if let Some(p) = tx.patient(id).await? {
                if shareable(p.consent) {
                    returned.push((p.id, "Z31 candidate"));
                    views.push(patient_view(&p));
                }
            }
        }
        Ok(if views.is_empty() {
            QueryOutcome::NotFound
        } else {
            QueryOutcome::Candidates(views)
        })
    }
}
