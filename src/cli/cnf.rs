//! `izport cnf`: an organization's consent notification lines over a period, for both doors
//! (web-service submissions and batch files).

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

pub(super) fn iso_date(text: &str) -> Result<Date, String> {
    parse_iso(text).ok_or_else(|| format!("'{text}' is not a date (YYYY-MM-DD)"))
}

pub async fn run(db: &Db, args: CnfArgs) -> anyhow::Result<()> {
    if args.from > args.to {
        bail!("--from {} is after --to {}", args.from, args.to);
    }
    if db.organization_id(&args.org).await?.is_none() {
        return Err(anyhow!("no organization {}", args.org));
    }
    let (text, messages) = crate::dqa::period_cnf(db, &args.org, args.from, args.to).await?;
    print!("{text}");
    eprintln!(
        "{messages} message(s) of {} from {} to {} (web-service submissions received and batch \
         files processed in those days)",
        args.org, args.from, args.to
    );
    Ok(())
}
