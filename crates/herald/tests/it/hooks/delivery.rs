//! Deliveries to registered hooks (U5, U6), rotation with its grace period, import, delete,
//! and the secrets at rest.

use super::*;
use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn a_release_signed_with_the_hooks_secret_is_stored_with_its_hook() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let secret = registered(&app, REPO).await;

    // U5: accepted, stored as an event of the registry with meta.hook, routed by it.
    let response = deliver_to(
        &app,
        "/hooks/repos/webhook-test-repo",
        ("release", "rel-1"),
        RELEASE,
        &secret,
    )
    .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["deliveries"], 1);
    let id = accepted["event_id"].as_str().unwrap();
    let event: Value = api(&app, Method::GET, &format!("/api/events/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(event["source"], "repos");
    assert_eq!(event["event_type"], "release.published");
    assert_eq!(
        event["hook"],
        json!({ "id": "webhook-test-repo", "repository": REPO })
    );
    assert!(event["headers"].get("x-hub-signature-256").is_none());

    assert_eq!(app.deliver().await, 1);
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/release");
    let sent: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(
        sent,
        json!({ "hook": "webhook-test-repo", "repository": REPO, "tag": "v1.0.1" })
    );

    // The same delivery again is a duplicate; another repository's hook does not match
    // the rule's filter on meta.hook.
    assert_eq!(
        release_to(&app, "webhook-test-repo", "rel-1", &secret).await,
        200
    );
    let other = registered(&app, "acme/api").await;
    assert_eq!(release_to(&app, "api", "rel-2", &other).await, 202);
    assert_eq!(app.deliver().await, 0);
    assert_eq!(event_count(&app).await, 2);
}

#[tokio::test]
async fn deliveries_that_do_not_verify_or_have_no_hook_store_nothing() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let secret = registered(&app, REPO).await;
    let other = registered(&app, "acme/api").await;
    let path = "/hooks/repos/webhook-test-repo";

    // Another hook's secret, a wrong key, no signature: 401.
    assert_eq!(
        release_to(&app, "webhook-test-repo", "x-1", &other).await,
        401
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "x-2", "wrong").await,
        401
    );
    let unsigned = app
        .http
        .post(app.url(path))
        .header("x-github-event", "release")
        .header("x-github-delivery", "x-3")
        .body(RELEASE)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    // An unknown hook, an unknown source, a plain source with an id, a registry without
    // one: 404.
    assert_eq!(release_to(&app, "other", "x-4", &secret).await, 404);
    for path in [
        "/hooks/gitlab/webhook-test-repo",
        "/hooks/plain/webhook-test-repo",
        "/hooks/repos",
    ] {
        let response = deliver_to(&app, path, ("release", "x-5"), RELEASE, &secret).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    // Correctly signed, but not JSON: 400.
    let malformed = deliver_to(&app, path, ("release", "x-6"), "{", &secret).await;
    assert_eq!(malformed.status(), 400);

    assert_eq!(event_count(&app).await, 0);
    assert!(app.deliveries().await.is_empty());
}

