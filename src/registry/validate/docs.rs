//! Rule documentation (`izport rules [--markdown]`) and the completeness table: every field the
//! Z22 profile marks required (R) or conditional (C), with the rules that check it or the reason
//! none does.

use std::fmt::Write as _;

use crate::hl7::Severity;
use crate::registry::finding::Scope;

use crate::registry::rules::{rules, RuleInfo};

/// How a required or conditional field of the profile is covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// The rules that check it.
    Rules(&'static [&'static str]),
    /// Why no rule checks it.
    Reason(&'static str),
}

/// One R or C field of the NIST IG 1.5 VXU (Z22) profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldCoverage {
    /// `SEG-n`.
    pub field: &'static str,
    /// `R` or `C`, as the profile gives it.
    pub usage: &'static str,
    pub coverage: Coverage,
}

const fn rules_for(
    field: &'static str,
    usage: &'static str,
    ids: &'static [&'static str],
) -> FieldCoverage {
    FieldCoverage {
        field,
        usage,
        coverage: Coverage::Rules(ids),
    }
}

const fn reason(field: &'static str, usage: &'static str, why: &'static str) -> FieldCoverage {
    FieldCoverage {
        field,
        usage,
        coverage: Coverage::Reason(why),
    }
}

const UNUSED_SEGMENT: &str = "Optional segment the registry neither reads nor stores; its fields \
     are not checked (the segment itself is checked for its place).";
const REQUIRED_IF_KNOWN: &str = "Required for administered doses only when known (RE in effect): \
     absence is not an error, and the registry does not store it yet.";

