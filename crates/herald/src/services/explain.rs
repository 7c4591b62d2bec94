//! "Why didn't this rule fire?": every rule of the configuration against one stored event —
//! its source, its type, its filter's value — with the window the event joined and the
//! deliveries it made. The same answer for `herald explain`, `/api/events/{id}/explain`
//! and the dashboard.

use crate::config::Config;
use crate::core::context::stored_event_context;
use crate::core::rules::{self, Explanation};
use herald_store::model::{DeliveryQuery, DeliveryStatus, Event, Window, WindowQuery};
use herald_store::{SharedStore, StoreError};
use serde::Serialize;
use uuid::Uuid;

/// Windows of one rule looked at to find the one an event joined.
const WINDOWS_LOOKED_AT: u32 = 500;

/// One event, explained rule by rule.
#[derive(Debug, Clone, Serialize)]
pub struct EventExplanation {
    pub event_id: Uuid,
    pub source: String,
    pub event_type: String,
    pub rules: Vec<RuleExplanation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleExplanation {
    #[serde(flatten)]
    pub explanation: Explanation,
    /// For a matching rule with a window: the group the event went to, and the window.
    pub window: Option<JoinedWindow>,
    /// The deliveries the event made through this rule.
    pub deliveries: Vec<MadeDelivery>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JoinedWindow {
    pub group_key: String,
    /// The window holding the event, when the store still has it.
    pub window: Option<Window>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MadeDelivery {
    pub id: Uuid,
    pub action: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Explain `event` against the rules of `config`.
pub async fn explain(
    config: &Config,
    store: &SharedStore,
    event: &Event,
) -> Result<EventExplanation, StoreError> {
    let context = stored_event_context(event);
    let verdicts = rules::explain(
        &config.rules,
        &config.templates,
        &event.source,
        &event.event_type,
        &context,
    );
    let query = DeliveryQuery {
        event_id: Some(event.id),
        limit: 1000,
        ..DeliveryQuery::default()
    };
    let deliveries = store.list_deliveries(&query).await?;
    let mut rules = Vec::with_capacity(verdicts.len());
    for explanation in verdicts {
        let window = match explanation.matched {
            true => joined_window(config, store, event, &context, &explanation.rule).await?,
            false => None,
        };
        let made = deliveries
            .iter()
            .filter(|delivery| delivery.rule == explanation.rule)
            .map(|delivery| MadeDelivery {
                id: delivery.id,
                action: delivery.action.clone(),
                status: delivery.status,
                attempts: delivery.attempts,
                last_error: delivery.last_error.clone(),
            })
            .collect();
        rules.push(RuleExplanation {
            explanation,
            window,
            deliveries: made,
        });
    }
    Ok(EventExplanation {
        event_id: event.id,
        source: event.source.clone(),
        event_type: event.event_type.clone(),
        rules,
    })
}

/// The window of `rule` the event joined: its group, rendered as ingest did, and the
/// window of that group open when the event arrived.
async fn joined_window(
    config: &Config,
    store: &SharedStore,
    event: &Event,
    context: &minijinja::Value,
    rule: &str,
) -> Result<Option<JoinedWindow>, StoreError> {
    let Some(spec) = config.rule(rule).and_then(|rule| rule.window.as_ref()) else {
        return Ok(None);
    };
    let group_key = match &spec.group {
        Some(template) => match config.templates.render(template, context) {
            Ok(group) => group.trim().to_string(),
            Err(error) => format!("(the group does not render: {error})"),
        },
        None => String::new(),
    };
    let query = WindowQuery {
        rule: Some(rule.to_string()),
        status: None,
        limit: WINDOWS_LOOKED_AT,
    };
    let window = store
        .list_windows(&query)
        .await?
        .into_iter()
        .find(|window| {
            window.group_key == group_key
                && window.opened_at <= event.received_at
                && window
                    .flushed_at
                    .is_none_or(|flushed| flushed >= event.received_at)
        });
    Ok(Some(JoinedWindow { group_key, window }))
}
