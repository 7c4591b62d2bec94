//! Refs: what external systems returned, written with attempt records, and refs changed
//! together on conditions (`change_refs`).

use crate::fixtures::*;
use herald_store::SharedStore;
use herald_store::model::*;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::Barrier;
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

/// A (kind, key) pair of a change's conditions.
fn pair(kind: &str, key: &str) -> (String, String) {
    (kind.to_string(), key.to_string())
}

/// The two refs that link a chat channel to a repository and back.
fn link(channel: &str, repository: &str) -> Vec<RefWrite> {
    vec![
        grouped_ref_write(
            "channel_repo",
            channel,
            "chatops",
            json!({ "repository": repository }),
        ),
        grouped_ref_write(
            "repo_channel",
            repository,
            "chatops",
            json!({ "channel": channel }),
        ),
    ]
}

/// A change linking `channel` and `repository`, neither linked yet.
fn link_change(channel: &str, repository: &str, now: Timestamp) -> RefChange {
    RefChange {
        absent: vec![
            pair("channel_repo", channel),
            pair("repo_channel", repository),
        ],
        present: Vec::new(),
        writes: link(channel, repository),
        now,
    }
}

pub async fn change_refs_writes_when_the_conditions_hold(store: SharedStore) {
    assert!(
        store
            .change_refs(&link_change("C1", "acme/app", at(5)))
            .await
            .unwrap()
    );
    let channel = Ref {
        kind: "channel_repo".into(),
        key: "C1".into(),
        data: json!({ "repository": "acme/app" }),
        group: Some("chatops".into()),
        created_at: at(5),
        updated_at: at(5),
    };
    let repository = Ref {
        kind: "repo_channel".into(),
        key: "acme/app".into(),
        data: json!({ "channel": "C1" }),
        group: Some("chatops".into()),
        created_at: at(5),
        updated_at: at(5),
    };
    assert_eq!(
        store.get_ref("channel_repo", "C1").await.unwrap(),
        Some(channel.clone())
    );
    assert_eq!(
        store.list_refs("channel_repo", "chatops").await.unwrap(),
        vec![channel.clone()]
    );
    assert_eq!(
        store.list_refs("repo_channel", "chatops").await.unwrap(),
        vec![repository.clone()]
    );

    // The same link again: its keys exist now.
    let again = link_change("C1", "acme/app", at(6));
    assert!(!store.change_refs(&again).await.unwrap());
    assert_eq!(
        store.get_ref("channel_repo", "C1").await.unwrap(),
        Some(channel.clone())
    );

    // On a present key, an upsert replaces the data and keeps the creation time, as a
    // completion's does; a change without conditions always holds.
    let update = RefChange {
        present: vec![pair("channel_repo", "C1"), pair("repo_channel", "acme/app")],
        writes: vec![grouped_ref_write(
            "channel_repo",
            "C1",
            "chatops",
            json!({ "repository": "acme/app", "muted": true }),
        )],
        now: at(9),
        ..RefChange::default()
    };
    assert!(store.change_refs(&update).await.unwrap());
    let updated = Ref {
        data: json!({ "repository": "acme/app", "muted": true }),
        updated_at: at(9),
        ..channel
    };
    assert_eq!(
        store.get_ref("channel_repo", "C1").await.unwrap(),
        Some(updated.clone())
    );
    let unconditional = RefChange {
        writes: vec![ref_write("note", "n", json!(1))],
        now: at(10),
        ..RefChange::default()
    };
    assert!(store.change_refs(&unconditional).await.unwrap());
    let note = store.get_ref("note", "n").await.unwrap().unwrap();
    assert_eq!((note.data, note.group), (json!(1), None));
    assert_eq!((note.created_at, note.updated_at), (at(10), at(10)));
    assert_eq!(
        store.get_ref("repo_channel", "acme/app").await.unwrap(),
        Some(repository)
    );
    assert_eq!(
        store.list_refs("channel_repo", "chatops").await.unwrap(),
        vec![updated]
    );
}

pub async fn change_refs_writes_nothing_when_an_absent_key_exists(store: SharedStore) {
    complete_writing(
        &store,
        at(1),
        vec![
            grouped_ref_write(
                "repo_channel",
                "acme/app",
                "chatops",
                json!({ "channel": "C1" }),
            ),
            ref_write("k", "other", json!("kept")),
        ],
    )
    .await;
    let before = store.get_ref("repo_channel", "acme/app").await.unwrap();
    let mut change = link_change("C2", "acme/app", at(5));
    change.writes.push(ref_delete("k", "other"));
    change.writes.push(ref_write("k", "new", json!(1)));
    assert!(!store.change_refs(&change).await.unwrap());

    // None of the writes, not even those of other keys.
    assert_eq!(store.get_ref("channel_repo", "C2").await.unwrap(), None);
    assert_eq!(store.get_ref("k", "new").await.unwrap(), None);
    assert_eq!(
        store.get_ref("repo_channel", "acme/app").await.unwrap(),
        before
    );
    let other = store.get_ref("k", "other").await.unwrap().unwrap();
    assert_eq!((other.data, other.updated_at), (json!("kept"), at(1)));
    assert!(
        store
            .list_refs("channel_repo", "chatops")
            .await
            .unwrap()
            .is_empty()
    );
    let linked = store.list_refs("repo_channel", "chatops").await.unwrap();
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].data, json!({ "channel": "C1" }));
}

