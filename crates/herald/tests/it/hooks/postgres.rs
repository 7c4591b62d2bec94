//! Registered hooks on PostgreSQL, seen at once by a replica.

use super::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn registered_hooks_on_postgres() {
    let Some((_database, url)) =
        crate::postgres::FreshDatabase::create("registered_hooks_on_postgres").await
    else {
        return;
    };
    let config = REGISTRY.replace(
        "[storage]\npath = \"herald.db\"",
        &format!("[storage]\nbackend = \"postgres\"\nurl = \"{url}\""),
    );
    let sink = Sink::start().await;
    let app = spawn_app(&config, &sink.url).await;
    assert_eq!(app.store.backend(), "postgres");
    let secret = registered(&app, REPO).await;
    assert_eq!(
        register(&app, json!({ "source": "repos", "repo": REPO }))
            .await
            .status(),
        409
    );
    // A replica on the same database sees the hook at once.
    let replica = app.replica().await;
    assert_eq!(
        release_to(&replica, "webhook-test-repo", "p-1", &secret).await,
        202
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "p-2", &secret).await,
        202
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "p-3", "wrong").await,
        401
    );
    assert_eq!(release_to(&app, "nope", "p-4", &secret).await, 404);
    let events = app
        .store
        .list_events(&herald_store::model::EventQuery::default())
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.hook.as_ref().map(|h| h.repository.as_str()) == Some(REPO))
    );

    let rotated: Value = api(
        &app,
        Method::POST,
        "/api/hooks/repos/webhook-test-repo/rotate",
        Some(r#"{"grace":"10m"}"#),
    )
    .await
    .json()
    .await
    .unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_eq!(
        release_to(&replica, "webhook-test-repo", "p-5", &secret).await,
        202
    );
    replica.advance(600.0);
    assert_eq!(
        release_to(&replica, "webhook-test-repo", "p-6", &secret).await,
        401
    );
    assert_eq!(
        release_to(&replica, "webhook-test-repo", "p-7", &new).await,
        202
    );
    let imported = json!({ "repo": "acme/web", "secret": "kept" }).to_string();
    assert_eq!(
        api(&app, Method::PUT, "/api/hooks/repos/web", Some(&imported))
            .await
            .status(),
        201
    );
    assert_eq!(release_to(&replica, "web", "p-8", "kept").await, 202);
    assert_eq!(
        api(&app, Method::DELETE, "/api/hooks/repos/web", None)
            .await
            .status(),
        204
    );
    assert_eq!(release_to(&replica, "web", "p-9", "kept").await, 404);
    let listed = api(&app, Method::GET, "/api/hooks", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !listed.contains(&secret) && !listed.contains(&new),
        "{listed}"
    );
}
