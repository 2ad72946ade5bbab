//! The built-in compact supporting data: it parses, round-trips, and (when CDC's XML is at hand)
//! is exactly what the converter produces.

#[path = "../examples/support/io.rs"]
mod io;

use izport_cdsi::{SupportingData, BUILTIN_COMPACT, BUILTIN_VERSION};

#[test]
fn builtin_parses_and_round_trips() {
    let data = SupportingData::builtin().expect("built-in data parses");
    assert_eq!(data.version, BUILTIN_VERSION);
    assert_eq!(data.antigens.len(), 30);
    assert_eq!(
        data.antigens.iter().map(|a| a.series.len()).sum::<usize>(),
        143
    );
    assert_eq!(data.vaccine_groups.len(), 26);
    assert_eq!(data.cvx_map.len(), 218);
    assert_eq!(data.live_virus_conflicts.len(), 625);
    assert_eq!(data.observations.len(), 277);
    assert_eq!(data.to_compact(), BUILTIN_COMPACT);
    let again = SupportingData::from_compact(&data.to_compact()).expect("re-parses");
    assert_eq!(again, data);
}

#[test]
fn damaged_compact_text_is_an_error() {
    let half = &BUILTIN_COMPACT[..BUILTIN_COMPACT.len() / 2];
    assert!(SupportingData::from_compact(half).is_err());
    let bad = BUILTIN_COMPACT.replacen("DA|", "DA|x|", 1);
    assert!(SupportingData::from_compact(&bad).is_err());
}

#[test]
fn observation_codes_from_other_systems() {
    let data = SupportingData::builtin().expect("built-in data parses");
    // 003 "Immunocompromised" carries SNOMED 370388006 in the 4.64 schedule data.
    assert!(data
        .observation_codes_for("SNOMED", "370388006")
        .contains(&"003"));
    assert!(data
        .observation_codes_for("SCT", "370388006")
        .contains(&"003"));
}

#[test]
#[ignore = "needs IZPORT_CDSI_DIR: CDC's CDSi directory (supporting-data/, testcases/csv/)"]
fn regenerating_from_xml_gives_the_committed_file() {
    let Some(dir) = io::cdsi_dir() else {
        panic!("IZPORT_CDSI_DIR is not set: it must name CDC's CDSi directory (supporting-data/)");
    };
    let text = io::convert(&dir.join("supporting-data"), BUILTIN_VERSION).expect("converts");
    let committed =
        std::fs::read_to_string(io::committed_compact_path()).expect("committed file readable");
    assert!(
        text == committed,
        "the committed data/supporting-4.64.cdsi differs from the converter's output; run \
         `cargo run -p izport-cdsi --example convert -- $IZPORT_CDSI_DIR/supporting-data`"
    );
}
