//! `/ui/tail`: events as they arrive. The page lists the newest events; with JavaScript,
//! `assets/tail.js` reads `/ui/tail/stream` (server-sent events, one per new event, newest
//! last) and puts each at the top, holding them while the pointer is over the list.
//!
//! The stream reads the newest events every `TICK` and sends those after the last one it
//! sent (ids are time-ordered). It ends after `LIFETIME` (the browser reconnects, from the
//! `Last-Event-ID` it was last sent) and when herald shuts down, so graceful shutdown does
//! not wait for it.

use super::{Shared, Signed, UiError, when};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use herald_store::model::{Event, EventQuery};
use minijinja::{Value, context};
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// Events the page starts with, and read per tick at most.
const NEWEST: u32 = 50;
const TICK: Duration = Duration::from_secs(1);
const LIFETIME: Duration = Duration::from_secs(300);

fn row(event: &Event) -> serde_json::Value {
    serde_json::json!({
        "id": event.id,
        "source": event.source,
        "event_type": event.event_type,
        "dedup_key": event.dedup_key,
        "received_at": when(&event.received_at),
    })
}

pub async fn page(State(dash): State<Shared>, signed: Signed) -> Result<Html<String>, UiError> {
    let events = dash
        .app
        .queries
        .events(&EventQuery {
            limit: NEWEST,
            ..EventQuery::default()
        })
        .await?;
    let rows: Vec<Value> = events
        .iter()
        .map(|event| Value::from(minijinja::value::Serde(row(event))))
        .collect();
    let after = events.first().map(|event| event.id.to_string());
    dash.render(
        "tail.html",
        "tail",
        Some(&signed),
        context! { title => "Live tail", events => rows, after },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamForm {
    /// The newest event the page already shows.
    after: Option<String>,
}

struct Tail {
    dash: Shared,
    after: Option<Uuid>,
    /// Read, not yet sent: oldest first.
    queue: std::collections::VecDeque<Event>,
    ends: Instant,
    first: bool,
}

pub async fn stream(
    State(dash): State<Shared>,
    _signed: Signed,
    headers: HeaderMap,
    Query(form): Query<StreamForm>,
) -> Sse<impl Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    // A reconnecting browser says where it was; else the page's newest event.
    let after = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .or(form.after.as_deref())
        .and_then(|id| id.parse::<Uuid>().ok());
    let tail = Tail {
        dash,
        after,
        queue: Default::default(),
        ends: Instant::now() + LIFETIME,
        first: true,
    };
    let events = stream::unfold(tail, |mut tail| async move {
        loop {
            if let Some(event) = tail.queue.pop_front() {
                let message = SseEvent::default()
                    .event("event")
                    .id(event.id.to_string())
                    .data(row(&event).to_string());
                return Some((Ok(message), tail));
            }
            if tail.dash.app.stopping.is_cancelled() || Instant::now() >= tail.ends {
                return None;
            }
            if !tail.first {
                tokio::select! {
                    _ = tokio::time::sleep(TICK) => {}
                    _ = tail.dash.app.stopping.cancelled() => return None,
                }
            }
            tail.first = false;
            let newest = tail
                .dash
                .app
                .queries
                .events(&EventQuery {
                    limit: NEWEST,
                    ..EventQuery::default()
                })
                .await;
            let Ok(newest) = newest else {
                // The store is unreachable now: try again next tick.
                continue;
            };
            let fresh: Vec<Event> = newest
                .into_iter()
                .filter(|event| tail.after.is_none_or(|after| event.id > after))
                .collect();
            if let Some(newest) = fresh.first() {
                tail.after = Some(newest.id);
            }
            // Oldest first, so the page puts the newest on top.
            tail.queue.extend(fresh.into_iter().rev());
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
