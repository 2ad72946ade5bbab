//! Every message of the shared corpus through submitSingleMessage, one registry for all, in
//! file-name order: a SOAP response or fault each time, never a panic, hang or empty body; every
//! HL7 response is read back (by [`crate::text`], not the codec under test), echoes the
//! request's MSH-10, and has the MSA-1 that [`EXPECTED`] gives that file, with the reason.
//!
//! The corpus's PROVENANCE.txt says which files are deliberately or actually non-conformant
//! (names with BAD, AE, AR or v2.8, and the state ACKs); the reasons below say where that
//! matters. Only VXUs and QBPs are messages this service takes; every other kind is refused
//! with AR and ERR-3 200 (HL7 table 0357: unsupported message type), as CDC IG 1.5 has an IIS
//! answer a message it does not support.

use crate::common::*;
use crate::inputs::{corpus_dir, corpus_files, file_name, read};
use crate::text::Hl7;

/// What a corpus file must get.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// An HL7 response with this MSA-1; and, when given, an ERR with this ERR-3.1.
    Msa(&'static str, Option<&'static str>),
    /// A SOAP fault with this fault element (the CDC WSDL's faults).
    Fault(&'static str),
}

use Answer::{Fault, Msa};

const AA: Answer = Msa("AA", None);
/// Not a message type this service takes (HL7 0357 code 200).
const UNSUPPORTED: Answer = Msa("AR", Some("200"));

