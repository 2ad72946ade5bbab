//! Inputs written elsewhere (the shared HL7 corpus, CDC's code-set files, NIST's SOAP test
//! cases), named by environment variables.
//!
//! A test that reads one is `#[ignore = "needs IZPORT_…: …"]`, so `cargo test` lists it as
//! ignored with the reason instead of passing it without having run. Run with `--ignored` and
//! without its input, it fails here with a message naming the variable; it never returns early.

use std::path::{Path, PathBuf};

/// The folder named by `var`; panics with a clear message when it is unset or not a folder.
fn folder(var: &str, what: &str) -> PathBuf {
    let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
        panic!(
            "{var} is not set: this test needs {what}. Set {var} to that folder \
             (`.ci/run` sets it from ../shared), or leave the test ignored."
        );
    };
    let dir = PathBuf::from(value);
    assert!(
        dir.is_dir(),
        "{var}={} is not a folder: this test needs {what}",
        dir.display()
    );
    dir
}

/// `IZPORT_CORPUS_DIR`: the shared corpus of real HL7 messages (`*.hl7`).
pub fn corpus_dir() -> PathBuf {
    folder("IZPORT_CORPUS_DIR", "the shared corpus of HL7 messages")
}

/// `IZPORT_CODES_DIR`: CDC's code-set files as CDC publishes them.
pub fn codes_dir() -> PathBuf {
    folder("IZPORT_CODES_DIR", "a folder of CDC's code-set files")
}

/// A corpus file's text (lossy UTF-8, as a partner's bytes may be anything).
pub fn corpus_file(name: &str) -> String {
    read(&corpus_dir().join(name))
}

/// A file's text (lossy UTF-8); panics naming the file when it cannot be read.
pub fn read(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// The `*.hl7` files of the corpus, sorted by name.
pub fn corpus_files() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    out.sort();
    out
}

/// A path's file name as text.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
