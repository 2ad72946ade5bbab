//! Answering QBP^Q11 history queries (Z34 and Z44) with RSP^K11.
//!
//! The same matcher as for VXU ([`matching::find`]): one record → Z32 with the consolidated
//! history (a Z44: Z42, the history evaluated and a forecast, see [`super::forecast`]); otherwise the records it names, within RCP-2 → Z31 (Z34 only); more → Z33 TM; none
//! → Z33 NF; a record whose consent does not allow sharing → Z33 PD (opt-out) or NF (opt-in).
//! Every query is logged with its exact response, and every patient it returned is recorded in
//! the query audit.

use crate::hl7::{AckContext, Message};

use super::apply::Incoming;
use super::codes::CodeSets;
use super::consent::{may_share, Policy};
use super::finding::Finding;
use super::forecast;
use super::history::{consolidate, ConsolidatedDose, StoredObservation};
use super::identity::Demographics;
use super::matching::{self, Match};
use super::model::{Identifier, ObservationKind};
use super::port::{RegistryError, RegistryTx, StoredPatient};
use super::query::{
    build_rsp, AddressView, CodedValue, DoseKind, DoseView, ImmunityView, PatientId, PatientView,
    PhoneView, QueryEcho, QueryOutcome, QueryProfile, QueryRequest, RspParams,
};
use super::response::{QueryReport, Response};

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
        birth_date: r.birth_date.to_string(),
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
        protection_date: r.protection_date.map(|d| d.to_string()),
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
        administered_on: d.administered_on.to_string(),
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
            .map(|d| d.to_string()),
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
        let refusal = o.kind == ObservationKind::Refusal;
        match o.kind {
            ObservationKind::Immunity => immunity.push(ImmunityView {
                snomed_code: o.code.clone(),
                text: o.code_text.clone().unwrap_or_default(),
                date: o.observed_on.to_string(),
            }),
            ObservationKind::Refusal | ObservationKind::NotAdministered => doses.push(DoseView {
                kind: if refusal {
                    DoseKind::Refusal
                } else {
                    DoseKind::NotAdministered
                },
                registry_dose_id: format!("O{n}"),
                administered_on: o.observed_on.to_string(),
                cvx: o.code.clone(),
                cvx_text: o.code_text.clone().unwrap_or_default(),
                completion_status: Some(if refusal { "RE" } else { "NA" }.into()),
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
        req.birth_date,
        req.sex.as_deref(),
        req.mother_maiden_family.as_deref(),
        phone.as_deref(),
        req.address.as_ref().map(|a| a.zip.as_str()),
        req.address.as_ref().map(|a| a.street.as_str()),
        req.multiple_birth,
        req.birth_order,
    )
}

/// A query's second phase (see [`super::Prepared::apply`]): matches, loads what the answer
/// shows, writes the RSP to the message log and the query audit.
pub(super) async fn answer<Tx: RegistryTx>(
    incoming: Incoming,
    request: Result<QueryRequest, Vec<Finding>>,
    tx: &mut Tx,
) -> Result<Response, RegistryError> {
    let mut returned: Vec<(i64, &'static str)> = Vec::new();
    let (echo, outcome, warnings) = match request {
        Err(findings) => {
            let Ok(msg) = Message::parse(&incoming.raw) else {
                return Err(RegistryError::Unreadable);
            };
            (
                QueryEcho::from_message(&msg),
                QueryOutcome::Rejected(findings),
                Vec::new(),
            )
        }
        Ok(req) => {
            let outcome = find(tx, &incoming, &req, &mut returned).await?;
            let echo = QueryEcho::from(&req);
            (echo, outcome, req.warnings)
        }
    };

    let reply = incoming.reply();
    let identity = &incoming.config().identity;
    let params = RspParams {
        ack: reply.params(identity),
        assigning_authority: &identity.application,
    };
    let hl7 = {
        let Ok(msg) = Message::parse(&incoming.raw) else {
            return Err(RegistryError::Unreadable);
        };
        build_rsp(
            &AckContext::from_message(&msg),
            &echo,
            &outcome,
            &warnings,
            &params,
        )
    };
    let ack = outcome.ack_code();
    let status = outcome.status();
    // The findings as the RSP's ERR segments report them.
    let mut findings = match outcome {
        QueryOutcome::Rejected(rejected) => rejected,
        _ => Vec::new(),
    };
    findings.extend(warnings);
    let message_id = tx
        .log_query(
            &incoming.log_entry(ack, &hl7, &findings, reply.at),
            &returned,
        )
        .await?;
    let mut response = Response::bare(hl7, ack);
    response.message_id = Some(message_id);
    response.patient_id = returned.first().map(|(id, _)| *id);
    response.findings = findings;
    response.query = Some(QueryReport {
        profile: echo.profile,
        status,
        returned: returned.len(),
    });
    Ok(response)
}

/// Matches the query and loads what the answer shows; `returned` collects who is shown.
async fn find<Tx: RegistryTx>(
    tx: &mut Tx,
    incoming: &Incoming,
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
    let org = incoming.submitter.organization_id;
    let found = matching::find(tx, org, &identifiers, &demographics_of(req)).await?;

    let policy = incoming.config().consent.policy;
    let codes = CodeSets::active();
    if let Match::One { person, .. } = &found {
        let Some(patient) = tx.patient(person.id).await? else {
            return Ok(QueryOutcome::NotFound);
        };
        if !may_share(policy, patient.consent) {
            return Ok(match policy {
                Policy::OptOut => QueryOutcome::Protected,
                Policy::OptIn => QueryOutcome::NotFound,
            });
        }
        let (reports, observations) = tx.history(patient.id).await?;
        let events = consolidate(reports);
        let mut doses: Vec<DoseView> = events.iter().map(|e| dose_view(e, codes)).collect();
        let forecast = if req.profile == QueryProfile::Z44 {
            let core = &incoming.core;
            let evaluated = forecast::evaluate(
                &core.schedule,
                patient.record.birth_date,
                patient.record.sex.as_deref(),
                &events,
                &observations,
                core.clock.today_utc(),
            );
            for (dose, evaluation) in doses.iter_mut().zip(evaluated.doses) {
                dose.evaluation = evaluation;
            }
            Some(evaluated.forecast)
        } else {
            None
        };
        let (others, immunity) = other_records(&observations);
        doses.extend(others);
        doses.sort_by(|a, b| a.administered_on.cmp(&b.administered_on));
        returned.push((patient.id, if forecast.is_some() { "Z42" } else { "Z32" }));
        return Ok(QueryOutcome::Found {
            patient: Box::new(patient_view(&patient)),
            doses,
            immunity,
            forecast,
        });
    }

    let mut candidates = found.ids();
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
            if may_share(policy, p.consent) {
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
