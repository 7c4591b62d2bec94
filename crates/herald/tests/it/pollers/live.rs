//! Live polls: the start without a cursor (A.6 1, with the window fixed), cursor mode (A.6
//! 2), `basic` and `header` credentials, a replayed item (A.6 8), a backlog read in one
//! poll and applied in order (A.6 9, fixed), a backfill that leaves the live cursor (A.6
//! 3), and pushes to a poller refused.

use super::*;
use crate::fakes::workos::{FakeWorkos, Scripted};
use chrono::{DateTime, Utc};
use herald::polling::backfill::Range;
use serde_json::{Value, json};
use std::time::Instant;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The ids the sink was asked to apply, in the order asked.
fn applied(sink: &Sink) -> Vec<String> {
    sink.received()
        .iter()
        .filter(|r| r.path == "/apply")
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            body["id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// `apply` as the http action the shared configuration has it.
const HTTP_APPLY: &str = r#"[actions.apply]
kind = "http"
url = "{SINK}/apply"
body = '{"id": {{ meta.dedup_key }}, "type": {{ meta.type }}}'
"#;

/// `apply` as a `sql` action on `app.db`, an SQLite file beside herald's store: each
/// event's id upserted into `applied`, where `seq` is the order of its first application
/// and `n` how many times it was applied. A `sql` action runs its deliveries one at a time,
/// in the order their events arrived.
const SQL_APPLY: &str = r#"[actions.apply]
kind = "sql"
database = "app_db"
schema = """
CREATE TABLE IF NOT EXISTS applied (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
  n INTEGER NOT NULL
)
"""
statements = [{ sql = "INSERT INTO applied (id, type, n) VALUES ($1, $2, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1", params = ["{{ event.id }}", "{{ event.event }}"] }]
"#;

/// `text` (the shared configuration, `{SINK}` not yet replaced) with `apply` writing into
/// `app.db` (see `SQL_APPLY`) instead of posting to the sink.
pub(super) fn apply_into_sqlite(text: &str) -> String {
    assert!(text.contains(HTTP_APPLY) && text.contains("[secrets]\n"));
    text.replace(HTTP_APPLY, SQL_APPLY)
        .replace("[secrets]\n", "[secrets]\napp_db = \"sqlite://app.db\"\n")
}

/// The rows of `applied` in `dir`'s `app.db`, in the order first applied: each event id
/// with how many times it was applied. None before the file and its table exist.
pub(super) async fn applied_rows(dir: &std::path::Path) -> Vec<(String, i64)> {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("app.db"))
        .read_only(true);
    let Ok(mut connection) = sqlx::SqliteConnection::connect_with(&options).await else {
        return Vec::new();
    };
    let rows = sqlx::query_as("SELECT id, n FROM applied ORDER BY seq")
        .fetch_all(&mut connection)
        .await
        .unwrap_or_default();
    let _ = connection.close().await;
    rows
}

/// A.6 1 and 2: the first poll reads from its own time (`start = "now"`) with
/// `range_start` and no `after`; until an item arrives, later polls keep that start (the
/// consumer's sliding 60-second window lost what it missed); then `after=<last id>` and no
/// range.
#[tokio::test]
async fn the_first_poll_starts_now_and_later_ones_follow_the_cursor() {
    let workos = FakeWorkos::start(KEY).await;
    let (app, sink) = spawn(&workos, "now").await;
    let first = poll_now(&app).await;
    assert_eq!((first.pages, first.items, first.failure), (1, 0, None));
    let calls = workos.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].pairs(),
        vec![
            ("events".to_string(), all_types()),
            ("limit".into(), "100".into()),
            ("order".into(), "asc".into()),
            ("range_start".into(), "2026-11-22T10:00:00.000Z".into()),
        ],
        "no after, no range_end: {}",
        calls[0].query
    );
    assert!(calls[0].query.contains("user.created%2Cuser.updated"));
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some("Bearer sk_test_a1b2c3")
    );
    assert_eq!(state(&app).await.cursor, None);

    // Two events 30 s later; the next poll, a minute on, still starts at the first poll.
    workos.set_clock(at("2026-11-22T10:00:30Z"));
    let a = workos.publish_entity("user.created", "user_1");
    let b = workos.publish_entity("organization.created", "org_1");
    app.advance(60.0);
    assert!(matches!(
        poll(&app, false).await,
        PollOutcome::Polled { .. }
    ));
    let second = &workos.calls()[1];
    assert_eq!(
        second.param("range_start").as_deref(),
        Some("2026-11-22T10:00:00.000Z")
    );
    assert!(!second.has("after"));
    assert_eq!(stored_ids(&app).await, vec![a.clone(), b.clone()]);
    assert_eq!(state(&app).await.cursor.as_deref(), Some(b.as_str()));

    // Cursor mode: after=<the newest stored>, no range.
    let c = workos.publish_entity("user.updated", "user_1");
    app.advance(60.0);
    assert!(matches!(
        poll(&app, false).await,
        PollOutcome::Polled { .. }
    ));
    let third = &workos.calls()[2];
    assert_eq!(third.param("after").as_deref(), Some(b.as_str()));
    assert!(!third.has("range_start") && !third.has("range_end"));
    assert_eq!(third.param("events"), Some(all_types()));
    assert_eq!(
        stored_ids(&app).await,
        vec![a.clone(), b.clone(), c.clone()]
    );
    let event = &events(&app).await[2];
    assert_eq!(event.event_type, "user.updated");
    assert_eq!(event.payload["data"]["id"], "user_1");
    assert_eq!(app.deliver_all().await, 3);
    // Deliveries without an ordering key run at once: every item arrives, in any order.
    let mut arrived = applied(&sink);
    arrived.sort();
    let mut expected = vec![a, b, c];
    expected.sort();
    assert_eq!(arrived, expected);
}

