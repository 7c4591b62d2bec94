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
        group: None,
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

/// Claim a fresh delivery due at `now` and complete it at `now`, writing `refs`.
async fn complete_writing(store: &SharedStore, now: Timestamp, refs: Vec<RefWrite>) {
    let id = seed_due(store, &[now]).await[0];
    let claimed = store.claim_ids(&[id], &claim(now, 1)).await.unwrap();
    let mut done = record(&claimed[0], NextStep::Succeeded, now);
    done.refs = refs;
    assert!(store.complete_attempt(&done).await.unwrap());
}

pub async fn ref_group_is_stored_and_replaced_by_upserts(store: SharedStore) {
    let write = grouped_ref_write("slack_message", "C1:42", "incident-7", json!({ "ts": "1" }));
    complete_writing(&store, at(5), vec![write]).await;
    let stored = store.get_ref("slack_message", "C1:42").await.unwrap();
    let expected = Ref {
        kind: "slack_message".into(),
        key: "C1:42".into(),
        data: json!({ "ts": "1" }),
        group: Some("incident-7".into()),
        created_at: at(5),
        updated_at: at(5),
    };
    assert_eq!(stored, Some(expected.clone()));

    // An upsert sets the group of the write, a new one or none.
    let regroup = grouped_ref_write("slack_message", "C1:42", "incident-8", json!({ "ts": "2" }));
    complete_writing(&store, at(6), vec![regroup]).await;
    let stored = store.get_ref("slack_message", "C1:42").await.unwrap();
    let regrouped = Ref {
        data: json!({ "ts": "2" }),
        group: Some("incident-8".into()),
        updated_at: at(6),
        ..expected
    };
    assert_eq!(stored, Some(regrouped.clone()));
    let ungroup = ref_write("slack_message", "C1:42", json!({ "ts": "3" }));
    complete_writing(&store, at(7), vec![ungroup]).await;
    let stored = store.get_ref("slack_message", "C1:42").await.unwrap();
    let ungrouped = Ref {
        data: json!({ "ts": "3" }),
        group: None,
        updated_at: at(7),
        ..regrouped
    };
    assert_eq!(stored, Some(ungrouped));

    // A refused completion writes its refs' groups all the same.
    let id = seed_due(&store, &[at(8)]).await[0];
    let claimed = store.claim_ids(&[id], &claim(at(8), 1)).await.unwrap();
    let stale = ClaimedDelivery {
        lease_token: Uuid::now_v7(),
        ..claimed[0].clone()
    };
    let mut late = record(&stale, NextStep::Succeeded, at(9));
    late.refs = vec![grouped_ref_write(
        "slack_message",
        "C1:42",
        "late",
        json!(4),
    )];
    assert!(!store.complete_attempt(&late).await.unwrap());
    let stored = store
        .get_ref("slack_message", "C1:42")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.group, stored.data), (Some("late".into()), json!(4)));
}