/// Every corpus file, its expected answer, and why (one line each).
#[rustfmt::skip]
const EXPECTED: &[(&str, Answer, &str)] = &[
    ("aira_vxu_multi_rxa.hl7", AA, "AIRA's test VXU: MSH-15/16/21 and NK1 missing are warnings, no error"),
    ("cdc_vxu_adjuvant_801.hl7", AA, "CDC's adjuvant example; the manufacturer and VIS mismatches are warnings"),
    ("cerner_vxu_admin_adult_ssn.hl7", AA, "Cerner's certified adult administration; no time zone in MSH-7 is a warning"),
    ("cerner_vxu_admin_child.hl7", AA, "Cerner's certified NIST 2014 child administration"),
    ("cerner_vxu_complete_record_combo.hl7", AA, "Cerner's certified complete record (combination vaccine, three VIS groups)"),
    ("cerner_vxu_historical_child.hl7", AA, "Cerner's certified historical dose; a VIS on a historical dose is no error"),
    ("cerner_vxu_refusal_RE.hl7", AA, "Cerner's certified refusal: ORC-3 9999, RXA-18 with RXA-20 RE, as IG 1.5 asks"),
    ("cerner_vxu_varicella_history_998.hl7", AA, "Cerner's certified disease history: CVX 998 with NA and OBX 59784-9, as IG 1.5 asks"),
    ("cni_rsp_z42_juana_maria.hl7", UNSUPPORTED, "an RSP, which an IIS answers, not receives"),
    ("cni_vxu_mariela_6rxa.hl7", AA, "NIST's CNI transmit step; doses dated after MSH-7 and an expired lot are warnings"),
    ("dvci_rsp_z31_iis_sandbox_BAD_amp.hl7", UNSUPPORTED, "an RSP (deliberately broken MSH-2 as well)"),
    ("dvci_rsp_z32_iis_sandbox.hl7", UNSUPPORTED, "an RSP"),
    ("dvci_rsp_z33_NF_iis_sandbox.hl7", UNSUPPORTED, "an RSP"),
    ("dvci_vxu_aira_mmrv.hl7", AA, "AIRA's clean MMRV example"),
    ("epic_vxu_many_historical_cpt.hl7", AA, "Epic's certified history; a CVX/CPT conflict in RXA-5 is a warning (CVX wins)"),
    ("fhirconv_vxu_nist_2014_child_max_bom.hl7", AA, "NIST 2014 Admin Child Max behind a UTF-8 BOM; no MSH-21 is a warning"),
    ("fhirconv_vxu_nist_ad2.1_bom.hl7", AA, "NIST IZ-AD-2.1 behind a BOM with LF endings"),
    ("fhirconv_vxu_v2.8_not_2.5.1.hl7", Msa("AR", Some("203")), "deliberately v2.8: IG 1.5 requires MSH-12 2.5.1 (NIST IZ-15), HL7 0357 code 203"),
    ("ihs_2013_vxu_disease_history_59784-9.hl7", AA, "IHS disease-history report (CVX 998, OBX 59784-9)"),
    ("ihs_2014_vxu_historical_flu.hl7", AA, "IHS historical flu; the unknown site LI and missing NK1 name are warnings"),
    ("ihs_2014_vxu_two_messages_in_one.hl7", Fault("MessageTooLargeFault"), "two VXUs in one call: the CDC WSDL's fault for more than one message"),
    ("izgw_rsp_z32_ERR_W_pd1-16.hl7", UNSUPPORTED, "an RSP"),
    ("mcir_dqa_ack_AA_with_W.hl7", UNSUPPORTED, "an ACK"),
    ("mdtimeline_qbp_BAD_segment_QBP_not_QPD.hl7", Msa("AR", Some("100")), "deliberately broken QBP: no QPD segment (HL7 0357 code 100, segment sequence)"),
    ("mqe_vxu_BAD_lot_mvx_mismatch.hl7", AA, "MQE's negative example: lot format, PMC for a Merck vaccine and a missing lot are data-quality warnings, MSH-11 T"),
    ("mqe_vxu_cair_style.hl7", AA, "CAIR-style VXU; a test-like first name and a VIS without its date are warnings"),
    ("mqe_vxu_mcir_nonstandard.hl7", AA, "MCIR-style VXU; legacy HL70162 route, RXA-2 999, OBX-11 not F are warnings"),
    ("nist_cf_ack_z23_AA.hl7", UNSUPPORTED, "an ACK"),
    ("nist_cf_qbp_z34.hl7", AA, "NIST's Z34 query, answered with an RSP"),
    ("nist_cf_qbp_z44.hl7", AA, "NIST's Z44 query, answered with an RSP"),
    ("nist_cf_rsp_z31_candidates.hl7", UNSUPPORTED, "an RSP"),
    ("nist_cf_rsp_z32_found.hl7", UNSUPPORTED, "an RSP"),
    ("nist_cf_rsp_z33_TM.hl7", UNSUPPORTED, "an RSP"),
    ("nist_cf_rsp_z42_minimal.hl7", UNSUPPORTED, "an RSP"),
    ("nist_cf_vxu_z22_ndc.hl7", AA, "NIST's canonical Z22 VXU (NDC, VFC V05, VIS by vaccine type)"),
    ("onc2015_qr1_qbp_z44.hl7", AA, "ONC 2015 QR-1 query, answered with an RSP"),
    ("onc2015_qr1_rsp_z42_evaluated_forecast.hl7", UNSUPPORTED, "an RSP"),
    ("onc2015_qr2_qbp_z44_no_rcp2.hl7", AA, "ONC 2015 QR-2 query; RCP-2 missing is a warning (default 10 candidates)"),
    ("onc2015_qr2_rsp_z42_adult.hl7", UNSUPPORTED, "an RSP"),
    ("onc2015_qr3_qbp_z44_nomatch.hl7", AA, "ONC 2015 QR-3 query, answered with an RSP"),
    ("onc2015_qr3_rsp_z33_NF.hl7", UNSUPPORTED, "an RSP"),
    ("onc2015_qr4_qbp_z44_toomany.hl7", AA, "ONC 2015 QR-4 query, answered with an RSP"),
    ("onc2015_qr4_rsp_z33_TM.hl7", UNSUPPORTED, "an RSP"),
    ("onc2015_tc01_ack_AA.hl7", UNSUPPORTED, "an ACK"),
    ("onc2015_tc01_vxu_infant_4rxa_ndc.hl7", AA, "ONC 2015 TC-1, NIST expects AA (conformance.rs compares the whole ACK)"),
    ("onc2015_tc02_vxu_adult_td_plus_2_historical.hl7", AA, "ONC 2015 TC-2, a valid adult record"),
    ("onc2015_tc04_vxu_action_D_delete.hl7", AA, "ONC 2015 TC-4: a delete (RXA-21 D) is a valid action"),
    ("onc2015_tc05_vxu_twin_partial_PA.hl7", AA, "ONC 2015 TC-5: a twin and a partial dose (RXA-20 PA) are valid"),
    ("onc2015_tc06_vxu_3_doses_plus_refusal.hl7", AA, "ONC 2015 TC-6: three doses and a refusal, all valid"),
    ("onc2015_tc07_vxu_action_U_update.hl7", AA, "ONC 2015 TC-7: an update (RXA-21 U); TC-6's reused MSH-10 is a warning"),
    ("onc2015_tc08_ack_AE_vaccine_code_E.hl7", UNSUPPORTED, "an ACK"),
    ("onc2015_tc08_vxu_historical_zoster.hl7", AA, "ONC 2015 TC-8: CVX 121 was valid in 2015 (disagreement with NIST in conformance.rs)"),
    ("onc2015_tc09_ack_AE_site_W.hl7", UNSUPPORTED, "an ACK"),
    ("onc2015_tc09_vxu_infant_hepb.hl7", AA, "ONC 2015 TC-9: LT is an HL7 0163 site (disagreement with NIST in conformance.rs)"),
    ("onc2015_tc10_ack_AE_two_W.hl7", UNSUPPORTED, "an ACK"),
    ("onc2015_tc10_vxu_two_doses_multi_vis.hl7", AA, "ONC 2015 TC-10: RD and LD are HL7 0163 sites (disagreement in conformance.rs)"),
    ("onc2015_tc11_ack_AR_203_version.hl7", UNSUPPORTED, "an ACK"),
    ("onc2015_tc11_vxu_historical_pcv.hl7", AA, "ONC 2015 TC-11 as stored: MSH-12 is 2.5.1 (disagreement in conformance.rs)"),
    ("state_ak_rsp_z42_stc_status.hl7", UNSUPPORTED, "an RSP"),
    ("state_al_ack_AE_symphonia.hl7", UNSUPPORTED, "an ACK (deliberately non-conformant)"),
    ("state_al_rsp_z42_ndc.hl7", UNSUPPORTED, "an RSP"),
    ("state_al_vxu_ndc_multi.hl7", AA, "Alabama stored this VXU (its Z42 answer is state_al_rsp_z42_ndc)"),
    ("state_ca_ack_AE_cvx998.hl7", UNSUPPORTED, "an ACK (deliberately non-conformant)"),
    ("state_ca_rsp_z32.hl7", UNSUPPORTED, "an RSP"),
    ("state_co_ack_AA_minimal.hl7", UNSUPPORTED, "an ACK (deliberately non-conformant)"),
    ("state_de_rsp_z32_forecast_30979-9.hl7", UNSUPPORTED, "an RSP"),
    ("state_il_ack_AR_invalid_dob.hl7", UNSUPPORTED, "an ACK (deliberately non-conformant)"),
    ("state_md_rsp_z42_loinc_status.hl7", UNSUPPORTED, "an RSP"),
    ("state_mi_mcir_rsp.hl7", UNSUPPORTED, "an RSP"),
    ("state_mn_rsp_batch_fhs.hl7", Msa("AR", Some("100")), "a batch (FHS first): not one message starting with MSH (HL7 0357 code 100)"),
    ("state_nd_rsp_BAD_profile_CDCPHHINVS.hl7", UNSUPPORTED, "an RSP (deliberately misspelled profile as well)"),
    ("state_nm_ack_batch_fhs_multi_msa.hl7", Msa("AR", Some("100")), "a batch ACK (FHS first): not one message starting with MSH"),
    ("state_nyc_cir_rsp.hl7", UNSUPPORTED, "an RSP"),
    ("state_or_ack_AE_W_errors.hl7", UNSUPPORTED, "an ACK (deliberately non-conformant)"),
    ("state_pa_ack_AE_207.hl7", UNSUPPORTED, "an ACK (deliberately non-conformant)"),
    ("state_va_rsp_MSA_AE.hl7", UNSUPPORTED, "an RSP"),
    ("state_wi_ack_AE_three_W.hl7", UNSUPPORTED, "an ACK (deliberately non-conformant)"),
    ("state_wi_rsp_z42_MSA_AE.hl7", UNSUPPORTED, "an RSP"),
];