pub async fn change_refs_writes_nothing_when_a_present_key_is_missing(store: SharedStore) {
    assert!(
        store
            .change_refs(&link_change("C1", "acme/app", at(1)))
            .await
            .unwrap()
    );
    let unlink = |present: Vec<(String, String)>, absent: Vec<(String, String)>| RefChange {
        absent,
        present,
        writes: vec![
            ref_delete("channel_repo", "C1"),
            ref_delete("repo_channel", "acme/app"),
            ref_write("audit", "unlinked", json!("C1")),
        ],
        now: at(3),
    };
    // One of two present keys is missing.
    let missing = unlink(
        vec![pair("channel_repo", "C1"), pair("repo_channel", "acme/web")],
        Vec::new(),
    );
    assert!(!store.change_refs(&missing).await.unwrap());
    // Another kind, the same key: missing too.
    let other_kind = unlink(vec![pair("repo_channel", "C1")], Vec::new());
    assert!(!store.change_refs(&other_kind).await.unwrap());
    // A key that must be both absent and present.
    let both = unlink(
        vec![pair("channel_repo", "C1")],
        vec![pair("channel_repo", "C1")],
    );
    assert!(!store.change_refs(&both).await.unwrap());
    for (kind, key) in [("channel_repo", "C1"), ("repo_channel", "acme/app")] {
        let kept = store.get_ref(kind, key).await.unwrap().unwrap();
        assert_eq!((kept.created_at, kept.updated_at), (at(1), at(1)));
    }
    assert_eq!(store.get_ref("audit", "unlinked").await.unwrap(), None);

    // Every present key there (one named twice), and the absent one missing: applied.
    let present = unlink(
        vec![
            pair("repo_channel", "acme/app"),
            pair("channel_repo", "C1"),
            pair("channel_repo", "C1"),
        ],
        vec![pair("channel_repo", "C2")],
    );
    assert!(store.change_refs(&present).await.unwrap());
    assert_eq!(store.get_ref("channel_repo", "C1").await.unwrap(), None);
    assert_eq!(
        store.get_ref("repo_channel", "acme/app").await.unwrap(),
        None
    );
    let audit = store.get_ref("audit", "unlinked").await.unwrap().unwrap();
    assert_eq!((audit.data, audit.created_at), (json!("C1"), at(3)));
}

pub async fn change_refs_deletes_and_upserts_in_one_change(store: SharedStore) {
    let mut setup = link_change("C1", "acme/app", at(1));
    setup.writes.push(ref_write("k", "x", json!("old")));
    assert!(store.change_refs(&setup).await.unwrap());

    // Move C1 from acme/app to acme/web: drop the old back link, replace the channel's
    // link, add the new back link; and a delete then a write of one key writes it anew.
    let relink = RefChange {
        absent: vec![pair("repo_channel", "acme/web")],
        present: vec![pair("channel_repo", "C1"), pair("repo_channel", "acme/app")],
        writes: [
            vec![ref_delete("repo_channel", "acme/app")],
            link("C1", "acme/web"),
            vec![ref_delete("k", "x"), ref_write("k", "x", json!("new"))],
            vec![ref_write("k", "y", json!("y")), ref_delete("k", "y")],
        ]
        .concat(),
        now: at(4),
    };
    assert!(store.change_refs(&relink).await.unwrap());
    assert_eq!(
        store.get_ref("repo_channel", "acme/app").await.unwrap(),
        None
    );
    assert_eq!(store.get_ref("k", "y").await.unwrap(), None);
    let channel = store.get_ref("channel_repo", "C1").await.unwrap().unwrap();
    assert_eq!(
        (channel.data, channel.created_at, channel.updated_at),
        (json!({ "repository": "acme/web" }), at(1), at(4))
    );
    let back = Ref {
        kind: "repo_channel".into(),
        key: "acme/web".into(),
        data: json!({ "channel": "C1" }),
        group: Some("chatops".into()),
        created_at: at(4),
        updated_at: at(4),
    };
    assert_eq!(
        store.list_refs("repo_channel", "chatops").await.unwrap(),
        vec![back]
    );
    let x = store.get_ref("k", "x").await.unwrap().unwrap();
    assert_eq!(
        (x.data, x.created_at, x.updated_at),
        (json!("new"), at(4), at(4))
    );
}

pub async fn concurrent_changes_needing_one_absent_key_have_one_winner(store: SharedStore) {
    const ROUNDS: i64 = 8;
    const CONTENDERS: usize = 4;
    for round in 0..ROUNDS {
        let repository = format!("acme/app-{round}");
        let now = at(10 + round);
        let start = Arc::new(Barrier::new(CONTENDERS));
        let changes = (0..CONTENDERS).map(|n| {
            let (store, start) = (store.clone(), start.clone());
            let channel = format!("C{round}-{n}");
            // Each needs the repository unlinked, and its own channel too.
            let change = link_change(&channel, &repository, now);
            tokio::spawn(async move {
                start.wait().await;
                (store.change_refs(&change).await.unwrap(), channel)
            })
        });
        let mut winners = Vec::new();
        for change in changes.collect::<Vec<_>>() {
            let (won, channel) = change.await.unwrap();
            if won {
                winners.push(channel);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let winner = &winners[0];
        let back = store.get_ref("repo_channel", &repository).await.unwrap();
        let back = back.unwrap();
        assert_eq!(back.data, json!({ "channel": winner }));
        assert_eq!((back.created_at, back.updated_at), (now, now));
        for n in 0..CONTENDERS {
            let channel = format!("C{round}-{n}");
            let linked = store.get_ref("channel_repo", &channel).await.unwrap();
            assert_eq!(linked.is_some(), &channel == winner, "{channel}");
        }
    }
    let channels = store.list_refs("channel_repo", "chatops").await.unwrap();
    assert_eq!(channels.len(), ROUNDS as usize);
}