#[tokio::test]
async fn after_rotation_the_old_secret_is_accepted_until_the_grace_ends() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let old = registered(&app, REPO).await;
    let rotate = "/api/hooks/repos/webhook-test-repo/rotate";

    let response = api(&app, Method::POST, rotate, Some(r#"{"grace": "1h"}"#)).await;
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert!(is_secret(&new) && new != old);
    let until = rotated["previous_secret_valid_until"].as_str().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(until).unwrap(),
        app.clock_now() + chrono::Duration::hours(1)
    );

    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-1", &old).await,
        202
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-2", &new).await,
        202
    );
    app.advance(3599.0);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-3", &old).await,
        202
    );
    app.advance(1.0);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-4", &old).await,
        401
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-5", &new).await,
        202
    );
    let shown: Value = api(
        &app,
        Method::GET,
        "/api/hooks/repos/webhook-test-repo",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        shown.get("previous_secret_valid_until").is_none(),
        "{shown}"
    );

    // Without a body the grace is 24 hours; a bad grace or hook is refused.
    let response = api(&app, Method::POST, rotate, None).await;
    let newest = response.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    app.advance(24.0 * 3600.0 - 1.0);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-6", &new).await,
        202
    );
    app.advance(1.0);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-7", &new).await,
        401
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-8", &newest).await,
        202
    );
    let bad = api(&app, Method::POST, rotate, Some(r#"{"grace": "soon"}"#)).await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("`grace`"));
    let long = api(&app, Method::POST, rotate, Some(r#"{"grace": "90d"}"#)).await;
    assert_eq!(long.status(), 400);
    let missing = api(&app, Method::POST, "/api/hooks/repos/nope/rotate", None).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-9", &newest).await,
        202
    );
}

#[tokio::test]
async fn import_keeps_the_given_secret_and_delete_removes_the_hook() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let path = "/api/hooks/repos/webhook-test-repo";
    // A secret unotify made, kept so GitHub's settings need not change.
    let unotify = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let body = json!({ "repo": REPO, "secret": unotify }).to_string();
    let response = api(&app, Method::PUT, path, Some(&body)).await;
    assert_eq!(response.status(), 201);
    let text = response.text().await.unwrap();
    assert!(!text.contains(unotify), "{text}");
    let imported: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(imported["id"], "webhook-test-repo");
    assert_eq!(
        release_to(&app, "webhook-test-repo", "i-1", unotify).await,
        202
    );

    // U5's check value: GitHub's documented signature verifies (then `Hello, World!` is no
    // JSON: 400, where a wrong signature is 401).
    let documented = json!({ "repo": "acme/doc", "secret": GITHUB_SECRET }).to_string();
    assert_eq!(
        api(&app, Method::PUT, "/api/hooks/repos/doc", Some(&documented))
            .await
            .status(),
        201
    );
    let hello = app
        .http
        .post(app.url("/hooks/repos/doc"))
        .header("x-github-event", "release")
        .header("x-github-delivery", "i-2")
        .header(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )
        .body("Hello, World!")
        .send()
        .await
        .unwrap();
    assert_eq!(hello.status(), 400);

    // Importing over it replaces the secret (200); the old one no longer verifies.
    let replaced = json!({ "repo": REPO, "secret": "a new secret" }).to_string();
    assert_eq!(
        api(&app, Method::PUT, path, Some(&replaced)).await.status(),
        200
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "i-3", unotify).await,
        401
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "i-4", "a new secret").await,
        202
    );
    let empty = json!({ "repo": REPO, "secret": "" }).to_string();
    let refused = api(&app, Method::PUT, path, Some(&empty)).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("`secret`"));
    let missing = api(&app, Method::PUT, path, Some(r#"{"repo": "a/b"}"#)).await;
    assert_eq!(missing.status(), 400);
    assert!(missing.text().await.unwrap().contains("`secret`"));

    assert_eq!(api(&app, Method::DELETE, path, None).await.status(), 204);
    assert_eq!(api(&app, Method::GET, path, None).await.status(), 404);
    assert_eq!(api(&app, Method::DELETE, path, None).await.status(), 404);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "i-5", "a new secret").await,
        404
    );
    assert_eq!(event_count(&app).await, 2);
}

#[tokio::test]
async fn the_store_keeps_only_ciphertext() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let secret = registered(&app, REPO).await;
    let stored = app
        .store
        .get_hook("repos", "webhook-test-repo")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret.nonce.len(), 12);
    assert_ne!(stored.secret.ciphertext, secret.as_bytes());
    assert_ne!(
        stored.secret.ciphertext.get(..32),
        hex::decode(&secret).ok().as_deref()
    );
    // Nowhere in the database's files, as text or as bytes.
    let raw = hex::decode(&secret).unwrap();
    for name in ["herald.db", "herald.db-wal"] {
        let Ok(bytes) = std::fs::read(app.dir().join(name)) else {
            continue;
        };
        assert!(!bytes.windows(64).any(|w| w == secret.as_bytes()), "{name}");
        assert!(!bytes.windows(32).any(|w| w == raw.as_slice()), "{name}");
    }
}
