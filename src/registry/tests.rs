//! The registry without a database or HTTP: the first phase of a message ([`Prepared::new`]) on
//! a fixed receipt time, and a VXU's patient decision ([`plan_patient`]) on hand-made matches.
//! The second phase over a real store is tested in `src/store/registry_tests.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::civil::date;
use jiff::Timestamp;

use super::apply::{plan_patient, PatientPlan, Prepared};
use super::consent::{ConsentConfig, Policy, Status};
use super::finding::{ack_code, Finding};
use super::identity::Demographics;
use super::matching::{Match, MatchedBy};
use super::model::{PatientChanges, Submitter};
use super::port::StoredPerson;
use super::vxu;
use super::{Core, RegistryConfig};
use crate::clock::{ManualClock, SequentialIds};
use crate::hl7::{AckCode, Message};
use crate::registry::codes::CodeSets;

/// A VXU from the test clinic: one administered hepatitis B dose (lot, MVX, VFC eligibility)
/// for a child born 2023-03-02. `{MSH-11}`, `{PD1}` and `{RXA-3}` are filled in by [`vxu`].
pub(crate) const VXU: &str = "MSH|^~\\&|TESTEHR|FAC01|IZPORT|IZPORT|20240515093012-0500||VXU^V04^VXU_V04|{CONTROL}|{MSH-11}|2.5.1|||ER|AL|||||Z22^CDCPHINVS\r\
PID|1||{MRN}^^^TESTEHR^MR||Tester^Tina^^^^^L|Maiden^^^^^^M|20230302|F|||12 Elm St^^Springfield^IL^62701^USA^P||^PRN^PH^^^217^5550100\r\
{PD1}\
NK1|1|Tester^Tom^^^^^L|FTH^Father^HL70063\r\
ORC|RE||DOSE-{CONTROL}^TESTEHR\r\
RXA|0|1|{RXA-3}||08^Hep B, adolescent or pediatric^CVX|0.5|mL^milliliters^UCUM||00^New immunization record^NIP001||||||LOT1|20250810|MSD^Merck and Co., Inc.^MVX|||CP|A\r\
RXR|C28161^Intramuscular^NCIT|RT^Right Thigh^HL70163\r\
OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid/Medicaid Managed Care^HL70064||||||F|||20240514|||VXC40^Eligibility captured at the immunization level^CDCPHINVS\r";

/// A Z34 for the child of [`VXU`] (QPD-3 `{MRN}`, name and birth date).
pub(crate) const Z34: &str = "MSH|^~\\&|TESTEHR|FAC01|IZPORT|IZPORT|20240601093012-0500||QBP^Q11^QBP_Q11|{CONTROL}|{MSH-11}|2.5.1|||ER|AL|||||Z34^CDCPHINVS\r\
QPD|Z34^Request Immunization History^CDCPHINVS|TAG-{CONTROL}|{MRN}^^^TESTEHR^MR|{FAMILY}^{GIVEN}^^^^^L||{DOB}|F\r\
RCP|I|5^RD&records&HL70126\r";

/// The VXU with its blanks filled: control id, MRN, processing id P, no PD1, dose on
/// 2024-05-14.
pub(crate) fn vxu(control: &str, mrn: &str) -> String {
    VXU.replace("{CONTROL}", control)
        .replace("{MRN}", mrn)
        .replace("{MSH-11}", "P")
        .replace("{PD1}", "")
        .replace("{RXA-3}", "20240514")
}

/// The Z34 with its blanks filled (processing id P).
pub(crate) fn z34(control: &str, mrn: &str, family: &str, given: &str, dob: &str) -> String {
    Z34.replace("{CONTROL}", control)
        .replace("{MRN}", mrn)
        .replace("{MSH-11}", "P")
        .replace("{FAMILY}", family)
        .replace("{GIVEN}", given)
        .replace("{DOB}", dob)
}

/// Noon UTC on 1 June 2024, the receipt time the tests use.
pub(crate) fn june_first() -> Timestamp {
    "2024-06-01T12:00:00Z".parse().expect("timestamp")
}

pub(crate) fn submitter(production: bool) -> Submitter {
    Submitter {
        organization_id: 1,
        organization_code: "CLINIC1".into(),
        user_id: 1,
        facility_code: "FAC01".into(),
        production,
    }
}

