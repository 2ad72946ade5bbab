//! The `izport` command line: run the service and administer organizations and users.

pub mod codes;
pub mod seed;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::auth::{generate_password, hash_password};
use crate::maintenance::admin::{new_window, WindowRequest};
use crate::maintenance::notice::NoticeContext;
use crate::maintenance::{
    self, MaintenanceConfig, PageFormat, SystemClock, Window, DEFAULT_TIME_ZONE,
};
use crate::registry::consent::ConsentConfig;
use crate::registry::{RegistryConfig, RegistryIdentity};
use crate::server::{self, Limits, ServerOptions};
use crate::store::Db;

#[derive(Parser, Debug)]
#[command(
    name = "izport",
    version,
    about = "Immunization registry data exchange: the CDC IIS SOAP web service and the registry behind it"
)]
pub struct Cli {
    /// Database URL: sqlite:PATH (created if missing) or postgres://user@host/db
    #[arg(
        long,
        env = "IZPORT_DATABASE_URL",
        default_value = "sqlite:izport.db",
        global = true
    )]
    pub database_url: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web service (migrates the database first)
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit
    Migrate,
    /// Manage submitting organizations
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage the users organizations authenticate as
    #[command(subcommand)]
    User(UserCommand),
    /// Maintenance windows, outage drills and the downtime log
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Possible patient matches waiting for a person: list, merge (reversible), split
    #[command(subcommand)]
    Review(ReviewCommand),
    /// Every validation rule: id, default severity, what an error rejects, location, codes
    Rules {
        #[arg(long)]
        markdown: bool,
    },
    /// CDC code sets: import CDC's published files, show what is in force, go back to built-in
    #[command(subcommand)]
    Codes(CodesCommand),
    /// Fill the registry with realistic synthetic patients and histories (for benchmarks and
    /// test environments), with a progress bar
    Seed {
        /// How many patients
        #[arg(long)]
        patients: u64,
        /// The organization the synthetic records belong to (created if missing)
        #[arg(long, default_value = "SEED")]
        org: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Measure history-query (Z34) latency inside the service against seeded patients
    BenchZ34 {
        #[arg(long, default_value_t = 2000)]
        queries: usize,
        #[arg(long, default_value = "SEED")]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Who looked at a patient's record: every query that returned it
    Audit {
        /// The registry patient id (PID-3 type SR in responses)
        patient_id: i64,
    },
    /// Drive a running izport with synthetic VXU / Z34 / connectivityTest traffic and report
    /// throughput and latency percentiles
    Load(LoadArgs),
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The SOAP endpoint (http or https); a bare host:port URL posts to /soap
    #[arg(long, default_value = "http://127.0.0.1:8080/soap")]
    pub url: String,
    #[arg(long, default_value = "")]
    pub username: String,
    /// Read the password from the first line of standard input (else IZPORT_LOAD_PASSWORD)
    #[arg(long)]
    pub password_stdin: bool,
    #[arg(long, default_value = "")]
    pub facility: String,
    /// Concurrent connections (1-1024)
    #[arg(short = 'c', long, default_value_t = 8)]
    pub concurrency: usize,
    /// Run for this many seconds (default 10 unless --requests is given)
    #[arg(long, conflicts_with = "requests")]
    pub duration: Option<f64>,
    /// Send this many requests in all
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Request mix: "vxu=80,z34=20", "vxu", or "connectivity" (the HTTP + SOAP ceiling)
    #[arg(long, default_value = "vxu=80,z34=20")]
    pub mix: crate::load::Mix,
    /// PEM certificate to trust for https (a self-signed test server)
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the server certificate (test environments only)
    #[arg(long)]
    pub insecure: bool,
    /// Seed of the synthetic data (default: random; the report prints it)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Per-request timeout in seconds
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Print the report as one JSON object on the last line of stdout
    #[arg(long)]
    pub json: bool,
}

/// How partner notices name the registry and whom they tell partners to contact.
#[derive(Args, Debug, Clone)]
pub struct NoticeArgs {
    /// The registry's name in partner notices
    #[arg(
        long,
        env = "IZPORT_REGISTRY_NAME",
        default_value = "The immunization registry"
    )]
    pub registry_name: String,
    /// A contact line for partner notices (repeatable), e.g. "Data exchange: dx@example.org"
    #[arg(long = "contact", env = "IZPORT_CONTACT", value_delimiter = ';')]
    pub contact: Vec<String>,
}

