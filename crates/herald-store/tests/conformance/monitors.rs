//! Monitor states: what monitors remember per subject between runs.

use crate::fixtures::*;
use herald_store::SharedStore;
use herald_store::model::*;
use serde_json::{Value, json};

fn state(monitor: &str, subject: &str, data: Value, updated_at: Timestamp) -> MonitorState {
    MonitorState {
        monitor: monitor.to_string(),
        subject: subject.to_string(),
        data,
        updated_at,
    }
}

fn subjects(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

pub async fn monitor_states_are_upserted_and_listed_by_subject(store: SharedStore) {
    assert!(store.monitor_states("failing").await.unwrap().is_empty());
    store.put_monitor_states(&[]).await.unwrap();
    let alerted = json!({ "alerted": true, "since": "2026-01-01T00:00:00Z", "note": "déjà 🚨" });
    let first = [
        state("failing", "slack", alerted.clone(), at(1)),
        state("failing", "webhook", json!(null), at(1)),
        state("failing", "Jira", json!([1, 2]), at(1)),
        state("other", "slack", json!("kept"), at(1)),
    ];
    store.put_monitor_states(&first).await.unwrap();
    // By subject, in byte order.
    let expected = vec![first[2].clone(), first[0].clone(), first[1].clone()];
    assert_eq!(store.monitor_states("failing").await.unwrap(), expected);

    // Replaces data and time; of two states for one subject the last wins.
    let second = [
        state("failing", "webhook", json!({ "n": 1 }), at(2)),
        state("failing", "new", json!(0), at(2)),
        state("failing", "webhook", json!({ "n": 2 }), at(3)),
    ];
    store.put_monitor_states(&second).await.unwrap();
    let expected = vec![
        first[2].clone(),
        second[1].clone(),
        first[0].clone(),
        second[2].clone(),
    ];
    assert_eq!(store.monitor_states("failing").await.unwrap(), expected);
    assert_eq!(
        store.monitor_states("other").await.unwrap(),
        vec![first[3].clone()]
    );
}

pub async fn delete_monitor_states_counts_and_keeps_other_monitors(store: SharedStore) {
    let states = [
        state("failing", "a", json!(1), at(1)),
        state("failing", "b", json!(2), at(1)),
        state("other", "a", json!(3), at(1)),
    ];
    store.put_monitor_states(&states).await.unwrap();
    assert_eq!(
        store.delete_monitor_states("failing", &[]).await.unwrap(),
        0
    );
    let gone = subjects(&["a", "missing"]);
    assert_eq!(
        store.delete_monitor_states("failing", &gone).await.unwrap(),
        1
    );
    assert_eq!(
        store.delete_monitor_states("failing", &gone).await.unwrap(),
        0
    );
    assert_eq!(
        store.monitor_states("failing").await.unwrap(),
        vec![states[1].clone()]
    );
    assert_eq!(
        store.monitor_states("other").await.unwrap(),
        vec![states[2].clone()]
    );
}

pub async fn put_many_monitor_states_at_once(store: SharedStore) {
    // More rows than one SQLite statement can bind.
    let states: Vec<_> = (0..10_000)
        .map(|i| state("bulk", &format!("s{i:05}"), json!(i), at(i)))
        .collect();
    store.put_monitor_states(&states).await.unwrap();
    assert_eq!(store.monitor_states("bulk").await.unwrap(), states);
    let names: Vec<String> = states.iter().map(|s| s.subject.clone()).collect();
    let deleted = store.delete_monitor_states("bulk", &names).await.unwrap();
    assert_eq!(deleted, 10_000);
}