fn core(config: RegistryConfig) -> Arc<Core> {
    Arc::new(Core {
        schedule: super::forecast::Schedule::builtin().expect("the built-in schedule"),
        config,
        clock: Arc::new(ManualClock::new(june_first())),
        ids: Arc::new(SequentialIds::new("T-")),
    })
}

fn prepare(text: &str, production: bool, received_at: Timestamp) -> Prepared {
    Prepared::new(
        core(RegistryConfig::default()),
        &submitter(production),
        text,
        received_at,
        HashMap::new(),
    )
}

fn rules(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.rule).collect()
}

fn errors(findings: &[Finding]) -> Vec<&'static str> {
    findings
        .iter()
        .filter(|f| f.is_error())
        .map(|f| f.rule)
        .collect()
}

#[test]
fn a_production_vxu_is_planned_before_any_transaction() {
    let p = prepare(&vxu("C-1", "MRN-1"), true, june_first());
    assert_eq!(p.resend_key().map(|(c, _)| c), Some("C-1"));
    assert!(!p.is_query() && p.answer().is_none());
    let (findings, changes) = p.vxu_plan().expect("a VXU");
    assert_eq!(ack_code(findings), AckCode::AA, "{findings:#?}");
    let changes = changes.expect("kept");
    assert_eq!(changes.patient.birth_date, date(2023, 3, 2));
    assert_eq!(changes.doses.len(), 1);
    assert_eq!(changes.doses[0].administered_on, date(2024, 5, 14));
    assert_eq!(changes.identifiers[0].value, "MRN-1");
}

#[test]
fn test_messages_are_judged_but_plan_nothing() {
    let text = vxu("C-2", "MRN-2").replace("|P|2.5.1|", "|T|2.5.1|");
    let p = prepare(&text, false, june_first());
    let (findings, changes) = p.vxu_plan().expect("a VXU");
    assert_eq!(ack_code(findings), AckCode::AA);
    assert!(changes.is_none(), "a test message is never stored");
}

#[test]
fn an_onboarding_organization_gets_ar_for_production_data_of_either_kind() {
    let p = prepare(&vxu("C-3", "MRN-3"), false, june_first());
    let (findings, changes) = p.vxu_plan().expect("a VXU");
    assert_eq!(errors(findings), ["ORG-not-in-production"]);
    assert_eq!(ack_code(findings), AckCode::AR);
    assert!(changes.is_none());

    let q = prepare(
        &z34("Q-1", "MRN-3", "Tester", "Tina", "20230302"),
        false,
        june_first(),
    );
    assert!(q.is_query() && q.resend_key().is_none());
    let refused = q.query_plan().expect("a query").expect_err("refused");
    assert_eq!(rules(refused), ["ORG-not-in-production"]);
}

#[test]
fn today_is_the_day_the_message_was_received() {
    // A dose given on 3 June is in the future for a message received on 1 June (the day after
    // "today" is still allowed for time zones) ...
    let text = vxu("C-4", "MRN-4").replace("|20240514||08^", "|20240603||08^");
    let p = prepare(&text, true, june_first());
    let (findings, _) = p.vxu_plan().expect("a VXU");
    assert!(rules(findings).contains(&"RXA-3-future"), "{findings:#?}");
    // ... but not for the same message received (say, in a file) on 3 June.
    let later: Timestamp = "2024-06-03T08:00:00Z".parse().expect("timestamp");
    let p = prepare(&text, true, later);
    let (findings, changes) = p.vxu_plan().expect("a VXU");
    assert!(!rules(findings).contains(&"RXA-3-future"), "{findings:#?}");
    assert_eq!(
        changes.expect("kept").doses[0].administered_on,
        date(2024, 6, 3)
    );
}

#[test]
fn text_that_is_not_hl7_is_refused_whole() {
    let p = prepare("PID|1||no header", true, june_first());
    let (findings, changes) = p.vxu_plan().expect("answered as a VXU would be");
    assert_eq!(rules(findings), ["HL7-unreadable"]);
    assert_eq!(ack_code(findings), AckCode::AR);
    assert!(changes.is_none());
}

// ---- a VXU's patient: matching result × consent policy ---------------------------------------

