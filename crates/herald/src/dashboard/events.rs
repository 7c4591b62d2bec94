//! `/ui/events`: the event log, newest first, filtered and paged by id; an event's page
//! with its payload, headers, why each rule did or did not match it, and its deliveries.

use super::{Shared, Signed, UiError, given, link, value, when};
use crate::services::explain;
use crate::services::query::{EventFilter, FindError};
use axum::extract::{Path, Query, State};
use axum::response::Html;
use herald_store::StoreError;
use herald_store::model::{DeliveryQuery, Event, EventQuery};
use minijinja::{Value, context};
use serde::Deserialize;
use uuid::Uuid;

pub const PAGE: u32 = 50;

/// A text search reads the filtered events newest first, this many a round, and stops
/// after `SEARCH_LIMIT` of them; its "next" link goes on from the last one read. A search
/// finding nothing reads 2,000 payloads in about 40 ms at 1,000,000 events (SQLite,
/// docs/benchmarks.md); 5,000 took 100 ms.
const SEARCH_BATCH: u32 = 500;
const SEARCH_LIMIT: usize = 2000;

/// The filter form's fields; empty ones are not filters.
#[derive(Debug, Default, Deserialize)]
pub struct EventsForm {
    source: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
    /// Text the payload contains (case-insensitive).
    q: Option<String>,
}

pub async fn list(
    State(dash): State<Shared>,
    signed: Signed,
    Query(form): Query<EventsForm>,
) -> Result<Html<String>, UiError> {
    let before = match given(&form.before) {
        Some(id) => Some(
            id.parse::<Uuid>()
                .map_err(|_| UiError::BadRequest(format!("{id} is not an event id")))?,
        ),
        None => None,
    };
    let filter = EventFilter {
        source: given(&form.source),
        event_type: given(&form.event_type),
        since: given(&form.since),
        until: given(&form.until),
        before,
        limit: Some(PAGE),
    };
    let query = filter.to_query(dash.now()).map_err(UiError::BadRequest)?;
    let text = given(&form.q);
    let (events, resume, searched) = match &text {
        None => {
            let events = dash.app.queries.events(&query).await?;
            let resume = match events.len() as u32 >= PAGE {
                true => events.last().map(|event| event.id),
                false => None,
            };
            (events, resume, None)
        }
        Some(text) => {
            let found = search(&dash, query, text).await?;
            (found.events, found.resume, Some(found.read))
        }
    };
    let next = resume.map(|before| {
        link(
            "/ui/events",
            &[
                ("source", filter.source.clone()),
                ("type", filter.event_type.clone()),
                ("since", filter.since.clone()),
                ("until", filter.until.clone()),
                ("q", text.clone()),
                ("before", Some(before.to_string())),
            ],
        )
    });
    let rows: Vec<Value> = events
        .iter()
        .map(|event| {
            context! {
                id => event.id.to_string(),
                source => event.source.clone(),
                event_type => event.event_type.clone(),
                dedup_key => event.dedup_key.clone(),
                received_at => when(&event.received_at),
            }
        })
        .collect();
    let sources: Vec<String> = dash.app.config.sources.keys().cloned().collect();
    dash.render(
        "events.html",
        "events",
        Some(&signed),
        context! {
            title => "Events",
            events => rows,
            next,
            sources,
            filter => context! {
                source => filter.source,
                event_type => filter.event_type,
                since => filter.since,
                until => filter.until,
                q => text,
            },
            searched,
        },
    )
}

/// Events of a text search, and where the next page goes on from.
struct Found {
    events: Vec<Event>,
    /// The id to read on before, when there may be more.
    resume: Option<Uuid>,
    /// Events read.
    read: usize,
}

/// The events of `query` whose payload contains `text`, case-insensitively: at most a
/// page of them, reading at most `SEARCH_LIMIT` events. Their payloads are read as text and
/// searched as such (no JSON is parsed); only the events found are read whole.
async fn search(dash: &Shared, mut query: EventQuery, text: &str) -> Result<Found, StoreError> {
    let needle = text.to_lowercase();
    let store = dash.app.queries.store();
    let mut ids = Vec::new();
    let mut resume = None;
    let mut read = 0;
    query.limit = SEARCH_BATCH;
    'reading: loop {
        let batch = store.event_payloads(&query).await?;
        let more = batch.len() as u32 >= SEARCH_BATCH;
        for (id, payload) in batch {
            read += 1;
            query.before = Some(id);
            if contains_ignoring_case(&payload, &needle) {
                ids.push(id);
                if ids.len() as u32 >= PAGE {
                    resume = query.before;
                    break 'reading;
                }
            }
        }
        if !more {
            break;
        }
        if read >= SEARCH_LIMIT {
            resume = query.before;
            break;
        }
    }
    let mut events = Vec::with_capacity(ids.len());
    for id in ids {
        // An event pruned since it was read is left out.
        if let Some(event) = store.get_event(id).await? {
            events.push(event);
        }
    }
    Ok(Found {
        events,
        resume,
        read,
    })
}

