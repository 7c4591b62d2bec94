//! The server side of the benchmark, run in a child process so its memory is measured
//! alone. Each prints its bound address as the first stdout line and serves until stdin
//! closes (the parent dropped its end) or the process is killed.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The baseline: what any axum service does for a webhook, minus all of herald's work.
pub async fn baseline(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = bind(listen).await?;
    let shutdown = stop_when_stdin_closes();
    let router = axum::Router::new().route("/hooks/{source}", post(accept));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

async fn accept(body: Bytes) -> StatusCode {
    // Taking `Bytes` makes axum read the whole body before we answer.
    drop(body);
    StatusCode::ACCEPTED
}

/// herald as `herald serve` assembles it, on the configuration at `config`.
pub async fn herald(config: &Path, listen: SocketAddr) -> anyhow::Result<()> {
    // The parent sets RUST_LOG (warn unless HERALD_BENCH_LOG says otherwise).
    herald::telemetry::init_logging();
    herald::tls::install_crypto_provider();
    let loaded = herald::config::load(config, &herald::integrations::catalog())
        .map_err(|report| anyhow::anyhow!("{}", report.render(false)))?;
    let store = herald::services::storage::open_migrated(&loaded.config.storage).await?;
    let app = herald::app::App::new(loaded.config, store, Arc::new(herald::clock::SystemClock));
    let listener = bind(listen).await?;
    let shutdown = stop_when_stdin_closes();
    app.serve(listener, shutdown).await
}

/// Bind, then tell the parent where we listen.
async fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(listen).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", listener.local_addr()?)?;
    stdout.flush()?;
    Ok(listener)
}

/// A token cancelled once stdin reaches end of file, so the parent stops us by closing it.
fn stop_when_stdin_closes() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().lock().read_to_end(&mut sink);
        cancel.cancel();
    });
    token
}
