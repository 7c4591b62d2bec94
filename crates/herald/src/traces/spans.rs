//! The spans of each step, built after the fact with their own start and end times (a
//! step's span is made once its outcome is known, so nothing is held across awaits).

use super::attributes as key;
use super::export::{Exporter, with_ids};
use super::{
    AttemptTrace, EventTrace, IngestTiming, PageTrace, RouteTo, Stored, WindowTrace, span_of,
    trace_of,
};
use herald_store::model::NewDelivery;
use opentelemetry::trace::{
    Link, Span as _, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _,
    TraceFlags, TraceId, TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Span;
use std::time::SystemTime;
use uuid::Uuid;

/// Links a window's delivery keeps to its events' traces, at most.
const MAX_LINKS: usize = 100;

impl Exporter {
    pub(super) fn ingested(&self, event: &EventTrace, outcome: &Stored, timing: &IngestTiming) {
        let mut attributes = event_attributes(event, timing.ingress, outcome);
        attributes.push(KeyValue::new(key::DELIVERIES, deliveries(event, outcome)));
        let builder = SpanBuilder::from_name(format!("ingest {}", event.source))
            .with_kind(SpanKind::Server)
            .with_start_time(timing.started)
            .with_attributes(attributes);
        let root = self.start_root(event.event_id, builder);
        if *outcome == Stored::New {
            self.routes(root.span_context(), event, timing.routed, timing.ended);
        }
        end(root, stored_status(outcome), timing.ended);
    }

    pub(super) fn polled(&self, page: &PageTrace<'_>, events: &[(EventTrace, Stored)]) {
        for (event, outcome) in events {
            let mut attributes = event_attributes(event, page.ingress, outcome);
            attributes.extend([
                KeyValue::new(key::DELIVERIES, deliveries(event, outcome)),
                KeyValue::new(key::PAGE, page.number as i64),
                KeyValue::new(key::PAGE_ITEMS, page.items as i64),
            ]);
            let builder = SpanBuilder::from_name(format!("poll {}", page.source))
                .with_kind(SpanKind::Consumer)
                .with_start_time(page.fetch_started)
                .with_attributes(attributes);
            let root = self.start_root(event.event_id, builder);
            let fetch = SpanBuilder::from_name(format!("fetch {}", page.source))
                .with_kind(SpanKind::Client)
                .with_start_time(page.fetch_started)
                .with_attributes([
                    KeyValue::new(key::SOURCE, page.source.to_string()),
                    KeyValue::new(key::PAGE, page.number as i64),
                ]);
            let fetch = self.start_span(Some(root.span_context()), None, fetch);
            end(fetch, Status::Unset, page.fetched);
            if *outcome == Stored::New {
                self.routes(root.span_context(), event, page.fetched, page.committed);
            }
            end(root, stored_status(outcome), page.committed);
        }
    }

    pub(super) fn rerouted(&self, deliveries: &[NewDelivery], at: SystemTime) {
        for delivery in deliveries {
            let Some(parent) = delivery
                .event_id
                .and_then(|event| remote(Some(event), event))
            else {
                continue;
            };
            let builder = rule_span(&delivery.rule, at).with_attributes([
                KeyValue::new(key::RULE, delivery.rule.clone()),
                KeyValue::new(key::ROUTE, "reprocessed"),
                KeyValue::new(key::ACTION, delivery.action.clone()),
                KeyValue::new(key::DELIVERY_ID, delivery.id.to_string()),
            ]);
            let span = self.start_span(Some(&parent), Some(delivery.id), builder);
            end(span, Status::Unset, at);
        }
    }

    pub(super) fn window_flushed(&self, window: &WindowTrace<'_>) {
        let links: Vec<Link> = window
            .events
            .iter()
            .rev()
            .take(MAX_LINKS)
            .filter_map(|event| remote(Some(*event), *event))
            .map(Link::with_context)
            .collect();
        for delivery in window.deliveries {
            let parent = delivery
                .event_id
                .and_then(|event| remote(Some(event), event));
            let builder = SpanBuilder::from_name(format!("window {}", window.rule))
                .with_start_time(window.started)
                .with_links(links.clone())
                .with_attributes([
                    KeyValue::new(key::RULE, window.rule.to_string()),
                    KeyValue::new(key::ROUTE, "window"),
                    KeyValue::new(key::ACTION, delivery.action.clone()),
                    KeyValue::new(key::DELIVERY_ID, delivery.id.to_string()),
                    KeyValue::new(key::WINDOW_ID, window.window_id.to_string()),
                    KeyValue::new(key::WINDOW_EVENTS, window.events.len() as i64),
                ]);
            let span = self.start_span(parent.as_ref(), Some(delivery.id), builder);
            end(span, Status::Unset, window.committed);
        }
    }

    pub(super) fn attempted(&self, attempt: &AttemptTrace<'_>) {
        let mut attributes = vec![
            KeyValue::new(key::DELIVERY_ID, attempt.delivery_id.to_string()),
            KeyValue::new(key::RULE, attempt.rule.to_string()),
            KeyValue::new(key::ACTION, attempt.action.to_string()),
            KeyValue::new(key::ATTEMPT, attempt.attempt),
            KeyValue::new(key::OUTCOME, attempt.outcome),
            KeyValue::new(key::STEPS_DONE, attempt.steps_done as i64),
        ];
        let optional = [
            attempt
                .action_kind
                .map(|kind| KeyValue::new(key::ACTION_KIND, kind.to_string())),
            attempt
                .status_code
                .map(|code| KeyValue::new(key::STATUS_CODE, i64::from(code))),
            attempt
                .failure_kind
                .map(|kind| KeyValue::new(key::FAILURE_KIND, kind)),
            attempt
                .retry_at
                .map(|at| KeyValue::new(key::RETRY_AT, at.to_rfc3339())),
            attempt
                .event_id
                .map(|id| KeyValue::new(key::EVENT_ID, id.to_string())),
            attempt
                .window_id
                .map(|id| KeyValue::new(key::WINDOW_ID, id.to_string())),
        ];
        attributes.extend(optional.into_iter().flatten());
        if let Some((source, event_type)) = attempt.event {
            attributes.push(KeyValue::new(key::SOURCE, source.to_string()));
            attributes.push(KeyValue::new(key::EVENT_TYPE, event_type.to_string()));
        }
        let links = attempt
            .linked_events
            .iter()
            .rev()
            .take(MAX_LINKS)
            .filter_map(|event| remote(Some(*event), *event))
            .map(Link::with_context)
            .collect();
        let builder = SpanBuilder::from_name(format!("deliver {}", attempt.action))
            .with_kind(SpanKind::Client)
            .with_start_time(attempt.started)
            .with_links(links)
            .with_attributes(attributes);
        // The rule's (or window's) span that made the delivery, in its event's trace.
        let parent = remote(attempt.event_id, attempt.delivery_id);
        let span = self.start_span(parent.as_ref(), None, builder);
        let status = match attempt.outcome {
            "success" => Status::Ok,
            "retry" => Status::error(failure("the attempt failed; it will be retried", attempt)),
            _ => Status::error(failure("the attempt failed; the delivery is dead", attempt)),
        };
        end(span, status, attempt.ended);
    }

    /// One span per route of a stored event, children of its root.
    fn routes(
        &self,
        root: &SpanContext,
        event: &EventTrace,
        started: SystemTime,
        ended: SystemTime,
    ) {
        for route in &event.routes {
            let mut attributes = vec![KeyValue::new(key::RULE, route.rule.clone())];
            let (kind, own_id, status) = match &route.to {
                RouteTo::Delivery {
                    action,
                    delivery_id,
                } => {
                    attributes.push(KeyValue::new(key::ACTION, action.clone()));
                    attributes.push(KeyValue::new(key::DELIVERY_ID, delivery_id.to_string()));
                    ("delivery", Some(*delivery_id), Status::Unset)
                }
                RouteTo::Window => ("window", None, Status::Unset),
                RouteTo::FilterFailed => (
                    "filter failed",
                    None,
                    Status::error("the rule's filter failed, so it did not match (see the log)"),
                ),
            };
            attributes.push(KeyValue::new(key::ROUTE, kind));
            let builder = rule_span(&route.rule, started).with_attributes(attributes);
            let span = self.start_span(Some(root), own_id, builder);
            end(span, status, ended);
        }
    }

    /// The root span of `event`'s trace, with the ids derived from it.
    fn start_root(&self, event: Uuid, builder: SpanBuilder) -> Span {
        let trace = trace_of(event).map(TraceId::from_bytes);
        let span = Some(SpanId::from_bytes(span_of(event)));
        with_ids(trace, span, || {
            self.tracer.build_with_context(builder, &Context::new())
        })
    }

    /// A span under `parent` (a root without one), its id derived from `own` if given.
    fn start_span(
        &self,
        parent: Option<&SpanContext>,
        own: Option<Uuid>,
        builder: SpanBuilder,
    ) -> Span {
        let context = match parent {
            Some(parent) => Context::new().with_remote_span_context(parent.clone()),
            None => Context::new(),
        };
        let span = own.map(|id| SpanId::from_bytes(span_of(id)));
        with_ids(None, span, || {
            self.tracer.build_with_context(builder, &context)
        })
    }
}

fn rule_span(rule: &str, started: SystemTime) -> SpanBuilder {
    SpanBuilder::from_name(format!("rule {rule}"))
        .with_kind(SpanKind::Internal)
        .with_start_time(started)
}

/// The span `id` stands for in `event`'s trace, as another process names it.
fn remote(event: Option<Uuid>, id: Uuid) -> Option<SpanContext> {
    let trace = trace_of(event?)?;
    Some(SpanContext::new(
        TraceId::from_bytes(trace),
        SpanId::from_bytes(span_of(id)),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

fn event_attributes(event: &EventTrace, ingress: &'static str, outcome: &Stored) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new(key::SOURCE, event.source.clone()),
        KeyValue::new(key::EVENT_TYPE, event.event_type.clone()),
        KeyValue::new(key::EVENT_ID, event.event_id.to_string()),
        KeyValue::new(key::INGRESS, ingress),
        KeyValue::new(key::OUTCOME, outcome.as_str()),
    ];
    if let Some(hook) = &event.hook {
        attributes.push(KeyValue::new(key::HOOK_ID, hook.clone()));
    }
    if let Stored::Duplicate(original) = outcome {
        attributes.push(KeyValue::new(key::ORIGINAL_EVENT_ID, original.to_string()));
    }
    attributes
}

/// The deliveries written with the event: none unless it was stored now.
fn deliveries(event: &EventTrace, outcome: &Stored) -> i64 {
    if *outcome != Stored::New {
        return 0;
    }
    event
        .routes
        .iter()
        .filter(|route| matches!(route.to, RouteTo::Delivery { .. }))
        .count() as i64
}

fn stored_status(outcome: &Stored) -> Status {
    match outcome {
        Stored::Failed => Status::error("the event was not stored: the store failed"),
        Stored::New | Stored::Duplicate(_) => Status::Ok,
    }
}

/// The status description of a failed attempt: its outcome and kind, never its error
/// text (which may quote the destination's answer).
fn failure(what: &str, attempt: &AttemptTrace<'_>) -> String {
    match (attempt.failure_kind, attempt.status_code) {
        (Some(kind), _) => format!("{what} ({kind} failure)"),
        (None, Some(code)) => format!("{what} (status {code})"),
        (None, None) => what.to_string(),
    }
}

fn end(mut span: Span, status: Status, at: SystemTime) {
    span.set_status(status);
    span.end_with_timestamp(at);
}