pub async fn ref_deletes_apply_in_order(store: SharedStore) {
    let writes = ["a", "b", "c"].map(|key| grouped_ref_write("k", key, "g", json!(key)));
    complete_writing(&store, at(1), writes.to_vec()).await;

    // Deleting a ref, and one that does not exist, is fine.
    complete_writing(
        &store,
        at(2),
        vec![ref_delete("k", "a"), ref_delete("k", "nope")],
    )
    .await;
    assert_eq!(store.get_ref("k", "a").await.unwrap(), None);
    assert_eq!(store.get_ref("k", "nope").await.unwrap(), None);
    assert!(store.get_ref("k", "b").await.unwrap().is_some());

    // In one record: a write then a delete deletes; a delete then a write writes anew.
    let writes = vec![
        ref_write("k", "b", json!("b2")),
        ref_delete("k", "b"),
        ref_delete("k", "c"),
        grouped_ref_write("k", "c", "h", json!("c2")),
        ref_delete("k", "new"),
        ref_write("k", "new", json!("n")),
    ];
    complete_writing(&store, at(3), writes).await;
    assert_eq!(store.get_ref("k", "b").await.unwrap(), None);
    let c = store.get_ref("k", "c").await.unwrap().unwrap();
    let times = (c.created_at, c.updated_at);
    assert_eq!(
        (c.data, c.group, times),
        (json!("c2"), Some("h".into()), (at(3), at(3)))
    );
    let new = store.get_ref("k", "new").await.unwrap().unwrap();
    assert_eq!((new.data, new.created_at), (json!("n"), at(3)));

    // Across the records of one batch, refused ones too, as if they ran one after another.
    seed_due(&store, &[at(4), at(4)]).await;
    let claimed = store.claim_due(&claim(at(4), 2)).await.unwrap();
    let mut first = record(&claimed[0], NextStep::Succeeded, at(5));
    first.refs = vec![ref_delete("k", "c"), ref_write("k", "x", json!(1))];
    let mut second = record(&claimed[1], NextStep::Succeeded, at(6));
    second.refs = vec![ref_write("k", "c", json!("c3")), ref_delete("k", "x")];
    let mut again = record(&claimed[1], NextStep::Dead, at(7));
    again.refs = vec![ref_delete("k", "new"), ref_write("k", "x", json!(2))];
    let completions = [first, second, again];
    let batch = WriteBatch {
        completions: &completions,
        ..WriteBatch::default()
    };
    let results = store.write(&batch).await.unwrap();
    assert_eq!(results.completed, vec![true, true, false]);
    let c = store.get_ref("k", "c").await.unwrap().unwrap();
    let times = (c.created_at, c.updated_at);
    assert_eq!(
        (c.data, c.group, times),
        (json!("c3"), None, (at(6), at(6)))
    );
    assert_eq!(store.get_ref("k", "new").await.unwrap(), None);
    let x = store.get_ref("k", "x").await.unwrap().unwrap();
    assert_eq!(
        (x.data, x.created_at, x.updated_at),
        (json!(2), at(7), at(7))
    );
}

pub async fn list_refs_filters_by_kind_and_group_newest_first(store: SharedStore) {
    assert!(
        store
            .list_refs("slack_message", "g")
            .await
            .unwrap()
            .is_empty()
    );
    let message =
        |key: &str, group: &str| grouped_ref_write("slack_message", key, group, json!(key));
    complete_writing(
        &store,
        at(1),
        vec![message("old", "g"), message("other", "h")],
    )
    .await;
    complete_writing(
        &store,
        at(2),
        vec![
            // A tie in `updated_at`: by key, in byte order ("B" before "a").
            message("a", "g"),
            message("B", "g"),
            grouped_ref_write("github_deployment", "d", "g", json!(1)),
            ref_write("slack_message", "none", json!(2)),
            message("moved", "g"),
            message("deleted", "g"),
        ],
    )
    .await;
    complete_writing(&store, at(3), vec![message("new", "g")]).await;
    // A ref moves to the group of its last write, and a deleted one leaves its group.
    complete_writing(
        &store,
        at(4),
        vec![
            message("moved", "h"),
            ref_delete("slack_message", "deleted"),
        ],
    )
    .await;

    let keys = |refs: Vec<Ref>| -> Vec<(String, Timestamp)> {
        refs.into_iter().map(|r| (r.key, r.updated_at)).collect()
    };
    let listed = store.list_refs("slack_message", "g").await.unwrap();
    assert!(listed.iter().all(|r| r.group.as_deref() == Some("g")));
    assert_eq!(
        keys(listed),
        vec![
            ("new".into(), at(3)),
            ("B".into(), at(2)),
            ("a".into(), at(2)),
            ("old".into(), at(1)),
        ]
    );
    let other = store.list_refs("slack_message", "h").await.unwrap();
    assert_eq!(
        keys(other),
        vec![("moved".into(), at(4)), ("other".into(), at(1))]
    );
    // Every ref of the kind, grouped or not, newest first; deleted ones are gone.
    let all = store.list_refs_of_kind("slack_message").await.unwrap();
    assert_eq!(
        keys(all),
        vec![
            ("moved".into(), at(4)),
            ("new".into(), at(3)),
            ("B".into(), at(2)),
            ("a".into(), at(2)),
            ("none".into(), at(2)),
            ("old".into(), at(1)),
            ("other".into(), at(1)),
        ]
    );
    let deployments = store.list_refs("github_deployment", "g").await.unwrap();
    assert_eq!(deployments[0].data, json!(1));
    assert_eq!(keys(deployments), vec![("d".into(), at(2))]);
    assert!(
        store
            .list_refs("github_deployment", "h")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_refs("slack_message", "")
            .await
            .unwrap()
            .is_empty()
    );
}
