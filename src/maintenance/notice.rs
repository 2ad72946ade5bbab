//! The partner announcement for a window, in the shape of the registry's own notices (subject,
//! announcement, impacts per kind of partner, what to do, contact), so operators stop writing
//! them by hand.

use jiff::tz::TimeZone;
use jiff::Zoned;

use super::pages::{MAINTENANCE_SENTENCE, PROXY_ERROR_SENTENCES};
use super::{Kind, Mode, Window};

/// Who partners should write to, and the registry's name, as the operator configures them.
#[derive(Clone, Debug)]
pub struct NoticeContext {
    pub registry_name: String,
    pub contact: Vec<String>,
}

impl Default for NoticeContext {
    fn default() -> Self {
        NoticeContext {
            registry_name: "The immunization registry".into(),
            contact: Vec::new(),
        }
    }
}

/// "CT" for the US Central zone (as the notices write it), else the zone's name.
fn zone_label(name: &str) -> String {
    match name {
        "America/Chicago" => "CT".into(),
        "America/New_York" => "ET".into(),
        "America/Denver" => "MT".into(),
        "America/Los_Angeles" => "PT".into(),
        other => other.into(),
    }
}

fn day(z: &Zoned) -> String {
    z.strftime("%A, %B %-d, %Y").to_string()
}

fn clock(z: &Zoned) -> String {
    let hour = z.hour();
    let (h12, suffix) = match hour {
        0 => (12, "a.m."),
        1..=11 => (hour, "a.m."),
        12 => (12, "p.m."),
        _ => (hour - 12, "p.m."),
    };
    format!("{h12}:{:02} {suffix}", z.minute())
}

fn span_text(window: &Window, tz: &TimeZone) -> String {
    let label = zone_label(&window.time_zone);
    let start = window.starts_at.to_zoned(tz.clone());
    // The actual end: a window stopped early ends when it was stopped, not when it was planned
    // to (`render` says so in a sentence of its own).
    let end = window.ends_at;
    match end.map(|e| e.to_zoned(tz.clone())) {
        Some(end) if end.date() == start.date() => format!(
            "{}, from {} to {} ({label})",
            day(&start),
            clock(&start),
            clock(&end)
        ),
        Some(end) => format!(
            "from {} {} to {} {} ({label})",
            clock(&start),
            day(&start),
            clock(&end),
            day(&end)
        ),
        None => format!(
            "starting {} {} ({label}) until further notice",
            clock(&start),
            day(&start)
        ),
    }
}

