//! `izport cnf`: an organization's consent notification lines over a period, for its batch files
//! (web-service submissions are not yet included).

use anyhow::{anyhow, bail};
use clap::Args;

use crate::date::{parse_iso, Date};
use crate::store::Db;

/// `izport cnf --org CODE --from DATE --to DATE`
#[derive(Args, Debug)]
pub struct CnfArgs {
    /// The organization
    #[arg(long)]
    pub org: String,
    /// The first day (YYYY-MM-DD, UTC) of the period
    #[arg(long, value_parser = iso_date)]
    pub from: Date,
    /// The last day (YYYY-MM-DD, UTC) of the period, included
    #[arg(long, value_parser = iso_date)]
    pub to: Date,
}

fn iso_date(text: &str) -> Result<Date, String> {
    parse_iso(text).ok_or_else(|| format!("'{text}' is not a date (YYYY-MM-DD)"))
}

pub async fn run(db: &Db, args: CnfArgs) -> anyhow::Result<()> {
    if args.from > args.to {
        bail!("--from {} is after --to {}", args.from, args.to);
    }
    let known = db
        .list_organizations()
        .await?
        .iter()
        .any(|o| o.code == args.org);
    if !known {
        return Err(anyhow!("no organization {}", args.org));
    }
    let (text, files) = crate::dqa::period_cnf(db, &args.org, args.from, args.to).await?;
    print!("{text}");
    eprintln!(
        "{files} batch file(s) of {} processed from {} to {} (web-service submissions are not \
         included)",
        args.org, args.from, args.to
    );
    Ok(())
}