/// MSH-10 of the first MSH in a raw file.
fn control_id(raw: &str) -> Option<String> {
    let value = Hl7::read(raw).field("MSH", 10).trim().to_string();
    (!value.is_empty()).then_some(value)
}

#[tokio::test]
#[ignore = "needs IZPORT_CORPUS_DIR: the shared HL7 corpus"]
async fn every_corpus_message_gets_its_expected_answer() {
    let dir = corpus_dir();
    let files: Vec<String> = corpus_files().iter().map(|p| file_name(p)).collect();
    let listed: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    assert_eq!(
        files, listed,
        "the corpus and this test's table list different files"
    );
    let app = spawn_app().await;
    let mut failures = Vec::new();
    for &(name, expected, why) in EXPECTED {
        assert!(why.len() > 5, "{name}: give the reason");
        let raw = read(&dir.join(name));
        let (status, body) = app
            .soap12(&submit_envelope(USER, PASSWORD, FACILITY, &raw))
            .await;
        assert!(!body.is_empty(), "{name}: empty body");
        let got = if status == 200 {
            let hl7 = return_text(&body).unwrap_or_else(|| panic!("{name}: no return element"));
            let response = Hl7::read(&hl7);
            let msa1 = response.component("MSA", 1, 1);
            let codes: Vec<String> = response
                .all("ERR")
                .iter()
                .map(|e| e.component(3, 1))
                .collect();
            if let Some(id) = control_id(&raw) {
                assert_eq!(
                    response.component("MSA", 2, 1),
                    id,
                    "{name}: MSA-2 must echo MSH-10"
                );
            }
            match expected {
                Msa(want, code) if msa1 == want => match code {
                    Some(code) if !codes.iter().any(|c| c == code) => {
                        format!("MSA-1 {msa1} without an ERR-3 {code} (ERR-3: {codes:?})")
                    }
                    _ => continue,
                },
                _ => format!("MSA-1 {msa1:?}, ERR-3 {codes:?}"),
            }
        } else {
            let fault = [
                "MessageTooLargeFault",
                "SecurityFault",
                "UnsupportedOperationFault",
                "fault",
            ]
            .into_iter()
            .find(|f| body.contains(f))
            .unwrap_or("no fault");
            match expected {
                Fault(want) if fault == want => continue,
                _ => format!("HTTP {status} with {fault}"),
            }
        };
        failures.push(format!("{name}: expected {expected:?} ({why}); got {got}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
