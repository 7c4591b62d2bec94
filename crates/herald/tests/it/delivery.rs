//! The outbox: retries, Retry-After, dead letters and replay, with an injected clock.

use crate::support::*;
use herald_store::model::{AttemptOutcome, DeliveryQuery, DeliveryStatus, ReplaySelector};

async fn send_one(app: &TestApp) {
    let response = app
        .github("pull_request", "d-1", &pull_request(1), GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn a_500_is_retried_on_schedule_and_then_delivered() {
    let sink = Sink::start().await;
    sink.script([answer(500)]);
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    send_one(&app).await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert_eq!(delivery.last_status_code, Some(500));
    assert_eq!(
        delivery.next_attempt_at,
        app.clock_now() + chrono::Duration::seconds(1)
    );
    // Not due yet.
    app.advance(0.9);
    assert_eq!(app.deliver().await, 0);
    app.advance(0.1);
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Succeeded);
    assert_eq!(sink.count(), 2);
    let attempts = app.store.list_attempts(delivery.id).await.unwrap();
    let outcomes: Vec<_> = attempts
        .iter()
        .map(|a| (a.number, a.outcome, a.status_code))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (1, AttemptOutcome::Retry, Some(500)),
            (2, AttemptOutcome::Success, Some(200))
        ]
    );
    // Each attempt records the request it made.
    assert_eq!(
        attempts[0].request.as_ref().unwrap()["requests"][0]["method"],
        "POST"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let sink = Sink::start().await;
    sink.script([Answer {
        status: 429,
        headers: vec![("retry-after", "2".into())],
        body: "slow down".into(),
        delay: std::time::Duration::ZERO,
    }]);
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    send_one(&app).await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    // The schedule says 1 s; the destination asked for 2 s.
    assert_eq!(
        delivery.next_attempt_at,
        app.clock_now() + chrono::Duration::seconds(2)
    );
    app.advance(1.9);
    assert_eq!(app.deliver().await, 0, "no sooner than Retry-After");
    app.advance(0.1);
    assert_eq!(app.deliver().await, 1);
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);
    let attempts = app.store.list_attempts(delivery.id).await.unwrap();
    assert_eq!(attempts[0].response_body.as_deref(), Some("slow down"));
}

#[tokio::test]
async fn a_404_is_dead_at_once_and_replay_delivers_it() {
    let sink = Sink::start().await;
    sink.script([answer(404)]);
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    send_one(&app).await;
    assert_eq!(app.deliver().await, 1);
    let dead = app.only_delivery().await;
    assert_eq!(dead.status, DeliveryStatus::Dead);
    assert_eq!(dead.attempts, 1);
    assert_eq!(dead.last_error.as_deref(), Some("HTTP 404 Not Found"));
    app.advance(3600.0);
    assert_eq!(app.deliver().await, 0, "dead deliveries stay dead");

    let replayed = app
        .app
        .state
        .queries
        .replay(&ReplaySelector::Ids(vec![dead.id]), app.clock_now())
        .await
        .unwrap();
    assert_eq!(replayed, vec![dead.id]);
    assert_eq!(app.deliver().await, 1);
    let delivered = app.only_delivery().await;
    assert_eq!(delivered.status, DeliveryStatus::Succeeded);
    assert_eq!(delivered.attempts, 2);
    assert_eq!(sink.count(), 2);
}

#[tokio::test]
async fn the_schedule_ends_in_a_dead_letter() {
    let sink = Sink::start().await;
    sink.script([answer(503), answer(502), answer(500)]);
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    send_one(&app).await;
    for wait in [0.0, 1.0, 2.0] {
        app.advance(wait);
        assert_eq!(app.deliver().await, 1);
    }
    let dead = app.only_delivery().await;
    assert_eq!(dead.status, DeliveryStatus::Dead);
    assert_eq!(
        dead.attempts, 3,
        "1 attempt + the 2 retries of the schedule"
    );
}

#[tokio::test]
async fn an_unreachable_destination_is_retried() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app(GITHUB_TO_SINK, &url).await;
    send_one(&app).await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert!(
        delivery
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("connection failed"),
        "{delivery:?}"
    );
}

const TEMPLATED_URL: &str = r#"
[secrets]
github = "It's a Secret to Everybody"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.forward]
sources = ["github"]
actions = ["by_event"]

[actions.by_event]
kind = "http"
url = "{{ event.callback }}"
allowed_hosts = ["127.0.0.1"]
retry = { schedule = ["1s"], jitter = 0 }
"#;

