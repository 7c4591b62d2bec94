//! The `sql` action against a real SQLite file and a real PostgreSQL database, fed
//! WorkOS-shaped events through a token source: values bound (never spliced) by their JSON
//! type, a delivery's statements in one transaction, cases per event type, failures
//! classified (a constraint fails for good with the database's words, a connection that
//! fails is retried), the schema applied once per process, and WorkOS upserts guarded by
//! `updated_at` that replay to the same rows.

use crate::cli::{herald, stdout};
use crate::postgres::FreshDatabase;
use crate::support::*;
use herald_store::model::{DeliveryStatus, ReplayFilter, ReplaySelector};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};

const FEED_TOKEN: &str = "workos-feed-token";

/// A token source taking WorkOS events (type from `event`, dedup key from `id`) and a rule
/// sending each to the `db` action, which `action` defines; `app_db` holds `url`.
fn config(url: &str, action: &str) -> String {
    format!(
        r#"
[secrets]
feed = "{FEED_TOKEN}"
app_db = "{url}"

[sources.workos]
kind = "token"
secrets = ["feed"]
event_type = "event.event"
dedup_key = "event.id"

[rules.sync]
sources = ["workos"]
actions = ["db"]

[storage]
path = "herald.db"

{action}
"#
    )
}

async fn post(app: &TestApp, event: &Value) {
    let response = app
        .http
        .post(app.url("/hooks/workos"))
        .bearer_auth(FEED_TOKEN)
        .header("content-type", "application/json")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{event}");
}

/// The first column of `sql`'s rows, as text, read from the database `url` names (a
/// relative SQLite path is in the app's directory).
async fn rows(app: &TestApp, url: &str, sql: &str) -> Vec<String> {
    let sql = AssertSqlSafe(sql.to_string());
    match url.strip_prefix("sqlite://") {
        Some(path) => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(app.dir().join(path));
            let mut connection = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            let query = sqlx::query_scalar::<_, String>(sql);
            query.fetch_all(&mut connection).await.unwrap()
        }
        None => {
            let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
            let query = sqlx::query_scalar::<_, String>(sql);
            query.fetch_all(&mut connection).await.unwrap()
        }
    }
}

/// A fresh PostgreSQL database for `test`, or `None` (said loudly) where there is none.
async fn postgres(test: &str) -> Option<(FreshDatabase, String)> {
    FreshDatabase::create(test).await
}

const KINDS: &str = r#"
[actions.db]
kind = "sql"
database = "app_db"
schema = """
CREATE TABLE IF NOT EXISTS users (id text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS kinds (
  id text PRIMARY KEY, absent bigint, flag boolean, off boolean, count bigint,
  ratio double precision, label text, doc text
);
"""
statements = [
  { sql = "INSERT INTO kinds (id, absent, flag, off, count, ratio, label, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", params = ["{{ event.id }}", "{{ event.data.absent }}", "{{ event.data.flag }}", "{{ event.data.off }}", "{{ event.data.count }}", "{{ event.data.ratio }}", "{{ event.data.label }}", "{{ event.data.doc }}"] },
  # The same statement again, on the same connection, with other types in its places.
  { sql = "INSERT INTO kinds (id, absent, flag, off, count, ratio, label, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", params = ["{{ event.id ~ '/again' }}", "7", "true", "false", "null", "2.5", "42", "[]"] },
]
"#;

const INJECTION: &str = "'); DROP TABLE users; --";

fn kinds_event() -> Value {
    json!({"id": "event_kinds", "event": "kinds.sent", "data": {
        "absent": null, "flag": true, "off": false, "count": 42, "ratio": 1.5,
        "label": INJECTION, "doc": {"a": [1, "b"], "c": null},
    }})
}

/// Stores `kinds_event` and returns the app, for each backend's own reading.
async fn store_kinds(url: &str) -> TestApp {
    let app = spawn_app(&config(url, KINDS), "").await;
    post(&app, &kinds_event()).await;
    assert_eq!(app.deliver_all().await, 1);
    for delivery in app.deliveries().await {
        assert_eq!(
            delivery.status,
            DeliveryStatus::Succeeded,
            "{:?}",
            delivery.last_error
        );
    }
    // The would-be injection is a value: the table it names is still there.
    assert_eq!(rows(&app, url, "SELECT 'users' FROM users").await.len(), 0);
    assert_eq!(
        rows(&app, url, "SELECT label FROM kinds ORDER BY id").await,
        [INJECTION, "42"]
    );
    let doc = rows(&app, url, "SELECT doc FROM kinds ORDER BY id").await;
    let doc: Value = serde_json::from_str(&doc[0]).unwrap();
    assert_eq!(doc, kinds_event()["data"]["doc"]);
    app
}

