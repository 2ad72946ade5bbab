//! `izport review …` and `izport audit`: possible patient matches waiting for a person, and who
//! looked at a record.

use clap::{Args, Subcommand};

use crate::store::Db;

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

pub async fn run(db: &Db, command: ReviewCommand) -> anyhow::Result<()> {
    match command {
        ReviewCommand::List { all } => {
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
        ReviewCommand::Merge { id } => {
            let (survivor, merged) = db.merge_review(id).await?;
            println!(
                "patient {merged} merged into patient {survivor} (undo: izport review split {id})"
            );
        }
        ReviewCommand::Split { id } => {
            db.split_review(id).await?;
            println!("review {id}: the two records are kept as different people");
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The registry patient id (PID-3 type SR in responses)
    pub patient_id: i64,
}

/// `izport audit`: every query that returned the patient (organization, user, time).
pub async fn audit(db: &Db, args: AuditArgs) -> anyhow::Result<()> {
    let patient_id = args.patient_id;
    let rows = db.queries_of(patient_id).await?;
    if rows.is_empty() {
        println!("no query has returned patient {patient_id}");
    }
    for (org, user, at, returned) in rows {
        println!("{at}\t{org}\t{user}\t{returned}");
    }
    Ok(())
}
