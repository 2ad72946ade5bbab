//! Tests of the code sets. Those that read CDC's files are ignored with the reason "needs
//! IZPORT_CODES_DIR" and run with `--ignored` when `IZPORT_CODES_DIR` points at a directory of
//! them (the shared reference folder); run without it, they fail saying so.
//!
//! Regenerate the shipped tables with (a manual step, never run by CI):
//! `IZPORT_CODES_DIR=/path/to/codes cargo test generate_builtin_tables -- --ignored`

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jiff::civil::date;
use proptest::prelude::*;

use super::cdc::{self, parse_xml};
use super::*;

// ---------------------------------------------------------------------------------------------
// Small fixtures in CDC's formats (written for these tests).

const CVX_XML: &str = r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<CVXCodes>
  <CVXInfo>
    <ShortDescription>Hep B, adolescent or pediatric</ShortDescription>
    <FullVaccinename>hepatitis B vaccine, pediatric or pediatric/adolescent dosage</FullVaccinename>
    <CVXCode>08        </CVXCode>
    <Notes/>
    <Status>Active</Status>
    <LastUpdated>5/28/2010</LastUpdated>
  </CVXInfo>
  <CVXInfo>
    <ShortDescription>Hep B, unspecified formulation</ShortDescription>
    <FullVaccinename>hepatitis B vaccine, unspecified formulation</FullVaccinename>
    <CVXCode>45        </CVXCode>
    <Notes>For historical records &amp; cards</Notes>
    <Status>Inactive</Status>
    <LastUpdated>9/30/2010</LastUpdated>
  </CVXInfo>
  <CVXInfo>
    <ShortDescription>Td, Lf unspecified</ShortDescription>
    <FullVaccinename>tetanus and diphtheria toxoids, Lf unspecified</FullVaccinename>
    <CVXCode>196</CVXCode>
    <Status>Active</Status>
  </CVXInfo>
</CVXCodes>
"#;

const MVX_XML: &str = r#"<?xml version="1.0"?>
<MVXCodes>
  <MVXInfo>
    <Name>MVX_CODE</Name>
    <Value>MSD</Value>
    <Name>Manufacturer Name</Name>
    <Value>Merck and Co., Inc.</Value>
    <Name>Notes</Name>
    <Value/>
    <Name>Status</Name>
    <Value>Active</Value>
    <Name>Last Updated</Name>
    <Value>5/28/2010</Value>
  </MVXInfo>
</MVXCodes>
"#;

const VAC2VG_XML: &str = r#"<?xml version="1.0"?>
<VGCodes>
  <CVXVGInfo>
    <Name>ShortDescription</Name><Value>Hep B, adolescent or pediatric</Value>
    <Name>CVXCode</Name><Value>08        </Value>
    <Name>Status</Name><Value>Active</Value>
    <Name>Vaccine Group Name</Name><Value>HepB</Value>
    <Name>CVX for Vaccine Group</Name><Value>45</Value>
  </CVXVGInfo>
  <CVXVGInfo>
    <Name>ShortDescription</Name><Value>Hep B, unspecified formulation</Value>
    <Name>CVXCode</Name><Value>45        </Value>
    <Name>Status</Name><Value>Inactive</Value>
    <Name>Vaccine Group Name</Name><Value>HepB</Value>
    <Name>CVX for Vaccine Group</Name><Value>45</Value>
  </CVXVGInfo>
</VGCodes>
"#;

const CPT_XML: &str = r#"<?xml version="1.0"?>
<CPTCodes>
  <CPTInfo>
    <Name>CPT Code</Name><Value>90744     </Value>
    <Name>CPT Desc</Name><Value>Hepatitis B vaccine, pediatric/adolescent dosage</Value>
    <Name>Status</Name><Value/>
    <Name>Comments</Name><Value/>
    <Name>Vaccine Name</Name><Value>Hep B, adolescent or pediatric</Value>
    <Name>CVX Code</Name><Value>8         </Value>
    <Name>LastUpdated</Name><Value>6/13/2024</Value>
  </CPTInfo>
</CPTCodes>
"#;

const VIS_XML: &str = r#"<?xml version="1.0"?>
<VISLookup>
  <VISInfo>
    <VIS_Document_Type_Description>Hepatitis B Vaccine VIS</VIS_Document_Type_Description>
    <Edition_Date>5/12/2023</Edition_Date>
    <VIS_encoded_string>253088698300005011230512</VIS_encoded_string>
    <VIS_GDTI_document_code>0886983000050</VIS_GDTI_document_code>
    <status>Current</status>
    <Lastupdated>5/12/2023</Lastupdated>
  </VISInfo>
</VISLookup>
"#;

const CVXVIS_XML: &str = r#"<?xml version="1.0"?>
<CVXVIS>
  <CVXVISMapping>
    <CVXCode>08        </CVXCode>
    <CVXVaccineDescription>Hep B, adolescent or pediatric</CVXVaccineDescription>
    <Fully-encodedString>253088698300005011230512</Fully-encodedString>
    <VISDocumentName>Hepatitis B Vaccine VIS</VISDocumentName>
    <VISEditionDate>5/12/2023</VISEditionDate>
    <Status>Current</Status>
  </CVXVISMapping>
  <CVXVISMapping>
    <CVXCode>08        </CVXCode>
    <CVXVaccineDescription>Hep B, adolescent or pediatric</CVXVaccineDescription>
    <Fully-encodedString>253088698300005011120202</Fully-encodedString>
    <VISDocumentName>Hepatitis B VIS</VISDocumentName>
    <VISEditionDate>2/2/2012</VISEditionDate>
    <Status>Historic</Status>
  </CVXVISMapping>