#[tokio::test]
async fn sql_values_are_bound_by_json_type_never_spliced_on_sqlite() {
    let url = "sqlite://app.db";
    let app = store_kinds(url).await;
    let shown = rows(
        &app,
        url,
        "SELECT quote(absent) || '|' || quote(flag) || '|' || quote(off) || '|' || quote(count) \
         || '|' || quote(ratio) || '|' || typeof(label) FROM kinds ORDER BY id",
    )
    .await;
    assert_eq!(shown, ["NULL|1|0|42|1.5|text", "7|1|0|NULL|2.5|text"]);
}

#[tokio::test]
async fn sql_values_are_bound_by_json_type_never_spliced_on_postgres() {
    let Some((_database, url)) =
        postgres("sql_values_are_bound_by_json_type_never_spliced_on_postgres").await
    else {
        return;
    };
    let app = store_kinds(&url).await;
    let shown = rows(
        &app,
        &url,
        "SELECT coalesce(absent::text, 'NULL') || '|' || flag::text || '|' || off::text || '|' \
         || coalesce(count::text, 'NULL') || '|' || ratio::text FROM kinds ORDER BY id",
    )
    .await;
    // A NULL takes the type of its place, a bigint column; and the statement run again
    // with other types (42 where text was) is prepared again, not bound as before.
    assert_eq!(shown, ["NULL|true|false|42|1.5", "7|true|false|NULL|2.5"]);
}

const TWO_TABLES: &str = r#"
[actions.db]
kind = "sql"
database = "app_db"
schema = """
CREATE TABLE IF NOT EXISTS first (id text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS second (id text PRIMARY KEY, name text NOT NULL);
"""
statements = [
  { sql = "INSERT INTO first (id) VALUES ($1)", params = ["{{ event.id }}"] },
  { sql = "INSERT INTO second (id, name) VALUES ($1, $2)", params = ["{{ event.id }}", "{{ event.data.name }}"] },
]
"#;

/// A delivery whose second statement fails leaves nothing of its first, and is dead with
/// the database's message; a good one writes both.
async fn one_transaction(url: &str, not_null_message: &str) -> TestApp {
    let app = spawn_app(&config(url, TWO_TABLES), "").await;
    post(
        &app,
        &json!({"id": "event_bad", "event": "thing.created", "data": {"name": null}}),
    )
    .await;
    post(
        &app,
        &json!({"id": "event_good", "event": "thing.created", "data": {"name": "n"}}),
    )
    .await;
    app.deliver_all().await;
    assert_eq!(
        rows(&app, url, "SELECT id FROM first").await,
        ["event_good"]
    );
    assert_eq!(
        rows(&app, url, "SELECT id FROM second").await,
        ["event_good"]
    );
    let deliveries = app.deliveries().await;
    let dead: Vec<_> = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Dead)
        .collect();
    assert_eq!(dead.len(), 1, "{deliveries:?}");
    assert_eq!(dead[0].attempts, 1, "a constraint is not retried");
    let error = dead[0].last_error.as_deref().unwrap();
    assert!(
        error.starts_with("statement 2: ") && error.contains(not_null_message),
        "{error}"
    );
    app
}

#[tokio::test]
async fn sql_statements_of_a_delivery_are_one_transaction_on_sqlite() {
    let app = one_transaction("sqlite://app.db", "NOT NULL constraint failed: second.name").await;
    // `deliveries show` says why, and what was run with which values.
    let dead = app
        .deliveries()
        .await
        .into_iter()
        .find(|d| d.status == DeliveryStatus::Dead)
        .unwrap();
    let shown = stdout(&herald(
        app.dir(),
        &["deliveries", "show", &dead.id.to_string()],
    ));
    assert!(
        shown.contains("error: statement 2: NOT NULL constraint failed: second.name"),
        "{shown}"
    );
    // The request as logged, pretty-printed: the failing statement and its values.
    let second = r#"          "params": [
            "event_bad",
            null
          ],
          "sql": "INSERT INTO second (id, name) VALUES ($1, $2)""#;
    assert!(shown.contains(second), "{shown}");
}