impl NoticeArgs {
    fn context(&self) -> NoticeContext {
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
    #[arg(long, default_value = "maintenance")]
    pub mode: String,
    /// For intermittent mode: the percentage of requests refused (1-100, default 50)
    #[arg(long)]
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

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, env = "IZPORT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM)
    #[arg(long, env = "IZPORT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, env = "IZPORT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (only behind a TLS-terminating proxy)
    #[arg(long, env = "IZPORT_INSECURE_HTTP")]
    pub insecure_http: bool,
    /// Public base URL printed in the WSDL's service address, e.g. https://iis.example.org
    #[arg(long, env = "IZPORT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest hl7Message accepted, in bytes
    #[arg(long, env = "IZPORT_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,
    /// Largest HTTP request body read, in bytes
    #[arg(long, env = "IZPORT_MAX_BODY_BYTES", default_value_t = 512 * 1024)]
    pub max_body_bytes: usize,
    /// How the registry names itself in MSH-3 of its responses
    #[arg(long, env = "IZPORT_APPLICATION", default_value = "IZPORT")]
    pub application: String,
    /// How the registry names itself in MSH-4 of its responses
    #[arg(long, env = "IZPORT_FACILITY", default_value = "IZPORT")]
    pub facility: String,
    /// Consent policy: opt-out (records shared unless protected) or opt-in (nothing kept
    /// without consent on file or affirmed in the message; Texas)
    #[arg(long, env = "IZPORT_CONSENT", default_value = "opt-out")]
    pub consent: crate::registry::consent::Policy,
    /// CVX codes of disaster-related doses, kept without consent under opt-in (comma-separated)
    #[arg(long, env = "IZPORT_DISASTER_CVX", value_delimiter = ',')]
    pub disaster_cvx: Vec<String>,
    /// The most ERR segments in an acknowledgement (a last one says how many more there were)
    #[arg(long, env = "IZPORT_ERR_LIMIT", default_value_t = crate::registry::validate::DEFAULT_ERR_LIMIT)]
    pub err_limit: usize,
    /// Candidates a history query may return when RCP-2 does not say
    #[arg(long, env = "IZPORT_QUERY_CANDIDATES", default_value_t = 10)]
    pub query_candidates: u32,
    /// The most candidates a history query may ask for in RCP-2
    #[arg(long, env = "IZPORT_QUERY_MAX_CANDIDATES", default_value_t = 20)]
    pub query_max_candidates: u32,
    /// Bearer token for the admin API (/admin/...); without it the admin API is off
    #[arg(long, env = "IZPORT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// What SOAP clients get during maintenance: html (the classic 503 page) or soap (a Fault)
    #[arg(long, env = "IZPORT_MAINTENANCE_PAGE", default_value = "html")]
    pub maintenance_page: PageFormat,
    /// How often each node re-reads maintenance windows from the database, in milliseconds
    #[arg(long, env = "IZPORT_MAINTENANCE_POLL_MS", default_value_t = 2000)]
    pub maintenance_poll_ms: u64,
    #[command(flatten)]
    pub notice: NoticeArgs,
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Register a submitting organization and its facility IDs
    Add {
        /// Organization code (unique)
        code: String,
        #[arg(long)]
        name: String,
        /// A facility ID the organization submits for (repeatable)
        #[arg(long = "facility", required = true)]
        facilities: Vec<String>,
        /// Approve it for production data at once (default: onboarding, test messages only)
        #[arg(long)]
        production: bool,
    },
    /// Approve an organization for production data (MSH-11 = P)
    Promote { code: String },
    /// Set an organization's severity for one validation rule: E, W, I, off, or default
    Rule {
        code: String,
        rule_id: String,
        severity: String,
    },
    /// Put an organization back to onboarding (test messages only)
    Demote { code: String },
    /// An organization's latest test messages and whether it has enough error-free ones in a row
    Readiness {
        code: String,
        /// Error-free test messages in a row required (the registry asks for 3 to 5)
        #[arg(long, default_value_t = 3)]
        required: usize,
        #[arg(long)]
        json: bool,
    },
    /// List organizations, their facilities and users
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum CodesCommand {
    /// Load cvx.xml, mvx.xml, vac2vg.xml, cpt.xml, NDC_Unit_use.txt, NDC_Unit_sale.txt,
    /// NDC_Linker.txt (and vis.xml, cvxvis.xml if present) from DIR into the database; servers
    /// use them from their next start
    Import { dir: PathBuf },
    /// Which code tables are in force: built-in or imported (and when)
    Status,
    /// Forget imported tables: servers use the built-in ones from their next start
    Reset,
}

#[derive(Subcommand, Debug)]
pub enum ReviewCommand {
    /// Open reviews (--all: every review)
    List {
        #[arg(long)]
        all: bool,
    },
    /// The two records are one person: merge the newer into the older (reversible)
    Merge { id: i64 },
    /// The two records are different people (undoes a merge made from this review)
    Split { id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user of an organization; prints a generated password unless --password-stdin
    Add {
        #[arg(long)]
        org: String,
        username: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password; prints a generated one unless --password-stdin
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Refuse all further requests from a user
    Disable { username: String },
    /// Allow a disabled user again
    Enable { username: String },
}

fn check_code(kind: &str, value: &str) -> anyhow::Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        bail!("{kind} '{value}' must be 1-64 letters, digits, '-', '_' or '.'");
    }
    Ok(())
}

/// A password from stdin (first line) or a newly generated one (then printed).
fn obtain_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((generate_password(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.chars().count() < 8 {
        bail!("the password must be at least 8 characters");
    }
    Ok((password, false))
}

async fn open(database_url: &str) -> anyhow::Result<Arc<Db>> {
    let db = Db::connect(database_url)
        .await
        .with_context(|| format!("opening {}", crate::store::redact_url(database_url)))?;
    db.migrate().await?;
    codes::install_imported(&db).await?;
    Ok(Arc::new(db))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        // These need no database: the load generator talks to a server, the rule list is static.
        Command::Load(args) => load(args).await,
        Command::Rules { markdown } => {
            use crate::registry::validate::{render_rules, RulesFormat};
            let format = if markdown {
                RulesFormat::Markdown
            } else {
                RulesFormat::Text
            };
            print!("{}", render_rules(format));
            Ok(())
        }
        command => {
            let db = open(&cli.database_url).await?;
            let result = dispatch(&db, command).await;
            db.close().await;
            result
        }
    }
}

async fn dispatch(db: &Arc<Db>, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate => {
            println!("database is up to date");
        }
        Command::Serve(args) => serve(db.clone(), *args).await?,
        Command::Org(OrgCommand::Add {
            code,
            name,
            facilities,
            production,
        }) => {
            check_code("organization code", &code)?;
            for f in &facilities {
                check_code("facility ID", f)?;
            }
            db.create_organization(&code, &name, &facilities, production)
                .await?;
            println!(
                "organization {code} created with facilities {} ({})",
                facilities.join(", "),
                if production {
                    "production"
                } else {
                    "onboarding: test messages only until `izport org promote`"
                }
            );
        }
        Command::Org(OrgCommand::Rule {
            code,
            rule_id,
            severity,
        }) => {
            if severity.eq_ignore_ascii_case("default") {
                db.set_rule_override(&code, &rule_id, None).await?;
                println!("{code}: {rule_id} back to its default severity");
            } else {
                let level: crate::registry::validate::Level =
                    severity.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                crate::registry::validate::check_override(&rule_id, level)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                db.set_rule_override(&code, &rule_id, Some(&level.to_string()))
                    .await?;
                println!("{code}: {rule_id} is now {level}");
            }
        }
        Command::Org(OrgCommand::Promote { code }) => {
            db.set_organization_status(&code, "production").await?;
            println!("organization {code} is approved for production data");
        }
        Command::Org(OrgCommand::Demote { code }) => {
            db.set_organization_status(&code, "onboarding").await?;
            println!("organization {code} is back to onboarding (test messages only)");
        }
        Command::Org(OrgCommand::Readiness {
            code,
            required,
            json,
        }) => {
            let r = db.readiness(&code, required).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("organization {} ({})", r.organization, r.status);
                for t in &r.recent_tests {
                    println!(
                        "  {}  {}  {}  errors {}  warnings {}",
                        t.received_at,
                        t.control_id.as_deref().unwrap_or("-"),
                        t.outcome,
                        t.errors,
                        t.warnings
                    );
                }
                println!(
                    "{} error-free test message(s) in a row; {} required: {}",
                    r.consecutive_clean,
                    r.required,
                    if r.ready {
                        "READY for production"
                    } else {
                        "not ready yet"
                    }
                );
            }
        }
        Command::Review(ReviewCommand::List { all }) => {
            let reviews = db.reviews(all).await?;
            if reviews.is_empty() {
                println!("no {}reviews", if all { "" } else { "open " });
            }
            for r in reviews {
                println!(
                    "{}\tpatient {} ~ patient {}\t{}\t{}\t{}",
                    r.id, r.patient_id, r.candidate_id, r.status, r.created_at, r.reason
                );
            }
        }
        Command::Review(ReviewCommand::Merge { id }) => {
            let (survivor, merged) = db.merge_review(id).await?;
            println!(
                "patient {merged} merged into patient {survivor} (undo: izport review split {id})"
            );
        }
        Command::Codes(CodesCommand::Import { dir }) => {
            for (table, rows) in codes::import(db, &dir).await? {
                println!("{table}\t{rows} rows");
            }
            println!("imported; running servers use these tables from their next start");
        }
        Command::Codes(CodesCommand::Status) => match codes::imported(db).await? {
            Some((sets, at)) => println!(
                "imported tables (imported {at}): {} CVX, {} MVX, {} NDC, {} CPT",
                sets.cvx_codes().count(),
                sets.mvx_codes().count(),
                sets.ndc_codes().count(),
                sets.cpt_codes().count()
            ),
            None => {
                let b = crate::registry::codes::CodeSets::builtin();
                println!(
                    "built-in tables: {} CVX, {} MVX, {} NDC, {} CPT",
                    b.cvx_codes().count(),
                    b.mvx_codes().count(),
                    b.ndc_codes().count(),
                    b.cpt_codes().count()
                );
            }
        },
        Command::Codes(CodesCommand::Reset) => {
            db.clear_code_tables().await?;
            println!(
                "imported code tables removed; servers use the built-in ones from their next start"
            );
        }
        Command::Seed {
            patients,
            org,
            seed,
        } => {
            check_code("organization code", &org)?;
            let started = std::time::Instant::now();
            let summary = seed::seed(db, &org, patients, seed, |done| {
                let pct = (done * 100).checked_div(patients).unwrap_or(100);
                let bar: String = (0..40)
                    .map(|i| if i * 100 < pct * 40 { '#' } else { '.' })
                    .collect();
                let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
                eprint!("\r[{bar}] {pct:3}% {done}/{patients} patients, {rate:.0}/s   ");
            })
            .await?;
            eprintln!();
            println!(
                "{} patients ({} twins, {} near-duplicates), {} doses in {:.1} s",
                summary.patients,
                summary.twins,
                summary.near_duplicates,
                summary.doses,
                summary.seconds
            );
        }
        Command::BenchZ34 { queries, org, json } => {
            let result = seed::bench_z34(db.clone(), &org, queries).await?;
            if json {
                println!("{}", serde_json::to_string(&result)?);
            } else {
                println!(
                    "{} Z34 queries ({} found): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                    result.queries, result.found, result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms
                );
            }
        }
        Command::Audit { patient_id } => {
            let rows = db.queries_of(patient_id).await?;
            if rows.is_empty() {
                println!("no query has returned patient {patient_id}");
            }
            for (org, user, at, returned) in rows {
                println!("{at}\t{org}\t{user}\t{returned}");
            }
        }
        Command::Review(ReviewCommand::Split { id }) => {
            db.split_review(id).await?;
            println!("review {id}: the two records are kept as different people");
        }
        Command::Org(OrgCommand::List { json }) => {
            let orgs = db.list_organizations().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&orgs)?);
            } else if orgs.is_empty() {
                println!("no organizations yet: izport org add CODE --name NAME --facility ID");
            } else {
                for o in orgs {
                    println!(
                        "{}\t{}\tfacilities: {}\tusers: {}",
                        o.code,
                        o.name,
                        o.facilities.join(","),
                        if o.users.is_empty() {
                            "-".to_string()
                        } else {
                            o.users.join(",")
                        }
                    );
                }
            }
        }
        Command::User(UserCommand::Add {
            org,
            username,
            password_stdin,
        }) => {
            check_code("username", &username)?;
            let (password, generated) = obtain_password(password_stdin)?;
            let hash = hash_password(&password)?;
            db.create_user(&org, &username, &hash).await?;
            println!("user {username} created for organization {org}");
            if generated {
                println!("password: {password}");
            }
        }
        Command::User(UserCommand::Passwd {
            username,
            password_stdin,
        }) => {
            let (password, generated) = obtain_password(password_stdin)?;
            db.set_password(&username, &hash_password(&password)?)
                .await?;
            println!("password of {username} changed");
            if generated {
                println!("password: {password}");
            }
        }
        Command::User(UserCommand::Disable { username }) => {
            db.set_user_status(&username, "disabled").await?;
            println!("user {username} disabled");
        }
        Command::User(UserCommand::Enable { username }) => {
            db.set_user_status(&username, "active").await?;
            println!("user {username} enabled");
        }
        Command::Maintenance(command) => maintenance_command(db, command).await?,
        // Handled in `run` before a database is opened.
        Command::Load(_) | Command::Rules { .. } => {}
    }
    Ok(())
}