</CVXVIS>
"#;

const NDC_USE: &str = "10|58160|820|43|ENGERIX-B|HEPATITIS B VACCINE|GSK|20070328||SYRINGE|00358160820436|08        |Hep B, adolescent or pediatric|False     |58160-0820-43|2023-02-01 00:00:00|00358160820436\r\n\
11|1234|5678|90|DEMO|DEMO VACCINE|Demo Labs|20200101|20201231|VIAL||45|Hep B, unspecified|True|01234-5678-90|2021-01-01 00:00:00|\r\n";

const NDC_SALE: &str = "20|58160|820|52|ENGERIX-B|HEPATITIS B VACCINE|GSK|20070328||CARTON|INTRAMUSCULAR|2017-12-07 00:00:00|08        |Hep B, adolescent or pediatric|58160-0820-52|\r\n\
21|1234|5678|90|DEMO|DEMO VACCINE|Demo Labs|20200101|20201231|VIAL|INTRAMUSCULAR|2021-01-01 00:00:00|45|Hep B, unspecified|01234-5678-90|\r\n";

const NDC_LINKER: &str = "1|20|10|SKB\r\n2|21|11|\r\n";

fn fixture_records() -> CdcRecords {
    CdcRecords {
        cvx: cdc::parse_cvx_xml(CVX_XML).expect("cvx fixture"),
        mvx: cdc::parse_mvx_xml(MVX_XML).expect("mvx fixture"),
        vac2vg: cdc::parse_vac2vg_xml(VAC2VG_XML).expect("vac2vg fixture"),
        cpt: cdc::parse_cpt_xml(CPT_XML).expect("cpt fixture"),
        ndc: NdcRecords {
            unit_of_use: cdc::parse_ndc_unit_of_use(NDC_USE).expect("use fixture"),
            unit_of_sale: cdc::parse_ndc_unit_of_sale(NDC_SALE).expect("sale fixture"),
            links: cdc::parse_ndc_linker(NDC_LINKER).expect("linker fixture"),
        },
        vis: cdc::parse_vis_xml(VIS_XML).expect("vis fixture"),
        cvx_vis: cdc::parse_cvxvis_xml(CVXVIS_XML).expect("cvxvis fixture"),
    }
}

