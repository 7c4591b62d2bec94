//! Failures never skip: a refused key (A.6 7) moves no cursor, raises one credential alert
//! and the next poll asks for the same `after`; a 429 waits its `Retry-After`; a 5xx backs
//! off; each time from the same cursor.

use super::*;
use crate::fakes::workos::{FakeWorkos, rate_limited, unavailable};
use herald_store::model::PollFailureKind;
use serde_json::Value;

/// The alert texts the sink received.
fn alerts(sink: &Sink) -> Vec<String> {
    sink.received()
        .iter()
        .filter(|r| r.path == "/alerts")
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            body["text"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Run the monitors, then deliver what they raised; how many alerts they sent.
async fn check(app: &TestApp) -> usize {
    let emitted = app.app.monitors.run_once().await.unwrap().len();
    app.deliver_all().await;
    emitted
}

/// A.6 7: WorkOS answers 401 (the key was revoked). Nothing is written and the cursor stays;
/// one credential alert names the poller and its secret; every later poll asks for the
/// same `after`, and no second alert goes out; a 403 is the same kind of failure; once the
/// key works again the poll goes on from the cursor and the alert recovers once.
#[tokio::test]
async fn a_refused_key_moves_nothing_alerts_once_and_asks_for_the_same_after() {
    let workos = FakeWorkos::start(KEY).await;
    let (app, sink) = spawn(&workos, "now").await;
    let first = workos.publish_entity("user.created", "user_1");
    poll_now(&app).await;
    check(&app).await;
    workos.rotate_key("sk_test_rotated");
    workos.publish_entity("user.updated", "user_1");

    let refused = poll_now(&app).await;
    let failure = refused.failure.expect("refused");
    assert_eq!(failure.kind, PollFailureKind::Credential);
    assert!(failure.error.starts_with("HTTP 401"), "{}", failure.error);
    assert_eq!(refused.items, 0);
    let failed = state(&app).await;
    assert_eq!(failed.cursor.as_deref(), Some(first.as_str()));
    assert_eq!(failed.last_error_kind, Some(PollFailureKind::Credential));
    assert!(failed.failing());
    assert_eq!(stored_ids(&app).await, vec![first.clone()]);
    assert_eq!(app.deliveries().await.len(), 1, "no writes");

    assert_eq!(check(&app).await, 1);
    let texts = alerts(&sink);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("Credential failure"), "{}", texts[0]);
    assert!(texts[0].contains("poller `workos`"), "{}", texts[0]);
    assert!(texts[0].contains("`workos_key`"), "{}", texts[0]);
    assert!(
        texts[0].contains("herald poll workos --once"),
        "{}",
        texts[0]
    );
    assert!(!texts[0].contains(KEY), "the key is never shown");

    // The next polls, due at the interval: the same after; a 403 counts the same; one alert.
    app.advance(60.0);
    assert!(matches!(
        poll(&app, false).await,
        PollOutcome::Polled { .. }
    ));
    workos.rotate_key(KEY);
    workos.forbid(KEY);
    app.advance(60.0);
    let forbidden = poll_now(&app).await.failure.expect("forbidden");
    assert_eq!(forbidden.kind, PollFailureKind::Credential);
    assert!(forbidden.error.starts_with("HTTP 403"));
    let calls = workos.calls();
    for call in &calls[1..] {
        assert_eq!(call.param("after").as_deref(), Some(first.as_str()));
    }
    let statuses: Vec<u16> = calls.iter().map(|call| call.status).collect();
    assert_eq!(statuses, vec![200, 401, 401, 403]);
    assert_eq!(state(&app).await.failures, 3);
    assert_eq!(check(&app).await, 0);
    assert_eq!(alerts(&sink).len(), 1);
    let status = herald::services::status::status(&app.app.config, &app.store, app.clock_now())
        .await
        .unwrap();
    assert_eq!(status.alerts.len(), 1);
    assert_eq!(status.alerts[0].subject, "poller:workos");

    // A new key (here: the fake's permission back): the poll resumes from the cursor.
    workos.allow(KEY);
    let resumed = poll_now(&app).await;
    assert_eq!((resumed.items, resumed.failure), (1, None));
    assert_eq!(stored_ids(&app).await.len(), 2);
    assert_eq!(check(&app).await, 1);
    let texts = alerts(&sink);
    assert_eq!(texts.len(), 2);
    assert!(texts[1].contains("Recovered"), "{}", texts[1]);
}

/// A 429 waits its `Retry-After` and a 503 backs off, each from the same cursor; once the
/// API answers, the poll goes on from there.
#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_from_the_same_cursor() {
    let workos = FakeWorkos::start(KEY).await;
    let (app, _sink) = spawn(&workos, "now").await;
    let first = workos.publish_entity("organization.created", "org_1");
    poll_now(&app).await;
    let second = workos.publish_entity("organization.updated", "org_1");
    workos.script([rate_limited(7), unavailable()]);

    app.advance(60.0);
    let PollOutcome::Polled {
        cycle,
        next_poll_at,
    } = poll(&app, false).await
    else {
        panic!("due");
    };
    assert_eq!(cycle.failure.unwrap().kind, PollFailureKind::RateLimited);
    assert_eq!(next_poll_at, app.clock_now() + chrono::Duration::seconds(7));
    app.advance(6.0);
    assert!(matches!(
        poll(&app, false).await,
        PollOutcome::NotDue { .. }
    ));
    app.advance(1.0);
    let PollOutcome::Polled {
        cycle,
        next_poll_at,
    } = poll(&app, false).await
    else {
        panic!("due after Retry-After");
    };
    assert_eq!(cycle.failure.unwrap().kind, PollFailureKind::Transient);
    // The second failure in a row: 10 s.
    assert_eq!(
        next_poll_at,
        app.clock_now() + chrono::Duration::seconds(10)
    );
    app.advance(10.0);
    let PollOutcome::Polled { cycle, .. } = poll(&app, false).await else {
        panic!("due after the backoff");
    };
    assert_eq!((cycle.items, cycle.failure), (1, None));
    let calls = workos.calls();
    assert_eq!(calls.len(), 4);
    for call in &calls[1..] {
        assert_eq!(call.param("after").as_deref(), Some(first.as_str()));
    }
    assert_eq!(stored_ids(&app).await, vec![first, second.clone()]);
    let state = state(&app).await;
    assert_eq!(state.cursor.as_deref(), Some(second.as_str()));
    assert_eq!(state.failures, 0);
}

