use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = izport::cli::Cli::parse();
    izport::cli::init_logging(cli.log_format());
    izport::cli::exit_code(izport::cli::run(cli).await)
}