/// The shared configuration with `bearer` swapped for `credential` (`basic = …` or
/// `header = …`), a herald on it, and its sink.
async fn spawn_with_credential(workos: &FakeWorkos, credential: &str) -> (TestApp, Sink) {
    let text = config(workos, "now");
    assert!(text.contains("bearer = \"workos_key\"\n"));
    let text = text.replace("bearer = \"workos_key\"\n", &format!("{credential}\n"));
    let sink = Sink::start().await;
    let app = spawn_app(&text, &sink.url).await;
    (app, sink)
}

/// `basic` sends `Authorization: Basic base64(username:password)`, the password a secret;
/// an API that takes it answers, and the poll stores what it read.
#[tokio::test]
async fn a_poller_with_basic_auth_sends_the_basic_authorization() {
    let workos = FakeWorkos::start(KEY).await;
    // base64("herald:sk_test_a1b2c3")
    let expected = "Basic aGVyYWxkOnNrX3Rlc3RfYTFiMmMz";
    workos.expect_header("authorization", expected);
    let credential = r#"basic = { username = "herald", password = "workos_key" }"#;
    let (app, _sink) = spawn_with_credential(&workos, credential).await;
    workos.set_clock(at("2026-11-22T10:00:30Z"));
    let id = workos.publish_entity("user.created", "user_1");
    let cycle = poll_now(&app).await;
    assert_eq!((cycle.items, cycle.stored, cycle.failure), (1, 1, None));
    let calls = workos.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].authorization.as_deref(), Some(expected));
    assert_eq!(calls[0].status, 200);
    assert_eq!(stored_ids(&app).await, vec![id]);
}

/// `header` sends the secret as the header named, and no `Authorization`.
#[tokio::test]
async fn a_poller_with_a_header_credential_sends_it_in_that_header() {
    let workos = FakeWorkos::start(KEY).await;
    workos.expect_header("x-api-key", KEY);
    let credential = r#"header = { name = "X-Api-Key", secret = "workos_key" }"#;
    let (app, _sink) = spawn_with_credential(&workos, credential).await;
    workos.set_clock(at("2026-11-22T10:00:30Z"));
    let id = workos.publish_entity("organization.created", "org_1");
    let cycle = poll_now(&app).await;
    assert_eq!((cycle.items, cycle.stored, cycle.failure), (1, 1, None));
    let calls = workos.calls();
    assert_eq!(calls.len(), 1);
    let sent = calls[0]
        .headers
        .get_all("x-api-key")
        .iter()
        .collect::<Vec<_>>();
    assert_eq!(sent, [KEY], "the key once, as it is");
    assert_eq!(calls[0].authorization, None);
    assert_eq!(stored_ids(&app).await, vec![id]);
}

