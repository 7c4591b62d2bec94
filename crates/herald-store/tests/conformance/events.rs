//! Appending events with their deliveries, deduplication, and listing events.

use crate::fixtures::*;
use herald_store::SharedStore;
use herald_store::model::*;
use herald_store::writer::Writer;
use serde_json::json;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A payload large enough for SQLite to compress reads back whole through every read, and
/// through the writer, which prepares it on the caller's task.
pub async fn large_payloads_round_trip(store: SharedStore) {
    let commits: Vec<_> = (0..100)
        .map(|n| json!({ "id": format!("{n:040x}"), "message": format!("fix #{n} ünïcode 🚀") }))
        .collect();
    let mut direct = event("github", Some("large-1"));
    direct.payload = json!({ "commits": commits }).into();
    assert!(direct.payload.as_str().len() > 8 * 1024);
    let mut written = event("github", Some("large-2"));
    written.payload = json!({ "commits": commits, "n": 2 }).into();
    append(&store, item(direct.clone(), vec![])).await;
    let (writer, task) = Writer::spawn(store.clone(), 8);
    let outcome = writer.append(item(written.clone(), vec![])).await.unwrap();
    assert_eq!(
        outcome,
        AppendOutcome::Stored {
            event_id: written.id
        }
    );
    drop(writer);
    task.await.unwrap();
    for new in [&direct, &written] {
        assert_eq!(
            store.get_event(new.id).await.unwrap(),
            Some(stored_event(new))
        );
    }
    let mut listed = store.list_events(&EventQuery::default()).await.unwrap();
    listed.sort_by_key(|e| e.id);
    let mut expected = vec![stored_event(&direct), stored_event(&written)];
    expected.sort_by_key(|e| e.id);
    assert_eq!(listed, expected);
}

/// JSON allows the character U+0000 (`"\u0000"`) and senders send it; PostgreSQL's
/// `jsonb` does not hold it. Both backends store such a payload and give it back equal,
/// whether appended directly or through the writer, read alone, listed or in a window.
pub async fn payloads_with_nul_round_trip(store: SharedStore) {
    let mut direct = event("github", Some("nul-1"));
    direct.payload = json!({ "title": "a\u{0}b", "ok": "plain \\u0000 text" }).into();
    assert!(direct.payload.as_str().contains("\\u0000"));
    let mut written = event("github", Some("nul-2"));
    written.payload = json!({ "list": ["\u{0}", 1] }).into();
    append(&store, item(direct.clone(), vec![])).await;
    let (writer, task) = Writer::spawn(store.clone(), 8);
    writer.append(item(written.clone(), vec![])).await.unwrap();
    drop(writer);
    task.await.unwrap();
    for new in [&direct, &written] {
        let stored = store.get_event(new.id).await.unwrap().unwrap();
        assert_eq!(stored, stored_event(new));
    }
    let got = store.get_event(direct.id).await.unwrap().unwrap();
    assert_eq!(got.payload["title"].as_str(), Some("a\u{0}b"));
    assert_eq!(got.payload["ok"].as_str(), Some("plain \\u0000 text"));
    let listed = store.list_events(&EventQuery::default()).await.unwrap();
    assert_eq!(listed.len(), 2);
}

