//! File reading shared by the examples and the integration tests (the library does no I/O).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The `*.xml` files of a supporting-data directory as (file name, text), sorted by name.
pub fn read_xml_dir(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut files = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in rd {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        files.push((name, text));
    }
    files.sort();
    Ok(files)
}

/// Reads CDC's XML and renders it in the compact format.
pub fn convert(dir: &Path, version: &str) -> Result<String, String> {
    let files = read_xml_dir(dir)?;
    let data =
        izport_cdsi::SupportingData::from_xml(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
            .map_err(|e| e.to_string())?
            .with_version(version);
    Ok(data.to_compact())
}

/// The directory named by `IZPORT_CDSI_DIR` (holding `supporting-data/` and `testcases/csv/`).
pub fn cdsi_dir() -> Option<PathBuf> {
    std::env::var_os("IZPORT_CDSI_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The committed compact file.
pub fn committed_compact_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/supporting-4.64.cdsi")
}
