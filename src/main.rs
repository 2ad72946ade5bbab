use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    izport::cli::init_logging();
    izport::cli::exit_code(izport::cli::run(izport::cli::Cli::parse()).await)
}