#[tokio::test]
async fn a_templated_url_cannot_leave_the_allowed_hosts() {
    let sink = Sink::start().await;
    let app = spawn_app(TEMPLATED_URL, &sink.url).await;
    let allowed = serde_json::json!({"callback": format!("{}/allowed", sink.url)}).to_string();
    let elsewhere =
        serde_json::json!({"callback": "http://169.254.169.254/latest/meta-data"}).to_string();
    app.github("push", "d-ok", &allowed, GITHUB_SECRET).await;
    app.github("push", "d-evil", &elsewhere, GITHUB_SECRET)
        .await;
    assert_eq!(app.deliver().await, 2);
    assert_eq!(sink.count(), 1);
    assert_eq!(sink.received()[0].path, "/allowed");
    let dead = app
        .store
        .list_deliveries(&DeliveryQuery {
            status: Some(DeliveryStatus::Dead),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("not in this action's allowed_hosts")
    );
}

#[tokio::test]
async fn retention_prunes_old_events_and_succeeded_deliveries_but_keeps_dead_ones() {
    use herald::config::RetentionConfig;
    use herald::services::retention;
    use std::time::Duration;
    let sink = Sink::start().await;
    sink.script([answer(200), answer(404)]);
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    app.github("pull_request", "old-ok", &pull_request(1), GITHUB_SECRET)
        .await;
    app.github("pull_request", "old-dead", &pull_request(2), GITHUB_SECRET)
        .await;
    assert_eq!(app.deliver().await, 2);
    app.advance(31.0 * 24.0 * 3600.0);
    app.github("pull_request", "recent", &pull_request(3), GITHUB_SECRET)
        .await;

    let config = RetentionConfig {
        events: Some(Duration::from_secs(30 * 24 * 3600)),
        deliveries: Some(Duration::from_secs(30 * 24 * 3600)),
        refs: None,
        interval: Duration::from_millis(20),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let pruning = tokio::spawn(retention::run(
        app.store.clone(),
        app.clock.clone(),
        config,
        stop.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let events = app
            .store
            .list_events(&herald_store::model::EventQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        if events.len() == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pruning did not run: {} events",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    pruning.await.unwrap();
    let remaining = app
        .store
        .list_deliveries(&DeliveryQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut statuses: Vec<_> = remaining.iter().map(|d| d.status).collect();
    statuses.sort_by_key(|s| s.as_str());
    // The dead letter and its event stay; the succeeded one and its event are gone.
    assert_eq!(
        statuses,
        vec![DeliveryStatus::Dead, DeliveryStatus::Pending]
    );
}

/// A request that forwards a large payload reads back as it was sent; SQLite keeps it
/// against the event's payload (migration 0015), in a frame of a few hundred bytes.
#[tokio::test]
async fn a_forwarded_payload_is_kept_once_and_reads_back_as_sent() {
    let sink = Sink::start().await;
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    let lines: Vec<String> = (0..60)
        .map(|n| format!("{n:040x} fix the \"retry\" of é 🚀 {}", n as f64 / 7.0))
        .collect();
    let payload = serde_json::json!({"action": "opened", "number": 7, "lines": lines});
    let response = app
        .github("pull_request", "d-7", &payload.to_string(), GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    let attempts = app.store.list_attempts(delivery.id).await.unwrap();
    let sent = &sink.received()[0].body;
    assert!(sent.len() > 4096);
    let request = attempts[0].request.as_ref().unwrap();
    assert_eq!(request["requests"][0]["body"].as_str(), Some(sent.as_str()));

    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        app.dir().join("herald.db").display()
    ))
    .await
    .unwrap();
    let (frame,): (Vec<u8>,) =
        sqlx::query_as("SELECT request_against FROM attempts WHERE delivery_id = ?1")
            .bind(delivery.id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(frame.len() < 400, "{} bytes", frame.len());
}

/// A delivery of an event this process just stored renders from the payload ingest parsed
/// (`outbox::recent`), not from the store; a replica, which did not store the event, reads
/// it from the store. Shown by changing the stored payloads behind herald's back.
#[tokio::test]
async fn a_fresh_event_renders_from_what_ingest_parsed_and_a_replica_reads_the_store() {
    let sink = Sink::start().await;
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        app.dir().join("herald.db").display()
    ))
    .await
    .unwrap();
    let tamper = async || {
        sqlx::query(r#"UPDATE events SET payload = '{"tampered": true}', payload_zstd = NULL"#)
            .execute(&pool)
            .await
            .unwrap();
    };

    let post = async |number: u64, delivery: &str| {
        let response = app
            .github(
                "pull_request",
                delivery,
                &pull_request(number),
                GITHUB_SECRET,
            )
            .await;
        assert_eq!(response.status(), 202);
    };

    // This process stored the event: its delivery renders what ingest parsed.
    post(1, "d-1").await;
    tamper().await;
    assert_eq!(app.deliver().await, 1);
    let first = &sink.received()[0].body;
    assert!(!first.contains("tampered"), "{first}");
    assert!(first.contains("\"number\""), "{first}");
    // A replica did not store the next one: it reads the store, tampered.
    post(2, "d-2").await;
    tamper().await;
    let replica = app.replica().await;
    assert_eq!(replica.deliver().await, 1);
    let second = &sink.received()[1].body;
    assert!(second.contains("tampered"), "{second}");
}