fn tsv_tables<'a>(files: &'a [(&'static str, String)]) -> TsvTables<'a> {
    let get = |name: &str| {
        files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.as_str())
            .unwrap_or("")
    };
    TsvTables {
        cvx: get(TsvTables::CVX_FILE),
        vaccine_groups: get(TsvTables::VACCINE_GROUPS_FILE),
        mvx: get(TsvTables::MVX_FILE),
        ndc: get(TsvTables::NDC_FILE),
        cpt: get(TsvTables::CPT_FILE),
        vis: get(TsvTables::VIS_FILE),
        cvx_vis: get(TsvTables::CVX_VIS_FILE),
    }
}

// ---------------------------------------------------------------------------------------------
// Built-in tables

#[test]
fn builtin_tables_load() {
    let sets = CodeSets::from_tsv(&BUILTIN_TSV).expect("shipped data/codes/*.tsv must parse");
    assert!(sets.cvx_codes().count() > 200);
    assert!(sets.mvx_codes().count() > 50);
    assert!(sets.ndc_codes().count() > 500);
    assert!(sets.cpt_codes().count() > 100);
    assert!(sets.vis_documents().count() > 100);
    assert!(sets.vaccine_group_list().len() > 20);
    assert_eq!(&sets, CodeSets::builtin());
    for table in Table::ALL {
        assert!(!CodeSets::builtin().table(table).is_empty(), "{table:?}");
    }
}

#[test]
fn builtin_tsv_files_are_canonical() {
    // Writing the parsed tables gives back the shipped bytes: sorted, normalized, complete.
    let written = CodeSets::builtin().to_tsv();
    let shipped = [
        (TsvTables::CVX_FILE, BUILTIN_TSV.cvx),
        (TsvTables::VACCINE_GROUPS_FILE, BUILTIN_TSV.vaccine_groups),
        (TsvTables::MVX_FILE, BUILTIN_TSV.mvx),
        (TsvTables::NDC_FILE, BUILTIN_TSV.ndc),
        (TsvTables::CPT_FILE, BUILTIN_TSV.cpt),
        (TsvTables::VIS_FILE, BUILTIN_TSV.vis),
        (TsvTables::CVX_VIS_FILE, BUILTIN_TSV.cvx_vis),
    ];
    assert_eq!(written.len(), shipped.len());
    for ((name, text), (shipped_name, shipped_text)) in written.iter().zip(shipped) {
        assert_eq!(*name, shipped_name);
        assert!(
            text == shipped_text,
            "{name} differs from what the parser writes"
        );
    }
}

#[test]
fn well_known_cvx_codes() {
    let sets = CodeSets::builtin();
    let hepb = sets.cvx("08").expect("CVX 08");
    assert_eq!(hepb.code, "08");
    assert_eq!(hepb.short_name, "Hep B, adolescent or pediatric");
    assert_eq!(hepb.status, CodeStatus::Active);
    assert!(!hepb.non_specific);
    assert_eq!(sets.cvx("8"), Some(hepb));
    assert_eq!(sets.cvx(" 08 "), Some(hepb));
    assert_eq!(sets.cvx("008"), Some(hepb));
    assert!(sets
        .vaccine_groups("8")
        .iter()
        .any(|g| g.cvx == "45" && g.name == "HepB"));

    let none = sets.cvx("998").expect("CVX 998");
    assert_eq!(none.short_name, "no vaccine administered");
    assert!(!none.non_specific);
    let unknown = sets.cvx("999").expect("CVX 999");
    assert!(unknown.non_specific);

    let dtap = sets.cvx("107").expect("CVX 107");
    assert!(dtap.non_specific);
    assert!(dtap.short_name.starts_with("DTaP"));
    assert!(sets.vaccine_groups("107").iter().any(|g| g.name == "DTAP"));

    // A specific product with "unspecified" in its name.
    assert!(!sets.cvx("196").expect("CVX 196").non_specific);
    // No active code is non-specific.
    assert!(sets
        .cvx_codes()
        .all(|c| !(c.non_specific && c.status.is_active())));
    // Combination vaccines are in several groups.
    assert!(sets.vaccine_groups("110").len() >= 3);

    assert_eq!(sets.cvx("0"), None);
    assert_eq!(sets.cvx(""), None);
    assert_eq!(sets.cvx("abc"), None);
    assert_eq!(sets.vaccine_groups("abc"), &[] as &[VaccineGroup]);
}

#[test]
fn well_known_mvx_and_cpt_codes() {
    let sets = CodeSets::builtin();
    let merck = sets.mvx("MSD").expect("MVX MSD");
    assert!(merck.name.starts_with("Merck"), "{}", merck.name);
    assert_eq!(sets.mvx("msd "), Some(merck));
    assert_eq!(sets.mvx("PMC").map(|m| m.code.as_str()), Some("PMC"));
    assert_eq!(sets.mvx("nope"), None);

    // CPT 90707 is MMR, CPT 90744 is pediatric Hep B.
    assert_eq!(sets.cpt("90707"), Some("03"));
    assert_eq!(sets.cpt(" 90744 "), Some("08"));
    // A CPT that CDC maps to two CVX codes.
    assert_eq!(sets.cpt_cvx_all("90662").len(), 2);
    assert_eq!(sets.cpt("00000"), None);
    assert!(sets.cpt_cvx_all("00000").is_empty());
}

#[test]
fn well_known_small_table_codes() {
    let sets = CodeSets::builtin();
    let im = sets.table(Table::Route).lookup("C28161").expect("C28161");
    assert_eq!(im.label, "Intramuscular");
    assert_eq!((im.system, im.legacy), ("NCIT", false));
    let legacy = sets.table(Table::Route).lookup("IM ").expect("IM");
    assert!(legacy.legacy);
    assert_eq!(legacy.system, "HL70162");
    assert_eq!(sets.table(Table::Route).lookup("im"), None);
    assert_eq!(
        sets.table(Table::Route)
            .lookup_ignore_case("im")
            .map(|e| e.code),
        Some("IM")
    );
    assert_eq!(
        sets.table(Table::Route).lookup("IN").map(|e| e.status),
        Some(EntryStatus::Deprecated)
    );

    assert_eq!(
        sets.table(Table::Site).lookup("RT").map(|e| e.label),
        Some("Right thigh")
    );
    assert_eq!(
        sets.table(Table::InformationSource)
            .lookup("00")
            .map(|e| e.label),
        Some("New immunization record")
    );
    let v02 = sets
        .table(Table::VfcEligibility)
        .lookup("V02")
        .expect("V02");
    assert!(v02.label.contains("Medicaid"));
    assert_eq!(
        sets.table(Table::VfcEligibility)
            .lookup("V00")
            .map(|e| e.status),
        Some(EntryStatus::Invalid)
    );
    assert!(sets.table(Table::FundingSource).lookup("VXC1").is_some());
    assert!(sets.table(Table::CompletionStatus).lookup("RE").is_some());
    assert!(sets.table(Table::ActionCode).lookup("D").is_some());
    assert!(sets.table(Table::RefusalReason).lookup("03").is_some());
    assert!(sets.table(Table::Relationship).lookup("MTH").is_some());
    assert_eq!(
        sets.table(Table::Relationship)
            .lookup("SEL")
            .map(|e| e.status),
        Some(EntryStatus::Ignored)
    );
    assert!(sets.table(Table::Race).lookup("2106-3").is_some());
    assert!(sets.table(Table::Ethnicity).lookup("2135-2").is_some());
    assert!(sets.table(Table::Publicity).lookup("02").is_some());
    assert!(sets.table(Table::Protection).lookup("Y").is_some());
    assert!(sets.table(Table::RegistryStatus).lookup("A").is_some());
    assert!(sets
        .table(Table::ImmunityEvidence)
        .lookup("38907003")
        .is_some());
    assert!(sets
        .table(Table::Contraindication)
        .lookup("VXC20")
        .is_some());
    assert!(sets
        .table(Table::VfcObservationMethod)
        .lookup("VXC40")
        .is_some());

    let obs = sets.table(Table::Observation);
    for (code, vt) in [
        ("64994-7", "CE"),
        ("30963-3", "CE"),
        ("69764-9", "CE"),
        ("29769-7", "TS"),
        ("30956-7", "CE"),
        ("29768-9", "TS"),
        ("30945-0", "CE"),
        ("59784-9", "CE"),
        ("75505-8", "CE"),
        ("31044-1", "CE"),
        ("59785-6", "CE"),
        ("30973-2", "NM"),
        ("59781-5", "ID"),
    ] {
        let e = obs.lookup(code).unwrap_or_else(|| panic!("OBX-3 {code}"));
        assert_eq!(e.expected_value_type(), Some(vt), "{code}");
    }
    let presented = obs.lookup("29769-7").expect("29769-7");
    assert!(presented.accepts_value_type("DT"));
    assert!(!presented.accepts_value_type("CE"));
}

#[test]
fn small_tables_are_well_formed() {
    for table in Table::ALL {
        let t = table.code_table();
        assert!(!t.is_empty(), "{table:?} is empty");
        assert_eq!(t.table(), table);
        let mut seen = BTreeSet::new();
        for e in t.entries() {
            assert!(seen.insert(e.code), "{table:?}: duplicate code {}", e.code);
            assert_eq!(e.code, e.code.trim(), "{table:?}: {:?}", e.code);
            assert!(!e.code.is_empty() && !e.label.is_empty() && !e.system.is_empty());
            assert_eq!(
                table == Table::Observation,
                !e.value_types.is_empty(),
                "{table:?} {}",
                e.code
            );
            assert!(!table.name().is_empty() && !table.hl7_table().is_empty());
        }
    }
    // Legacy HL70162 routes and current NCIT routes cover the same ground.
    let route = Table::Route.code_table();
    for e in route.entries().iter().filter(|e| e.legacy) {
        assert_eq!(e.system, "HL70162");
    }
    assert!(route
        .entries()
        .iter()
        .filter(|e| !e.legacy)
        .all(|e| e.code.starts_with('C')));
}

// ---------------------------------------------------------------------------------------------
// NDC

#[test]
fn ndc_normalization() {
    assert_eq!(
        normalize_ndc("49281-0560-05").as_deref(),
        Some("49281056005")
    );
    assert_eq!(normalize_ndc("49281056005").as_deref(), Some("49281056005"));
    assert_eq!(
        normalize_ndc(" 49281-560-05 ").as_deref(),
        Some("49281056005")
    ); // 5-3-2
    assert_eq!(
        normalize_ndc("0006-4047-20").as_deref(),
        Some("00006404720")
    ); // 4-4-2
    assert_eq!(
        normalize_ndc("58160-0820-1").as_deref(),
        Some("58160082001")
    ); // 5-4-1
    assert_eq!(
        normalize_ndc("00006-4047-20").as_deref(),
        Some("00006404720")
    ); // 5-4-2
    for bad in [
        "",
        "4928105600",
        "492810560055",
        "49281-05600-5",
        "49281--05",
        "4928-0560-05-1",
        "49281-056a-05",
        "１２３４５-678-90",
        "-",
    ] {
        assert_eq!(normalize_ndc(bad), None, "{bad}");
    }
}

#[test]
fn ndc_lookup_in_all_spellings() {
    let sets = CodeSets::builtin();
    let pentacel = sets.ndc("49281-0560-05").expect("49281-0560-05");
    assert_eq!(pentacel.ndc11, "49281056005");
    assert_eq!(pentacel.cvx, vec!["120".to_string()]);
    assert_eq!(sets.ndc("49281-560-05"), Some(pentacel));
    assert_eq!(sets.ndc("49281056005 "), Some(pentacel));
    // Ten digits without dashes: found when only one reading is known.
    assert_eq!(sets.ndc("4928156005"), Some(pentacel));

    let rotateq = sets.ndc("0006-4047-20").expect("4-4-2 form");
    assert_eq!(rotateq.ndc11, "00006404720");
    assert_eq!(rotateq.cvx, vec!["116".to_string()]);
    assert!(rotateq.mvx.contains(&"MSD".to_string()));

    // Every NDC is reachable from its own dashed form, and every unit of sale lists units of
    // use that exist.
    for n in sets.ndc_codes() {
        assert_eq!(sets.ndc(&n.dashed).map(|x| &x.ndc11), Some(&n.ndc11));
        assert!(!n.cvx.is_empty());
        for u in &n.use_units {
            assert!(
                sets.ndc(u).is_some(),
                "{} lists unknown unit of use {u}",
                n.ndc11
            );
        }
        for c in &n.cvx {
            assert!(
                sets.cvx(c).is_some(),
                "NDC {} maps to unknown CVX {c}",
                n.ndc11
            );
        }
    }
    // An NDC mapped to two CVX codes (one Hep B product at two dosages).
    assert_eq!(
        sets.ndc("58160-0821-43").map(|n| n.cvx.clone()),
        Some(vec!["43".to_string(), "44".to_string()])
    );
    assert_eq!(sets.ndc("99999-9999-99"), None);
}

// ---------------------------------------------------------------------------------------------
// Parsers on fixtures

#[test]
fn parsers_read_fixtures() {
    let r = fixture_records();
    assert_eq!(r.cvx.len(), 3);
    assert_eq!(r.cvx[0].code, "08");
    assert_eq!(r.cvx[0].last_updated, Some(date(2010, 5, 28)));
    assert_eq!(r.cvx[1].notes, "For historical records & cards");
    assert!(r.cvx[1].is_non_specific());
    assert!(!r.cvx[2].is_non_specific());
    assert_eq!(r.cvx[2].last_updated, None);
    assert_eq!(r.mvx[0].code, "MSD");
    assert_eq!(r.mvx[0].name, "Merck and Co., Inc.");
    assert_eq!(r.vac2vg[0].group_cvx, "45");
    assert_eq!(r.vac2vg[0].cvx, "08");
    assert_eq!(r.cpt[0].cvx.as_deref(), Some("8"));
    assert_eq!(r.vis[0].edition, date(2023, 5, 12));
    assert_eq!(r.cvx_vis.len(), 2);
    let used = &r.ndc.unit_of_use;
    assert_eq!(used[0].ndc11, "58160082043");
    assert_eq!(used[0].dashed, "58160-820-43");
    assert_eq!(used[0].start_date, Some(date(2007, 3, 28)));
    assert_eq!(used[0].last_updated, Some(date(2023, 2, 1)));
    assert!(!used[0].no_inner_package);
    assert_eq!(used[1].ndc11, "01234567890");
    assert!(used[1].no_inner_package);
    assert_eq!(r.ndc.unit_of_sale[0].route, "INTRAMUSCULAR");
    assert_eq!(r.ndc.links[0].mvx, "SKB");
    assert_eq!(r.ndc.links[1].mvx, "");
}

#[test]
fn code_sets_from_fixture_records() {
    let sets = fixture_records().to_code_sets();
    let hepb = sets.cvx("8").expect("CVX 08");
    assert_eq!(hepb.vaccine_groups[0].cvx, "45");
    assert_eq!(sets.cpt("90744"), Some("08")); // canonical form, though cpt.xml said "8"
    assert_eq!(
        sets.mvx("msd").map(|m| m.name.as_str()),
        Some("Merck and Co., Inc.")
    );

    let sale = sets.ndc("58160-820-52").expect("sale NDC");
    assert_eq!(sale.kind, NdcKind::UnitOfSale);
    assert_eq!(sale.use_units, vec!["58160082043".to_string()]);
    assert_eq!(sale.mvx, vec!["SKB".to_string()]);
    let unit = sets.ndc("58160082043").expect("use NDC");
    assert_eq!(
        (unit.kind, unit.mvx.as_slice()),
        (NdcKind::UnitOfUse, &["SKB".to_string()][..])
    );
    let both = sets.ndc("1234-5678-90").expect("4-4-2 NDC");
    assert_eq!(both.kind, NdcKind::Both);
    assert!(both.use_units.is_empty() && both.mvx.is_empty());
    assert_eq!(both.end_date, Some(date(2020, 12, 31)));

    let vis = sets.vis_for_cvx("08");
    assert_eq!(vis.len(), 2);
    assert_eq!(vis[0].edition, date(2012, 2, 2));
    assert_eq!(vis[0].document_code, "0886983000050"); // derived from the GS1 string
    assert_eq!(vis[1].status, VisStatus::Current);
    assert!(sets.vis_document("253088698300005011230512").is_some());

    // Our TSV format carries everything a CodeSets holds.
    let files = sets.to_tsv();
    let back = CodeSets::from_tsv(&tsv_tables(&files)).expect("round trip");
    assert_eq!(back, sets);
}

#[test]
fn parser_errors_say_where() {
    let e =
        cdc::parse_cvx_xml("<CVXCodes>\n<CVXInfo>\n<CVXCode>x1</CVXCode>\n</CVXInfo>\n</CVXCodes>")
            .expect_err("bad CVX");
    assert_eq!((e.file.as_str(), e.line), ("cvx.xml", 3));
    assert!(e.context.contains("<CVXInfo> #1"), "{e}");
    assert!(
        e.to_string().starts_with("cvx.xml:3: <CVXInfo> #1: "),
        "{e}"
    );

    let e = cdc::parse_cvx_xml(
        "<CVXCodes>\n<CVXInfo>\n<CVXCode>08</CVXCode>\n<ShortDescription>x</ShortDescription>\n\
         <Status>Active</Status>\n<LastUpdated>13/45/2020</LastUpdated>\n</CVXInfo>\n</CVXCodes>",
    )
    .expect_err("bad date");
    assert_eq!(e.line, 6);
    assert!(e.context.contains("CVX 08"), "{e}");

    let e = cdc::parse_cvx_xml("<CVXCodes>\n<CVXInfo>\n</CVXCodes>").expect_err("bad XML");
    assert!(e.message.contains("malformed XML"), "{e}");
    assert_eq!(e.line, 3);

    let e = cdc::parse_mvx_xml("<CVXCodes/>").expect_err("wrong root");
    assert!(e.message.contains("<MVXCodes>"), "{e}");

    let e = cdc::parse_mvx_xml(
        "<MVXCodes><MVXInfo><Name>MVX_CODE</Name><Name>x</Name></MVXInfo></MVXCodes>",
    )
    .expect_err("name without value");
    assert_eq!(e.file, "mvx.xml");

    let e = cdc::parse_ndc_linker("1|2|3|SKB\r\n1|2\r\n").expect_err("short line");
    assert_eq!((e.file.as_str(), e.line), ("NDC_Linker.txt", 2));

    let e = cdc::parse_ndc_unit_of_sale(&NDC_SALE.replace("58160-0820-52", "58160-0820-53"))
        .expect_err("NDC mismatch");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("does not match"), "{e}");

    let e = cdc::parse_ndc_unit_of_use(&NDC_USE.replace("|False     |", "|maybe|"))
        .expect_err("bad flag");
    assert!(e.message.contains("field 14"), "{e}");

    assert_eq!(
        cdc::parse_cvx_xml("").expect_err("empty").message,
        "no XML root element"
    );
    assert!(cdc::parse_cvx_xml("<CVXCodes>&bogus;</CVXCodes>").is_err());
    let deep = "<a>".repeat(100);
    assert!(cdc::parse_cvx_xml(&deep).is_err());
    assert_eq!(
        cdc::parse_cvx_xml("<a>x</a>")
            .expect_err("x")
            .with_file("/tmp/x.xml")
            .file,
        "/tmp/x.xml"
    );
}

