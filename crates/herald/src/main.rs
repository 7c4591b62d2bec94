use clap::Parser;
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: per-thread heaps suit the request tasks, which
/// allocate and free a parsed payload each. Built without transparent huge pages (the
/// `no_thp` feature in Cargo.toml), which kept memory after a load, and with `override`, so
/// SQLite's and zstd's malloc is mimalloc's too. A running server nudges it to return what a
/// load freed (`services::memory`). See docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    herald::telemetry::init_logging();
    herald::tls::install_crypto_provider();
    herald::cli::run(herald::cli::Cli::parse()).await
}
