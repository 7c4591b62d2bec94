//! Polled items as events of their source, routed by the same code as a webhook's
//! (`services::ingest::route_event`): rules, filters, windows, ordering keys.

use crate::config::Config;
use crate::ingress::poller::PolledItem;
use crate::services::ingest::{Prepared, route_event};
use chrono::{DateTime, Utc};
use herald_store::model::{Document, JsonText, NewDelivery, NewEvent};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// The event an item becomes: its id is the dedup key, its type the event type, the item
/// itself the payload.
fn event(source: &str, item: &PolledItem, id: Uuid, now: DateTime<Utc>) -> NewEvent {
    NewEvent {
        id,
        source: source.to_string(),
        event_type: item.event_type.clone(),
        dedup_key: Some(item.id.clone()),
        received_at: now,
        headers: BTreeMap::new(),
        payload: JsonText::encode(&item.payload),
        hook: None,
    }
}

/// A page's items as events with their deliveries and windows, in page order (event ids
/// grow with it, so events and deliveries keep the API's order).
pub fn prepare(
    config: &Config,
    source: &str,
    items: &[PolledItem],
    now: DateTime<Utc>,
) -> Vec<Prepared> {
    items
        .iter()
        .map(|item| {
            let prepared = route_event(
                config,
                event(source, item, Uuid::now_v7(), now),
                Arc::new(Document::from_value(item.payload.clone())),
            );
            prepared.report_filter_errors();
            prepared
        })
        .collect()
}

/// New deliveries for an item already stored as event `event_id` (`--reprocess`): its
/// rules matched again, each delivery keyed by `run` so one replay makes one delivery per
/// rule and action, and a later one makes another. Windowed rules gather events only as
/// they arrive, so they make none here.
pub fn reprocess(
    config: &Config,
    source: &str,
    (event_id, item): (Uuid, &PolledItem),
    run: Uuid,
    now: DateTime<Utc>,
) -> Vec<NewDelivery> {
    let prepared = route_event(
        config,
        event(source, item, event_id, now),
        Arc::new(Document::from_value(item.payload.clone())),
    );
    prepared
        .item
        .deliveries
        .into_iter()
        .map(|delivery| NewDelivery {
            idempotency_key: format!("{}/reprocess/{run}", delivery.idempotency_key),
            ..delivery
        })
        .collect()
}