fn changes(pd1_12: Option<&str>, disaster: bool) -> PatientChanges {
    let mut text = vxu("C-9", "MRN-9");
    if let Some(flag) = pd1_12 {
        text = text.replace("NK1|", &format!("PD1||||||||||||{flag}|20240501\rNK1|"));
    }
    let msg = Message::parse(&text).expect("hl7");
    let mut findings = Vec::new();
    let mut planned = vxu::extract(&msg, CodeSets::builtin(), &mut findings).expect("planned");
    planned.doses[0].disaster_indicated = disaster;
    planned
}

fn stored(id: i64, consent: Status) -> StoredPerson {
    StoredPerson {
        id,
        demographics: Demographics::sketch("Tester", "Tina", date(2023, 3, 2)),
        consent,
    }
}

fn config(policy: Policy) -> RegistryConfig {
    RegistryConfig {
        consent: ConsentConfig {
            policy,
            ..ConsentConfig::default()
        },
        ..RegistryConfig::default()
    }
}

fn nobody() -> Match {
    Match::Unsure {
        possible: Vec::new(),
    }
}

/// The patient decision on 1 June 2024 under `policy`: the plan (`None`: rejected) and the
/// findings it added.
fn plan(
    policy: Policy,
    planned: PatientChanges,
    found: Match,
) -> (Option<PatientPlan>, Vec<Finding>) {
    let mut findings = Vec::new();
    let plan = plan_patient(
        &config(policy),
        planned,
        found,
        date(2024, 6, 1),
        &mut findings,
    );
    (plan, findings)
}

#[test]
fn opt_out_keeps_a_new_patient_and_records_protection() {
    let (plan, findings) = plan(Policy::OptOut, changes(Some("Y"), false), nobody());
    let plan = plan.expect("kept");
    assert!(findings.is_empty());
    assert!(plan.existing.is_none());
    assert_eq!(plan.consent, Some((Status::Protected, date(2024, 5, 1))));
    assert_eq!(plan.changes.doses.len(), 1);
}

#[test]
fn opt_in_rejects_a_new_patient_without_consent() {
    let (plan, findings) = plan(Policy::OptIn, changes(None, false), nobody());
    assert!(plan.is_none());
    assert_eq!(rules(&findings), ["CONSENT-missing"]);
    assert_eq!(ack_code(&findings), AckCode::AE);
}

#[test]
fn opt_in_keeps_a_patient_with_consent_on_file_or_affirmed() {
    let on_file = Match::One {
        person: stored(4, Status::Consented),
        by: MatchedBy::Identifier,
    };
    let (kept, findings) = plan(Policy::OptIn, changes(None, false), on_file);
    let kept = kept.expect("kept");
    assert!(findings.is_empty());
    assert_eq!(
        kept.existing.map(|(p, by)| (p.id, by)),
        Some((4, MatchedBy::Identifier))
    );
    assert_eq!(kept.consent, None, "what is on file stands");

    let (affirmed, _) = plan(Policy::OptIn, changes(Some("N"), false), nobody());
    assert_eq!(
        affirmed.expect("kept").consent,
        Some((Status::Consented, date(2024, 5, 1)))
    );
}

#[test]
fn opt_in_without_consent_keeps_only_disaster_doses() {
    let mut planned = changes(None, true);
    let mut routine = planned.doses[0].clone();
    routine.disaster_indicated = false;
    routine.filler_order_id = "ROUTINE".into();
    planned.doses.push(routine);
    let (kept, findings) = plan(Policy::OptIn, planned, nobody());
    let kept = kept.expect("the patient is kept with the disaster dose");
    assert_eq!(kept.changes.doses.len(), 1);
    assert!(kept.changes.doses[0].disaster_indicated);
    assert_eq!(rules(&findings), ["CONSENT-disaster-only"]);
}

#[test]
fn several_linked_records_write_to_the_first_and_list_the_others() {
    let found = Match::Several {
        first: stored(3, Status::None),
        others: vec![stored(8, Status::None)],
    };
    let (kept, _) = plan(Policy::OptOut, changes(None, false), found);
    let kept = kept.expect("kept");
    assert_eq!(kept.existing.map(|(p, _)| p.id), Some(3));
    assert_eq!(kept.reviews.len(), 1);
    assert_eq!(kept.reviews[0].0, 8);
}

#[test]
fn a_prepared_message_can_cross_threads_and_outlive_its_caller() {
    fn owned_and_sendable<T: Send + 'static>(_: &T) {}
    owned_and_sendable(&prepare(&vxu("C-20", "MRN-20"), true, june_first()));
}
