use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    herald::telemetry::init_logging();
    herald::tls::install_crypto_provider();
    herald::cli::run(herald::cli::Cli::parse()).await
}
