//! Reading the event log and the outbox, and replaying deliveries.

use herald_store::model::{
    Attempt, Delivery, DeliveryQuery, DeliveryStatus, Event, EventQuery, QueueDepth, ReplayFilter,
    ReplaySelector, Timestamp,
};
use herald_store::{SharedStore, StoreError};
use serde::Serialize;
use uuid::Uuid;

/// A delivery with every attempt made so far.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
}

#[derive(Clone)]
pub struct Queries {
    store: SharedStore,
}

impl Queries {
    pub fn new(store: SharedStore) -> Self {
        Queries { store }
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    pub async fn events(&self, query: &EventQuery) -> Result<Vec<Event>, StoreError> {
        self.store.list_events(query).await
    }

    pub async fn event(&self, id: Uuid) -> Result<Option<Event>, StoreError> {
        self.store.get_event(id).await
    }

    /// The event `name` names: herald's id, or else the id its sender gave the delivery
    /// (GitHub's `X-GitHub-Delivery`: the event's dedup key), of `source` when given.
    pub async fn find_event(
        &self,
        name: &str,
        source: Option<&str>,
    ) -> Result<Result<Event, FindError>, StoreError> {
        if let Ok(id) = name.parse::<Uuid>()
            && let Some(event) = self.store.get_event(id).await?
            && source.is_none_or(|source| source == event.source)
        {
            return Ok(Ok(event));
        }
        let mut found = self.store.events_by_dedup_key(name).await?;
        found.retain(|event| source.is_none_or(|source| source == event.source));
        Ok(match found.len() {
            0 => Err(FindError::Missing(match source {
                Some(source) => {
                    format!("no event {name} of source {source} (by id or delivery id)")
                }
                None => format!("no event {name} (by id or delivery id)"),
            })),
            1 => Ok(found.remove(0)),
            _ => Err(FindError::Ambiguous(format!(
                "delivery id {name} names events of several sources ({}): give the source",
                found
                    .iter()
                    .map(|event| format!("{} of {}", event.id, event.source))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        })
    }

    /// `filter` as a query: its `event` may be herald's id or the sender's delivery id. An
    /// event that is not there matches nothing.
    pub async fn delivery_query(
        &self,
        filter: &DeliveryFilter,
        now: Timestamp,
    ) -> Result<Result<DeliveryQuery, String>, StoreError> {
        let mut query = match filter.to_query(now) {
            Ok(query) => query,
            Err(message) => return Ok(Err(message)),
        };
        if let Some(name) = &filter.event {
            query.event_id = match self.find_event(name, None).await? {
                Ok(event) => Some(event.id),
                Err(FindError::Missing(_)) => Some(name.parse().unwrap_or(Uuid::nil())),
                Err(ambiguous) => return Ok(Err(ambiguous.to_string())),
            };
        }
        Ok(Ok(query))
    }

    pub async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        self.store.list_deliveries(query).await
    }

    pub async fn delivery(&self, id: Uuid) -> Result<Option<DeliveryDetail>, StoreError> {
        let Some(delivery) = self.store.get_delivery(id).await? else {
            return Ok(None);
        };
        let attempts = self.store.list_attempts(id).await?;
        Ok(Some(DeliveryDetail { delivery, attempts }))
    }

    /// Re-queue deliveries now; returns the ids re-queued.
    pub async fn replay(
        &self,
        selector: &ReplaySelector,
        now: Timestamp,
    ) -> Result<Vec<Uuid>, StoreError> {
        let ids = self.store.replay(selector, now).await?;
        tracing::info!(count = ids.len(), "Deliveries re-queued");
        Ok(ids)
    }

    pub async fn queue_depth(&self, now: Timestamp) -> Result<QueueDepth, StoreError> {
        self.store.queue_depth(now).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}

/// Why `Queries::find_event` found no one event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindError {
    #[error("{0}")]
    Missing(String),
    /// The sender's delivery id of events of several sources.
    #[error("{0}")]
    Ambiguous(String),
}

/// Event filters as people write them (CLI flags, API query strings).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    pub source: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub before: Option<Uuid>,
    pub limit: Option<u32>,
}

impl EventFilter {
    pub fn to_query(&self, now: Timestamp) -> Result<EventQuery, String> {
        Ok(EventQuery {
            source: self.source.clone(),
            event_type: self.event_type.clone(),
            since: optional_time(self.since.as_deref(), now)?,
            until: optional_time(self.until.as_deref(), now)?,
            before: self.before,
            limit: self.limit.unwrap_or(DEFAULT_LIMIT),
        })
    }
}

/// Delivery filters as people write them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryFilter {
    pub status: Option<String>,
    pub rule: Option<String>,
    pub action: Option<String>,
    /// herald's id of the event, or its sender's delivery id (see `Queries::delivery_query`).
    pub event: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub before: Option<Uuid>,
    pub limit: Option<u32>,
}

impl DeliveryFilter {
    pub fn to_query(&self, now: Timestamp) -> Result<DeliveryQuery, String> {
        Ok(DeliveryQuery {
            status: self.status.as_deref().map(str::parse).transpose()?,
            rule: self.rule.clone(),
            action: self.action.clone(),
            event_id: self.event.as_deref().and_then(|event| event.parse().ok()),
            since: optional_time(self.since.as_deref(), now)?,
            until: optional_time(self.until.as_deref(), now)?,
            before: self.before,
            limit: self.limit.unwrap_or(DEFAULT_LIMIT),
        })
    }
}

/// Which deliveries to replay: ids, or a filter (dead deliveries unless `status` says).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    #[serde(default)]
    pub ids: Vec<Uuid>,
    pub rule: Option<String>,
    pub action: Option<String>,
    pub status: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl ReplayRequest {
    pub fn to_selector(&self, now: Timestamp) -> Result<ReplaySelector, String> {
        let filtered = self.rule.is_some()
            || self.action.is_some()
            || self.status.is_some()
            || self.since.is_some()
            || self.until.is_some();
        match (self.ids.is_empty(), filtered) {
            (false, true) => Err("give delivery ids or a filter, not both".into()),
            (false, false) => Ok(ReplaySelector::Ids(self.ids.clone())),
            (true, false) => Err("say which deliveries to replay: ids, or a filter (rule, action, status, since, until)".into()),
            (true, true) => {
                let status = match self.status.as_deref() {
                    Some("pending") => return Err("pending deliveries run anyway; replay dead or succeeded ones".into()),
                    Some(status) => status.parse()?,
                    None => DeliveryStatus::Dead,
                };
                Ok(ReplaySelector::Filter(ReplayFilter {
                    rule: self.rule.clone(),
                    action: self.action.clone(),
                    status: Some(status),
                    since: optional_time(self.since.as_deref(), now)?,
                    until: optional_time(self.until.as_deref(), now)?,
                }))
            }
        }
    }
}

const DEFAULT_LIMIT: u32 = 50;

fn optional_time(text: Option<&str>, now: Timestamp) -> Result<Option<Timestamp>, String> {
    text.map(|text| super::time::parse_time(text, now))
        .transpose()
}
