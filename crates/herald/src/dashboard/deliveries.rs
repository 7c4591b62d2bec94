//! `/ui/deliveries`: the outbox, newest first, filtered and paged by id; a delivery's page
//! with every attempt; replaying one, or every dead one matching the filter (the replay
//! `/api/replay` and `herald replay` make).

use super::{Fields, Shared, Signed, UiError, given, link, when};
use crate::services::query::{DeliveryFilter, ReplayRequest};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use herald_store::model::{DeliveryStatus, ReplaySelector};
use minijinja::{Value, context};
use serde::Deserialize;
use uuid::Uuid;

pub const PAGE: u32 = 50;

/// A response body shown up to this many characters.
const EXCERPT: usize = 2000;

#[derive(Debug, Default, Deserialize)]
pub struct DeliveriesForm {
    status: Option<String>,
    rule: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
    /// How many the last replay re-queued (after its redirect).
    replayed: Option<usize>,
}

pub async fn list(
    State(dash): State<Shared>,
    signed: Signed,
    Query(form): Query<DeliveriesForm>,
) -> Result<Html<String>, UiError> {
    let before = match given(&form.before) {
        Some(id) => Some(
            id.parse::<Uuid>()
                .map_err(|_| UiError::BadRequest(format!("{id} is not a delivery id")))?,
        ),
        None => None,
    };
    let filter = DeliveryFilter {
        status: given(&form.status),
        rule: given(&form.rule),
        action: given(&form.action),
        event: None,
        since: given(&form.since),
        until: given(&form.until),
        before,
        limit: Some(PAGE),
    };
    let query = dash
        .app
        .queries
        .delivery_query(&filter, dash.now())
        .await?
        .map_err(UiError::BadRequest)?;
    let deliveries = dash.app.queries.deliveries(&query).await?;
    let next = match (deliveries.len() as u32 >= PAGE, deliveries.last()) {
        (true, Some(last)) => Some(link(
            "/ui/deliveries",
            &[
                ("status", filter.status.clone()),
                ("rule", filter.rule.clone()),
                ("action", filter.action.clone()),
                ("since", filter.since.clone()),
                ("until", filter.until.clone()),
                ("before", Some(last.id.to_string())),
            ],
        )),
        _ => None,
    };
    let rows: Vec<Value> = deliveries
        .iter()
        .map(|delivery| {
            context! {
                id => delivery.id.to_string(),
                event_id => delivery.event_id.map(|id| id.to_string()),
                rule => delivery.rule.clone(),
                action => delivery.action.clone(),
                status => delivery.status.as_str(),
                attempts => delivery.attempts,
                last_status_code => delivery.last_status_code,
                last_error => delivery.last_error.clone(),
                created_at => when(&delivery.created_at),
            }
        })
        .collect();
    let config = &dash.app.config;
    let rules: Vec<String> = config.rules.iter().map(|rule| rule.name.clone()).collect();
    let actions: Vec<String> = config.actions.keys().cloned().collect();
    let statuses: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
    dash.render(
        "deliveries.html",
        "deliveries",
        Some(&signed),
        context! {
            title => "Deliveries",
            deliveries => rows,
            next,
            rules,
            actions,
            statuses,
            replayed => form.replayed,
            filter => context! {
                status => filter.status,
                rule => filter.rule,
                action => filter.action,
                since => filter.since,
                until => filter.until,
            },
        },
    )
}

pub async fn show(
    State(dash): State<Shared>,
    signed: Signed,
    Path(id): Path<Uuid>,
    Query(form): Query<DeliveriesForm>,
) -> Result<Html<String>, UiError> {
    let Some(detail) = dash.app.queries.delivery(id).await? else {
        return Err(UiError::NotFound(format!("no delivery {id}")));
    };
    let delivery = &detail.delivery;
    let attempts: Vec<Value> = detail
        .attempts
        .iter()
        .map(|attempt| {
            let request = attempt
                .request
                .as_ref()
                .map(|request| serde_json::to_string_pretty(request).unwrap_or_default());
            let response = attempt.response_body.as_ref().map(|body| {
                let mut excerpt: String = body.chars().take(EXCERPT).collect();
                if excerpt.len() < body.len() {
                    excerpt.push('…');
                }
                excerpt
            });
            context! {
                number => attempt.number,
                started_at => when(&attempt.started_at),
                duration_ms => attempt.duration_ms,
                outcome => attempt.outcome.as_str(),
                status_code => attempt.status_code,
                error => attempt.error.clone(),
                request,
                response,
            }
        })
        .collect();
    let next_retry = match delivery.status {
        DeliveryStatus::Pending => Some(when(&delivery.next_attempt_at)),
        _ => None,
    };
    dash.render(
        "delivery.html",
        "deliveries",
        Some(&signed),
        context! {
            title => format!("Delivery {}", delivery.id),
            delivery => context! {
                id => delivery.id.to_string(),
                event_id => delivery.event_id.map(|id| id.to_string()),
                rule => delivery.rule.clone(),
                action => delivery.action.clone(),
                status => delivery.status.as_str(),
                attempts => delivery.attempts,
                retries_used => delivery.retries_used,
                created_at => when(&delivery.created_at),
                updated_at => when(&delivery.updated_at),
                last_status_code => delivery.last_status_code,
                last_error => delivery.last_error.clone(),
                ordering_key => delivery.ordering_key.clone(),
                window_id => delivery.window_id.map(|id| id.to_string()),
                replayable => delivery.status != DeliveryStatus::Pending,
            },
            next_retry,
            attempts,
            replayed => form.replayed,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct ReplayOneForm {
    csrf: Option<String>,
}

/// Re-queue one delivery now.
pub async fn replay_one(
    State(dash): State<Shared>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Fields(form): Fields<ReplayOneForm>,
) -> Result<Response, UiError> {
    signed.check_csrf(&headers, form.csrf.as_deref())?;
    let ids = dash
        .app
        .queries
        .replay(&ReplaySelector::Ids(vec![id]), dash.now())
        .await?;
    dash.app.wake.notify_one();
    Ok(Redirect::to(&format!("/ui/deliveries/{id}?replayed={}", ids.len())).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct ReplayDeadForm {
    csrf: Option<String>,
    rule: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// Re-queue every dead delivery matching the list's filter (rule, action, time).
pub async fn replay_dead(
    State(dash): State<Shared>,
    signed: Signed,
    headers: HeaderMap,
    Fields(form): Fields<ReplayDeadForm>,
) -> Result<Response, UiError> {
    signed.check_csrf(&headers, form.csrf.as_deref())?;
    let now = dash.now();
    let request = ReplayRequest {
        ids: Vec::new(),
        rule: given(&form.rule),
        action: given(&form.action),
        status: Some("dead".into()),
        since: given(&form.since),
        until: given(&form.until),
    };
    let selector = request.to_selector(now).map_err(UiError::BadRequest)?;
    let ids = dash.app.queries.replay(&selector, now).await?;
    dash.app.wake.notify_one();
    let back = link(
        "/ui/deliveries",
        &[
            ("rule", request.rule),
            ("action", request.action),
            ("since", request.since),
            ("until", request.until),
            ("replayed", Some(ids.len().to_string())),
        ],
    );
    Ok(Redirect::to(&back).into_response())
}
