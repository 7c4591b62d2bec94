//! The `workos-sync` preset end to end: the 15 events of workos-events-consumer's own test
//! (A.6 4) polled from a fake WorkOS into a real SQLite file through the preset's `sql`
//! action leave exactly the expected rows; replaying the range with `herald poll --since`
//! (and `--reprocess`) leaves them unchanged.

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
    let text = herald::presets::find("workos-sync").unwrap().text;
    text.replace(
        "https://api.workos.com/events",
        &format!("{}/events", workos.url),
    )
    .replace("${env:WORKOS_API_KEY}", KEY)
    .replace("sqlite://${env:APP_DB_PATH}", "sqlite://app.db")
    .replace("start = \"now\"", "start = \"2024-09-06T18:00:00Z\"")
}

async fn rows(app: &TestApp) -> [Vec<String>; 3] {
    let url = format!("sqlite://{}", app.dir().join("app.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mut tables = Vec::new();
    for sql in [
        "SELECT id || '|' || name FROM organizations ORDER BY id",
        "SELECT id || '|' || coalesce(first_name, '-') || '|' || email_verified FROM users ORDER BY id",
        "SELECT id || '|' || user_id || '|' || role_slug FROM memberships ORDER BY id",
    ] {
        let found = sqlx::query(sql).fetch_all(&pool).await.unwrap();
        tables.push(found.iter().map(|row| row.get::<String, _>(0)).collect());
    }
    pool.close().await;
    tables.try_into().unwrap()
}

#[tokio::test]
async fn the_preset_polls_workos_into_the_tables_and_replays_to_the_same_rows() {
    let workos = FakeWorkos::start(KEY).await;
    let published = publish_fixture(&workos);
    let app = spawn_app(&preset(&workos), "").await;
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
        vec!["user_2|Test|1", "user_3|Test Updated|1"],
        vec!["om_2|user_2|admin", "om_3|user_3|member"],
    ];
    assert_eq!(rows(&app).await, expected);

    // The whole range again: already stored, nothing runs; reprocessed: every write runs
    // again, in order, and the rows are the same.
    let stop = CancellationToken::new();
    let range = Range {
        since: at(0),
        until: Some(at(59)),
        reprocess: false,
    };
    let pollers = &app.app.pollers;
    let (again, _) = pollers
        .backfill("workos", range, &mut |_| {}, &stop)
        .await
        .unwrap();
    assert_eq!((again.items, again.duplicates), (15, 15));
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
    assert_eq!(rows(&app).await, expected);
    assert_eq!(state(&app).await.cursor.as_ref(), published.last());
}