pub async fn append_round_trips_every_field(store: SharedStore) {
    let mut first = event("github", Some("delivery-1"));
    first.event_type = "pull_request".to_string();
    first.received_at = at_ms(1_234);
    first.headers = BTreeMap::from([
        ("x-github-event".to_string(), "pull_request".to_string()),
        (
            "user-agent".to_string(),
            "GitHub-Hookshot/1 ünïcode".to_string(),
        ),
    ]);
    first.payload = json!({
        "action": "opened", "number": 42, "ratio": 0.25, "draft": false, "merged": null,
        "labels": ["p1", "bug"], "nested": { "deep": { "emoji": "🚀" } }
    })
    .into();
    // Delivered to a registered hook (`/hooks/{source}/{id}`).
    first.hook = Some(EventHook {
        id: "webhook-test-repo".to_string(),
        repository: "go-batteries/webhook-test-repo".to_string(),
    });
    let mut to_slack = delivery(&first, "pr-opened", "slack");
    to_slack.created_at = at_ms(1_235);
    to_slack.next_attempt_at = at_ms(61_235);
    to_slack.ordering_key = Some("slack:C1:ünïcode".to_string());
    let mut unlinked = delivery(&first, "pr-opened", "jira");
    unlinked.event_id = None;
    let mut bare = event("pact", None);
    bare.headers.clear();
    bare.payload = json!([1, "two", null]).into();
    let outcomes = store
        .append_events(&[
            item(first.clone(), vec![to_slack.clone(), unlinked.clone()]),
            item(bare.clone(), vec![]),
        ])
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            AppendOutcome::Stored { event_id: first.id },
            AppendOutcome::Stored { event_id: bare.id }
        ]
    );
    for new in [&first, &bare] {
        assert_eq!(
            store.get_event(new.id).await.unwrap(),
            Some(stored_event(new))
        );
    }
    for new in [&to_slack, &unlinked] {
        assert_eq!(delivery_of(&store, new.id).await, fresh_delivery(new));
        assert!(store.list_attempts(new.id).await.unwrap().is_empty());
    }
    assert_eq!(store.get_event(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(store.get_delivery(Uuid::now_v7()).await.unwrap(), None);
}

/// The event `new` should read back as.
pub fn stored_event(new: &NewEvent) -> Event {
    Event {
        id: new.id,
        source: new.source.clone(),
        event_type: new.event_type.clone(),
        dedup_key: new.dedup_key.clone(),
        received_at: new.received_at,
        headers: new.headers.clone(),
        payload: new.payload.decode(),
        hook: new.hook.clone(),
    }
}

/// The delivery `new` should read back as before any attempt.
pub fn fresh_delivery(new: &NewDelivery) -> Delivery {
    Delivery {
        id: new.id,
        event_id: new.event_id,
        rule: new.rule.clone(),
        action: new.action.clone(),
        idempotency_key: new.idempotency_key.clone(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        retries_used: 0,
        next_attempt_at: new.next_attempt_at,
        lease_until: None,
        created_at: new.created_at,
        updated_at: new.created_at,
        last_status_code: None,
        last_error: None,
        ordering_key: new.ordering_key.clone(),
        progress: 0,
        failure_kind: None,
        window_id: new.window_id,
        claims: 0,
    }
}

pub async fn duplicate_dedup_key_reports_original(store: SharedStore) {
    let original = event("github", Some("abc"));
    let original_delivery = delivery(&original, "r", "slack");
    let outcome = append(
        &store,
        item(original.clone(), vec![original_delivery.clone()]),
    )
    .await;
    assert_eq!(
        outcome,
        AppendOutcome::Stored {
            event_id: original.id
        }
    );

    let again = event("github", Some("abc"));
    let again_delivery = delivery(&again, "r", "slack");
    let outcome = append(&store, item(again.clone(), vec![again_delivery.clone()])).await;
    assert_eq!(
        outcome,
        AppendOutcome::Duplicate {
            event_id: original.id
        }
    );
    assert_eq!(store.get_event(again.id).await.unwrap(), None);
    assert_eq!(store.get_delivery(again_delivery.id).await.unwrap(), None);
    let all = store
        .list_deliveries(&DeliveryQuery::default())
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![original_delivery.id]
    );

    // The key is per source.
    let other_source = event("slack", Some("abc"));
    let outcome = append(&store, item(other_source.clone(), vec![])).await;
    assert_eq!(
        outcome,
        AppendOutcome::Stored {
            event_id: other_source.id
        }
    );
}

pub async fn duplicate_within_one_batch(store: SharedStore) {
    let first = event("github", Some("same"));
    let second = event("github", Some("same"));
    let keyless = event("github", None);
    let second_delivery = delivery(&second, "r", "slack");
    let batch = [
        item(first.clone(), vec![delivery(&first, "r", "slack")]),
        item(second.clone(), vec![second_delivery.clone()]),
        item(keyless.clone(), vec![]),
    ];
    let outcomes = store.append_events(&batch).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            AppendOutcome::Stored { event_id: first.id },
            AppendOutcome::Duplicate { event_id: first.id },
            AppendOutcome::Stored {
                event_id: keyless.id
            },
        ]
    );
    assert_eq!(store.get_event(second.id).await.unwrap(), None);
    assert_eq!(store.get_delivery(second_delivery.id).await.unwrap(), None);
    assert_eq!(store.append_events(&[]).await.unwrap(), vec![]);
}

pub async fn null_dedup_keys_never_conflict(store: SharedStore) {
    let one = event("github", None);
    let two = event("github", None);
    let outcomes = store
        .append_events(&[item(one.clone(), vec![]), item(two.clone(), vec![])])
        .await
        .unwrap();
    assert_eq!(outcomes[1], AppendOutcome::Stored { event_id: two.id });
    let third = event("github", None);
    assert_eq!(
        append(&store, item(third.clone(), vec![])).await,
        AppendOutcome::Stored { event_id: third.id }
    );
    let listed = store.list_events(&EventQuery::default()).await.unwrap();
    assert_eq!(listed.len(), 3);
}