/// Every R and C field of the VXU Z22 profile (segments MSH through NTE), with its coverage.
/// The test `every_required_field_is_covered` keeps it complete and its rule ids real.
pub const FIELD_COVERAGE: &[FieldCoverage] = &[
    rules_for("MSH-1", "R", &["MSH-1-invalid"]),
    rules_for("MSH-2", "R", &["MSH-2-invalid"]),
    rules_for(
        "MSH-7",
        "R",
        &[
            "MSH-7-missing",
            "MSH-7-invalid",
            "MSH-7-precision",
            "MSH-7-timezone",
            "MSH-7-future",
        ],
    ),
    rules_for(
        "MSH-9",
        "R",
        &[
            "MSH-9-missing",
            "MSH-9-type",
            "MSH-9-event",
            "MSH-9-structure",
        ],
    ),
    rules_for("MSH-10", "R", &["MSH-10-missing"]),
    rules_for("MSH-11", "R", &["MSH-11-invalid"]),
    rules_for("MSH-12", "R", &["MSH-12-version"]),
    rules_for("MSH-15", "R", &["MSH-15-missing", "MSH-15-invalid"]),
    rules_for("MSH-16", "R", &["MSH-16-missing", "MSH-16-invalid"]),
    rules_for("MSH-21", "R", &["MSH-21-missing", "MSH-21-profile"]),
    reason("SFT-1", "R", UNUSED_SEGMENT),
    reason("SFT-2", "R", UNUSED_SEGMENT),
    reason("SFT-3", "R", UNUSED_SEGMENT),
    reason("SFT-4", "R", UNUSED_SEGMENT),
    rules_for("PID-1", "R", &["PID-1-invalid"]),
    rules_for(
        "PID-3",
        "R",
        &[
            "PID-3-missing",
            "PID-3-type-missing",
            "PID-3-type-unknown",
            "PID-3-control",
        ],
    ),
    rules_for(
        "PID-5",
        "R",
        &[
            "PID-5-family-missing",
            "PID-5-given-missing",
            "PID-5-type",
            "PID-5-invalid",
            "PID-5-junk",
            "PID-5-test",
            "PID-5-control",
        ],
    ),
    rules_for(
        "PID-7",
        "R",
        &[
            "PID-7-missing",
            "PID-7-invalid",
            "PID-7-precision",
            "PID-7-future",
            "PID-7-too-old",
        ],
    ),
    rules_for("PID-8", "R", &["PID-8-missing", "PID-8-invalid"]),
    rules_for("PID-25", "C", &["PID-25-missing", "PID-25-invalid"]),
    rules_for(
        "PID-29",
        "C",
        &["PID-29-invalid", "PID-29-illogical", "PID-30-inconsistent"],
    ),
    rules_for("PD1-13", "C", &["PD1-13-missing", "PD1-13-invalid"]),
    rules_for("PD1-17", "C", &["PD1-17-missing", "PD1-17-invalid"]),
    rules_for("PD1-18", "C", &["PD1-18-missing", "PD1-18-invalid"]),
    rules_for("NK1-1", "R", &["NK1-1-invalid"]),
    rules_for("NK1-2", "R", &["NK1-2-missing"]),
    rules_for(
        "NK1-3",
        "R",
        &["NK1-3-missing", "NK1-3-unknown", "NK1-3-not-guardian"],
    ),
    reason("PV1-2", "R", UNUSED_SEGMENT),
    reason("PV2-1", "C", UNUSED_SEGMENT),
    reason("PV2-47", "C", UNUSED_SEGMENT),
    reason("GT1-1", "R", UNUSED_SEGMENT),
    reason("GT1-3", "R", UNUSED_SEGMENT),
    reason("IN1-1", "R", UNUSED_SEGMENT),
    reason("IN1-2", "R", UNUSED_SEGMENT),
    reason("IN1-3", "R", UNUSED_SEGMENT),
    reason("IN1-15", "R", UNUSED_SEGMENT),
    reason("IN3-1", "R", UNUSED_SEGMENT),
    rules_for("ORC-1", "R", &["ORC-1-invalid"]),
    rules_for(
        "ORC-3",
        "R",
        &["ORC-3-missing", "ORC-3-placeholder", "ORC-3-duplicate"],
    ),
    reason(
        "ORC-12",
        "C",
        "The ordering provider is required for administered doses only when known (RE): \
         absence is not an error, and the registry does not store providers yet.",
    ),
    reason("TQ1-12", "C", UNUSED_SEGMENT),
    reason("TQ2-3", "C", UNUSED_SEGMENT),
    reason("TQ2-4", "C", UNUSED_SEGMENT),
    reason("TQ2-5", "C", UNUSED_SEGMENT),
    reason("TQ2-6", "C", UNUSED_SEGMENT),
    reason("TQ2-7", "C", UNUSED_SEGMENT),
    reason("TQ2-10", "C", UNUSED_SEGMENT),
    rules_for("RXA-1", "R", &["RXA-1-invalid"]),
    rules_for("RXA-2", "R", &["RXA-2-invalid"]),
    rules_for(
        "RXA-3",
        "R",
        &[
            "RXA-3-missing",
            "RXA-3-invalid",
            "RXA-3-future",
            "RXA-3-before-birth",
            "RXA-3-after-death",
            "RXA-3-after-message",
        ],
    ),
    rules_for(
        "RXA-5",
        "R",
        &[
            "RXA-5-missing",
            "RXA-5-unknown-cvx",
            "RXA-5-unknown-ndc",
            "RXA-5-unknown-cpt",
            "RXA-5-code-system",
            "RXA-5-system-missing",
            "RXA-5-conflict",
            "RXA-5-alternate-unknown",
            "RXA-5-ndc-ambiguous",
            "RXA-5-cvx-not-usable",
            "RXA-5-cvx-inactive",
            "RXA-5-non-specific",
            "RXA-5-non-us",
        ],
    ),
    rules_for("RXA-6", "R", &["RXA-6-missing", "RXA-6-invalid"]),
    rules_for("RXA-7", "C", &["RXA-7-missing"]),
    rules_for("RXA-9", "C", &["RXA-9-missing", "RXA-9-unknown"]),
    reason("RXA-10", "C", REQUIRED_IF_KNOWN),
    reason("RXA-11", "C", REQUIRED_IF_KNOWN),
    rules_for("RXA-15", "C", &["RXA-15-missing", "RXA-15-invalid"]),
    rules_for("RXA-16", "C", &["RXA-16-invalid", "RXA-16-expired"]),
    rules_for(
        "RXA-17",
        "C",
        &[
            "RXA-17-missing",
            "RXA-17-unknown",
            "RXA-17-inactive",
            "RXA-17-ndc-mismatch",
            "RXA-17-vaccine-mismatch",
        ],
    ),
    rules_for(
        "RXA-18",
        "C",
        &["RXA-18-missing", "RXA-18-not-allowed", "RXA-18-unknown"],
    ),
    rules_for("RXA-21", "C", &["RXA-21-invalid"]),
    rules_for(
        "RXR-1",
        "R",
        &[
            "RXR-1-missing",
            "RXR-1-unknown",
            "RXR-1-deprecated",
            "RXR-1-vaccine",
        ],
    ),
    rules_for("OBX-1", "R", &["OBX-1-sequence"]),
    rules_for(
        "OBX-2",
        "R",
        &["OBX-2-missing", "OBX-2-invalid", "OBX-2-mismatch"],
    ),
    rules_for("OBX-3", "R", &["OBX-3-missing", "OBX-3-unknown"]),
    rules_for("OBX-4", "R", &["OBX-4-missing", "OBX-vis-incomplete"]),
    rules_for(
        "OBX-5",
        "R",
        &[
            "OBX-5-missing",
            "OBX-5-invalid",
            "OBX-5-vfc-unknown",
            "OBX-5-funding-unknown",
            "OBX-5-vis-unknown",
            "OBX-5-code-unknown",
        ],
    ),
    reason(
        "OBX-6",
        "C",
        "Units apply to quantities; none of the observations the registry reads (VFC, funding, \
         VIS, immunity, contraindication) is a quantity with units.",
    ),
    rules_for("OBX-11", "R", &["OBX-11-invalid"]),
    rules_for("OBX-17", "C", &["OBX-17-missing", "OBX-17-unknown"]),
    reason(
        "NTE-3",
        "R",
        "Notes are free text the registry does not read; an NTE is checked only for its place \
         (SEG-order).",
    ),
];