/// A poll before the interval is up is not due; `--once` (force) polls anyway.
#[tokio::test]
async fn polls_wait_for_the_interval_unless_forced() {
    let workos = FakeWorkos::start(KEY).await;
    let (app, _sink) = spawn(&workos, "now").await;
    poll_now(&app).await;
    app.advance(59.0);
    let early = poll(&app, false).await;
    let due = start_time() + chrono::Duration::seconds(60);
    assert_eq!(early, PollOutcome::NotDue { at: Some(due) });
    assert_eq!(workos.calls().len(), 1);
    poll_now(&app).await;
    assert_eq!(workos.calls().len(), 2);
}

/// With `cron`, the next poll is at the pattern's next time in its time zone.
#[tokio::test]
async fn a_cron_poller_polls_at_the_patterns_times() {
    let workos = FakeWorkos::start(KEY).await;
    let sink = Sink::start().await;
    // Every day at 09:30 in Athens (UTC+2 in November): 07:30 UTC; tests start at 10:00 UTC.
    let text = config(&workos, "now").replace(
        "interval = \"1m\"",
        "cron = \"30 9 * * *\"\ntimezone = \"Europe/Athens\"",
    );
    let app = spawn_app(&text, &sink.url).await;
    poll_now(&app).await;
    let due = at("2026-11-23T07:30:00Z");
    assert_eq!(state(&app).await.next_poll_at, Some(due));
    app.advance(3600.0);
    assert_eq!(
        poll(&app, false).await,
        PollOutcome::NotDue { at: Some(due) }
    );
    assert_eq!(workos.calls().len(), 1);
}

/// A.6 8: a page that holds an item already stored (an API that serves it again) skips
/// it: no second event, no second delivery; the cursor only moves forward.
#[tokio::test]
async fn an_item_served_again_is_skipped_and_the_cursor_moves_on() {
    let workos = FakeWorkos::start(KEY).await;
    let (app, _sink) = spawn(&workos, "now").await;
    let first = workos.publish_entity("user.created", "user_1");
    let second = workos.publish_entity("user.updated", "user_1");
    poll_now(&app).await;
    assert_eq!(app.deliveries().await.len(), 2);
    let third = workos.publish_entity("user.deleted", "user_1");
    assert_eq!(stored_ids(&app).await, vec![first.clone(), second.clone()]);
    // The API serves the second again before the third.
    let replayed = Scripted {
        status: 200,
        headers: vec![],
        body: json!({
            "object": "list",
            "data": [workos.event(&second), workos.event(&third)],
            "list_metadata": {"before": null, "after": null}
        }),
    };
    workos.script([replayed]);
    let cycle = poll_now(&app).await;
    assert_eq!((cycle.items, cycle.stored), (2, 1));
    assert_eq!(
        workos.calls().last().unwrap().param("after").as_deref(),
        Some(second.as_str())
    );
    assert_eq!(stored_ids(&app).await, vec![first, second, third.clone()]);
    assert_eq!(
        app.deliveries().await.len(),
        3,
        "no delivery for the replayed item"
    );
    assert_eq!(state(&app).await.cursor.as_deref(), Some(third.as_str()));
}

