//! The admin API behind its bearer token, and /healthz, /readyz, /metrics.

use crate::support::*;
use serde_json::{Value, json};

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.http.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_api_needs_the_bearer_token() {
    let sink = Sink::start().await;
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    let none = get(&app, "/api/events", None).await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    assert_eq!(get(&app, "/api/events", Some("wrong")).await.status(), 401);
    assert_eq!(
        get(&app, "/api/events", Some(ADMIN_TOKEN)).await.status(),
        200
    );
}

#[tokio::test]
async fn the_api_is_off_without_an_admin_secret() {
    let config = GITHUB_TO_SINK
        .replace("admin_secret = \"admin\"", "")
        .replace("admin = \"admin-token-for-tests\"", "");
    let sink = Sink::start().await;
    let app = spawn_app(&config, &sink.url).await;
    let response = get(&app, "/api/events", Some(ADMIN_TOKEN)).await;
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("server.admin_secret")
    );
}

#[tokio::test]
async fn events_deliveries_and_replay_through_the_api() {
    let sink = Sink::start().await;
    sink.script([answer(410)]);
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    app.github("pull_request", "d-1", &pull_request(1), GITHUB_SECRET)
        .await;
    app.github("push", "d-2", r#"{"ref":"refs/heads/main"}"#, GITHUB_SECRET)
        .await;
    assert_eq!(app.deliver().await, 2);

    let events: Value = get(&app, "/api/events?type=push", Some(ADMIN_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["payload"]["ref"], "refs/heads/main");
    let event_id = events[0]["id"].as_str().unwrap();
    let event: Value = get(&app, &format!("/api/events/{event_id}"), Some(ADMIN_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(event["event_type"], "push");
    assert!(
        event["headers"].get("x-hub-signature-256").is_none(),
        "signatures are not stored"
    );
    // By the sender's delivery id (X-GitHub-Delivery) as well as herald's id.
    let by_delivery: Value = get(&app, "/api/events/d-2", Some(ADMIN_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_delivery["id"], event_id);
    let of_source = get(&app, "/api/events/d-2?source=github", Some(ADMIN_TOKEN)).await;
    assert_eq!(of_source.status(), 200);
    let elsewhere = get(&app, "/api/events/d-2?source=pact", Some(ADMIN_TOKEN)).await;
    assert_eq!(elsewhere.status(), 404);
    let of_event: Value = get(&app, "/api/deliveries?event=d-2", Some(ADMIN_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(of_event.as_array().unwrap().len(), 1, "{of_event}");
    assert_eq!(of_event[0]["event_id"], event_id);
    let unknown: Value = get(&app, "/api/deliveries?event=d-9", Some(ADMIN_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unknown, json!([]));

    let dead: Value = get(&app, "/api/deliveries?status=dead", Some(ADMIN_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dead.as_array().unwrap().len(), 1);
    let dead_id = dead[0]["id"].as_str().unwrap();
    let detail: Value = get(
        &app,
        &format!("/api/deliveries/{dead_id}"),
        Some(ADMIN_TOKEN),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(detail["status"], "dead");
    assert_eq!(detail["attempts"][0]["status_code"], 410);
    assert_eq!(detail["attempts"][0]["outcome"], "failed");

    let bad = get(&app, "/api/deliveries?status=lost", Some(ADMIN_TOKEN)).await;
    assert_eq!(bad.status(), 400);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("unknown delivery status")
    );
    assert_eq!(
        get(
            &app,
            "/api/deliveries/00000000-0000-0000-0000-000000000000",
            Some(ADMIN_TOKEN)
        )
        .await
        .status(),
        404
    );

    let replayed: Value = app
        .http
        .post(app.url("/api/replay"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "rule": "forward" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        replayed["replayed"],
        json!([dead_id]),
        "a filter replays dead deliveries only"
    );
    assert_eq!(app.deliver().await, 1);
    assert_eq!(sink.count(), 3);
    let nothing = app
        .http
        .post(app.url("/api/replay"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(nothing.status(), 400);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let sink = Sink::start().await;
    sink.script([answer(500)]);
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    assert_eq!(
        get(&app, "/healthz", None).await.text().await.unwrap(),
        "ok\n"
    );
    assert_eq!(get(&app, "/readyz", None).await.status(), 200);
    app.github("pull_request", "d-1", &pull_request(1), GITHUB_SECRET)
        .await;
    app.github("pull_request", "d-2", &pull_request(2), "wrong")
        .await;
    app.deliver().await;
    let metrics = get(&app, "/metrics", None).await.text().await.unwrap();
    for expected in [
        r#"herald_ingress_requests_total{source="github",status="202"}"#,
        r#"herald_ingress_requests_total{source="github",status="401"}"#,
        r#"herald_signature_failures_total{source="github",reason="signature_mismatch"}"#,
        r#"herald_deliveries_total{action="sink",outcome="retry"}"#,
        r#"herald_ingress_duration_seconds_bucket{source="github",le="0.005"}"#,
        r#"herald_delivery_duration_seconds_bucket{action="sink",le="+Inf"}"#,
        "herald_queue_pending",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in:\n{metrics}"
        );
    }
}