/// Whether `text` contains `needle` (already lowercase) ignoring case: byte by byte for
/// an ASCII needle, else on the lowercased text.
fn contains_ignoring_case(text: &str, needle: &str) -> bool {
    if !needle.is_ascii() {
        return text.to_lowercase().contains(needle);
    }
    let (text, needle) = (text.as_bytes(), needle.as_bytes());
    let Some(&first) = needle.first() else {
        return true;
    };
    text.len() >= needle.len()
        && (0..=text.len() - needle.len()).any(|at| {
            text[at].to_ascii_lowercase() == first
                && text[at..at + needle.len()].eq_ignore_ascii_case(needle)
        })
}

/// Headers whose name says they carry a credential: never shown, though ingest does not
/// keep signature and credential headers in the first place.
fn credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "signature",
        "token",
        "secret",
        "api-key",
        "apikey",
        "password",
        "x-hub-signature",
    ]
    .iter()
    .any(|word| name.contains(word))
}

pub async fn show(
    State(dash): State<Shared>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Html<String>, UiError> {
    let event = match dash.app.queries.find_event(&id, None).await? {
        Ok(event) => event,
        Err(FindError::Missing(message)) => return Err(UiError::NotFound(message)),
        Err(FindError::Ambiguous(message)) => return Err(UiError::BadRequest(message)),
    };
    let explained = explain::explain(&dash.app.config, dash.app.queries.store(), &event).await?;
    let deliveries = dash
        .app
        .queries
        .deliveries(&DeliveryQuery {
            event_id: Some(event.id),
            limit: 200,
            ..DeliveryQuery::default()
        })
        .await?;
    let headers: Vec<(String, String)> = event
        .headers
        .iter()
        .map(|(name, header)| match credential_header(name) {
            true => (name.clone(), "(hidden)".to_string()),
            false => (name.clone(), header.clone()),
        })
        .collect();
    let rules: Vec<Value> = explained
        .rules
        .iter()
        .map(|rule| {
            let window = rule.window.as_ref().map(|joined| {
                context! {
                    group_key => joined.group_key.clone(),
                    window => joined.window.as_ref().map(|window| context! {
                        id => window.id.to_string(),
                        status => window.status.as_str(),
                        count => window.count,
                        due_at => when(&window.due_at),
                    }),
                }
            });
            let filter = rule.explanation.filter.as_ref().map(|filter| match filter {
                crate::core::rules::FilterValue::Value(value) => value.to_string(),
                crate::core::rules::FilterValue::Error(error) => format!("error: {error}"),
            });
            context! {
                rule => rule.explanation.rule.clone(),
                matched => rule.explanation.matched,
                reason => rule.explanation.reason.clone(),
                filter,
                actions => rule.explanation.actions.clone(),
                window,
                deliveries => value(&rule.deliveries),
            }
        })
        .collect();
    let delivery_rows: Vec<Value> = deliveries
        .iter()
        .map(|delivery| {
            context! {
                id => delivery.id.to_string(),
                rule => delivery.rule.clone(),
                action => delivery.action.clone(),
                status => delivery.status.as_str(),
                attempts => delivery.attempts,
                created_at => when(&delivery.created_at),
            }
        })
        .collect();
    let payload = serde_json::to_string_pretty(&event.payload)
        .map_err(|error| UiError::Internal(error.to_string()))?;
    dash.render(
        "event.html",
        "events",
        Some(&signed),
        context! {
            title => format!("Event {}", event.id),
            event => context! {
                id => event.id.to_string(),
                source => event.source.clone(),
                event_type => event.event_type.clone(),
                dedup_key => event.dedup_key.clone(),
                received_at => when(&event.received_at),
                hook => value(&event.hook),
            },
            payload,
            headers => value(&headers),
            rules,
            deliveries => delivery_rows,
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn payload_text_is_searched_ignoring_case() {
        let text = r#"{"message":"Honour Retry-After","who":"Zoë"}"#;
        for needle in [
            "retry-after",
            "honour retry",
            "\"who\":\"zo",
            "zoë",
            "}",
            "",
        ] {
            assert!(super::contains_ignoring_case(text, needle), "{needle}");
        }
        for needle in [
            "retry-before",
            "zoe",
            "honour  retry",
            "{\"message\":\"honour retry-after\"}x",
        ] {
            assert!(!super::contains_ignoring_case(text, needle), "{needle}");
        }
    }

    #[test]
    fn credential_headers_are_recognised() {
        for name in [
            "Authorization",
            "x-hub-signature-256",
            "X-Slack-Signature",
            "x-api-key",
            "X-Gitlab-Token",
        ] {
            assert!(super::credential_header(name), "{name}");
        }
        for name in [
            "content-type",
            "user-agent",
            "x-github-event",
            "x-github-delivery",
        ] {
            assert!(!super::credential_header(name), "{name}");
        }
    }
}