fn seconds(value: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("{what} must be a positive number of seconds"))
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    use crate::load::{LoadOptions, Stop};
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        std::env::var("IZPORT_LOAD_PASSWORD").unwrap_or_default()
    };
    let stop = match (args.requests, args.duration) {
        (Some(n), _) => Stop::Requests(n),
        (None, Some(d)) => Stop::Duration(seconds(d, "--duration")?),
        (None, None) => Stop::Duration(Duration::from_secs(10)),
    };
    let options = LoadOptions {
        username: args.username,
        password,
        facility: args.facility,
        concurrency: args.concurrency,
        stop,
        mix: args.mix,
        ca_cert: args.ca_cert,
        insecure: args.insecure,
        seed: args.seed.unwrap_or_else(rand::random),
        timeout: seconds(args.timeout, "--timeout")?,
        ..LoadOptions::new(args.url)
    };
    let report = crate::load::run_until(&options, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    print!("{}", report.render_text());
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    if report.failures() > 0 {
        anyhow::bail!(
            "{} of {} requests failed",
            report.failures(),
            report.requests
        );
    }
    Ok(())
}

fn window_request(window: WindowArgs, kind: Option<String>) -> WindowRequest {
    WindowRequest {
        tz: Some(window.tz),
        reason: window.reason,
        mode: Some(window.mode),
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

async fn maintenance_command(db: &Db, command: MaintenanceCommand) -> anyhow::Result<()> {
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
                .ok_or_else(|| anyhow::anyhow!("no maintenance window {id}"))?;
            print!("{}", maintenance::notice::render(&w, &args.context()));
        }
    }
    Ok(())
}

