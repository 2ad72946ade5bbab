use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    izport::cli::init_logging();
    let cli = izport_load::cli::Cli::parse();
    match izport_load::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
