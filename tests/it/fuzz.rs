//! The inputs the fuzz targets (`fuzz/`, cargo-fuzz) found problems with, replayed through the
//! same harness the targets run (`fuzz/harness.rs`): `tests/data/fuzz/<target>/`, one file per
//! finding, and the seed inputs the fuzzers start from (`fuzz/seeds/<target>/`). Each must go
//! through without a panic and with every property the harness checks.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/harness.rs"]
mod harness;

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect(),
        // A target whose fuzzing found nothing has no folder of findings.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    files.sort();
    files
}

/// Runs `run` on every file of the target's findings and seeds; fails naming each file that
/// panicked. Returns how many files ran.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = inputs(&root.join("fuzz/seeds").join(target));
    assert!(!seeds.is_empty(), "no seed inputs for {target}");
    let findings = inputs(&root.join("tests/data/fuzz").join(target));
    let mut failed = Vec::new();
    for file in seeds.iter().chain(&findings) {
        let data = match std::fs::read(file) {
            Ok(data) => data,
            Err(e) => panic!("{}: {e}", file.display()),
        };
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target} fails on {failed:?}");
    seeds.len() + findings.len()
}

#[test]
fn hl7_parse_inputs_found_by_the_fuzzer_pass() {
    replay("hl7_parse", harness::hl7_parse);
}

#[test]
fn soap_decode_inputs_found_by_the_fuzzer_pass() {
    replay("soap_decode", harness::soap_decode);
}

#[test]
fn batch_reader_inputs_found_by_the_fuzzer_pass() {
    replay("batch_reader", harness::batch_reader);
}

/// The seeds are real requests: the harness decodes them as the service would.
#[test]
fn the_seeds_are_read_as_what_they_are() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for file in inputs(&root.join("soap_decode")) {
        let data = std::fs::read(&file).unwrap_or_default();
        let decoded = izport::soap::envelope::decode(&data);
        assert!(decoded.is_ok(), "{}: {decoded:?}", file.display());
    }
    for file in inputs(&root.join("hl7_parse")) {
        let data = std::fs::read_to_string(&file).unwrap_or_default();
        let parsed = izport::hl7::Message::parse(&data).map(|m| m.segment_count());
        assert!(
            matches!(parsed, Ok(n) if n >= 3),
            "{}: {parsed:?}",
            file.display()
        );
    }
}
