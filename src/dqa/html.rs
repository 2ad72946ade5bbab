//! The report as one standalone HTML page: inline CSS (with print rules), two inline SVG
//! charts (the scores as bars, messages by acknowledgement code as one stacked bar), no
//! scripts, no external resources. Every text taken from the report is escaped.

use std::fmt::Write;

use super::report::{Band, Report, Score};

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn band_color(b: Option<Band>) -> &'static str {
    match b {
        Some(Band::Excellent) => "#1b7f3b",
        Some(Band::Good) => "#4c9a2a",
        Some(Band::Okay) => "#b58900",
        Some(Band::Poor) => "#d35400",
        Some(Band::Problem) => "#b3261e",
        None => "#888888",
    }
}

fn score_text(s: &Score) -> String {
    match (s.value, s.band) {
        (Some(v), Some(b)) => format!("{v:.1} — {}", b.label()),
        _ => "not measured".to_string(),
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;\
color:#1d1d1f;margin:2rem auto;max-width:60rem;padding:0 1rem;line-height:1.4}\
h1{font-size:1.6rem;margin:0 0 .3rem}h2{font-size:1.2rem;border-bottom:2px solid #ddd;\
padding-bottom:.2rem;margin-top:2rem}table{border-collapse:collapse;width:100%;margin:.5rem 0}\
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.meta{color:#555}.cards{display:flex;gap:.8rem;flex-wrap:wrap}.card{border:1px solid #ccc;\
border-radius:.4rem;padding:.6rem .9rem;min-width:10rem}.card b{display:block;font-size:1.5rem}\
.note{background:#f7f7f2;border-left:4px solid #b58900;padding:.5rem .8rem}\
code{font-size:.9em}.ids{font-family:monospace;font-size:.85em;word-break:break-all}\
@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr,.card,svg{break-inside:avoid}\
th{background:#eee !important;-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

/// The page.
pub fn render(r: &Report) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let h = &r.heading;
    let title = match &h.file_name {
        Some(f) => format!("Data quality report: {}", f),
        None => format!(
            "Data quality report: {} to {}",
            h.period_from.as_deref().unwrap_or_default(),
            h.period_to.as_deref().unwrap_or_default()
        ),
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let _ = write!(
        o,
        "<h1>{}</h1>\n<p class=\"meta\">Organization <b>{}</b>",
        esc(&title),
        esc(&h.organization)
    );
    if let Some(x) = &h.received_at {
        let _ = write!(o, " · received {}", esc(x));
    }
    if let Some(x) = &h.processing_started_at {
        let _ = write!(o, " · processing started {}", esc(x));
    }
    let made = if h.file_name.is_some() {
        "processed"
    } else {
        "made"
    };
    let _ = write!(o, " · {made} {}", esc(&h.processed_at));
    if let Some(s) = h.processing_seconds {
        let _ = write!(o, " · processing time {s:.1} s");
    }
    o.push_str("</p>\n");
    if let Some(d) = &r.doors {
        let _ = writeln!(
            o,
            "<p class=\"meta\">Web-service submissions received and batch files processed in \
             these days (UTC): {} message(s) through the web service, {} in {} batch file(s).</p>",
            d.web_service, d.batch_file, d.files
        );
    }

    // Readiness.
    if let Some(rd) = &r.readiness {
        let _ = writeln!(
            o,
            "<h2>Ready for production?</h2><p class=\"note\">{} {} error-free test message(s) \
             in a row of {} required; {}.</p>",
            if rd.counts_toward {
                "This file's messages were all error-free test messages: they count toward \
                 production approval."
            } else {
                "This file does not count toward production approval (a message had an error, \
                 or was not a test message)."
            },
            rd.consecutive_clean,
            rd.required,
            if rd.ready {
                "ready: ask the registry to approve production data".to_string()
            } else {
                format!("{} more needed", rd.still_needed)
            }
        );
    }

    // Scores.
    o.push_str("<h2>Scores</h2>\n<div class=\"cards\">");
    let scores = [
        ("Overall", &r.scores.overall),
        ("Completeness", &r.scores.completeness),
        ("Quality", &r.scores.quality),
        ("Timeliness", &r.scores.timeliness),
    ];
    for (name, s) in &scores {
        let _ = write!(
            o,
            "<div class=\"card\" style=\"border-left:6px solid {}\">{name}<b>{}</b></div>",
            band_color(s.band),
            esc(&score_text(s))
        );
    }
    o.push_str("</div>\n");
    o.push_str(&score_chart(&scores));
    o.push_str(
        "<p class=\"meta\">Bands: 90–100 excellent, 80–89 good, 70–79 okay, 60–69 poor, \
         under 60 problem.</p>\n",
    );

    // Counts.
    let c = &r.counts;
    o.push_str(
        "<h2>Data received</h2>\n<table><tr><th>Messages</th><th>Vaccination updates</th>\
        <th>Queries</th><th>Other</th><th>Accepted (AA)</th><th>With errors (AE)</th>\
        <th>Rejected (AR)</th></tr>",
    );
    let _ = writeln!(
        o,
        "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td></tr></table>",
        c.messages,
        c.vaccination_updates,
        c.queries,
        c.other_messages,
        c.acknowledgements.aa,
        c.acknowledgements.ae,
        c.acknowledgements.ar
    );
    o.push_str(&ack_chart(
        c.acknowledgements.aa,
        c.acknowledgements.ae,
        c.acknowledgements.ar,
    ));
    let _ = writeln!(
        o,
        "<table><tr><th>Patients new</th><th>matched</th><th>sent to review</th>\
         <th>not kept</th></tr><tr><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td></tr></table>",
        c.patients.new, c.patients.matched, c.patients.sent_to_review, c.patients.not_kept
    );
    let _ = writeln!(
        o,
        "<table><tr><th>Vaccinations administered</th><th>historical</th><th>refusals</th>\
         <th>not administered</th></tr><tr><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td></tr></table>",
        c.vaccinations.administered,
        c.vaccinations.historical,
        c.vaccinations.refusals,
        c.vaccinations.not_administered
    );

    // Findings.
    o.push_str("<h2>Findings</h2>\n");
    if r.findings.is_empty() {
        o.push_str("<p>No rule fired.</p>\n");
    } else {
        o.push_str(
            "<table><tr><th>Rule</th><th>Severity</th><th>Count</th><th>What and how to fix</th>\
             <th>Messages (MSH-10)</th></tr>",
        );
        for f in &r.findings {
            let mut ids = f
                .control_ids
                .iter()
                .map(|i| esc(i))
                .collect::<Vec<_>>()
                .join(", ");
            if f.more_messages > 0 {
                let _ = write!(ids, " and {} more", f.more_messages);
            }
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td>{}<br><i>{}</i>\
                 </td><td class=\"ids\">{}</td></tr>",
                esc(&f.rule),
                match f.severity.as_str() {
                    "E" => "Error",
                    "W" => "Warning",
                    _ => "Information",
                },
                f.count,
                esc(&f.description),
                esc(&f.how_to_fix),
                ids
            );
        }
        o.push_str("</table>\n");
    }

    // Completeness.
    let _ = write!(
        o,
        "<h2>Completeness: {}</h2>\n<table><tr><th>Field</th><th>Tier (weight)</th>\
         <th>Present</th><th>Looked for</th><th>%</th></tr>",
        esc(&score_text(&r.scores.completeness))
    );
    for m in &r.completeness {
        let _ = write!(
            o,
            "<tr><td>{} <code>{}</code></td><td>{:?} ({})</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&m.label),
            esc(&m.field),
            m.tier,
            m.weight,
            m.present,
            m.expected_in,
            m.percent.map_or("–".to_string(), |p| format!("{p:.1}"))
        );
    }
    o.push_str("</table>\n");

    // Quality.
    let q = &r.quality;
    let _ = write!(
        o,
        "<h2>Quality: {}</h2>\n<table><tr><th>Messages</th><th>Without findings</th>\
         <th>Warnings only</th><th>With errors</th><th>Errors</th><th>Warnings</th></tr>\
         <tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></table>\n",
        esc(&score_text(&r.scores.quality)),
        q.messages,
        q.without_findings,
        q.with_warnings_only,
        q.with_errors,
        q.errors,
        q.warnings
    );

    // Timeliness.
    let t = &r.timeliness;
    let _ = write!(
        o,
        "<h2>Timeliness: {}</h2>\n<p>{} message(s) with an administered dose; days from the \
         latest administration to receipt.</p><table><tr><th>Gap</th><th>Points</th>\
         <th>Messages (raw)</th><th>Messages (downtime excused)</th></tr>",
        esc(&score_text(&r.scores.timeliness)),
        t.measured
    );
    for (a, raw) in t.buckets.iter().zip(t.raw_buckets.iter()) {
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&a.label),
            a.points,
            raw.count,
            a.count
        );
    }
    o.push_str("</table>\n");
    if t.excused > 0 {
        let _ = write!(
            o,
            "<p class=\"note\">{} late report(s) were counted as on time: the registry could not \
             receive data during part of the delay.</p><table><tr><th>Window</th><th>Kind</th>\
             <th>Scope</th><th>From</th><th>To</th><th>Excused</th></tr>",
            t.excused
        );
        for w in &t.windows {
            let _ = write!(
                o,
                "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"n\">{}</td></tr>",
                w.id,
                esc(&w.kind),
                esc(&w.scope),
                esc(&w.starts_at),
                esc(w.ends_at.as_deref().unwrap_or("open")),
                w.excused
            );
        }
        o.push_str("</table>\n");
    }
    let w = &r.weights;
    let _ = write!(
        o,
        "<h2>How the scores are made</h2>\n<p>Overall = completeness × {} + quality × {} + \
         timeliness × {} (shares of the scores measured). Completeness: the share of reports \
         carrying each field, weighted required {}, expected {}, recommended {}. Quality: a \
         message starts at 100 and loses {} per error and {} per warning. Timeliness: within \
         1 day {} points, 2–7 days {}, 8–30 days {}, later {}. This report holds no patient \
         data: messages are named by their control id (MSH-10) only.</p>\n</body></html>\n",
        w.completeness,
        w.quality,
        w.timeliness,
        w.required,
        w.expected,
        w.recommended,
        w.error_penalty,
        w.warning_penalty,
        w.within_1_day,
        w.within_7_days,
        w.within_30_days,
        w.later
    );
    o
}

/// Horizontal bars, one per score, on a 0–100 axis with the band limits marked.
fn score_chart(scores: &[(&str, &Score)]) -> String {
    let (left, width, row) = (110.0, 440.0, 28.0);
    let height = row * scores.len() as f64 + 30.0;
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"Scores out of 100\" \
         width=\"600\" height=\"{height}\" viewBox=\"0 0 600 {height}\" \
         font-family=\"sans-serif\" font-size=\"13\">"
    );
    for limit in [60.0, 70.0, 80.0, 90.0, 100.0] {
        let x = left + width * limit / 100.0;
        let _ = write!(
            o,
            "<line x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{}\" stroke=\"#ccc\" stroke-dasharray=\"3 3\"/>\
             <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\">{limit}</text>",
            height - 22.0,
            height - 8.0
        );
    }
    for (i, (name, s)) in scores.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let v = s.value.unwrap_or(0.0).clamp(0.0, 100.0);
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{name}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            left - 8.0,
            y + 15.0,
            width * v / 100.0,
            row - 8.0,
            band_color(s.band),
            left + width * v / 100.0 + 4.0,
            y + 15.0,
            s.value.map_or("–".to_string(), |v| format!("{v:.1}"))
        );
    }
    o.push_str("</svg>\n");
    o
}

/// One bar split into AA / AE / AR shares.
fn ack_chart(aa: u64, ae: u64, ar: u64) -> String {
    let total = (aa + ae + ar).max(1) as f64;
    let width = 580.0;
    let mut o = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"Messages by \
         acknowledgement code\" width=\"600\" height=\"56\" viewBox=\"0 0 600 56\" \
         font-family=\"sans-serif\" font-size=\"13\">",
    );
    let mut x = 0.0;
    for (label, n, color) in [
        ("AA", aa, "#1b7f3b"),
        ("AE", ae, "#d35400"),
        ("AR", ar, "#b3261e"),
    ] {
        let w = width * n as f64 / total;
        if n > 0 {
            let _ = write!(
                o,
                "<rect x=\"{x}\" y=\"4\" width=\"{w}\" height=\"24\" fill=\"{color}\">\
                 <title>{label} {n}</title></rect>"
            );
        }
        x += w;
    }
    let _ = writeln!(
        o,
        "<text x=\"0\" y=\"46\">AA {aa} · AE {ae} · AR {ar}</text></svg>"
    );
    o
}