async fn serve(db: Arc<Db>, args: ServeArgs) -> anyhow::Result<()> {
    let options = ServerOptions {
        listen: args.listen,
        tls: args.tls_cert.zip(args.tls_key),
        insecure_http: args.insecure_http,
        public_url: args.public_url,
        limits: Limits {
            max_message_bytes: args.max_message_bytes,
            max_body_bytes: args.max_body_bytes,
        },
        registry: RegistryConfig {
            identity: RegistryIdentity {
                application: args.application,
                facility: args.facility,
            },
            consent: ConsentConfig {
                policy: args.consent,
                disaster_cvx: args
                    .disaster_cvx
                    .iter()
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect(),
            },
            query: crate::registry::query::QueryLimits {
                default_max_candidates: args.query_candidates.max(1),
                max_candidates: args.query_max_candidates.max(args.query_candidates.max(1)),
            },
            err_limit: args.err_limit.max(1),
        },
        maintenance: MaintenanceConfig {
            page_format: args.maintenance_page,
            poll_interval: Duration::from_millis(args.maintenance_poll_ms.max(50)),
            ..MaintenanceConfig::default()
        },
        admin_token: args.admin_token,
        notice: args.notice.context(),
        clock: Arc::new(SystemClock),
        ids: Arc::new(crate::clock::RandomIds),
        files: crate::batch::FileDoorOptions::default(),
    };
    let tls = options.tls.is_some();
    let server = server::start(db, options).await?;
    let scheme = if tls { "https" } else { "http" };
    tracing::info!(
        "izport listening on {scheme}://{}/soap (WSDL at /soap?wsdl)",
        server.addr
    );
    println!("izport listening on {scheme}://{}/soap", server.addr);
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop.send(true);
    });
    server.wait().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
