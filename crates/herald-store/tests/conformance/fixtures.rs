//! Builders for test records. Times are whole milliseconds after `T0`, the precision both
//! backends keep.

use chrono::{DateTime, Duration, TimeZone, Utc};
use herald_store::SharedStore;
use herald_store::model::*;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// `T0` plus `seconds`.
pub fn at(seconds: i64) -> Timestamp {
    t0() + Duration::seconds(seconds)
}

pub fn at_ms(millis: i64) -> DateTime<Utc> {
    t0() + Duration::milliseconds(millis)
}

pub fn event(source: &str, dedup_key: Option<&str>) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        source: source.to_string(),
        event_type: "push".to_string(),
        dedup_key: dedup_key.map(str::to_string),
        received_at: t0(),
        headers: BTreeMap::from([("content-type".to_string(), "application/json".to_string())]),
        payload: json!({ "ref": "main" }).into(),
        hook: None,
    }
}

/// A delivery of `event` due when the event was received.
pub fn delivery(event: &NewEvent, rule: &str, action: &str) -> NewDelivery {
    NewDelivery {
        id: Uuid::now_v7(),
        event_id: Some(event.id),
        rule: rule.to_string(),
        action: action.to_string(),
        idempotency_key: format!("{}:{rule}:{action}", event.id),
        created_at: event.received_at,
        next_attempt_at: event.received_at,
        ordering_key: None,
        window_id: None,
        lease: None,
    }
}

pub fn item(event: NewEvent, deliveries: Vec<NewDelivery>) -> EventWithDeliveries {
    EventWithDeliveries {
        event,
        deliveries,
        windows: Vec::new(),
    }
}

pub async fn append(store: &SharedStore, item: EventWithDeliveries) -> AppendOutcome {
    let outcomes = store.append_events(&[item]).await.expect("append");
    assert_eq!(outcomes.len(), 1);
    outcomes[0]
}

/// One event per time, each with one delivery created and due then; returns the
/// delivery ids in the same order.
pub async fn seed_due(store: &SharedStore, times: &[Timestamp]) -> Vec<Uuid> {
    let batch: Vec<_> = times
        .iter()
        .map(|&time| {
            let mut event = event("github", None);
            event.received_at = time;
            let delivery = delivery(&event, "notify", "slack");
            item(event, vec![delivery])
        })
        .collect();
    let ids = batch.iter().map(|item| item.deliveries[0].id).collect();
    store.append_events(&batch).await.expect("seed");
    ids
}

/// One event per spec, each with one delivery with that ordering key (None: no key),
/// created and due at the times given; returns the delivery ids in the same order.
pub async fn seed_keyed(
    store: &SharedStore,
    specs: &[(Option<&str>, Timestamp, Timestamp)],
) -> Vec<Uuid> {
    let batch: Vec<_> = specs
        .iter()
        .map(|&(key, created, due)| {
            let mut event = event("github", None);
            event.received_at = created;
            let delivery = NewDelivery {
                next_attempt_at: due,
                ordering_key: key.map(str::to_string),
                ..delivery(&event, "notify", "slack")
            };
            item(event, vec![delivery])
        })
        .collect();
    let ids = batch.iter().map(|item| item.deliveries[0].id).collect();
    store.append_events(&batch).await.expect("seed");
    ids
}

/// A 30-second lease by `worker-1`.
pub fn claim(now: Timestamp, limit: u32) -> ClaimRequest {
    ClaimRequest {
        now,
        lease_until: now + Duration::seconds(30),
        owner: "worker-1".to_string(),
        limit,
        skip_actions: Vec::new(),
    }
}

pub async fn claim_ids(store: &SharedStore, now: Timestamp, limit: u32) -> Vec<Uuid> {
    let claimed = store.claim_due(&claim(now, limit)).await.expect("claim");
    claimed.iter().map(|claim| claim.delivery.id).collect()
}

pub fn record(claimed: &ClaimedDelivery, next: NextStep, now: Timestamp) -> AttemptRecord {
    AttemptRecord {
        delivery_id: claimed.delivery.id,
        lease_token: claimed.lease_token,
        started_at: now - Duration::milliseconds(250),
        duration_ms: 250,
        status_code: Some(200),
        error: None,
        request: Some(json!({ "url": "https://hooks.example/x" }).into()),
        payload: None,
        response_body: Some("ok".to_string()),
        next,
        now,
        progress: 0,
        failure_kind: None,
        refs: Vec::new(),
    }
}

/// Claims everything due at `now`, completes the deliveries named in `steps` (at `now`)
/// and releases the others.
pub async fn complete_due(store: &SharedStore, now: Timestamp, steps: &HashMap<Uuid, NextStep>) {
    let claimed = store.claim_due(&claim(now, 1000)).await.expect("claim");
    let mut release = Vec::new();
    for claim in &claimed {
        match steps.get(&claim.delivery.id) {
            Some(next) => {
                let done = store.complete_attempt(&record(claim, *next, now)).await;
                assert!(done.expect("complete"), "lease lost");
            }
            None => release.push(claim.lease_token),
        }
    }
    store.release_leases(&release).await.expect("release");
    let completed = claimed
        .iter()
        .filter(|c| steps.contains_key(&c.delivery.id))
        .count();
    assert_eq!(
        completed,
        steps.len(),
        "some deliveries to complete were not due"
    );
}

/// Claims one delivery due at `now` (the only one expected) and completes it with `next`.
pub async fn claim_and_complete(store: &SharedStore, now: Timestamp, next: NextStep) -> Uuid {
    let mut claimed = store.claim_due(&claim(now, 10)).await.expect("claim");
    assert_eq!(claimed.len(), 1, "expected exactly one delivery to claim");
    let claimed = claimed.remove(0);
    let done = store.complete_attempt(&record(&claimed, next, now)).await;
    assert!(done.expect("complete"), "lease lost");
    claimed.delivery.id
}

pub fn retry_at(at: Timestamp) -> NextStep {
    NextStep::Retry {
        at,
        counts_against_schedule: true,
    }
}

pub fn ref_write(kind: &str, key: &str, data: serde_json::Value) -> RefWrite {
    RefWrite {
        kind: kind.to_string(),
        key: key.to_string(),
        data,
        ..RefWrite::default()
    }
}

pub fn grouped_ref_write(kind: &str, key: &str, group: &str, data: serde_json::Value) -> RefWrite {
    RefWrite {
        group: Some(group.to_string()),
        ..ref_write(kind, key, data)
    }
}

pub fn ref_delete(kind: &str, key: &str) -> RefWrite {
    RefWrite {
        delete: true,
        ..ref_write(kind, key, serde_json::Value::Null)
    }
}

pub async fn delivery_of(store: &SharedStore, id: Uuid) -> Delivery {
    store
        .get_delivery(id)
        .await
        .expect("get")
        .expect("delivery exists")
}

/// A default `T` (a query or filter) with `set` applied: keeps table-driven cases short.
pub fn with<T: Default>(set: impl FnOnce(&mut T)) -> T {
    let mut value = T::default();
    set(&mut value);
    value
}

pub fn event_query(set: impl FnOnce(&mut EventQuery)) -> EventQuery {
    with(set)
}

pub fn delivery_query(set: impl FnOnce(&mut DeliveryQuery)) -> DeliveryQuery {
    with(set)
}
