//! `izport maintenance …`: windows, outage drills and the downtime log; and how partner
//! notices name the registry (shared with `serve`).

use anyhow::anyhow;
use clap::{Args, Subcommand};

use crate::maintenance::admin::{new_window, WindowRequest, DEFAULT_REFUSE_PERCENT};
use crate::maintenance::notice::NoticeContext;
use crate::maintenance::{self, Mode, Window, DEFAULT_TIME_ZONE};
use crate::store::Db;

/// How partner notices name the registry and whom they tell partners to contact.
#[derive(Args, Debug, Clone)]
pub struct NoticeArgs {
    /// The registry's name in partner notices
    #[arg(
        long,
        env = "IZPORT_REGISTRY_NAME",
        default_value_t = NoticeContext::default().registry_name
    )]
    pub registry_name: String,
    /// A contact line for partner notices (repeatable), e.g. "Data exchange: dx@example.org"
    #[arg(long = "contact", env = "IZPORT_CONTACT", value_delimiter = ';')]
    pub contact: Vec<String>,
}

impl NoticeArgs {
    pub fn context(&self) -> NoticeContext {
        NoticeContext {
            registry_name: self.registry_name.clone(),
            contact: self.contact.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct WindowArgs {
    /// Time zone for local times given and shown (IANA name)
    #[arg(long, default_value = DEFAULT_TIME_ZONE)]
    pub tz: String,
    /// Why (shown in notices and /status)
    #[arg(long)]
    pub reason: Option<String>,
    /// maintenance (503), outage (502 proxy error) or intermittent (a share of requests get 503)
    #[arg(long, default_value_t = Mode::default())]
    pub mode: Mode,
    #[arg(
        long,
        value_parser = clap::value_parser!(u8).range(1..=100),
        help = format!(
            "For intermittent mode: the percentage of requests refused, 1-100 [default: {DEFAULT_REFUSE_PERCENT}]"
        )
    )]
    pub percent: Option<u8>,
    /// Limit the window to one organization (a drill for that organization's vendor)
    #[arg(long)]
    pub org: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum MaintenanceCommand {
    /// Start a window now (until stopped, or until --until)
    Start {
        /// End: local time in --tz (2024-12-01T23:00), an RFC 3339 instant, or +30m / +2h
        #[arg(long)]
        until: Option<String>,
        /// scheduled or unplanned (default unplanned)
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        window: WindowArgs,
    },
    /// End the windows in force now (registry-wide, or one organization's drills with --org)
    Stop {
        #[arg(long)]
        org: Option<String>,
    },
    /// Schedule a window; it starts and ends by itself
    Schedule {
        /// Start: local time in --tz (2024-12-01T19:00 or "2024-12-01 19:00") or RFC 3339
        #[arg(long)]
        from: String,
        /// End, in the same forms
        #[arg(long)]
        to: String,
        /// scheduled or unplanned (default scheduled)
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        window: WindowArgs,
    },
    /// Windows in force or to come (--all: every window, the downtime log included)
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a window that has not started (one in force is ended now)
    Cancel { id: i64 },
    /// Print the partner announcement for a window
    Notice {
        id: i64,
        #[command(flatten)]
        notice: NoticeArgs,
    },
}

fn window_request(window: WindowArgs, kind: Option<String>) -> WindowRequest {
    WindowRequest {
        tz: Some(window.tz),
        reason: window.reason,
        mode: Some(window.mode.to_string()),
        kind,
        organization: window.org,
        refuse_percent: window.percent,
        ..WindowRequest::default()
    }
}

fn print_window(w: &Window) {
    let tz = maintenance::time::zone(&w.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let local = |t: jiff::Timestamp| {
        maintenance::time::local(t, &tz)
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let end = w.ends_at.map_or_else(|| "until stopped".to_string(), local);
    let scope = w
        .organization
        .as_deref()
        .map_or_else(|| "everyone".to_string(), |o| format!("org {o}"));
    let state = if w.cancelled { " [cancelled]" } else { "" };
    println!(
        "{}\t{}\t{}\t{} -> {}\t{}\t{}{}",
        w.id,
        w.kind,
        w.mode,
        local(w.starts_at),
        end,
        scope,
        w.reason,
        state
    );
}

async fn create_window(db: &Db, request: WindowRequest, immediate: bool) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now();
    let window = new_window(&request, now, immediate).map_err(anyhow::Error::msg)?;
    let id = db.create_window(&window).await?;
    if let Some(w) = db.window(id).await? {
        print_window(&w);
    }
    println!("window {id} saved; running servers apply it within their poll interval");
    Ok(())
}

pub async fn run(db: &Db, command: MaintenanceCommand) -> anyhow::Result<()> {
    match command {
        MaintenanceCommand::Start {
            until,
            kind,
            window,
        } => {
            let mut request = window_request(window, kind);
            request.until = until;
            create_window(db, request, true).await?;
        }
        MaintenanceCommand::Schedule {
            from,
            to,
            kind,
            window,
        } => {
            let mut request = window_request(window, kind);
            request.from = Some(from);
            request.to = Some(to);
            create_window(db, request, false).await?;
        }
        MaintenanceCommand::Stop { org } => {
            let n = db
                .stop_windows(jiff::Timestamp::now(), org.as_deref())
                .await?;
            println!("{n} window(s) stopped");
        }
        MaintenanceCommand::Cancel { id } => {
            let w = db.cancel_window(id, jiff::Timestamp::now()).await?;
            print_window(&w);
            println!(
                "window {id} {}",
                if w.cancelled {
                    "cancelled"
                } else {
                    "ended now"
                }
            );
        }
        MaintenanceCommand::List { all, json } => {
            let now = jiff::Timestamp::now();
            let windows: Vec<Window> = db
                .windows()
                .await?
                .into_iter()
                .filter(|w| all || (!w.cancelled && w.ends_at.is_none_or(|e| e > now)))
                .collect();
            if json {
                let rows: Vec<_> = windows
                    .iter()
                    .map(|w| {
                        serde_json::json!({
                            "id": w.id, "kind": w.kind.as_str(), "mode": w.mode.as_str(),
                            "starts_at": w.starts_at.to_string(),
                            "ends_at": w.ends_at.map(|t| t.to_string()),
                            "time_zone": w.time_zone, "reason": w.reason,
                            "organization": w.organization, "cancelled": w.cancelled,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if windows.is_empty() {
                println!(
                    "no maintenance windows{}",
                    if all { "" } else { " in force or scheduled" }
                );
            } else {
                for w in &windows {
                    print_window(w);
                }
            }
        }
        MaintenanceCommand::Notice { id, notice: args } => {
            let w = db
                .window(id)
                .await?
                .ok_or_else(|| anyhow!("no maintenance window {id}"))?;
            print!("{}", maintenance::notice::render(&w, &args.context()));
        }
    }
    Ok(())
}
