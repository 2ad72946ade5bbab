//! `izport org …`: submitting organizations, their facilities, production approval and
//! per-organization rule severities.

use anyhow::anyhow;
use clap::builder::RangedU64ValueParser;
use clap::Subcommand;

use super::check_code;
use crate::registry::validate::{check_override, Level};
use crate::store::Db;

/// Error-free test messages in a row `org readiness` asks for unless told otherwise.
pub const DEFAULT_REQUIRED_CLEAN_TESTS: usize = crate::store::DEFAULT_REQUIRED_CLEAN_TESTS;

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
        #[arg(long, default_value_t = DEFAULT_REQUIRED_CLEAN_TESTS,
              value_parser = RangedU64ValueParser::<usize>::new().range(1..=1000))]
        required: usize,
        #[arg(long)]
        json: bool,
    },
    /// Create or change the organization's data exchange account (the file door's SFTP login):
    /// its import code and password, public keys, acknowledgement options
    ExchangeAccount(super::batch::ExchangeAccountArgs),
    /// Bind client certificates (mutual TLS) to the organization, unbind them, or list them: a
    /// request over a bound certificate must carry this organization's credentials
    Cert(CertArgs),
    /// List organizations (production or onboarding), their facilities and users
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["add", "remove", "list"])))]
pub struct CertArgs {
    /// Organization code
    pub code: String,
    /// Bind the certificate in this PEM file (its first certificate, the client's own)
    #[arg(long, value_name = "FILE.pem")]
    pub add: Option<std::path::PathBuf>,
    /// Unbind the certificate with this SHA-256 fingerprint (hex, colons allowed)
    #[arg(long, value_name = "FINGERPRINT")]
    pub remove: Option<String>,
    /// The certificates bound to the organization: fingerprint and when it was bound
    #[arg(long)]
    pub list: bool,
}

async fn cert(db: &Db, args: CertArgs) -> anyhow::Result<()> {
    let code = args.code;
    if let Some(path) = args.add {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow!("reading {}: {e}", path.display()))?;
        let (fingerprint, pem) = crate::auth::read_pem_certificate(&text)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        db.add_client_cert(&code, &fingerprint, &pem).await?;
        println!("certificate {fingerprint} (SHA-256) bound to {code}");
    } else if let Some(text) = args.remove {
        let fingerprint = crate::auth::parse_fingerprint(&text).map_err(|e| anyhow!("{e}"))?;
        db.remove_client_cert(&code, &fingerprint).await?;
        println!("certificate {fingerprint} no longer bound to {code}");
    } else {
        let certs = db.client_certs(&code).await?;
        if certs.is_empty() {
            println!(
                "no client certificates bound to {code}: izport org cert {code} --add FILE.pem"
            );
        }
        for c in certs {
            println!("{}\tbound {}", c.fingerprint, c.created_at);
        }
    }
    Ok(())
}

pub async fn run(db: &Db, command: OrgCommand) -> anyhow::Result<()> {
    match command {
        OrgCommand::Add {
            code,
            name,
            facilities,
            production,
        } => {
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
        OrgCommand::Rule {
            code,
            rule_id,
            severity,
        } => {
            if severity.eq_ignore_ascii_case("default") {
                db.set_rule_override(&code, &rule_id, None).await?;
                println!("{code}: {rule_id} back to its default severity");
            } else {
                let level: Level = severity.parse().map_err(|e| anyhow!("{e}"))?;
                check_override(&rule_id, level).map_err(|e| anyhow!("{e}"))?;
                db.set_rule_override(&code, &rule_id, Some(&level.to_string()))
                    .await?;
                println!("{code}: {rule_id} is now {level}");
            }
        }
        OrgCommand::Promote { code } => {
            db.set_organization_status(&code, "production").await?;
            println!("organization {code} is approved for production data");
        }
        OrgCommand::Demote { code } => {
            db.set_organization_status(&code, "onboarding").await?;
            println!("organization {code} is back to onboarding (test messages only)");
        }
        OrgCommand::Readiness {
            code,
            required,
            json,
        } => {
            let r = db.readiness(&code, required).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
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
        OrgCommand::ExchangeAccount(args) => super::batch::exchange_account(db, args).await?,
        OrgCommand::Cert(args) => cert(db, args).await?,
        OrgCommand::List { json } => {
            let orgs = db.list_organizations().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&orgs)?);
            } else if orgs.is_empty() {
                println!("no organizations yet: izport org add CODE --name NAME --facility ID");
            } else {
                print!("{}", org_table(&orgs));
            }
        }
    }
    Ok(())
}

/// `org list` for a person: a header, then one row per organization with its status
/// (`production` or `onboarding`) in a column of its own, columns padded to line up.
pub fn org_table(orgs: &[crate::store::OrgSummary]) -> String {
    let dash = |list: &[String]| {
        if list.is_empty() {
            "-".to_string()
        } else {
            list.join(",")
        }
    };
    let mut rows = vec![[
        "CODE".to_string(),
        "NAME".to_string(),
        "STATUS".to_string(),
        "FACILITIES".to_string(),
        "USERS".to_string(),
    ]];
    rows.extend(orgs.iter().map(|o| {
        [
            o.code.clone(),
            o.name.clone(),
            o.status.clone(),
            dash(&o.facilities),
            dash(&o.users),
        ]
    }));
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OrgSummary;

    #[test]
    fn the_org_table_has_a_status_column() {
        let org = |code: &str, name: &str, status: &str, users: &[&str]| OrgSummary {
            code: code.into(),
            name: name.into(),
            status: status.into(),
            facilities: vec![format!("{code}FAC")],
            users: users.iter().map(|u| u.to_string()).collect(),
        };
        let table = org_table(&[
            org("DEMO", "Demo Clinic", "production", &["demo"]),
            org("NEWCO", "A New Clinic", "onboarding", &[]),
        ]);
        assert_eq!(
            table,
            "CODE   NAME          STATUS      FACILITIES  USERS\n\
             DEMO   Demo Clinic   production  DEMOFAC     demo\n\
             NEWCO  A New Clinic  onboarding  NEWCOFAC    -\n"
        );
    }
}