#[test]
fn delimited_files_accept_tabs_headers_and_lf() {
    let tabbed = "id\touter\tinner\tmvx\n5\t6\t7\tPMC\n\n";
    let links = cdc::parse_ndc_linker(tabbed).expect("tab-separated with header");
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].mvx, "PMC");
    assert!(cdc::parse_ndc_linker("").expect("empty").is_empty());
    assert!(cdc::parse_ndc_linker("no delimiter here").is_err());
}

#[test]
fn latin1_and_bom_are_decoded() {
    assert_eq!(cdc::decode_text(b"\xEF\xBB\xBFabc"), "abc");
    assert_eq!(cdc::decode_text(b"caf\xE9"), "caf\u{e9}");
    let xml = cdc::decode_text(
        b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><CVXCodes><CVXInfo><CVXCode>1</CVXCode>\
          <ShortDescription>r\xE9sum\xE9</ShortDescription><Status>Active</Status></CVXInfo></CVXCodes>",
    );
    let records = cdc::parse_cvx_xml(&xml).expect("latin-1 cvx");
    assert_eq!(records[0].short_description, "r\u{e9}sum\u{e9}");
}

#[test]
fn tsv_errors_say_where() {
    let files = fixture_records().to_code_sets().to_tsv();
    let mut tables = tsv_tables(&files);
    let bad_cvx = tables.cvx.replacen("\tActive\tN\t", "\tActive\tmaybe\t", 1);
    tables.cvx = &bad_cvx;
    let e = CodeSets::from_tsv(&tables).expect_err("bad flag");
    assert_eq!((e.file.as_str(), e.line), ("data/codes/cvx.tsv", 2));

    let mut tables = tsv_tables(&files);
    tables.ndc = "ndc\n";
    let e = CodeSets::from_tsv(&tables).expect_err("bad header");
    assert_eq!((e.file.as_str(), e.line), ("data/codes/ndc.tsv", 1));
}

