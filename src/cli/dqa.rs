//! `izport dqa report`: an organization's data quality report over a period, for both doors
//! (web-service submissions and batch files), as HTML or JSON.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};

use super::cnf::iso_date;
use crate::clock::{Clock, SystemClock};
use crate::date::Date;
use crate::store::Db;

#[derive(Subcommand, Debug)]
pub enum DqaCommand {
    /// An organization's data quality report over a period (UTC days, both included): the
    /// web-service messages received in it and the batch files processed in it
    Report(ReportArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Html,
    Json,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The organization
    #[arg(long)]
    pub org: String,
    /// The first day (YYYY-MM-DD, UTC) of the period
    #[arg(long, value_parser = iso_date)]
    pub from: Date,
    /// The last day (YYYY-MM-DD, UTC) of the period, included
    #[arg(long, value_parser = iso_date)]
    pub to: Date,
    /// html (a standalone page) or json (docs/dqa-report.schema.json)
    #[arg(long, value_enum, default_value = "html")]
    pub format: ReportFormat,
    /// Write the report to FILE instead of standard output
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A JSON file of data quality report weights (docs/dqa.md), as `serve --dqa-weights`
    #[arg(long, env = "IZPORT_DQA_WEIGHTS")]
    pub dqa_weights: Option<PathBuf>,
}

pub async fn run(db: &Db, command: DqaCommand) -> anyhow::Result<()> {
    match command {
        DqaCommand::Report(args) => report(db, args).await,
    }
}

async fn report(db: &Db, args: ReportArgs) -> anyhow::Result<()> {
    if args.from > args.to {
        bail!("--from {} is after --to {}", args.from, args.to);
    }
    let weights = match &args.dqa_weights {
        Some(path) => super::batch::read_dqa_weights(path)?,
        None => crate::dqa::Weights::default(),
    };
    if db.organization_id(&args.org).await?.is_none() {
        bail!("no organization {}", args.org);
    }
    let report = crate::dqa::period_report(
        db,
        &args.org,
        args.from,
        args.to,
        &weights,
        SystemClock.now(),
    )
    .await?;
    let text = match args.format {
        ReportFormat::Html => crate::dqa::html::render(&report),
        ReportFormat::Json => crate::dqa::to_json(&report) + "\n",
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("--output: writing {}", path.display()))?,
        None => print!("{text}"),
    }
    let doors = report.doors.unwrap_or_default();
    eprintln!(
        "{} message(s) of {} from {} to {}: {} through the web service, {} in {} batch file(s)",
        report.counts.messages,
        args.org,
        args.from,
        args.to,
        doors.web_service,
        doors.batch_file,
        doors.files
    );
    Ok(())
}
