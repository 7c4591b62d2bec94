//! Graceful shutdown lets an in-flight delivery finish.

use crate::support::*;
use herald_store::model::{DeliveryQuery, DeliveryStatus};
use std::time::Duration;

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

    let served = ServedApp::start(GITHUB_TO_SINK, &sink_url).await;
    let (base, store) = (served.base.clone(), served.store.clone());

    let response = post_github(
        &client(),
        &base,
        ("pull_request", "slow-1"),
        &pull_request(1),
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(response.status(), 202);
    tokio::time::sleep(Duration::from_millis(200)).await;
    served.stop().await;

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
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err(),
        "no longer listening"
    );
}
