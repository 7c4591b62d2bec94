//! The `workos-sync` preset end to end: the 15 events of workos-events-consumer's own test
//! (A.6 4) polled from a fake WorkOS into a real SQLite file through the preset's `sql`
//! action leave exactly the expected rows; replaying the range with `herald poll --since`
//! (and `--reprocess`) leaves them unchanged. A.6 5 (nulls and types) and A.6 6 (an event
//! type with no statements) through the same preset.

use super::*;
use crate::fakes::workos::FakeWorkos;
use chrono::{DateTime, Utc};
use herald::polling::backfill::Range;
use serde_json::{Value, json};
use sqlx::Row;

/// `2024-09-06T18:03:NN.000Z`: WorkOS's timestamps (they sort as text).
fn stamp(second: u32) -> String {
    format!("2024-09-06T18:03:{second:02}.000Z")
}

fn at(second: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&stamp(second))
        .unwrap()
        .with_timezone(&Utc)
}

fn organization(n: u32, id: &str, name: &str, created: u32) -> Value {
    json!({"object": "organization", "id": id, "name": name, "domains": [],
           "allow_profiles_outside_organization": false,
           "created_at": stamp(created), "updated_at": stamp(n)})
}

fn user(n: u32, id: &str, first_name: &str, created: u32) -> Value {
    json!({"object": "user", "id": id, "email": format!("{id}@example.com"),
           "email_verified": true, "first_name": first_name, "last_name": null,
           "profile_picture_url": null, "last_sign_in_at": null,
           "created_at": stamp(created), "updated_at": stamp(n)})
}

fn membership(n: u32, i: u32, role: &str, created: u32) -> Value {
    json!({"object": "organization_membership", "id": format!("om_{i}"),
           "user_id": format!("user_{i}"), "organization_id": format!("org_{i}"),
           "status": "active", "role": {"slug": role},
           "created_at": stamp(created), "updated_at": stamp(n)})
}

/// A.6 4, in order: orgs 1–3 created and org 3 renamed; users 1–3 created and user 3's
/// first name changed; memberships 1–3 created as admin and 3 made member; then
/// membership 1, user 1 and org 1 deleted. The nth event happens at second n.
fn publish_fixture(workos: &FakeWorkos) -> Vec<String> {
    let mut events: Vec<(&str, Value)> = Vec::new();
    for i in 1..=3 {
        let name = format!("TestOrganization{i}");
        events.push((
            "organization.created",
            organization(i, &format!("org_{i}"), &name, i),
        ));
    }
    events.push((
        "organization.updated",
        organization(4, "org_3", "TestOrganization3-updated", 3),
    ));
    for i in 1..=3 {
        events.push((
            "user.created",
            user(4 + i, &format!("user_{i}"), "Test", 4 + i),
        ));
    }
    events.push(("user.updated", user(8, "user_3", "Test Updated", 7)));
    for i in 1..=3 {
        events.push((
            "organization_membership.created",
            membership(8 + i, i, "admin", 8 + i),
        ));
    }
    events.push((
        "organization_membership.updated",
        membership(12, 3, "member", 11),
    ));
    events.push((
        "organization_membership.deleted",
        membership(13, 1, "admin", 9),
    ));
    events.push(("user.deleted", user(14, "user_1", "Test", 5)));
    events.push((
        "organization.deleted",
        organization(15, "org_1", "TestOrganization1", 1),
    ));
    events
        .into_iter()
        .zip(1..)
        .map(|((event, data), n)| workos.publish_at(event, data, at(n)))
        .collect()
}

/// The preset, pointed at the fake and a SQLite file in the test's directory.
fn preset(workos: &FakeWorkos) -> String {
    preset_into(workos, "sqlite://app.db")
}

/// The preset, pointed at the fake and the database `url` (`sqlite://app.db` or a
/// PostgreSQL URL).
fn preset_into(workos: &FakeWorkos, url: &str) -> String {
    let text = herald::presets::find("workos-sync").unwrap().text;
    text.replace(
        "https://api.workos.com/events",
        &format!("{}/events", workos.url),
    )
    .replace("${env:WORKOS_API_KEY}", KEY)
    .replace("sqlite://${env:APP_DB_PATH}", url)
    .replace("start = \"now\"", "start = \"2024-09-06T18:00:00Z\"")
}

/// What the tables hold, table by table (`sqlite://app.db` in the test's directory).
async fn rows(app: &TestApp) -> [Vec<String>; 3] {
    rows_in(app, "sqlite://app.db").await
}