#[tokio::test]
async fn sql_statements_of_a_delivery_are_one_transaction_on_postgres() {
    let Some((_database, url)) =
        postgres("sql_statements_of_a_delivery_are_one_transaction_on_postgres").await
    else {
        return;
    };
    one_transaction(
        &url,
        "null value in column \"name\" of relation \"second\" violates not-null constraint",
    )
    .await;
}

#[tokio::test]
async fn sql_a_unique_violation_is_dead_with_the_database_message() {
    let action = r#"
[actions.db]
kind = "sql"
database = "app_db"
schema = "CREATE TABLE IF NOT EXISTS users (id text PRIMARY KEY, email text UNIQUE)"
statements = [{ sql = "INSERT INTO users (id, email) VALUES ($1, $2)", params = ["{{ event.data.id }}", "{{ event.data.email }}"] }]
"#;
    let app = spawn_app(&config("sqlite://app.db", action), "").await;
    for (event, user) in [("event_1", "user_1"), ("event_2", "user_2")] {
        let data = json!({"id": user, "email": "same@example.com"});
        post(
            &app,
            &json!({"id": event, "event": "user.created", "data": data}),
        )
        .await;
    }
    app.deliver_all().await;
    let deliveries = app.deliveries().await;
    let dead: Vec<_> = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Dead)
        .collect();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("statement 1: UNIQUE constraint failed: users.email")
    );
}

/// On PostgreSQL a value of the wrong type fails for good: text bound where a `bigint`
/// goes is dead after its first attempt, the database's words shown; a number goes in.
#[tokio::test]
async fn sql_a_type_error_on_postgres_is_dead_after_one_attempt_with_the_message() {
    let Some((_database, url)) =
        postgres("sql_a_type_error_on_postgres_is_dead_after_one_attempt_with_the_message").await
    else {
        return;
    };
    let action = r#"
[actions.db]
kind = "sql"
database = "app_db"
retry = { schedule = ["1s", "1s"], jitter = 0 }
schema = "CREATE TABLE IF NOT EXISTS counts (id text PRIMARY KEY, count bigint NOT NULL)"
statements = [{ sql = "INSERT INTO counts (id, count) VALUES ($1, $2)", params = ["{{ event.id }}", "{{ event.data.count }}"] }]
"#;
    let app = spawn_app(&config(&url, action), "").await;
    for (id, count) in [("event_text", json!("abc")), ("event_number", json!(42))] {
        post(
            &app,
            &json!({"id": id, "event": "count.sent", "data": {"count": count}}),
        )
        .await;
    }
    assert_eq!(app.deliver_all().await, 2);
    // Nothing is retried: the clock moves past the whole schedule and nothing is due.
    app.advance(5.0);
    assert_eq!(app.deliver_all().await, 0);
    assert_eq!(
        rows(&app, &url, "SELECT id || '|' || count FROM counts").await,
        ["event_number|42"]
    );
    let deliveries = app.deliveries().await;
    let dead: Vec<_> = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Dead)
        .collect();
    assert_eq!(dead.len(), 1, "{deliveries:?}");
    assert_eq!(dead[0].attempts, 1, "a type error is not retried");
    let error = dead[0].last_error.as_deref().unwrap();
    assert_eq!(
        error,
        "statement 1: column \"count\" is of type bigint but expression is of type text \
         [SQLSTATE 42804]"
    );
    let shown = stdout(&herald(
        app.dir(),
        &["deliveries", "show", &dead[0].id.to_string()],
    ));
    assert!(shown.contains(&format!("error: {error}")), "{shown}");
}