/// A.6 9, fixed: 1,001 pending events are read in one poll, page after page (10 of 100
/// and one of 1), stored and routed in the API's order, the cursor at the last one; then
/// every one is applied to an SQLite file by a `sql` action, once each, in that order.
#[tokio::test]
async fn a_backlog_of_1001_events_is_read_in_one_poll_in_order() {
    let workos = FakeWorkos::start(KEY).await;
    let text = apply_into_sqlite(&config(&workos, "2026-11-22T09:00:00Z"));
    let alerts = Sink::start().await;
    let app = spawn_app(&text, &alerts.url).await;
    workos.set_clock(at("2026-11-22T09:30:00Z"));
    let published: Vec<String> = (0..1001)
        .map(|n| workos.publish_entity(TYPES[n % 9], &format!("entity_{}", n % 37)))
        .collect();
    let started = Instant::now();
    let cycle = poll_now(&app).await;
    let took = started.elapsed();
    eprintln!("polled 1,001 events in 11 pages in {took:?}");
    assert_eq!((cycle.pages, cycle.items, cycle.stored), (11, 1001, 1001));
    assert_eq!(cycle.failure, None);
    let calls = workos.calls();
    assert_eq!(calls.len(), 11);
    assert_eq!(
        calls[0].param("range_start").as_deref(),
        Some("2026-11-22T09:00:00.000Z")
    );
    for (n, call) in calls.iter().enumerate().skip(1) {
        let after = &published[n * 100 - 1];
        assert_eq!(call.param("after").as_ref(), Some(after), "page {n}");
        assert!(!call.has("range_start"));
    }
    assert_eq!(stored_ids(&app).await, published);
    assert_eq!(
        state(&app).await.cursor.as_ref(),
        published.last(),
        "the cursor ends at the last event"
    );
    let state = state(&app).await;
    assert_eq!(state.last_items, 1001);
    assert_eq!(state.newest_item_at, Some(at("2026-11-22T09:30:01.000Z")));
    // Every event has its delivery, created in the API's order.
    let stored = events(&app).await;
    let mut deliveries = Vec::new();
    loop {
        let query = herald_store::model::DeliveryQuery {
            before: deliveries
                .last()
                .map(|d: &herald_store::model::Delivery| d.id),
            limit: 500,
            ..Default::default()
        };
        let page = app.store.list_deliveries(&query).await.unwrap();
        if page.is_empty() {
            break;
        }
        deliveries.extend(page);
    }
    assert_eq!(deliveries.len(), 1001);
    deliveries.sort_by_key(|d| (d.created_at, d.id));
    let order: Vec<_> = deliveries.iter().map(|d| d.event_id.unwrap()).collect();
    let expected: Vec<_> = stored.iter().map(|e| e.id).collect();
    assert_eq!(order, expected);

    // Nothing is applied until the deliveries run; then all 1,001 are, each once, in the
    // API's order (`seq` counts first applications).
    assert_eq!(applied_rows(app.dir()).await, vec![]);
    let started = Instant::now();
    assert_eq!(app.deliver_all().await, 1001);
    eprintln!("applied 1,001 events in {:?}", started.elapsed());
    let applied = applied_rows(app.dir()).await;
    let ids: Vec<&String> = applied.iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids,
        published.iter().collect::<Vec<_>>(),
        "applied in order"
    );
    assert!(applied.iter().all(|(_, n)| *n == 1), "each applied once");
}

/// A.6 3, as `herald poll --since/--until` does it: a backfill sends the range (and no
/// `after`), stores what was missed, skips what is stored, and leaves the live cursor
/// where it was; `reprocess` makes new deliveries for what is stored.
#[tokio::test]
async fn a_backfill_reads_its_range_and_leaves_the_live_cursor() {
    let workos = FakeWorkos::start(KEY).await;
    let (app, _sink) = spawn(&workos, "now").await;
    workos.set_clock(at("2026-11-22T09:03:00Z"));
    let old: Vec<String> = ["org_1", "org_2", "org_3"]
        .iter()
        .map(|id| workos.publish_entity("organization.created", id))
        .collect();
    workos.set_clock(at("2026-11-22T10:00:30Z"));
    let new: Vec<String> = ["user_1", "user_2"]
        .iter()
        .map(|id| workos.publish_entity("user.created", id))
        .collect();
    poll_now(&app).await;
    assert_eq!(stored_ids(&app).await, new, "the live poll starts now");
    let live = state(&app).await.cursor;
    assert_eq!(live.as_ref(), new.last());

    let range = Range {
        since: at("2026-11-22T09:03:00Z"),
        until: Some(at("2026-11-22T09:04:00Z")),
        reprocess: false,
    };
    let (progress, failure) = backfill(&app, range).await;
    assert_eq!(failure, None);
    assert_eq!(
        (progress.items, progress.stored, progress.duplicates),
        (3, 3, 0)
    );
    let call = workos.calls().last().unwrap().clone();
    assert_eq!(
        call.param("range_start").as_deref(),
        Some("2026-11-22T09:03:00.000Z")
    );
    assert_eq!(
        call.param("range_end").as_deref(),
        Some("2026-11-22T09:04:00.000Z")
    );
    assert!(!call.has("after"));
    assert_eq!(
        state(&app).await.cursor,
        live,
        "the live cursor did not move"
    );
    assert_eq!(app.deliveries().await.len(), 5);

    // The whole range again: all stored, nothing processed twice.
    let everything = Range {
        until: None,
        ..range
    };
    let (again, _) = backfill(&app, everything).await;
    assert_eq!((again.items, again.stored, again.duplicates), (5, 0, 5));
    assert_eq!(app.deliveries().await.len(), 5);
    // Asked to reprocess: one new delivery per stored item and matching rule action.
    let (reprocessed, _) = backfill(
        &app,
        Range {
            reprocess: true,
            ..everything
        },
    )
    .await;
    assert_eq!(reprocessed.reprocessed, 5);
    assert_eq!(app.deliveries().await.len(), 10);
    let mut all = old.clone();
    all.extend(new.clone());
    let mut stored = stored_ids(&app).await;
    stored.sort();
    assert_eq!(stored, all);
    assert_eq!(state(&app).await.cursor, live);
    // The live poll goes on after its own cursor.
    poll_now(&app).await;
    assert_eq!(
        workos.calls().last().unwrap().param("after").as_ref(),
        live.as_ref()
    );
}

