//! `izport cdsi`: taking a new release of CDC's CDSi supporting data without a new izport.
//!
//! `import DIR --release V` reads CDC's supporting-data XML (`AntigenSupportingData- *.xml`,
//! `ScheduleSupportingData.xml`) with izport-cdsi's reader, renders it as izport's compact text,
//! checks that the text reads back to the same data, and stores it with its release; servers
//! forecast with it from their next start (`server::load_schedule`). `status` says which data is
//! in use; `reset` goes back to the data built into the binary.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;
use izport_cdsi::SupportingData;

use crate::registry::forecast::Schedule;
use crate::store::Db;

#[derive(Subcommand, Debug)]
pub enum CdsiCommand {
    /// Load CDC's supporting-data XML files from DIR (or DIR/supporting-data) into the
    /// database; servers forecast with them from their next start
    Import {
        dir: PathBuf,
        /// The release the files are (CDC's XML does not say), e.g. 4.64
        #[arg(long)]
        release: String,
    },
    /// Which supporting data servers forecast with: built-in or imported (and when)
    Status,
    /// Forget the imported data: servers use the built-in data from their next start
    Reset,
}

pub async fn run(db: &Db, command: CdsiCommand) -> anyhow::Result<()> {
    match command {
        CdsiCommand::Import { dir, release } => {
            let data = import(db, &dir, &release).await?;
            println!("imported {}", describe(&data));
            println!("servers forecast with it from their next start");
        }
        CdsiCommand::Status => {
            let schedule = crate::server::load_schedule(db).await?;
            println!("{} ({})", describe(schedule.data()), schedule.origin());
        }
        CdsiCommand::Reset => {
            db.clear_cdsi_data().await?;
            let builtin = Schedule::builtin()?;
            println!(
                "imported supporting data removed; servers use the built-in data ({}) from their \
                 next start",
                builtin.version()
            );
        }
    }
    Ok(())
}

/// "supporting data 4.64: 30 antigens, 143 series, 26 vaccine groups".
pub fn describe(data: &SupportingData) -> String {
    format!(
        "supporting data {}: {} antigens, {} series, {} vaccine groups",
        data.version,
        data.antigens.len(),
        data.antigens.iter().map(|a| a.series.len()).sum::<usize>(),
        data.vaccine_groups.len()
    )
}

/// The `*.xml` files of `dir` (or of `dir/supporting-data` when `dir` has none), sorted.
fn xml_files(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let read = |dir: &Path| -> anyhow::Result<Vec<(String, String)>> {
        let mut files = Vec::new();
        let entries = std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
        for entry in entries {
            let path = entry.with_context(|| format!("{}", dir.display()))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, text));
        }
        files.sort();
        Ok(files)
    };
    let files = read(dir)?;
    if files.is_empty() && dir.join("supporting-data").is_dir() {
        return read(&dir.join("supporting-data"));
    }
    Ok(files)
}

/// Reads CDC's XML in `dir`, stores it as compact text labelled `release`; returns the data.
pub async fn import(db: &Db, dir: &Path, release: &str) -> anyhow::Result<SupportingData> {
    let release = release.trim();
    if release.is_empty() {
        bail!("--release must name the release, e.g. 4.64");
    }
    let files = xml_files(dir)?;
    if files.is_empty() {
        bail!("no XML files in {}: nothing imported", dir.display());
    }
    let data = SupportingData::from_xml(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
        .with_context(|| format!("reading CDC's supporting data in {}", dir.display()))?
        .with_version(release);
    if data.antigens.is_empty() || data.vaccine_groups.is_empty() {
        bail!(
            "{} holds no antigen or no vaccine group: nothing imported",
            dir.display()
        );
    }
    let compact = data.to_compact();
    // What we store must read back to the same data: check before replacing what is in use.
    let back = SupportingData::from_compact(&compact)
        .context("the compact rendering does not read back")?;
    if back != data {
        bail!("the compact rendering reads back differently: nothing imported");
    }
    db.save_cdsi_data(release, &compact).await?;
    Ok(data)
}
