//! Findings → ERR segments of the acknowledgement.

use crate::hl7::{ErrEntry, Severity};
use crate::registry::finding::{hl7_code, Finding};

/// ERR segments per acknowledgement unless the registry is configured otherwise.
pub const DEFAULT_ERR_LIMIT: usize = 20;

fn rank(s: Severity) -> u8 {
    match s {
        Severity::Error => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The ERR entries for `findings`, at most `limit` of them. When there are more findings than
/// that, the errors are kept first (then warnings, then notes), the kept ones stay in message
/// order, and the last entry (severity I, ERR-3 0) says how many findings were not listed.
/// A `limit` of 0 writes no ERR segment at all.
pub fn ack_errors(findings: &[Finding], limit: usize) -> Vec<ErrEntry> {
    if findings.len() <= limit {
        return findings.iter().map(Finding::to_err).collect();
    }
    if limit == 0 {
        return Vec::new();
    }
    let keep = limit - 1;
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by_key(|&i| (rank(findings[i].severity), i));
    let (kept, left) = order.split_at(keep);
    let mut kept = kept.to_vec();
    kept.sort_unstable();
    let count = |s: Severity| left.iter().filter(|&&i| findings[i].severity == s).count();
    let (errors, warnings, notes) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    let mut out: Vec<ErrEntry> = kept.iter().map(|&i| findings[i].to_err()).collect();
    out.push(ErrEntry::info(
        hl7_code::MESSAGE_ACCEPTED,
        format!(
            "{} more {} not listed here ({}, {}, {}).",
            left.len(),
            if left.len() == 1 {
                "finding was"
            } else {
                "findings were"
            },
            plural(errors, "error", "errors"),
            plural(warnings, "warning", "warnings"),
            plural(notes, "note", "notes"),
        ),
    ));
    out
}
