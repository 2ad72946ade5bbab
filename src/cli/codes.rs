//! `izport codes`: taking CDC's monthly code-set update without a new release.
//!
//! `import DIR` parses CDC's published files (cvx.xml, mvx.xml, vac2vg.xml, cpt.xml, the NDC
//! unit-of-use/-sale/linker files, and optionally vis.xml and cvxvis.xml) with the project's own
//! parsers and stores the resulting tables in the database, in the same format the binary ships.
//! Every izport process installs them over the built-in tables when it starts.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::registry::codes::{cdc, CodeSets, TsvTables};
use crate::store::Db;

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

pub async fn run(db: &Db, command: CodesCommand) -> anyhow::Result<()> {
    match command {
        CodesCommand::Import { dir } => {
            for (table, rows) in import(db, &dir).await? {
                println!("{table}\t{rows} rows");
            }
            println!("imported; running servers use these tables from their next start");
        }
        CodesCommand::Status => match imported(db).await? {
            Some((sets, at)) => print_counts(&format!("imported tables (imported {at})"), &sets),
            None => print_counts("built-in tables", CodeSets::builtin()),
        },
        CodesCommand::Reset => {
            db.clear_code_tables().await?;
            println!(
                "imported code tables removed; servers use the built-in ones from their next start"
            );
        }
    }
    Ok(())
}

fn print_counts(what: &str, sets: &CodeSets) {
    println!(
        "{what}: {} CVX, {} MVX, {} NDC, {} CPT",
        sets.cvx_codes().count(),
        sets.mvx_codes().count(),
        sets.ndc_codes().count(),
        sets.cpt_codes().count()
    );
}

/// Parses CDC's files in `dir` and stores them; returns (table, rows) per table.
pub async fn import(db: &Db, dir: &Path) -> anyhow::Result<Vec<(String, usize)>> {
    let records = cdc::read_cdc_dir(dir)
        .with_context(|| format!("reading CDC code files in {}", dir.display()))?;
    let sets = records.to_code_sets();
    if sets.cvx_codes().next().is_none() {
        anyhow::bail!("no CVX codes found in {}: nothing imported", dir.display());
    }
    let tables = sets.to_tsv();
    // What we store must read back: check before replacing what is in force.
    tables_to_sets(tables.iter().map(|(n, c)| (*n, c.as_str())))
        .context("the imported tables do not read back")?;
    db.save_code_tables(&tables).await?;
    Ok(tables
        .iter()
        .map(|(name, content)| (name.to_string(), content.lines().count().saturating_sub(1)))
        .collect())
}

fn tables_to_sets<'a>(
    tables: impl Iterator<Item = (&'a str, &'a str)>,
) -> anyhow::Result<CodeSets> {
    let mut t = TsvTables::default();
    for (name, content) in tables {
        match name {
            TsvTables::CVX_FILE => t.cvx = content,
            TsvTables::VACCINE_GROUPS_FILE => t.vaccine_groups = content,
            TsvTables::MVX_FILE => t.mvx = content,
            TsvTables::NDC_FILE => t.ndc = content,
            TsvTables::CPT_FILE => t.cpt = content,
            TsvTables::VIS_FILE => t.vis = content,
            TsvTables::CVX_VIS_FILE => t.cvx_vis = content,
            other => anyhow::bail!("unknown code table {other}"),
        }
    }
    Ok(CodeSets::from_tsv(&t)?)
}

/// Reads the imported tables, if any, into code sets (`None`: use the built-in ones), with the
/// time they were imported.
pub async fn imported(db: &Db) -> anyhow::Result<Option<(CodeSets, String)>> {
    let rows = db.code_tables().await?;
    let Some(imported_at) = rows.first().map(|r| r.2.clone()) else {
        return Ok(None);
    };
    let sets = tables_to_sets(rows.iter().map(|(n, c, _)| (n.as_str(), c.as_str())))
        .context("the imported code tables cannot be read; run `izport codes reset`")?;
    Ok(Some((sets, imported_at)))
}

/// Puts the imported tables in force for this process (at start-up).
pub async fn install_imported(db: &Db) -> anyhow::Result<()> {
    if let Some((sets, at)) = imported(db).await? {
        if CodeSets::install(sets) {
            tracing::info!(imported_at = %at, "using code tables imported from CDC files");
        }
    }
    Ok(())
}
