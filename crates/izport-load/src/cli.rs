//! The `izport-load` command: `run` (load against a running server), `seed` (synthetic
//! patients into a registry database) and `bench-z34` (history-query latency in process).
//!
//! Defaults are the library's constants; out-of-range values are refused by the parser.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand};
use izport::cli::check_code;
use izport::cli::database::{DatabaseArgs, Open};

use crate::load::{
    self, LoadOptions, Mix, Stop, DEFAULT_CONCURRENCY, DEFAULT_DURATION, DEFAULT_TIMEOUT,
    MAX_CONCURRENCY, MAX_DURATION, MAX_REQUESTS, MAX_TIMEOUT,
};
use crate::seed::{self, DEFAULT_QUERIES, DEFAULT_SEED, DEFAULT_SEED_ORG, MAX_PATIENTS};

/// Where `run` sends requests unless told otherwise: `izport serve`'s default address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/soap";

#[derive(Parser, Debug)]
#[command(
    name = "izport-load",
    version,
    about = "Load, synthetic data and latency tools for izport (outside the service)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Drive a running izport with synthetic VXU / Z34 / connectivityTest traffic, verify every
    /// answer, and report throughput and latency percentiles
    Run(RunArgs),
    /// Fill a registry database with realistic synthetic patients and histories (for
    /// benchmarks and test environments), with a progress bar
    Seed(SeedArgs),
    /// Measure history-query latency (Z34, or Z44 with evaluation and forecast) inside the
    /// service against seeded patients
    BenchZ34(BenchArgs),
    /// Write a synthetic HL7 batch file (FHS/BHS, N VXUs for new patients, BTS/FTS) named as
    /// the file door expects, for loading and throughput measurements
    BatchFile(BatchFileArgs),
}

#[derive(Args, Debug)]
pub struct BatchFileArgs {
    /// How many VXU messages
    #[arg(long, value_parser = RangedU64ValueParser::<u64>::new().range(1..=10_000_000))]
    pub messages: u64,
    /// The data exchange account's import code (the file is named IMPORTCODEYYDDD.hl7)
    #[arg(long)]
    pub import_code: String,
    /// The folder the file is written to
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// MSH-4 of every message
    #[arg(long, default_value = "LOADFAC")]
    pub facility: String,
    /// Seed of the synthetic data (the same seed gives the same file)
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
}

/// Whole and fractional seconds, from 1 ms up to `max`.
fn seconds(max: Duration) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync {
    move |text: &str| {
        let value: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not a number of seconds"))?;
        if value.is_finite() && value >= 0.001 && value <= max.as_secs_f64() {
            Ok(value)
        } else {
            Err(format!(
                "must be from 0.001 to {} seconds, not {text}",
                max.as_secs()
            ))
        }
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The SOAP endpoint (http or https); a bare host:port URL posts to /soap
    #[arg(long, default_value = DEFAULT_URL)]
    pub url: String,
    /// The user to submit as (needed unless the mix is connectivity alone)
    #[arg(long, default_value = "")]
    pub username: String,
    /// Read the password from the first line of standard input (else IZPORT_LOAD_PASSWORD)
    #[arg(long)]
    pub password_stdin: bool,
    /// The facility ID to submit for
    #[arg(long, default_value = "")]
    pub facility: String,
    /// Concurrent connections
    #[arg(short = 'c', long, default_value_t = DEFAULT_CONCURRENCY,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_CONCURRENCY as u64))]
    pub concurrency: usize,
    /// Run for this many seconds (unless --requests is given)
    #[arg(long, conflicts_with = "requests", default_value_t = DEFAULT_DURATION.as_secs_f64(),
          value_parser = seconds(MAX_DURATION))]
    pub duration: f64,
    /// Send this many requests in all
    #[arg(short = 'n', long, value_parser = RangedU64ValueParser::<u64>::new().range(1..=MAX_REQUESTS))]
    pub requests: Option<u64>,
    /// Request mix: "vxu=80,z34=20", "vxu", "connectivity" (the HTTP + SOAP ceiling), or
    /// "wrong-password" (a password-guessing flood: ok when refused; needs no password)
    #[arg(long, default_value_t = Mix::default())]
    pub mix: Mix,
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
    #[arg(long, default_value_t = DEFAULT_TIMEOUT.as_secs_f64(), value_parser = seconds(MAX_TIMEOUT))]
    pub timeout: f64,
    /// Print the report as one JSON object on the last line of stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SeedArgs {
    /// How many patients
    #[arg(long, value_parser = RangedU64ValueParser::<u64>::new().range(1..=MAX_PATIENTS))]
    pub patients: u64,
    /// The organization the synthetic records belong to (created if missing)
    #[arg(long, default_value = DEFAULT_SEED_ORG)]
    pub org: String,
    /// Seed of the synthetic data (the same seed gives the same patients)
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// How many queries, one at a time, each for a random seeded patient
    #[arg(long, default_value_t = DEFAULT_QUERIES,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub queries: usize,
    /// The organization that was seeded
    #[arg(long, default_value = DEFAULT_SEED_ORG)]
    pub org: String,
    /// The query profile: z34 (history, answered Z32) or z44 (evaluated history and
    /// forecast, answered Z42)
    #[arg(long, value_enum, default_value_t = seed::QueryProfile::Z34)]
    pub profile: seed::QueryProfile,
    /// Print the result as one JSON object
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run_load(args).await,
        Command::Seed(args) => run_seed(args).await,
        Command::BenchZ34(args) => run_bench(args).await,
        Command::BatchFile(args) => run_batch_file(args),
    }
}

