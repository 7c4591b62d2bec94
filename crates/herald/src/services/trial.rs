//! `herald test <rule>` and `POST /api/rules/{rule}/test`: send one real request through
//! a rule's actions now, and report request, answer and verdict. The event and its
//! deliveries are stored like any other, marked as a test (dedup key `test:…`, header
//! `x-herald-test`, idempotency key `test/…`), so the attempt is in the delivery log.

use crate::clock::{self, SharedClock};
use crate::config::Config;
use crate::core::rules::Rule;
use crate::outbox::Executor;
use herald_store::model::{
    ClaimRequest, EventQuery, EventWithDeliveries, JsonText, NewDelivery, NewEvent, NextStep,
};
use herald_store::{SharedStore, StoreError};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// Marks a test delivery's idempotency key, and so the delivery, in the log.
pub const TEST_PREFIX: &str = "test/";
/// How long the test holds its deliveries; workers of a running herald keep off them.
const LEASE: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error("unknown rule `{0}`")]
    UnknownRule(String),
    #[error(
        "rule `{0}` has no stored event to replay; give a payload (--payload FILE) to test it with"
    )]
    NoEvent(String),
    #[error("rule `{0}` matches every source; say which one the test event comes from")]
    NoSource(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to send: a payload and its event type, or (none) the rule's latest stored event.
#[derive(Debug, Clone, Default)]
pub struct TrialInput {
    pub payload: Option<Value>,
    pub event_type: Option<String>,
    pub source: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialReport {
    pub rule: String,
    pub event_id: Uuid,
    /// Where the payload came from: "given" or the id of the stored event replayed.
    pub payload_from: String,
    pub results: Vec<TrialResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialResult {
    pub action: String,
    pub delivery_id: Uuid,
    /// `success`, `retry` (it will be retried by the outbox) or `dead`.
    pub verdict: &'static str,
    pub request: Option<Value>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub response_body: Option<String>,
}

pub async fn run_trial(
    config: &Config,
    store: &SharedStore,
    executor: &Executor,
    clock: &SharedClock,
    rule_name: &str,
    input: TrialInput,
) -> Result<TrialReport, TrialError> {
    let rule = config
        .rule(rule_name)
        .ok_or_else(|| TrialError::UnknownRule(rule_name.to_string()))?;
    let (event, payload_from) = test_event(store, rule, input, clock).await?;
    let event_id = event.id;
    let deliveries = test_deliveries(rule, &event);
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    store
        .append_events(&[EventWithDeliveries {
            event,
            deliveries,
            windows: Vec::new(),
        }])
        .await?;
    let now = clock.now();
    let request = ClaimRequest {
        now,
        lease_until: clock::add(now, LEASE),
        owner: "herald test".to_string(),
        limit: u32::try_from(ids.len()).unwrap_or(u32::MAX),
        skip_actions: Vec::new(),
    };
    let mut results = Vec::new();
    for claimed in store.claim_ids(&ids, &request).await? {
        let record = executor
            .attempt(&claimed, executor.ticket(&claimed))
            .await?;
        let result = TrialResult {
            action: claimed.delivery.action.clone(),
            delivery_id: claimed.delivery.id,
            verdict: match record.next {
                NextStep::Succeeded => "success",
                NextStep::Retry { .. } => "retry",
                NextStep::Dead => "dead",
            },
            request: record.request.as_ref().map(JsonText::decode),
            status_code: record.status_code,
            error: record.error.clone(),
            response_body: record.response_body.clone(),
        };
        executor.record(record).await?;
        results.push(result);
    }
    Ok(TrialReport {
        rule: rule.name.clone(),
        event_id,
        payload_from,
        results,
    })
}

async fn test_event(
    store: &SharedStore,
    rule: &Rule,
    input: TrialInput,
    clock: &SharedClock,
) -> Result<(NewEvent, String), TrialError> {
    let source = match input.source.or_else(|| named_source(rule)) {
        Some(source) => source,
        None => return Err(TrialError::NoSource(rule.name.clone())),
    };
    // The latest event's hook comes with it, so a rule on `meta.hook` matches as it would.
    let (payload, event_type, from, hook) = match input.payload {
        Some(payload) => {
            let event_type = input.event_type.unwrap_or_else(|| literal_type(rule));
            (payload, event_type, "given".to_string(), None)
        }
        None => {
            let latest = latest_event(store, rule, &source)
                .await?
                .ok_or_else(|| TrialError::NoEvent(rule.name.clone()))?;
            let from = latest.id.to_string();
            (latest.payload, latest.event_type, from, latest.hook)
        }
    };
    let id = Uuid::now_v7();
    let event = NewEvent {
        id,
        source,
        event_type,
        dedup_key: Some(format!("test:{id}")),
        received_at: clock.now(),
        headers: BTreeMap::from([("x-herald-test".to_string(), "true".to_string())]),
        payload: payload.into(),
        hook,
    };
    Ok((event, from))
}

fn named_source(rule: &Rule) -> Option<String> {
    rule.sources.iter().find(|s| *s != "*").cloned()
}

/// The rule's first event pattern without wildcards, e.g. `push`; else `test`.
fn literal_type(rule: &Rule) -> String {
    rule.events
        .iter()
        .map(|glob| glob.as_str())
        .find(|text| !text.contains(['*', '?', '[']))
        .unwrap_or("test")
        .to_string()
}

/// The newest stored event of `source` this rule accepts (tests excluded).
async fn latest_event(
    store: &SharedStore,
    rule: &Rule,
    source: &str,
) -> Result<Option<herald_store::model::Event>, StoreError> {
    let page = store
        .list_events(&EventQuery {
            source: Some(source.to_string()),
            limit: 200,
            ..Default::default()
        })
        .await?;
    Ok(page.into_iter().find(|event| {
        !event.headers.contains_key("x-herald-test")
            && rule.events.iter().any(|g| g.matches(&event.event_type))
    }))
}

fn test_deliveries(rule: &Rule, event: &NewEvent) -> Vec<NewDelivery> {
    // Due far in the future: only this test runs them, never a worker.
    let later = clock::add(event.received_at, Duration::from_secs(365 * 24 * 3600));
    rule.actions
        .iter()
        .map(|action| NewDelivery {
            id: Uuid::now_v7(),
            event_id: Some(event.id),
            rule: rule.name.clone(),
            action: action.clone(),
            idempotency_key: format!("{TEST_PREFIX}{}/{}/{action}", event.id, rule.name),
            created_at: event.received_at,
            next_attempt_at: later,
            ordering_key: None,
            window_id: None,
            lease: None,
        })
        .collect()
}
