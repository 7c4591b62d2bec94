//! Health per action, source and rule: failure streaks, the last failure, and counts.

use crate::fixtures::*;
use chrono::Duration;
use herald_store::SharedStore;
use herald_store::model::*;
use uuid::Uuid;

/// One event of `source` received at `created`, with one delivery of `rule` to `action`.
async fn seed(
    store: &SharedStore,
    (source, rule, action): (&str, &str, &str),
    created: Timestamp,
) -> Uuid {
    let mut new = event(source, None);
    new.received_at = created;
    let delivery = delivery(&new, rule, action);
    let id = delivery.id;
    append(store, item(new, vec![delivery])).await;
    id
}

/// What an attempt reports: status code, error and failure kind.
type Report<'a> = (i32, Option<&'a str>, Option<FailureKind>);

const OK: Report<'static> = (200, None, None);

/// Leases `id` alone and records an attempt started at `started` that ends in `next`.
async fn attempt(
    store: &SharedStore,
    id: Uuid,
    started: Timestamp,
    next: NextStep,
    (status, error, kind): Report<'_>,
) {
    let claimed = store.claim_ids(&[id], &claim(started, 1)).await.unwrap();
    assert_eq!(claimed.len(), 1, "{id} could not be leased");
    let mut done = record(&claimed[0], next, started + Duration::seconds(1));
    done.started_at = started;
    done.status_code = Some(status);
    done.error = error.map(str::to_string);
    done.failure_kind = kind;
    assert!(store.complete_attempt(&done).await.unwrap());
}

pub async fn health_reports_streaks_failures_and_counts(store: SharedStore) {
    assert_eq!(store.health().await.unwrap(), Health::default());
    let (notify, billing) = ("notify", "Billing");
    let mut slack = Vec::new();
    for second in 1..=3 {
        slack.push(seed(&store, ("github", notify, "slack"), at(second)).await);
    }
    let jira = [
        seed(&store, ("github", notify, "jira"), at(4)).await,
        seed(&store, ("Stripe", billing, "jira"), at(5)).await,
    ];
    seed(&store, ("Stripe", billing, "Webhook"), at(6)).await;

    let later = retry_at(at(1_000));
    let revoked = Some(FailureKind::Credential);
    let attempts = [
        // slack: two failures on two deliveries, a success, then two more failures.
        (slack[0], 10, later, (500, Some("boom"), None)),
        (
            slack[1],
            11,
            NextStep::Dead,
            (404, Some("no channel"), None),
        ),
        (slack[0], 20, NextStep::Succeeded, OK),
        (slack[2], 30, later, (401, Some("token revoked"), revoked)),
        (slack[2], 40, later, (403, Some("forbidden"), revoked)),
        // jira: failures only; the last is on a delivery without a failure kind.
        (
            jira[0],
            12,
            NextStep::Dead,
            (401, Some("token revoked"), revoked),
        ),
        (jira[1], 13, later, (429, Some("slow down"), None)),
        (jira[1], 14, later, (503, None, None)),
    ];
    for (id, second, next, report) in attempts {
        attempt(&store, id, at(second), next, report).await;
    }

    let health = store.health().await.unwrap();
    // Byte order: upper case first.
    let webhook = ActionHealth {
        action: "Webhook".into(),
        pending: 1,
        ..ActionHealth::default()
    };
    let jira = ActionHealth {
        action: "jira".into(),
        last_success_at: None,
        last_failure_at: Some(at(14)),
        last_failure_status: Some(503),
        last_failure_error: None,
        last_failure_kind: None,
        failure_streak: 3,
        pending: 1,
        dead: 1,
    };
    let slack = ActionHealth {
        action: "slack".into(),
        last_success_at: Some(at(20)),
        last_failure_at: Some(at(40)),
        last_failure_status: Some(403),
        last_failure_error: Some("forbidden".into()),
        last_failure_kind: revoked,
        failure_streak: 2,
        pending: 1,
        dead: 1,
    };
    assert_eq!(health.actions, vec![webhook, jira, slack]);
    let sources = vec![
        SourceHealth {
            source: "Stripe".into(),
            last_event_at: Some(at(6)),
            events: 2,
        },
        SourceHealth {
            source: "github".into(),
            last_event_at: Some(at(4)),
            events: 4,
        },
    ];
    assert_eq!(health.sources, sources);
    let rules = vec![
        RuleHealth {
            rule: billing.into(),
            last_delivery_at: Some(at(6)),
            dead: 0,
        },
        RuleHealth {
            rule: notify.into(),
            last_delivery_at: Some(at(4)),
            dead: 2,
        },
    ];
    assert_eq!(health.rules, rules);
}

pub async fn health_breaks_started_at_ties_by_delivery_then_number(store: SharedStore) {
    let mut by_id = Vec::new();
    for _ in 0..3 {
        by_id.push(seed(&store, ("github", "r", "by-id"), at(0)).await);
    }
    by_id.sort_unstable();
    let by_number = seed(&store, ("github", "r", "by-number"), at(0)).await;
    let (tie, later) = (at(10), retry_at(at(1_000)));
    // All at one instant: a failure, a success, a failure, in delivery id order.
    attempt(&store, by_id[0], tie, later, (500, Some("first"), None)).await;
    attempt(&store, by_id[1], tie, NextStep::Succeeded, OK).await;
    attempt(&store, by_id[2], tie, later, (502, Some("last"), None)).await;
    // One delivery: attempts 1 (failure), 2 (success), 3 and 4 (failures), all at once.
    attempt(&store, by_number, tie, later, (500, Some("first"), None)).await;
    attempt(&store, by_number, tie, NextStep::Succeeded, OK).await;
    let replay = ReplaySelector::Ids(vec![by_number]);
    assert_eq!(store.replay(&replay, tie).await.unwrap(), vec![by_number]);
    attempt(&store, by_number, tie, later, (503, Some("third"), None)).await;
    attempt(&store, by_number, tie, later, (504, Some("fourth"), None)).await;

    let health = store.health().await.unwrap();
    let failed_at_tie =
        |action: &str, streak, (status, error): (i32, &str), pending| ActionHealth {
            action: action.into(),
            last_success_at: Some(tie),
            last_failure_at: Some(tie),
            last_failure_status: Some(status),
            last_failure_error: Some(error.into()),
            last_failure_kind: None,
            failure_streak: streak,
            pending,
            dead: 0,
        };
    let expected = vec![
        failed_at_tie("by-id", 1, (502, "last"), 2),
        failed_at_tie("by-number", 2, (504, "fourth"), 1),
    ];
    assert_eq!(health.actions, expected);
}