/// How [`render_rules`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RulesFormat {
    /// Aligned plain text, one rule per line, then the field coverage.
    Text,
    /// Markdown tables.
    Markdown,
}

fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Envelope => "message",
        Scope::Patient => "patient",
        Scope::Dose => "dose",
        Scope::Note => "segment",
    }
}

fn severity_name(s: Severity) -> &'static str {
    s.as_str()
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn row_fields(r: &RuleInfo) -> [String; 8] {
    [
        r.id.to_string(),
        r.applies.as_str().to_string(),
        format!(
            "{}{}",
            severity_name(r.severity),
            if r.locked { " (locked)" } else { "" }
        ),
        scope_name(r.scope).to_string(),
        r.location.to_string(),
        r.hl7_code.to_string(),
        r.cdc_code.unwrap_or("").to_string(),
        r.description.to_string(),
    ]
}

/// The rule catalogue and the field coverage, for `izport rules [--markdown]`.
pub fn render_rules(format: RulesFormat) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let all = rules();
    match format {
        RulesFormat::Markdown => {
            let _ = writeln!(
                out,
                "# Rules\n\n{} rules: every finding the registry reports, on a VXU, on a QBP \
                 query, or while applying a message (registry). Severity: E rejects what the \
                 scope covers (message → AR; patient → the whole message, AE, or for a query: \
                 the query is not run; dose → that immunization only, AE; segment → that \
                 segment), W accepts with a warning, I is a note. An organization may set any \
                 rule to E, W, I or off, except the locked ones.\n",
                all.len()
            );
            out.push_str(
                "| rule | applies to | severity | scope | location | HL7 0357 | CDC 0533 | \
                 description |\n",
            );
            out.push_str("|---|---|---|---|---|---|---|---|\n");
            for r in all {
                let cells = row_fields(r).map(|c| md_escape(&c));
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
            out.push_str(
                "\n## Required and conditional fields of the VXU Z22 profile\n\n| field | usage | \
                 checked by |\n|---|---|---|\n",
            );
            for f in FIELD_COVERAGE {
                let covered = match f.coverage {
                    Coverage::Rules(ids) => ids
                        .iter()
                        .map(|id| format!("`{id}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    Coverage::Reason(why) => format!("no rule: {why}"),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    f.field,
                    f.usage,
                    md_escape(&covered)
                );
            }
        }
        RulesFormat::Text => {
            let rows: Vec<[String; 8]> = all.iter().map(row_fields).collect();
            let width = |k: usize| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0);
            let widths = [width(0), width(1), width(2), width(3), width(4)];
            let _ = writeln!(
                out,
                "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {:w4$}  {:4}  {:4}  description",
                "rule",
                "applies",
                "sev",
                "scope",
                "location",
                "0357",
                "0533",
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4],
            );
            for r in &rows {
                let _ = writeln!(
                    out,
                    "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {:w4$}  {:4}  {:4}  {}",
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    w0 = widths[0],
                    w1 = widths[1],
                    w2 = widths[2],
                    w3 = widths[3],
                    w4 = widths[4],
                );
            }
            let _ = writeln!(
                out,
                "\n{} rules. Required (R) and conditional (C) fields of the VXU Z22 profile:",
                all.len()
            );
            for f in FIELD_COVERAGE {
                let covered = match f.coverage {
                    Coverage::Rules(ids) => ids.join(", "),
                    Coverage::Reason(why) => format!("no rule: {why}"),
                };
                let _ = writeln!(out, "{:7} {}  {}", f.field, f.usage, covered);
            }
        }
    }
    out
}