#[test]
fn status_texts() {
    assert_eq!(CodeStatus::parse("Non-US"), CodeStatus::NonUs);
    assert_eq!(CodeStatus::parse("never active"), CodeStatus::NeverActive);
    assert_eq!(CodeStatus::parse(" Pending "), CodeStatus::Pending);
    assert_eq!(
        CodeStatus::parse("Odd  one"),
        CodeStatus::Other("Odd one".into())
    );
    for s in [
        "Active",
        "Inactive",
        "Non-US",
        "Never Active",
        "Pending",
        "Odd one",
    ] {
        assert_eq!(CodeStatus::parse(s).as_str(), s);
    }
    assert_eq!(VisStatus::parse("historic"), VisStatus::Historic);
}

// ---------------------------------------------------------------------------------------------
// Arbitrary input never panics

fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    (0..=base.len(), 0..=base.len(), "\\PC{0,12}").prop_map(move |(a, b, insert)| {
        let (a, b) = (a.min(b), a.max(b));
        // The fixtures are ASCII, so any byte index is a character boundary.
        format!("{}{}{}", &base[..a], insert, &base[b..])
    })
}

fn run_all_parsers(text: &str) {
    let _ = cdc::parse_cvx_xml(text);
    let _ = cdc::parse_mvx_xml(text);
    let _ = cdc::parse_vac2vg_xml(text);
    let _ = cdc::parse_cpt_xml(text);
    let _ = cdc::parse_vis_xml(text);
    let _ = cdc::parse_cvxvis_xml(text);
    let _ = cdc::parse_ndc_unit_of_use(text);
    let _ = cdc::parse_ndc_unit_of_sale(text);
    let _ = cdc::parse_ndc_linker(text);
    let _ = normalize_ndc(text);
    let _ = crate::date::parse_us(text);
    let _ = crate::date::parse_iso(text);
    let _ = crate::date::parse_compact(text);
    let sets = CodeSets::builtin();
    let _ = (
        sets.cvx(text),
        sets.mvx(text),
        sets.ndc(text),
        sets.cpt(text),
    );
    let _ = (sets.vis_document(text), sets.vis_for_cvx(text));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn parsers_never_panic_on_arbitrary_text(text in "\\PC{0,300}") {
        run_all_parsers(&text);
    }

    #[test]
    fn parsers_never_panic_on_markup_soup(text in "[<>/=&;#x\"' a-zA-Z0-9|\t\r\n-]{0,300}") {
        run_all_parsers(&text);
    }

    #[test]
    fn parsers_never_panic_on_damaged_files(
        cvx in mutated(CVX_XML),
        mvx in mutated(MVX_XML),
        cpt in mutated(CPT_XML),
        cvxvis in mutated(CVXVIS_XML),
        ndc_use in mutated(NDC_USE),
        ndc_sale in mutated(NDC_SALE),
    ) {
        for text in [&cvx, &mvx, &cpt, &cvxvis, &ndc_use, &ndc_sale] {
            run_all_parsers(text);
        }
    }

    #[test]
    fn tsv_reader_never_panics(cvx in mutated(BUILTIN_HEAD_CVX), ndc in "\\PC{0,200}") {
        let files = fixture_records().to_code_sets().to_tsv();
        let mut tables = tsv_tables(&files);
        tables.cvx = &cvx;
        let _ = CodeSets::from_tsv(&tables);
        let mut tables = tsv_tables(&files);
        tables.ndc = &ndc;
        let _ = CodeSets::from_tsv(&tables);
    }

    #[test]
    fn ndc_spellings_agree(labeler in 0u32..100_000, product in 0u32..10_000, package in 0u32..100) {
        let ndc11 = format!("{labeler:05}{product:04}{package:02}");
        let dashed = format!("{labeler:05}-{product:04}-{package:02}");
        prop_assert_eq!(normalize_ndc(&dashed), Some(ndc11.clone()));
        prop_assert_eq!(normalize_ndc(&ndc11), Some(ndc11.clone()));
        if labeler < 10_000 {
            let short = format!("{labeler:04}-{product:04}-{package:02}");
            prop_assert_eq!(normalize_ndc(&short), Some(ndc11.clone()));
        }
        if product < 1000 {
            let short = format!("{labeler:05}-{product:03}-{package:02}");
            prop_assert_eq!(normalize_ndc(&short), Some(ndc11.clone()));
        }
        if package < 10 {
            let short = format!("{labeler:05}-{product:04}-{package:01}");
            prop_assert_eq!(normalize_ndc(&short), Some(ndc11));
        }
    }
}