async fn backfill(
    app: &TestApp,
    range: Range,
) -> (
    herald::polling::backfill::Progress,
    Option<herald::polling::Failure>,
) {
    app.app
        .pollers
        .backfill("workos", range, &mut |_| {}, &CancellationToken::new())
        .await
        .unwrap()
}

/// herald pulls a poller source: a push to it is refused with the reason.
#[tokio::test]
async fn pushes_to_a_poller_source_are_refused() {
    let workos = FakeWorkos::start(KEY).await;
    let (app, _sink) = spawn(&workos, "now").await;
    let response = app
        .http
        .post(app.url("/hooks/workos"))
        .body(r#"{"id": "event_1", "event": "user.created"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("source `workos` is a poller"), "{error}");
    assert!(error.contains("/events"), "{error}");
    assert!(events(&app).await.is_empty());
}

/// The fake answers as WorkOS documents: both `events` forms, the default limit (10) and
/// order (newest first), `before`, the limit's bounds, a bad key and no `range_start` with
/// `after`.
#[tokio::test]
async fn the_fake_workos_answers_as_documented() {
    let workos = FakeWorkos::start(KEY).await;
    let ids: Vec<String> = (0..12)
        .map(|n| workos.publish_entity(TYPES[n % 3], &format!("org_{n}")))
        .collect();
    let http = client();
    let get = |query: &str, key: &str| {
        let request = http
            .get(format!("{}/events?{query}", workos.url))
            .bearer_auth(key);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let listed = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, body) = get("", KEY).await;
    assert_eq!(status, 200);
    assert_eq!(body["object"], "list");
    let newest_first: Vec<String> = ids.iter().rev().take(10).cloned().collect();
    assert_eq!(listed(&body), newest_first);
    assert_eq!(body["list_metadata"]["after"], ids[2].as_str());
    let comma = get(
        "events=organization.created,organization.deleted&order=asc&limit=100",
        KEY,
    )
    .await;
    let repeated = get(
        "events[]=organization.created&events[]=organization.deleted&order=asc&limit=100",
        KEY,
    )
    .await;
    assert_eq!(comma, repeated);
    assert_eq!(listed(&comma.1).len(), 8);
    assert_eq!(comma.1["list_metadata"]["after"], Value::Null);
    let before = get(&format!("order=asc&before={}", ids[3]), KEY).await;
    assert_eq!(listed(&before.1), ids[..3].to_vec());
    for (query, status) in [
        ("limit=0", 422),
        ("limit=101", 422),
        ("order=sideways", 422),
        ("after=event_x&range_start=2026-11-22T10:00:00Z", 422),
        ("after=event_unknown", 400),
    ] {
        assert_eq!(get(query, KEY).await.0, status, "{query}");
    }
    assert_eq!(get("", "sk_wrong").await.0, 401);
    workos.forbid(KEY);
    assert_eq!(get("", KEY).await.0, 403);
}
