//! Graceful shutdown lets an in-flight delivery finish.

use crate::support::*;
use herald::app::App;
use herald::clock::SystemClock;
use herald_store::model::{DeliveryQuery, DeliveryStatus};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn in_flight_deliveries_finish_before_the_process_stops() {
    // A destination that takes 700 ms to answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_url = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        "ok"
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let text = GITHUB_TO_SINK.replace("{SINK}", &sink_url);
    let path = dir.path().join("herald.toml");
    let loaded = herald::config::from_text(
        &path,
        &text,
        Arc::new(|_| None),
        &herald::integrations::catalog(),
    )
    .unwrap();
    let store = herald::services::storage::open_migrated(&loaded.config.storage)
        .await
        .unwrap();
    let app = App::new(loaded.config, store.clone(), Arc::new(SystemClock));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.serve(listener, shutdown.clone()));

    let response = post_github(
        &client(),
        &format!("http://{address}"),
        ("pull_request", "slow-1"),
        &pull_request(1),
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(response.status(), 202);
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    server.await.unwrap().unwrap();

    let deliveries = store
        .list_deliveries(&DeliveryQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        deliveries[0].status,
        DeliveryStatus::Succeeded,
        "{deliveries:?}"
    );
    assert!(
        client()
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .is_err(),
        "no longer listening"
    );
}