/// What the tables of the database `url` hold, table by table; the same SQL on both.
async fn rows_in(app: &TestApp, url: &str) -> [Vec<String>; 3] {
    let mut tables = Vec::new();
    for sql in [
        "SELECT id || '|' || name FROM organizations ORDER BY id",
        "SELECT id || '|' || coalesce(first_name, '-') || '|' \
           || CASE WHEN email_verified THEN 'verified' ELSE 'unverified' END \
         FROM users ORDER BY id",
        "SELECT id || '|' || user_id || '|' || role_slug FROM memberships ORDER BY id",
    ] {
        let found: Vec<String> = match url.strip_prefix("sqlite://") {
            Some(path) => {
                let url = format!("sqlite://{}", app.dir().join(path).display());
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                let found = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                found
            }
            None => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                let found = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                found
            }
        };
        tables.push(found);
    }
    tables.try_into().unwrap()
}

#[tokio::test]
async fn the_preset_polls_workos_into_the_tables_and_replays_to_the_same_rows() {
    polls_and_replays_to_the_same_rows("sqlite://app.db").await;
}

/// The same, the tables in PostgreSQL: the preset's statements run there unchanged.
#[tokio::test]
async fn the_preset_polls_workos_into_postgres_and_replays_to_the_same_rows() {
    let test = "the_preset_polls_workos_into_postgres_and_replays_to_the_same_rows";
    let Some((_database, url)) = crate::postgres::FreshDatabase::create(test).await else {
        return;
    };
    polls_and_replays_to_the_same_rows(&url).await;
}

async fn polls_and_replays_to_the_same_rows(url: &str) {
    let workos = FakeWorkos::start(KEY).await;
    let published = publish_fixture(&workos);
    let app = spawn_app(&preset_into(&workos, url), "").await;
    let cycle = poll_now(&app).await;
    assert_eq!((cycle.items, cycle.stored, cycle.failure), (15, 15, None));
    assert_eq!(
        cycle.cursor.as_ref(),
        published.last(),
        "the latest is the last event"
    );
    // What the preset asks for: its nine entity types (one comma-joined value, as the Node
    // SDK sends it), oldest first, 100 a page, from its start; with the key as a bearer.
    let calls = workos.calls();
    assert_eq!(calls.len(), 1, "15 events fit one page");
    assert_eq!(
        calls[0].pairs(),
        vec![
            ("events".to_string(), all_types()),
            ("limit".into(), "100".into()),
            ("order".into(), "asc".into()),
            ("range_start".into(), "2024-09-06T18:00:00.000Z".into()),
        ],
        "{}",
        calls[0].query
    );
    assert_eq!(
        calls[0].authorization,
        Some(format!("Bearer {KEY}")),
        "the key as a bearer token"
    );
    assert_eq!(app.deliver_all().await, 15);
    let expected = [
        vec!["org_2|TestOrganization2", "org_3|TestOrganization3-updated"],
        vec!["user_2|Test|verified", "user_3|Test Updated|verified"],
        vec!["om_2|user_2|admin", "om_3|user_3|member"],
    ];
    assert_eq!(rows_in(&app, url).await, expected);

    // The whole range again: already stored, nothing runs; reprocessed: every write runs
    // again, in order, and the rows are the same.
    let stop = CancellationToken::new();
    let range = Range {
        since: at(0),
        until: Some(at(59)),
        reprocess: false,
    };
    let pollers = &app.app.pollers;
    // What `herald poll --since` draws its progress line from: one call per page.
    let mut pages_seen = Vec::new();
    let (again, _) = pollers
        .backfill(
            "workos",
            range,
            &mut |progress| pages_seen.push((progress.pages, progress.items)),
            &stop,
        )
        .await
        .unwrap();
    assert_eq!((again.items, again.duplicates), (15, 15));
    assert_eq!(pages_seen, [(1, 15)]);
    assert_eq!(app.deliver_all().await, 0);
    let reprocess = Range {
        reprocess: true,
        ..range
    };
    let (again, _) = pollers
        .backfill("workos", reprocess, &mut |_| {}, &stop)
        .await
        .unwrap();
    assert_eq!(again.reprocessed, 15);
    assert_eq!(app.deliver_all().await, 15);
    assert_eq!(rows_in(&app, url).await, expected);
    assert_eq!(state(&app).await.cursor.as_ref(), published.last());
}

/// The preset with `extra` (a TOML array's items) added to the event types it asks for.
fn preset_asking_also_for(workos: &FakeWorkos, extra: &str) -> String {
    let asked = "\"user.created\", \"user.updated\", \"user.deleted\",\n";
    let text = preset(workos);
    assert!(text.contains(asked), "the preset's event list changed");
    text.replace(asked, &format!("{asked}  {extra},\n"))
}

/// One row of the preset's `users` table, each column with SQLite's type of its value.
async fn user_row(app: &TestApp, id: &str) -> Vec<(String, String)> {
    let url = format!("sqlite://{}", app.dir().join("app.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let row = sqlx::query(
        "SELECT typeof(email_verified) || ':' || coalesce(email_verified, ''), \
                typeof(first_name) || ':' || coalesce(first_name, ''), \
                typeof(last_name) || ':' || coalesce(last_name, ''), \
                typeof(created_at) || ':' || coalesce(created_at, '') \
         FROM users WHERE id = ?",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let names = ["email_verified", "first_name", "last_name", "created_at"];
    let columns = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.to_string(), row.get::<String, _>(i)))
        .collect();
    pool.close().await;
    columns
}

