use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    izport::cli::init_logging(izport::cli::LogFormat::Text);
    izport::cli::exit_code(izport_load::cli::run(izport_load::cli::Cli::parse()).await)
}