/// A page herald cannot read (a wrong `items` path, an API that changed) fails the poll
/// and keeps the cursor, saying why.
#[tokio::test]
async fn an_unreadable_page_fails_the_poll_and_says_why() {
    let workos = FakeWorkos::start(KEY).await;
    let (app, _sink) = spawn(&workos, "now").await;
    workos.script([crate::fakes::workos::Scripted {
        status: 200,
        headers: vec![],
        body: serde_json::json!({"object": "list", "data": [{"id": "event_x"}]}),
    }]);
    let failure = poll_now(&app).await.failure.expect("unreadable");
    assert_eq!(failure.kind, PollFailureKind::Permanent);
    assert!(failure.error.contains("no `event`"), "{}", failure.error);
    assert_eq!(state(&app).await.cursor, None);
    assert!(events(&app).await.is_empty());
}

/// A page that takes longer than `timeout` is a transient failure: backed off, and asked
/// again from the same cursor.
#[tokio::test]
async fn a_timeout_backs_off_and_asks_again_from_the_same_cursor() {
    let workos = FakeWorkos::start(KEY).await;
    let sink = Sink::start().await;
    let text = config(&workos, "now").replace(
        "interval = \"1m\"",
        "interval = \"1m\"\ntimeout = \"300ms\"",
    );
    let app = spawn_app(&text, &sink.url).await;
    let first = workos.publish_entity("user.created", "user_1");
    poll_now(&app).await;
    workos.hold(std::time::Duration::from_secs(2));
    let PollOutcome::Polled {
        cycle,
        next_poll_at,
    } = poll(&app, true).await
    else {
        panic!("polled");
    };
    let failure = cycle.failure.expect("timed out");
    assert_eq!(failure.kind, PollFailureKind::Transient);
    assert!(failure.error.contains("timed out"), "{}", failure.error);
    assert_eq!(next_poll_at, app.clock_now() + chrono::Duration::seconds(5));
    workos.hold(std::time::Duration::ZERO);
    app.advance(5.0);
    assert!(matches!(
        poll(&app, false).await,
        PollOutcome::Polled { .. }
    ));
    let calls = workos.calls();
    assert_eq!(calls[1].param("after").as_deref(), Some(first.as_str()));
    assert_eq!(calls[2].param("after").as_deref(), Some(first.as_str()));
    assert_eq!(state(&app).await.failures, 0);
}