#[tokio::test]
async fn sql_cases_are_chosen_by_event_type_and_other_types_are_done_with_a_note() {
    let action = r#"
[actions.db]
kind = "sql"
database = "app_db"
schema = """
CREATE TABLE IF NOT EXISTS users (id text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS organizations (id text PRIMARY KEY);
"""

[[actions.db.cases]]
events = ["user.*"]
statements = [{ sql = "INSERT INTO users (id) VALUES ($1)", params = ["{{ event.data.id }}"] }]

[[actions.db.cases]]
events = ["organization.created", "organization.updated"]
statements = [{ sql = "INSERT INTO organizations (id) VALUES (?)", params = ["{{ event.data.id }}"] }]
"#;
    let url = "sqlite://app.db";
    let app = spawn_app(&config(url, action), "").await;
    for (id, kind, entity) in [
        ("event_1", "user.created", "user_1"),
        ("event_2", "organization.created", "org_1"),
        ("event_3", "dsync.user.created", "directory_user_1"),
    ] {
        post(
            &app,
            &json!({"id": id, "event": kind, "data": {"id": entity}}),
        )
        .await;
    }
    app.deliver_all().await;
    assert_eq!(rows(&app, url, "SELECT id FROM users").await, ["user_1"]);
    assert_eq!(
        rows(&app, url, "SELECT id FROM organizations").await,
        ["org_1"]
    );
    for delivery in app.deliveries().await {
        assert_eq!(delivery.status, DeliveryStatus::Succeeded, "{delivery:?}");
        let attempts = app.store.list_attempts(delivery.id).await.unwrap();
        let request = attempts[0].request.clone().unwrap();
        if request.get("log").is_some() {
            assert_eq!(
                request,
                json!({"log": "no statements for type dsync.user.created"})
            );
        } else {
            assert_eq!(
                attempts[0].response_body.as_deref(),
                Some(r#"{"rows_affected":[1]}"#)
            );
        }
    }
}

const USERS_IN: &str = r#"
[actions.db]
kind = "sql"
database = "app_db"
timeout = "1s"
retry = { schedule = ["1s", "1s"], jitter = 0 }
schema = "CREATE TABLE IF NOT EXISTS users (id text PRIMARY KEY)"
statements = [{ sql = "INSERT INTO users (id) VALUES ($1)", params = ["{{ event.data.id }}"] }]
"#;

#[tokio::test]
async fn sql_a_database_that_cannot_be_opened_is_retried_until_it_can() {
    let url = "sqlite://missing/app.db";
    let app = spawn_app(&config(url, USERS_IN), "").await;
    post(
        &app,
        &json!({"id": "event_1", "event": "user.created", "data": {"id": "user_1"}}),
    )
    .await;
    assert_eq!(app.deliver_all().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert_eq!(delivery.attempts, 1);
    let error = delivery.last_error.unwrap();
    assert!(
        error.starts_with("applying the schema: ")
            && error.contains("unable to open database file"),
        "{error}"
    );
    std::fs::create_dir(app.dir().join("missing")).unwrap();
    app.advance(1.0);
    assert_eq!(app.deliver_all().await, 1);
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);
    assert_eq!(rows(&app, url, "SELECT id FROM users").await, ["user_1"]);
}

#[tokio::test]
async fn sql_a_postgres_server_that_refuses_connections_is_retried() {
    // Nothing listens on port 1: the connection is refused.
    let url = "postgres://herald:not-the-password@127.0.0.1:1/app";
    let app = spawn_app(&config(url, USERS_IN), "").await;
    post(
        &app,
        &json!({"id": "event_1", "event": "user.created", "data": {"id": "user_1"}}),
    )
    .await;
    assert_eq!(app.deliver_all().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Pending, "{delivery:?}");
    let error = delivery.last_error.unwrap();
    assert!(error.contains("refused"), "{error}");
    assert!(!error.contains("not-the-password"), "{error}");
    app.advance(1.0);
    app.deliver_all().await;
    app.advance(1.0);
    app.deliver_all().await;
    let delivery = app.only_delivery().await;
    assert_eq!(
        (delivery.status, delivery.attempts),
        (DeliveryStatus::Dead, 3)
    );
}

#[tokio::test]
async fn sql_the_schema_is_applied_once_per_process() {
    let action = r#"
[actions.db]
kind = "sql"
database = "app_db"
schema = """
CREATE TABLE IF NOT EXISTS users (id text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS schema_runs (at text);
INSERT INTO schema_runs (at) VALUES ('applied');
"""
ordering_key = "{{ event.data.id }}"
statements = [{ sql = "INSERT INTO users (id) VALUES ($1)", params = ["{{ event.data.id }}"] }]
"#;
    let url = "sqlite://app.db";
    let app = spawn_app(&config(url, action), "").await;
    for n in 1..=3 {
        let id = format!("user_{n}");
        post(
            &app,
            &json!({"id": format!("event_{n}"), "event": "user.created", "data": {"id": id}}),
        )
        .await;
    }
    assert_eq!(app.deliver_all().await, 3);
    assert_eq!(rows(&app, url, "SELECT id FROM users").await.len(), 3);
    assert_eq!(
        rows(&app, url, "SELECT at FROM schema_runs").await,
        ["applied"]
    );
    // A new process applies it again before its first statement.
    let app = app.restart().await;
    post(
        &app,
        &json!({"id": "event_4", "event": "user.created", "data": {"id": "user_4"}}),
    )
    .await;
    app.deliver_all().await;
    assert_eq!(rows(&app, url, "SELECT at FROM schema_runs").await.len(), 2);
}

#[tokio::test]
async fn sql_dry_run_shows_the_statements_and_bound_values_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://herald:pa55word-dry@db.internal/app";
    std::fs::write(dir.path().join("herald.toml"), config(url, TWO_TABLES)).unwrap();
    let event = json!({"id": "event_1", "event": "thing.created", "data": {"name": INJECTION}});
    std::fs::write(dir.path().join("event.json"), event.to_string()).unwrap();
    let output = herald(
        dir.path(),
        &[
            "send",
            "--source",
            "workos",
            "--file",
            "event.json",
            "--dry-run",
        ],
    );
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("would run 2 statements in one transaction on `app_db` (postgres):"),
        "{text}"
    );
    assert!(
        text.contains(r#""sql": "INSERT INTO second (id, name) VALUES ($1, $2)""#),
        "{text}"
    );
    assert!(text.contains(r#""'); DROP TABLE users; --""#), "{text}");
    assert!(
        !text.contains("pa55word") && !text.contains("db.internal"),
        "{text}"
    );
}

/// WorkOS users, organizations and memberships, as docs/config.md shows them: upserts that
/// ignore an event older than the row, and deletes that do too.
const WORKOS: &str = r#"
[actions.db]
kind = "sql"
database = "app_db"
schema = """
CREATE TABLE IF NOT EXISTS organizations (
  id text PRIMARY KEY, name text NOT NULL, created_at text NOT NULL, updated_at text NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
  id text PRIMARY KEY, email text NOT NULL, email_verified boolean NOT NULL,
  first_name text, last_name text, profile_picture_url text,
  created_at text NOT NULL, updated_at text NOT NULL
);
CREATE TABLE IF NOT EXISTS memberships (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (id),
  organization_id text NOT NULL REFERENCES organizations (id),
  role_slug text, status text, created_at text NOT NULL, updated_at text NOT NULL
);
"""

[[actions.db.cases]]
events = ["organization.created", "organization.updated"]
[[actions.db.cases.statements]]
sql = """
INSERT INTO organizations (id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at
WHERE excluded.updated_at >= organizations.updated_at
"""
params = ["{{ event.data.id }}", "{{ event.data.name }}", "{{ event.data.created_at }}", "{{ event.data.updated_at }}"]

[[actions.db.cases]]
events = ["user.created", "user.updated"]
[[actions.db.cases.statements]]
sql = """
INSERT INTO users (id, email, email_verified, first_name, last_name, profile_picture_url, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_verified = excluded.email_verified,
  first_name = excluded.first_name, last_name = excluded.last_name,
  profile_picture_url = excluded.profile_picture_url, updated_at = excluded.updated_at
WHERE excluded.updated_at >= users.updated_at
"""
params = ["{{ event.data.id }}", "{{ event.data.email }}", "{{ event.data.email_verified }}", "{{ event.data.first_name }}", "{{ event.data.last_name }}", "{{ event.data.profile_picture_url }}", "{{ event.data.created_at }}", "{{ event.data.updated_at }}"]

[[actions.db.cases]]
events = ["organization_membership.created", "organization_membership.updated"]
[[actions.db.cases.statements]]
sql = """
INSERT INTO memberships (id, user_id, organization_id, role_slug, status, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET role_slug = excluded.role_slug, status = excluded.status,
  updated_at = excluded.updated_at
WHERE excluded.updated_at >= memberships.updated_at
"""
params = ["{{ event.data.id }}", "{{ event.data.user_id }}", "{{ event.data.organization_id }}", "{{ event.data.role.slug }}", "{{ event.data.status }}", "{{ event.data.created_at }}", "{{ event.data.updated_at }}"]

[[actions.db.cases]]
events = ["organization.deleted"]
statements = [{ sql = "DELETE FROM organizations WHERE id = $1 AND updated_at <= $2", params = ["{{ event.data.id }}", "{{ event.data.updated_at }}"] }]

[[actions.db.cases]]
events = ["user.deleted"]
statements = [{ sql = "DELETE FROM users WHERE id = $1 AND updated_at <= $2", params = ["{{ event.data.id }}", "{{ event.data.updated_at }}"] }]

[[actions.db.cases]]
events = ["organization_membership.deleted"]
statements = [{ sql = "DELETE FROM memberships WHERE id = $1 AND updated_at <= $2", params = ["{{ event.data.id }}", "{{ event.data.updated_at }}"] }]
"#;

/// `2024-09-06T18:03:NN.000Z`: WorkOS's timestamps, which sort as text.
fn at(second: u32) -> String {
    format!("2024-09-06T18:03:{second:02}.000Z")
}

fn workos(n: u32, kind: &str, data: Value) -> Value {
    json!({"object": "event", "id": format!("event_{n:02}"), "event": kind, "data": data,
           "created_at": at(n)})
}

fn organization(n: u32, id: &str, name: &str, created: u32) -> Value {
    json!({"object": "organization", "id": id, "name": name, "domains": [],
           "allow_profiles_outside_organization": false,
           "created_at": at(created), "updated_at": at(n)})
}

fn user(n: u32, id: &str, first_name: Option<&str>, created: u32) -> Value {
    json!({"object": "user", "id": id, "email": format!("{id}@example.com"),
           "email_verified": true, "first_name": first_name, "last_name": null,
           "profile_picture_url": null, "last_sign_in_at": null,
           "created_at": at(created), "updated_at": at(n)})
}

fn membership(n: u32, id: &str, (user, org): (&str, &str), role: &str, created: u32) -> Value {
    json!({"object": "organization_membership", "id": id, "user_id": user,
           "organization_id": org, "status": "active", "role": {"slug": role},
           "created_at": at(created), "updated_at": at(n)})
}

/// The 15 events of the workos-events-consumer's own test (A.6 4), in order.
fn fixture() -> Vec<Value> {
    let mut events = Vec::new();
    let mut n = 0;
    let mut push = |kind: &str, data: &dyn Fn(u32) -> Value| {
        n += 1;
        events.push(workos(n, kind, data(n)));
    };
    for (i, name) in [
        (1, "TestOrganization1"),
        (2, "TestOrganization2"),
        (3, "TestOrganization3"),
    ] {
        push("organization.created", &|n| {
            organization(n, &format!("org_{i}"), name, n)
        });
    }
    push("organization.updated", &|n| {
        organization(n, "org_3", "TestOrganization3-updated", 3)
    });
    for i in 1..=3 {
        push("user.created", &|n| {
            user(n, &format!("user_{i}"), Some("Test"), n)
        });
    }
    push("user.updated", &|n| {
        user(n, "user_3", Some("Test Updated"), 7)
    });
    for i in 1..=3 {
        let (user, org) = (format!("user_{i}"), format!("org_{i}"));
        push("organization_membership.created", &|n| {
            membership(n, &format!("om_{i}"), (&user, &org), "admin", n)
        });
    }
    push("organization_membership.updated", &|n| {
        membership(n, "om_3", ("user_3", "org_3"), "member", 11)
    });
    push("organization_membership.deleted", &|n| {
        membership(n, "om_1", ("user_1", "org_1"), "admin", 9)
    });
    push("user.deleted", &|n| user(n, "user_1", Some("Test"), 5));
    push("organization.deleted", &|n| {
        organization(n, "org_1", "TestOrganization1", 1)
    });
    events
}

/// What the fixture leaves, table by table.
async fn workos_rows(app: &TestApp, url: &str) -> [Vec<String>; 3] {
    [
        rows(
            app,
            url,
            "SELECT id || '|' || name FROM organizations ORDER BY id",
        )
        .await,
        rows(
            app,
            url,
            "SELECT id || '|' || coalesce(first_name, '-') || '|' \
             || CASE WHEN email_verified THEN 'verified' ELSE 'unverified' END \
             FROM users ORDER BY id",
        )
        .await,
        rows(
            app,
            url,
            "SELECT id || '|' || user_id || '|' || role_slug FROM memberships ORDER BY id",
        )
        .await,
    ]
}

async fn workos_replays_to_the_same_rows(url: &str) {
    let app = spawn_app(&config(url, WORKOS), "").await;
    for event in fixture() {
        post(&app, &event).await;
    }
    assert_eq!(app.deliver_all().await, 15);
    let expected = [
        vec!["org_2|TestOrganization2", "org_3|TestOrganization3-updated"],
        vec!["user_2|Test|verified", "user_3|Test Updated|verified"],
        vec!["om_2|user_2|admin", "om_3|user_3|member"],
    ];
    assert_eq!(workos_rows(&app, url).await, expected);
    for delivery in app.deliveries().await {
        assert_eq!(delivery.status, DeliveryStatus::Succeeded, "{delivery:?}");
    }

    // Replaying every delivery, in order, twice, leaves the same rows.
    for _ in 0..2 {
        let selector = ReplaySelector::Filter(ReplayFilter {
            action: Some("db".into()),
            ..ReplayFilter::default()
        });
        let replayed = app.store.replay(&selector, app.clock_now()).await.unwrap();
        assert_eq!(replayed.len(), 15);
        assert_eq!(app.deliver_all().await, 15);
        assert_eq!(workos_rows(&app, url).await, expected);
    }

    // An update older than the row is ignored: the delivery succeeds, changing nothing.
    post(
        &app,
        &workos(16, "user.updated", user(7, "user_3", Some("Stale"), 7)),
    )
    .await;
    assert_eq!(app.deliver_all().await, 1);
    assert_eq!(workos_rows(&app, url).await, expected);
    let stale = app.deliveries().await.into_iter().next().unwrap();
    let attempts = app.store.list_attempts(stale.id).await.unwrap();
    assert_eq!(
        attempts.last().unwrap().response_body.as_deref(),
        Some(r#"{"rows_affected":[0]}"#)
    );
}

#[tokio::test]
async fn sql_workos_upserts_replay_to_the_same_rows_on_sqlite() {
    workos_replays_to_the_same_rows("sqlite://app.db").await;
}

#[tokio::test]
async fn sql_workos_upserts_replay_to_the_same_rows_on_postgres() {
    let Some((_database, url)) =
        postgres("sql_workos_upserts_replay_to_the_same_rows_on_postgres").await
    else {
        return;
    };
    workos_replays_to_the_same_rows(&url).await;
}

#[tokio::test]
async fn sql_a_membership_before_its_user_waits_for_it_with_retry_on() {
    // Each entity's events in order, entities independent of one another, and a row that
    // references one not written yet retried until it is.
    let action = WORKOS.replace(
        "database = \"app_db\"\n",
        "database = \"app_db\"\nordering_key = \"{{ event.data.id }}\"\nretry_on = [\"foreign_key\"]\nretry = { schedule = [\"1s\", \"1s\"], jitter = 0 }\n",
    );
    let url = "sqlite://app.db";
    let app = spawn_app(&config(url, &action), "").await;
    post(
        &app,
        &workos(
            1,
            "organization.created",
            organization(1, "org_1", "Org", 1),
        ),
    )
    .await;
    post(
        &app,
        &workos(
            2,
            "organization_membership.created",
            membership(2, "om_1", ("user_1", "org_1"), "admin", 2),
        ),
    )
    .await;
    assert_eq!(app.deliver_all().await, 2);
    let waiting = app.deliveries().await.into_iter().next().unwrap();
    assert_eq!(waiting.status, DeliveryStatus::Pending);
    let error = waiting.last_error.unwrap();
    assert!(
        error.contains("FOREIGN KEY constraint failed (retried: `retry_on`)"),
        "{error}"
    );
    post(&app, &workos(3, "user.created", user(3, "user_1", None, 3))).await;
    assert_eq!(app.deliver_all().await, 1);
    app.advance(1.0);
    assert_eq!(app.deliver_all().await, 1);
    assert_eq!(workos_rows(&app, url).await[2], ["om_1|user_1|admin"]);
}
