//! `herald serve`: run until Ctrl-C or SIGTERM.

use super::{load_config, open_store};
use crate::app::App;
use crate::clock::SystemClock;
use crate::config::Needs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen here instead of `server.listen` (default 127.0.0.1:8787).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

pub async fn run(path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let config = load_config(path, Needs::Everything)?;
    let store = open_store(&config).await?;
    let address = args.listen.unwrap_or(config.server.listen);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {address}: {error}"))?;
    tracing::info!(config = %path.display(), store = %store.backend(), "Starting herald");
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    // Everything queued is written when this returns; `cli::run` then closes the store.
    App::new(config, store, Arc::new(SystemClock))
        .serve(listener, shutdown)
        .await?;
    Ok(ExitCode::SUCCESS)
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("Shutdown requested");
    shutdown.cancel();
}