pub fn render(window: &Window, ctx: &NoticeContext) -> String {
    let tz = TimeZone::get(&window.time_zone).unwrap_or(TimeZone::UTC);
    let start = window.starts_at.to_zoned(tz.clone());
    let when = span_text(window, &tz);
    let registry = &ctx.registry_name;
    let mut out = String::new();
    let subject = match window.kind {
        Kind::Scheduled => format!("Scheduled downtime on {}", day(&start)),
        Kind::Unplanned => format!("Unexpected downtime on {}", day(&start)),
    };
    out.push_str(&format!("Subject: {subject}\n\n"));
    out.push_str(
        "This notice is for every organization that submits patient and immunization data to \
         the registry, online or by electronic data exchange. Please pass it on to your IT staff \
         and your EHR vendor.\n\n",
    );
    out.push_str("ANNOUNCEMENT\n\n");
    match window.kind {
        Kind::Scheduled => out.push_str(&format!(
            "{registry} will be down for scheduled maintenance {when}."
        )),
        Kind::Unplanned => out.push_str(&format!(
            "{registry} was unavailable because of an unplanned outage {when}."
        )),
    }
    if !window.reason.is_empty() {
        out.push_str(&format!(
            " Reason: {}.",
            window.reason.trim_end_matches('.')
        ));
    }
    if let (Some(end), Some(planned)) = (window.ends_at, window.planned_ends_at) {
        if end < planned {
            let planned = planned.to_zoned(tz.clone());
            out.push_str(&format!(
                " The work finished early: service was back at {} {}, before the planned end \
                 at {} {}.",
                clock(&end.to_zoned(tz.clone())),
                day(&end.to_zoned(tz.clone())),
                clock(&planned),
                day(&planned)
            ));
        }
    }
    out.push_str("\n\nIMPACTS\n\n");
    if window.mode == Mode::Intermittent {
        out.push_str(&format!(
            "Service will be interrupted intermittently during the window (about {}% of requests \
             refused at a time).\n\n",
            window.refuse_percent
        ));
    }
    out.push_str(&format!(
        "- Online users will see \"Service Unavailable. {MAINTENANCE_SENTENCE}\"\n"
    ));
    match window.mode {
        Mode::Outage => out.push_str(&format!(
            "- Web-service (real-time SOAP) partners will receive \"502 Proxy Error\" and the \
             message \"{} {}\"\n",
            PROXY_ERROR_SENTENCES[0], PROXY_ERROR_SENTENCES[1]
        )),
        _ => out.push_str(&format!(
            "- Web-service (real-time SOAP) partners will receive a \"503 Service Unavailable\" \
             error and the message \"{MAINTENANCE_SENTENCE}\"\n"
        )),
    }
    out.push_str(
        "- Batch (FTP) partners may keep uploading files; they will not be processed until the \
         window ends.\n\n",
    );
    out.push_str("WHAT TO DO\n\n");
    out.push_str(
        "- Web-service partners: carry on as usual while the service is unavailable, then resend \
         every message that was refused so that it is processed.\n",
    );
    out.push_str(
        "- Batch (FTP) partners: nothing. Processing resumes by itself after the window; do not \
         resubmit files.\n",
    );
    out.push_str(
        "- Organizations will not be penalized for late reporting caused by this downtime.\n",
    );
    if !ctx.contact.is_empty() {
        out.push_str("\nCONTACT\n\n");
        for line in &ctx.contact {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: &str, end: Option<&str>, kind: Kind, mode: Mode) -> Window {
        Window {
            id: 7,
            kind,
            mode,
            starts_at: start.parse().expect("ts"),
            ends_at: end.map(|e| e.parse().expect("ts")),
            planned_ends_at: end.map(|e| e.parse().expect("ts")),
            time_zone: "America/Chicago".into(),
            reason: "Data fixes and enhancements".into(),
            organization: None,
            refuse_percent: 100,
            cancelled: false,
        }
    }

    #[test]
    fn a_scheduled_evening_window_reads_like_the_notices() {
        // Friday, December 1, 2023, 7:00-11:00 p.m. CT (CST, UTC-6).
        let w = window(
            "2023-12-02T01:00:00Z",
            Some("2023-12-02T05:00:00Z"),
            Kind::Scheduled,
            Mode::Maintenance,
        );
        let text = render(
            &w,
            &NoticeContext {
                registry_name: "The Texas Immunization Registry".into(),
                contact: vec!["Data exchange: dataexchange@example.org".into()],
            },
        );
        assert!(
            text.starts_with("Subject: Scheduled downtime on Friday, December 1, 2023"),
            "{text}"
        );
        assert!(
            text.contains("Friday, December 1, 2023, from 7:00 p.m. to 11:00 p.m. (CT)"),
            "{text}"
        );
        assert!(text.contains("\"503 Service Unavailable\""));
        assert!(text.contains(MAINTENANCE_SENTENCE));
        assert!(text.contains("resend"));
        assert!(text.contains("do not resubmit files"));
        assert!(text.contains("dataexchange@example.org"));
    }

    #[test]
    fn an_overnight_window_in_summer_time_names_both_days() {
        // 7:00 p.m. Friday May 31 to 5:00 a.m. Saturday June 1, 2024 (CDT, UTC-5).
        let w = window(
            "2024-06-01T00:00:00Z",
            Some("2024-06-01T10:00:00Z"),
            Kind::Scheduled,
            Mode::Maintenance,
        );
        let text = render(&w, &NoticeContext::default());
        assert!(
            text.contains(
                "from 7:00 p.m. Friday, May 31, 2024 to 5:00 a.m. Saturday, June 1, 2024 (CT)"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_window_stopped_early_gives_its_actual_end() {
        // Planned 7:00-11:00 p.m. CT on Friday, December 1, 2023; stopped at 9:30 p.m.
        let mut w = window(
            "2023-12-02T01:00:00Z",
            Some("2023-12-02T05:00:00Z"),
            Kind::Scheduled,
            Mode::Maintenance,
        );
        w.ends_at = Some("2023-12-02T03:30:00Z".parse().expect("ts"));
        let text = render(&w, &NoticeContext::default());
        assert!(
            text.contains("Friday, December 1, 2023, from 7:00 p.m. to 9:30 p.m. (CT)"),
            "{text}"
        );
        assert!(
            text.contains("before the planned end at 11:00 p.m. Friday, December 1, 2023"),
            "{text}"
        );
    }

    #[test]
    fn an_outage_quotes_the_proxy_error() {
        let w = window(
            "2023-04-01T06:16:00Z",
            Some("2023-04-01T14:55:00Z"),
            Kind::Unplanned,
            Mode::Outage,
        );
        let text = render(&w, &NoticeContext::default());
        assert!(
            text.starts_with("Subject: Unexpected downtime on Saturday, April 1, 2023"),
            "{text}"
        );
        assert!(text.contains("\"502 Proxy Error\""));
        assert!(text.contains(PROXY_ERROR_SENTENCES[0]));
    }
}