/// A few rows of our CVX table format, for damaging.
const BUILTIN_HEAD_CVX: &str =
    "cvx\tshort_name\tstatus\tnon_specific\tvaccine_groups\tlast_updated\n\
08\tHep B, adolescent or pediatric\tActive\tN\t45\t2010-05-28\n\
45\tHep B, unspecified formulation\tInactive\tY\t45\t2010-09-30\n";

// ---------------------------------------------------------------------------------------------
// Against CDC's files (only with IZPORT_CODES_DIR)

/// `IZPORT_CODES_DIR`; panics when it is unset (the tests that call this are ignored then).
fn codes_dir() -> PathBuf {
    match std::env::var_os("IZPORT_CODES_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            panic!("IZPORT_CODES_DIR is not set: this test needs a folder of CDC's code-set files")
        }
    }
}

fn read_cdc(dir: &Path) -> CdcRecords {
    match cdc::read_cdc_dir(dir) {
        Ok(r) => r,
        Err(e) => panic!("reading CDC files in {}: {e}", dir.display()),
    }
}

/// Writes the built-in tables from CDC's files. Run after a CDC update, then commit the TSVs.
#[test]
#[ignore = "manual: writes data/codes/*.tsv from IZPORT_CODES_DIR"]
fn generate_builtin_tables() {
    let dir = codes_dir();
    let sets = read_cdc(&dir).to_code_sets();
    let out = match std::env::var_os("IZPORT_CODES_OUT") {
        Some(d) => PathBuf::from(d),
        // `file!()` is this file's path as given to rustc: relative to the package root (the
        // test's working directory) in the main crate, absolute when included via #[path].
        None => Path::new(file!())
            .parent()
            .expect("source file has a directory")
            .join("../../../data/codes"),
    };
    std::fs::create_dir_all(&out).expect("create output directory");
    for (name, text) in sets.to_tsv() {
        let path = out.join(name);
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        eprintln!(
            "wrote {} ({} rows, {} bytes)",
            path.display(),
            text.lines().count().saturating_sub(1),
            text.len()
        );
    }
}