fn run_batch_file(args: BatchFileArgs) -> anyhow::Result<()> {
    use std::io::Write;
    check_code("import code", &args.import_code)?;
    let now = jiff::Timestamp::now();
    let day = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let name = format!(
        "{}{:02}{:03}.hl7",
        args.import_code.to_ascii_uppercase(),
        day.year() % 100,
        day.day_of_year()
    );
    let path = args.out.join(&name);
    let file = std::fs::File::create(&path)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let stamp = now.strftime("%Y%m%d%H%M%S+0000").to_string();
    write!(
        out,
        "FHS|^~\\&|LOADEHR|{0}|IZPORT|IZPORT|{stamp}||{name}||F{1}\r\nBHS|^~\\&|LOADEHR|{0}|IZPORT|IZPORT|{stamp}||||B{1}\r\n",
        args.facility, args.seed
    )?;
    let mut generator = crate::synth::Generator::new(args.seed, 0, &args.facility, now);
    let mut bytes = 0u64;
    for _ in 0..args.messages {
        let patient = generator.patient();
        let message = generator.vxu(&patient);
        for segment in message.text.split('\r').filter(|s| !s.is_empty()) {
            out.write_all(segment.as_bytes())?;
            out.write_all(b"\r\n")?;
            bytes += segment.len() as u64 + 2;
        }
    }
    write!(out, "BTS|{}\r\nFTS|1\r\n", args.messages)?;
    out.flush()?;
    eprintln!(
        "{} messages, {:.1} MB of messages",
        args.messages,
        bytes as f64 / 1e6
    );
    println!("{}", path.display());
    Ok(())
}

async fn run_load(args: RunArgs) -> anyhow::Result<()> {
    let password = if args.password_stdin {
        izport::cli::user::read_stdin_line()?
    } else {
        std::env::var("IZPORT_LOAD_PASSWORD").unwrap_or_default()
    };
    let stop = match args.requests {
        Some(n) => Stop::Requests(n),
        None => Stop::Duration(Duration::from_secs_f64(args.duration)),
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
        timeout: Duration::from_secs_f64(args.timeout),
        ..LoadOptions::new(args.url)
    };
    let report = load::run_until(&options, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    print!("{}", report.render_text());
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    if report.failures() > 0 {
        bail!(
            "{} of {} requests failed",
            report.failures(),
            report.requests
        );
    }
    Ok(())
}

async fn run_seed(args: SeedArgs) -> anyhow::Result<()> {
    check_code("organization code", &args.org)?;
    let db = args.database.open(Open::Existing).await?;
    let patients = args.patients;
    let started = std::time::Instant::now();
    let summary = seed::seed(&db, &args.org, patients, args.seed, |done| {
        let pct = (done * 100).checked_div(patients).unwrap_or(100);
        let bar: String = (0..40)
            .map(|i| if i * 100 < pct * 40 { '#' } else { '.' })
            .collect();
        let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
        eprint!("\r[{bar}] {pct:3}% {done}/{patients} patients, {rate:.0}/s   ");
    })
    .await;
    eprintln!();
    db.close().await;
    let summary = summary?;
    println!(
        "{} patients ({} twins, {} near-duplicates), {} doses in {:.1} s",
        summary.patients, summary.twins, summary.near_duplicates, summary.doses, summary.seconds
    );
    Ok(())
}

async fn run_bench(args: BenchArgs) -> anyhow::Result<()> {
    let db = args.database.open(Open::Existing).await?;
    let result = seed::bench_z34(db.clone(), &args.org, args.queries, args.profile).await;
    db.close().await;
    let result = result?;
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "{} {} queries ({} found): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            result.queries,
            args.profile.name(),
            result.found,
            result.p50_ms,
            result.p90_ms,
            result.p99_ms,
            result.max_ms
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_parser_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The README's `izport-load` rows name only commands and flags the parser has, and every
    /// command the parser has.
    #[test]
    fn the_readme_commands_table_matches_the_parser() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).expect("the README");
        let problems = izport::cli::docs::commands_table_problems(
            izport::cli::docs::section(&readme, "Commands"),
            "izport-load",
            &Cli::command(),
        );
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for args in [
            &["izport-load", "run", "-c", "0"][..],
            &["izport-load", "run", "-c", "1025"],
            &["izport-load", "run", "--duration", "0"],
            &["izport-load", "run", "--duration", "3601"],
            &["izport-load", "run", "--timeout", "nan"],
            &["izport-load", "run", "-n", "0"],
            &["izport-load", "run", "--mix", "vxu=0"],
            &["izport-load", "seed", "--patients", "0"],
            &["izport-load", "bench-z34", "--queries", "0"],
        ] {
            let err = Cli::try_parse_from(args).expect_err(&args.join(" "));
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{}: {err}",
                args.join(" ")
            );
        }
        let ok = Cli::try_parse_from(["izport-load", "run", "-c", "1024", "--duration", "0.5"]);
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn defaults_are_the_librarys() {
        let Ok(Cli {
            command: Command::Run(args),
        }) = Cli::try_parse_from(["izport-load", "run"])
        else {
            panic!("run parses");
        };
        let defaults = LoadOptions::new(DEFAULT_URL);
        assert_eq!(args.concurrency, defaults.concurrency);
        assert_eq!(args.mix, defaults.mix);
        assert_eq!(Duration::from_secs_f64(args.timeout), defaults.timeout);
        assert_eq!(
            Stop::Duration(Duration::from_secs_f64(args.duration)),
            defaults.stop
        );
        assert_eq!(args.url, defaults.url);
    }
}
