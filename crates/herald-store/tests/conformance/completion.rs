//! Completing attempts: counters, status, schedule and the attempt log.

use crate::fixtures::*;
use herald_store::SharedStore;
use herald_store::model::*;
use serde_json::json;

pub async fn complete_succeeded_records_attempt(store: SharedStore) {
    let id = seed_due(&store, &[at(0)]).await[0];
    let claimed = store.claim_due(&claim(at(1), 1)).await.unwrap().remove(0);
    let mut done = record(&claimed, NextStep::Succeeded, at_ms(1_500));
    done.status_code = Some(201);
    done.request = Some(json!({ "method": "POST", "body": { "text": "hi" } }).into());
    done.response_body = Some("{\"ok\":true}".to_string());
    assert!(store.complete_attempt(&done).await.unwrap());

    let delivery = delivery_of(&store, id).await;
    assert_eq!(delivery.status, DeliveryStatus::Succeeded);
    assert_eq!((delivery.attempts, delivery.retries_used), (1, 0));
    assert_eq!(delivery.next_attempt_at, at(0));
    assert_eq!(delivery.lease_until, None);
    assert_eq!(delivery.updated_at, at_ms(1_500));
    assert_eq!(delivery.last_status_code, Some(201));
    assert_eq!(delivery.last_error, None);
    let expected = Attempt {
        delivery_id: id,
        number: 1,
        started_at: done.started_at,
        duration_ms: 250,
        outcome: AttemptOutcome::Success,
        status_code: Some(201),
        error: None,
        request: done.request.as_ref().map(JsonText::decode),
        response_body: done.response_body.clone(),
    };
    assert_eq!(store.list_attempts(id).await.unwrap(), vec![expected]);
    assert!(claim_ids(&store, at(1_000), 10).await.is_empty());
}

pub async fn complete_retry_and_dead_update_schedule(store: SharedStore) {
    let id = seed_due(&store, &[at(0)]).await[0];
    let first = store.claim_due(&claim(at(1), 1)).await.unwrap().remove(0);
    let retry = NextStep::Retry {
        at: at(60),
        counts_against_schedule: true,
    };
    let mut failed = record(&first, retry, at(2));
    (failed.status_code, failed.error) = (Some(500), Some("boom".to_string()));
    assert!(store.complete_attempt(&failed).await.unwrap());
    let delivery = delivery_of(&store, id).await;
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert_eq!((delivery.attempts, delivery.retries_used), (1, 1));
    assert_eq!(delivery.next_attempt_at, at(60));
    assert_eq!((delivery.lease_until, delivery.updated_at), (None, at(2)));
    assert_eq!(delivery.last_status_code, Some(500));
    assert_eq!(delivery.last_error.as_deref(), Some("boom"));
    assert!(claim_ids(&store, at(59), 1).await.is_empty());

    // A rate-limit wait does not use up the schedule.
    let second = store.claim_due(&claim(at(60), 1)).await.unwrap().remove(0);
    let wait = NextStep::Retry {
        at: at(120),
        counts_against_schedule: false,
    };
    let mut limited = record(&second, wait, at(61));
    (limited.status_code, limited.request) = (Some(429), None);
    assert!(store.complete_attempt(&limited).await.unwrap());
    let delivery = delivery_of(&store, id).await;
    assert_eq!((delivery.attempts, delivery.retries_used), (2, 1));
    assert_eq!(delivery.next_attempt_at, at(120));

    let third = store.claim_due(&claim(at(120), 1)).await.unwrap().remove(0);
    let mut dead = record(&third, NextStep::Dead, at(121));
    (dead.status_code, dead.error, dead.response_body) = (None, Some("gave up".into()), None);
    assert!(store.complete_attempt(&dead).await.unwrap());
    let delivery = delivery_of(&store, id).await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert_eq!((delivery.attempts, delivery.retries_used), (3, 1));
    assert_eq!(delivery.next_attempt_at, at(120));
    assert_eq!(delivery.last_status_code, None);
    assert_eq!(delivery.last_error.as_deref(), Some("gave up"));

    let attempts = store.list_attempts(id).await.unwrap();
    let summary: Vec<_> = attempts
        .iter()
        .map(|a| (a.number, a.outcome, a.status_code, a.request.is_some()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, AttemptOutcome::Retry, Some(500), true),
            (2, AttemptOutcome::Retry, Some(429), false),
            (3, AttemptOutcome::Failed, None, true),
        ]
    );
    assert_eq!(attempts[2].error.as_deref(), Some("gave up"));
    assert_eq!(attempts[2].response_body, None);
    assert_eq!(attempts[1].started_at, limited.started_at);
}

pub async fn complete_sets_progress_and_failure_kind(store: SharedStore) {
    let id = seed_due(&store, &[at(0)]).await[0];
    let first = store.claim_due(&claim(at(1), 1)).await.unwrap().remove(0);
    let mut refused = record(&first, retry_at(at(10)), at(2));
    (refused.progress, refused.failure_kind) = (2, Some(FailureKind::Credential));
    assert!(store.complete_attempt(&refused).await.unwrap());
    let delivery = delivery_of(&store, id).await;
    assert_eq!(delivery.progress, 2);
    assert_eq!(delivery.failure_kind, Some(FailureKind::Credential));

    // A stale token writes neither.
    let mut stale = record(&first, NextStep::Succeeded, at(3));
    (stale.progress, stale.failure_kind) = (5, None);
    assert!(!store.complete_attempt(&stale).await.unwrap());
    assert_eq!(delivery_of(&store, id).await, delivery);

    // A plain retry clears the failure kind; progress is the record's, as is.
    let second = store.claim_due(&claim(at(10), 1)).await.unwrap().remove(0);
    let mut retried = record(&second, retry_at(at(20)), at(11));
    retried.progress = 3;
    assert!(store.complete_attempt(&retried).await.unwrap());
    let delivery = delivery_of(&store, id).await;
    assert_eq!((delivery.progress, delivery.failure_kind), (3, None));

    let third = store.claim_due(&claim(at(20), 1)).await.unwrap().remove(0);
    let mut dead = record(&third, NextStep::Dead, at(21));
    (dead.progress, dead.failure_kind) = (3, Some(FailureKind::Credential));
    assert!(store.complete_attempt(&dead).await.unwrap());
    let delivery = delivery_of(&store, id).await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert_eq!(delivery.failure_kind, Some(FailureKind::Credential));
    let listed = store
        .list_deliveries(&DeliveryQuery::default())
        .await
        .unwrap();
    assert_eq!(listed, vec![delivery]);
}