/// A.6 5: a user with `email_verified: true` and `first_name: null` becomes a row with
/// 1 and a real NULL (not the text "null", not ""). The Worker wrote `created_at` as epoch
/// milliseconds; the preset keeps WorkOS's text, and a statement that wants the Worker's
/// form says so with `datetime("%s%3f") | int`, as docs/pollers.md shows.
#[tokio::test]
async fn a_null_first_name_is_stored_as_null_and_a_boolean_as_one() {
    let workos = FakeWorkos::start(KEY).await;
    let mut data = user(1, "user_9", "ignored", 1);
    data["first_name"] = serde_json::Value::Null;
    workos.publish_at("user.created", data, at(1));
    let epoch_ms = "\"{{ event.data.updated_at }}\",\n]";
    let text = preset(&workos);
    assert!(
        text.contains(epoch_ms),
        "the users statement's last parameter moved"
    );
    // A second table the way the Worker kept it: created_at in epoch milliseconds.
    let text = text
        .replace(
            "CREATE TABLE IF NOT EXISTS organizations",
            "CREATE TABLE IF NOT EXISTS user_times (id text PRIMARY KEY, created_at integer NOT NULL);\nCREATE TABLE IF NOT EXISTS organizations",
        )
        .replacen(
            epoch_ms,
            &format!("{epoch_ms}\n\n[[actions.apply.cases.statements]]\nsql = \"INSERT INTO user_times (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING\"\nparams = [\"{{{{ event.data.id }}}}\", \"{{{{ event.data.created_at | datetime('%s%3f') | int }}}}\"]"),
            1,
        );
    let app = spawn_app(&text, "").await;
    assert_eq!(poll_now(&app).await.stored, 1);
    assert_eq!(app.deliver_all().await, 1);
    assert_eq!(
        user_row(&app, "user_9").await,
        [
            ("email_verified".into(), "integer:1".into()),
            ("first_name".into(), "null:".into()),
            ("last_name".into(), "null:".into()),
            ("created_at".into(), "text:2024-09-06T18:03:01.000Z".into()),
        ]
    );
    let url = format!("sqlite://{}", app.dir().join("app.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let row = sqlx::query("SELECT typeof(created_at), created_at FROM user_times")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        (row.get::<String, _>(0), row.get::<i64, _>(1)),
        ("integer".to_string(), 1_725_645_781_000),
        "2024-09-06T18:03:01.000Z in epoch milliseconds"
    );
    pool.close().await;
}

/// A.6 6: a `dsync.user.created` in a page (a configuration that asks for it) is stored
/// and moves the cursor like any event; the preset has no statements for it, so its
/// delivery succeeds with a note and no table changes.
#[tokio::test]
async fn an_event_type_without_statements_is_stored_and_changes_no_rows() {
    let workos = FakeWorkos::start(KEY).await;
    workos.publish_at("user.created", user(1, "user_1", "Test", 1), at(1));
    let text = preset_asking_also_for(&workos, "\"dsync.user.created\"");
    let app = spawn_app(&text, "").await;
    assert_eq!(poll_now(&app).await.stored, 1);
    assert_eq!(app.deliver_all().await, 1);
    let before = rows(&app).await;
    assert_eq!(before[1], ["user_1|Test|verified"]);

    let dsync = workos.publish_at(
        "dsync.user.created",
        json!({"object": "directory_user", "id": "directory_user_1", "first_name": "Dir"}),
        at(2),
    );
    let cycle = poll_now(&app).await;
    assert_eq!((cycle.items, cycle.stored, cycle.failure), (1, 1, None));
    assert_eq!(
        cycle.cursor.as_deref(),
        Some(dsync.as_str()),
        "the cursor moves"
    );
    let stored = events(&app).await;
    let event = stored
        .iter()
        .find(|event| event.dedup_key.as_deref() == Some(dsync.as_str()))
        .expect("the dsync event is stored");
    assert_eq!(event.event_type, "dsync.user.created");
    assert_eq!(app.deliver_all().await, 1);
    let delivery = app
        .deliveries()
        .await
        .into_iter()
        .find(|delivery| delivery.event_id == Some(event.id))
        .expect("the rule matched it");
    assert_eq!(
        (delivery.status, delivery.attempts, delivery.last_error),
        (herald_store::model::DeliveryStatus::Succeeded, 1, None)
    );
    // Nothing ran: the attempt records the note, not a transaction's row counts.
    let attempts = app.store.list_attempts(delivery.id).await.unwrap();
    assert_eq!(
        attempts[0].request,
        Some(json!({"log": "no statements for type dsync.user.created"}))
    );
    assert_eq!(attempts[0].response_body, None);
    assert_eq!(rows(&app).await, before, "no entity table changes");
}