#[test]
#[ignore = "needs IZPORT_CODES_DIR: CDC's code-set files"]
fn cdc_files_give_the_builtin_tables() {
    let dir = codes_dir();
    let records = read_cdc(&dir);
    assert_eq!(records.cvx.len(), 288);
    assert_eq!(records.mvx.len(), 89);
    assert_eq!(records.vac2vg.len(), 256);
    assert_eq!(records.cpt.len(), 168);
    assert_eq!(records.ndc.unit_of_use.len(), 510);
    assert_eq!(records.ndc.unit_of_sale.len(), 560);
    assert_eq!(records.ndc.links.len(), 580);
    assert_eq!(records.vis.len(), 174);
    assert_eq!(records.cvx_vis.len(), 548);

    let fresh = records.to_code_sets();
    let builtin = CodeSets::builtin();
    for code in [
        "08", "8", "998", "999", "107", "110", "213", "196", "75", "325",
    ] {
        assert_eq!(fresh.cvx(code), builtin.cvx(code), "CVX {code}");
        assert_eq!(fresh.vaccine_groups(code), builtin.vaccine_groups(code));
        assert_eq!(fresh.vis_for_cvx(code), builtin.vis_for_cvx(code));
    }
    for code in ["MSD", "pmc", "SKB", "PFR", "MOD"] {
        assert_eq!(fresh.mvx(code), builtin.mvx(code), "MVX {code}");
    }
    for code in [
        "49281-0560-05",
        "58160-0821-43",
        "00006-4047-20",
        "49281-521-00",
    ] {
        assert_eq!(fresh.ndc(code), builtin.ndc(code), "NDC {code}");
    }
    for code in ["90707", "90744", "90581", "90662"] {
        assert_eq!(
            fresh.cpt_cvx_all(code),
            builtin.cpt_cvx_all(code),
            "CPT {code}"
        );
    }
    // And, in full: the shipped tables are exactly what the parsers make of CDC's files.
    assert!(
        fresh == *builtin,
        "data/codes is stale: run generate_builtin_tables"
    );

    // Facts straight from the records.
    let statuses: BTreeSet<String> = records.cvx.iter().map(|c| c.status.to_string()).collect();
    assert_eq!(
        statuses,
        ["Active", "Inactive", "Never Active", "Non-US"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert!(records
        .cvx
        .iter()
        .all(|c| !matches!(c.status, CodeStatus::Other(_))));
}

/// The const tables agree with the codebase's code-set XML files, except where tables.rs
/// says it corrects them.
#[test]
#[ignore = "needs IZPORT_CODES_DIR: CDC's code-set files"]
fn small_tables_match_the_code_set_files() {
    let dir = codes_dir();
    let files: [(&str, Table); 17] = [
        ("Body_Route.xml", Table::Route),
        ("Body_Site.xml", Table::Site),
        ("Financial_Status_Code.xml", Table::VfcEligibility),
        ("Vaccination_Funding_Source.xml", Table::FundingSource),
        (
            "Vaccination_Information_Source.xml",
            Table::InformationSource,
        ),
        ("Vaccination_Completion.xml", Table::CompletionStatus),
        ("Vaccination_Action_Code.xml", Table::ActionCode),
        ("Vaccination_Refusal.xml", Table::RefusalReason),
        ("Person_Relationship.xml", Table::Relationship),
        ("Patient_Race.xml", Table::Race),
        ("Patient_Ethnicity.xml", Table::Ethnicity),
        ("Patient_Publicity.xml", Table::Publicity),
        ("Patient_Protection.xml", Table::Protection),
        ("Registry_Status.xml", Table::RegistryStatus),
        ("Observation_Identifier.xml", Table::Observation),
        ("Evidence_of_Immunity.xml", Table::ImmunityEvidence),
        (
            "Contraindication_or_Precaution.xml",
            Table::Contraindication,
        ),
    ];
    // (table, code): deliberate differences, documented in tables.rs.
    let not_in_source = [
        (Table::Observation, "30973-2"),
        (Table::Observation, "59777-3"),
        (Table::Observation, "59778-1"),
        (Table::Observation, "59779-9"),
        (Table::Observation, "75505-8"),
    ];
    let not_ours = [(Table::Observation, "59799-9")];
    let other_status = [(Table::Race, "2186-5")];

    for (file, table) in files {
        let path = dir.join(file);
        let text = cdc::decode_text(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        );
        let root = parse_xml(&text, file).unwrap_or_else(|e| panic!("{e}"));
        let mut source_codes = BTreeSet::new();
        for code in root.children.iter().filter(|c| c.name == "code") {
            let value = code
                .children
                .iter()
                .find(|c| c.name == "value")
                .map(|v| v.text.trim().to_string())
                .unwrap_or_default();
            let status = code
                .children
                .iter()
                .find(|c| c.name == "code-status")
                .and_then(|s| s.children.iter().find(|c| c.name == "status"))
                .map(|s| s.text.trim().to_string())
                .unwrap_or_default();
            source_codes.insert(value.clone());
            if not_ours.contains(&(table, value.as_str())) {
                continue;
            }
            let ours = table
                .code_table()
                .lookup(&value)
                .unwrap_or_else(|| panic!("{file}: code {value} missing from {table:?}"));
            if !other_status.contains(&(table, value.as_str())) {
                assert_eq!(ours.status.as_str(), status, "{file}: status of {value}");
            }
        }
        for e in table.code_table().entries() {
            assert!(
                source_codes.contains(e.code) || not_in_source.contains(&(table, e.code)),
                "{table:?} code {} is not in {file}",
                e.code
            );
        }
    }
}

/// NDCs that the shared HL7 corpus sends in RXA-5 map to a CVX.
#[test]
#[ignore = "needs IZPORT_CORPUS_DIR: the shared HL7 corpus"]
fn corpus_ndcs_resolve() {
    let corpus = match std::env::var_os("IZPORT_CORPUS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!("IZPORT_CORPUS_DIR is not set: this test needs the shared HL7 corpus"),
    };
    let entries = match std::fs::read_dir(&corpus) {
        Ok(entries) => entries,
        Err(e) => panic!("IZPORT_CORPUS_DIR={}: {e}", corpus.display()),
    };
    let sets = CodeSets::builtin();
    let mut seen = BTreeSet::new();
    let mut unmapped = BTreeSet::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("hl7") {
            continue;
        }
        let text = cdc::decode_text(&std::fs::read(&path).expect("read corpus file"));
        for segment in text.split(['\r', '\n']).filter(|s| s.starts_with("RXA|")) {
            let Some(rxa5) = segment.split('|').nth(5) else {
                continue;
            };
            let parts: Vec<&str> = rxa5.split('^').collect();
            for triplet in parts.chunks(3) {
                if triplet.len() == 3 && triplet[2].trim().eq_ignore_ascii_case("NDC") {
                    let code = triplet[0].trim().to_string();
                    seen.insert(code.clone());
                    if sets.ndc(&code).is_none_or(|n| n.cvx.is_empty()) {
                        unmapped.insert(code);
                    }
                }
            }
        }
    }
    eprintln!("corpus NDCs: {seen:?}; not mapped to a CVX: {unmapped:?}");
    assert!(
        !seen.is_empty(),
        "no NDC in the corpus at {}",
        corpus.display()
    );
    let expected_unmapped: BTreeSet<String> = BTreeSet::new();
    assert_eq!(unmapped, expected_unmapped);
}
