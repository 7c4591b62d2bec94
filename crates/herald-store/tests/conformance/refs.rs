//! Refs: what external systems returned, written with attempt records.

use crate::fixtures::*;
use herald_store::SharedStore;
use herald_store::model::*;
use serde_json::json;
use uuid::Uuid;

pub async fn refs_are_upserted_with_completions(store: SharedStore) {
    assert_eq!(store.get_ref("slack_message", "C1:42").await.unwrap(), None);
    let ids = seed_due(&store, &[at(0), at(1)]).await;
    let message = json!({ "channel": "C1", "ts": "1700000000.000100", "text": "déployé 🚀" });
    let claimed = store.claim_due(&claim(at(2), 2)).await.unwrap();
    let mut first = record(&claimed[0], NextStep::Succeeded, at(5));
    first.refs = vec![
        ref_write("slack_message", "C1:42", message.clone()),
        ref_write("github_deployment", "C1:42", json!({ "id": 7 })),
    ];
    assert!(store.complete_attempt(&first).await.unwrap());
    let stored = Ref {
        kind: "slack_message".into(),
        key: "C1:42".into(),
        data: message,
        created_at: at(5),
        updated_at: at(5),
    };
    assert_eq!(
        store.get_ref("slack_message", "C1:42").await.unwrap(),
        Some(stored.clone())
    );
    let other = store.get_ref("github_deployment", "C1:42").await.unwrap();
    assert_eq!(other.map(|r| r.data), Some(json!({ "id": 7 })));
    assert_eq!(store.get_ref("slack_message", "C1:43").await.unwrap(), None);

    // A later write replaces the data and keeps the creation time.
    let mut second = record(&claimed[1], retry_at(at(60)), at(9));
    second.refs = vec![ref_write("slack_message", "C1:42", json!({ "ts": "2" }))];
    assert!(store.complete_attempt(&second).await.unwrap());
    let replaced = Ref {
        data: json!({ "ts": "2" }),
        updated_at: at(9),
        ..stored
    };
    assert_eq!(
        store.get_ref("slack_message", "C1:42").await.unwrap(),
        Some(replaced)
    );
    assert_eq!(delivery_of(&store, ids[1]).await.attempts, 1);
}

pub async fn refs_are_written_when_the_lease_was_lost(store: SharedStore) {
    let id = seed_due(&store, &[at(0)]).await[0];
    let lost = store.claim_due(&claim(at(1), 1)).await.unwrap().remove(0);
    // The lease expired and another worker holds the delivery now.
    let current = store.claim_due(&claim(at(40), 1)).await.unwrap().remove(0);
    let before = delivery_of(&store, id).await;
    let mut late = record(&lost, NextStep::Succeeded, at(45));
    late.refs = vec![ref_write("slack_message", "C1:1", json!({ "ts": "1" }))];
    assert!(!store.complete_attempt(&late).await.unwrap());
    assert_eq!(delivery_of(&store, id).await, before);
    assert!(store.list_attempts(id).await.unwrap().is_empty());
    let kept = store
        .get_ref("slack_message", "C1:1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((kept.data, kept.updated_at), (json!({ "ts": "1" }), at(45)));

    // Even for a delivery that no longer exists.
    let gone = ClaimedDelivery {
        lease_token: Uuid::now_v7(),
        ..current.clone()
    };
    let mut orphan = record(&gone, NextStep::Succeeded, at(46));
    orphan.delivery_id = Uuid::now_v7();
    orphan.refs = vec![ref_write("slack_message", "C1:2", json!(null))];
    assert!(!store.complete_attempt(&orphan).await.unwrap());
    let kept = store
        .get_ref("slack_message", "C1:2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.data, json!(null));
    let done = record(&current, NextStep::Succeeded, at(47));
    assert!(store.complete_attempt(&done).await.unwrap());
}

pub async fn refs_in_one_batch_keep_the_last_write(store: SharedStore) {
    seed_due(&store, &[at(0), at(1)]).await;
    let claimed = store.claim_due(&claim(at(2), 2)).await.unwrap();
    let mut first = record(&claimed[0], NextStep::Succeeded, at(3));
    first.refs = vec![
        ref_write("k", "shared", json!(1)),
        ref_write("k", "across-records", json!("a")),
        ref_write("k", "shared", json!(2)),
    ];
    let mut second = record(&claimed[1], NextStep::Succeeded, at(4));
    second.refs = vec![ref_write("k", "shared", json!(3))];
    // The same record again: refused (its token is used up), its refs written all the same.
    let mut again = record(&claimed[1], NextStep::Dead, at(5));
    again.refs = vec![ref_write("k", "across-records", json!("b"))];
    let completions = [first, second, again];
    let batch = WriteBatch {
        completions: &completions,
        ..WriteBatch::default()
    };
    let results = store.write(&batch).await.unwrap();
    assert_eq!(results.completed, vec![true, true, false]);
    let shared = store.get_ref("k", "shared").await.unwrap().unwrap();
    // As if the records had run one after another: created by the first write.
    let times = (shared.created_at, shared.updated_at);
    assert_eq!((shared.data, times), (json!(3), (at(3), at(4))));
    let across = store.get_ref("k", "across-records").await.unwrap().unwrap();
    let times = (across.created_at, across.updated_at);
    assert_eq!((across.data, times), (json!("b"), (at(3), at(5))));
}