/// `herald events show <sender's delivery id>`: every source's event with that dedup key,
/// newest first; none for a key no event has (or for events without one).
pub async fn events_found_by_dedup_key(store: SharedStore) {
    let github = event("github", Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
    let other = event("github", Some("another"));
    let later = event("pact", Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
    let keyless = event("github", None);
    for new in [&github, &other, &later, &keyless] {
        append(&store, item(new.clone(), vec![])).await;
    }
    let found = store
        .events_by_dedup_key("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .await
        .unwrap();
    assert_eq!(found, vec![stored_event(&later), stored_event(&github)]);
    assert_eq!(
        store.events_by_dedup_key("another").await.unwrap(),
        vec![stored_event(&other)]
    );
    assert!(store.events_by_dedup_key("nope").await.unwrap().is_empty());
    assert!(store.events_by_dedup_key("").await.unwrap().is_empty());
}

pub async fn delivery_idempotency_conflict_is_ignored(store: SharedStore) {
    let first = event("github", None);
    let original = delivery(&first, "r", "slack");
    append(&store, item(first.clone(), vec![original.clone()])).await;
    let second = event("github", None);
    let mut clash = delivery(&second, "r", "slack");
    clash.idempotency_key = original.idempotency_key.clone();
    let fresh = delivery(&second, "r", "jira");
    let outcome = append(
        &store,
        item(second.clone(), vec![clash.clone(), fresh.clone()]),
    )
    .await;
    assert_eq!(
        outcome,
        AppendOutcome::Stored {
            event_id: second.id
        }
    );
    assert_eq!(store.get_delivery(clash.id).await.unwrap(), None);
    assert_eq!(
        delivery_of(&store, original.id).await,
        fresh_delivery(&original)
    );
    assert_eq!(delivery_of(&store, fresh.id).await, fresh_delivery(&fresh));
}

pub async fn list_events_filters_and_pages(store: SharedStore) {
    // (source, type, received second), appended oldest id first.
    let specs = [
        ("github", "push", 10),
        ("github", "pr", 20),
        ("slack", "push", 30),
        ("github", "push", 40),
        ("circleci", "job", 50),
    ];
    let mut ids = Vec::new();
    for (source, event_type, second) in specs {
        let new = NewEvent {
            event_type: event_type.to_string(),
            received_at: at(second),
            ..event(source, None)
        };
        ids.push(new.id);
        append(&store, item(new, vec![])).await;
    }
    let github = || Some("github".to_string());
    let cases: [(EventQuery, Vec<Uuid>); 8] = [
        (
            event_query(|_| {}),
            vec![ids[4], ids[3], ids[2], ids[1], ids[0]],
        ),
        (
            event_query(|q| q.source = github()),
            vec![ids[3], ids[1], ids[0]],
        ),
        (
            event_query(|q| (q.source, q.event_type) = (github(), Some("push".into()))),
            vec![ids[3], ids[0]],
        ),
        // `since` is inclusive, `until` exclusive.
        (
            event_query(|q| (q.since, q.until) = (Some(at(20)), Some(at(40)))),
            vec![ids[2], ids[1]],
        ),
        (event_query(|q| q.limit = 2), vec![ids[4], ids[3]]),
        (
            event_query(|q| (q.limit, q.before) = (2, Some(ids[3]))),
            vec![ids[2], ids[1]],
        ),
        (
            event_query(|q| (q.limit, q.before) = (2, Some(ids[1]))),
            vec![ids[0]],
        ),
        (event_query(|q| q.before = Some(ids[0])), vec![]),
    ];
    for (query, expected) in cases {
        let found = store.list_events(&query).await.unwrap();
        let found: Vec<Uuid> = found.iter().map(|event| event.id).collect();
        assert_eq!(found, expected, "{query:?}");
    }
}

/// A text search's read: the payloads of the events a query lists, as JSON text, newest
/// first, filtered and paged as `list_events` is, large (compressed) ones included.
pub async fn event_payloads_follow_the_list(store: SharedStore) {
    let big: Vec<_> = (0..100).map(|n| format!("commit {n} Zoë")).collect();
    let specs = [
        ("github", json!({ "ref": "main" })),
        ("slack", json!({ "text": "hi" })),
        ("github", json!({ "commits": big })),
    ];
    let mut ids = Vec::new();
    for (source, payload) in &specs {
        let mut new = event(source, None);
        new.payload = payload.clone().into();
        ids.push(new.id);
        append(&store, item(new, vec![])).await;
    }
    let all = store.event_payloads(&EventQuery::default()).await.unwrap();
    let listed: Vec<Uuid> = all.iter().map(|(id, _)| *id).collect();
    assert_eq!(listed, vec![ids[2], ids[1], ids[0]]);
    for ((_, text), (_, payload)) in all.iter().zip(specs.iter().rev()) {
        let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(&parsed, payload);
    }
    assert!(all[0].1.len() > 1024 && all[0].1.contains("commit 99 Zoë"));
    let github = EventQuery {
        source: Some("github".into()),
        before: Some(ids[2]),
        ..EventQuery::default()
    };
    let page = store.event_payloads(&github).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].0, ids[0]);
}

/// The overview's chart: when events were received and deliveries made since a time,
/// newest first, at most `limit` of each.
pub async fn activity_since_reads_times(store: SharedStore) {
    for second in [10, 20, 30, 40] {
        let new = NewEvent {
            received_at: at(second),
            ..event("github", None)
        };
        let mut made = delivery(&new, "r", "a");
        made.created_at = at(second + 1);
        append(&store, item(new, vec![made])).await;
    }
    let activity = store.activity_since(at(20), 100).await.unwrap();
    assert_eq!(activity.events, vec![at(40), at(30), at(20)]);
    assert_eq!(activity.deliveries, vec![at(41), at(31), at(21)]);
    let capped = store.activity_since(at(0), 2).await.unwrap();
    assert_eq!(capped.events, vec![at(40), at(30)]);
    assert_eq!(capped.deliveries, vec![at(41), at(31)]);
    let none = store.activity_since(at(50), 100).await.unwrap();
    assert_eq!(none, Activity::default());
}
