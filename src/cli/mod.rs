//! The `izport` command line: run the service and administer the registry. One module per
//! command group, each with its own `run`; this module only parses and hands over.
//!
//! Defaults are the library's own (see [`serve`]), and out-of-range values are refused by the
//! parser with a message, never clamped. Only `serve` and `migrate` may create a database
//! ([`database`]).

pub mod batch;
pub mod cdsi;
pub mod cnf;
pub mod codes;
pub mod database;
pub mod docs;
pub mod dqa;
pub mod forecast;
pub mod maintenance;
pub mod org;
pub mod review;
pub mod rules;
pub mod serve;
pub mod user;

use anyhow::bail;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use database::{DatabaseArgs, Open};

#[derive(Parser, Debug)]
#[command(
    name = "izport",
    version,
    about = "Immunization registry data exchange: the CDC IIS SOAP web service and the registry behind it"
)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web service (creates and migrates the database first)
    Serve(Box<serve::ServeArgs>),
    /// Create the database if missing, apply migrations and exit
    Migrate,
    /// Manage submitting organizations
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Manage the users organizations authenticate as
    #[command(subcommand)]
    User(user::UserCommand),
    /// Maintenance windows, outage drills and the downtime log
    #[command(subcommand)]
    Maintenance(maintenance::MaintenanceCommand),
    /// Possible patient matches waiting for a person: list, merge (reversible), split
    #[command(subcommand)]
    Review(review::ReviewCommand),
    /// Who looked at a patient's record: every query that returned it
    Audit(review::AuditArgs),
    /// Every validation rule: id, default severity, what an error rejects, location, codes
    Rules(rules::RulesArgs),
    /// CDC code sets: import CDC's published files, show what is in force, go back to built-in
    #[command(subcommand)]
    Codes(codes::CodesCommand),
    /// Batch files received by SFTP: list, show, reprocess, and import a file by hand
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// The built-in SFTP server (the file door)
    #[command(subcommand)]
    Sftp(batch::SftpCommand),
    /// Consent notification lines for an organization's messages of a period (the format of
    /// Receive/<name>.cnf), web-service submissions and batch files alike
    Cnf(cnf::CnfArgs),
    /// Data quality reports over a period, for both doors
    #[command(subcommand)]
    Dqa(dqa::DqaCommand),
    /// CDC CDSi evaluation and forecast: for a registry patient, or CDC's test cases
    Forecast(forecast::ForecastArgs),
    /// CDC's CDSi supporting data: import CDC's XML, show what is in use, go back to built-in
    #[command(subcommand)]
    Cdsi(cdsi::CdsiCommand),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let how = match &cli.command {
        Command::Serve(_) | Command::Migrate => Open::CreateIfMissing,
        _ => Open::Existing,
    };
    let command = match cli.command {
        // The rule list is static: no database at all.
        Command::Rules(args) => {
            rules::run(args);
            return Ok(());
        }
        // CDC's test cases need the built-in data only.
        Command::Forecast(args) if !args.needs_database() => {
            if let Some(file) = &args.cases {
                forecast::run_cases(file, args.json)?;
            }
            return Ok(());
        }
        command => command,
    };
    let db = cli.database.open(how).await?;
    let result = match command {
        Command::Serve(args) => serve::run(db.clone(), *args).await,
        Command::Migrate => {
            println!("database is up to date");
            Ok(())
        }
        Command::Org(command) => org::run(&db, command).await,
        Command::User(command) => user::run(&db, command).await,
        Command::Maintenance(command) => maintenance::run(&db, command).await,
        Command::Review(command) => review::run(&db, command).await,
        Command::Audit(args) => review::audit(&db, args).await,
        Command::Codes(command) => codes::run(&db, command).await,
        Command::Batch(command) => batch::run(&db, command).await,
        Command::Sftp(command) => batch::sftp(&db, command).await,
        Command::Cnf(args) => cnf::run(&db, args).await,
        Command::Dqa(command) => dqa::run(&db, command).await,
        Command::Forecast(args) => forecast::run(&db, args).await,
        Command::Cdsi(command) => cdsi::run(&db, command).await,
        Command::Rules(args) => {
            rules::run(args);
            Ok(())
        }
    };
    db.close().await;
    result
}

/// How log lines are written (`serve --log-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, the request's span (with its id) in front.
    #[default]
    Text,
    /// One JSON object per line, the request's span fields under `span`.
    Json,
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

impl Cli {
    /// The log format the command asks for (only `serve` has a choice).
    pub fn log_format(&self) -> LogFormat {
        match &self.command {
            Command::Serve(args) => args.log_format,
            _ => LogFormat::Text,
        }
    }
}

/// Logs to standard error, filtered by `IZPORT_LOG` (default `info`). PostgreSQL's notices
/// (such as the "already exists, skipping" sqlx's migrator provokes on every start) are left out
/// unless the filter names sqlx itself.
pub fn init_logging(format: LogFormat) {
    let configured = std::env::var("IZPORT_LOG").ok();
    let mut filter = configured
        .as_deref()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    if !configured.as_deref().unwrap_or("").contains("sqlx") {
        if let Ok(quiet) = "sqlx::postgres::notice=warn".parse() {
            filter = filter.add_directive(quiet);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// The exit status of a command: success, or failure after the error and its causes are
/// printed on standard error.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Organization codes, facility IDs and usernames: 1-64 letters, digits, '-', '_' or '.'.
pub fn check_code(kind: &str, value: &str) -> anyhow::Result<()> {
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
