//! `/ui/windows`: open aggregation windows, with their due time as the calendar allows
//! (`services::windows::list`), and flushing a window or a rule's windows now.

use super::{Fields, Shared, Signed, UiError, ago, link, when};
use crate::services::windows::{self, FlushRequest, WindowFilter};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;

/// Open windows shown at most.
const LIMIT: u32 = 500;

#[derive(Debug, Default, Deserialize)]
pub struct WindowsForm {
    /// How many windows the last flush made due (after its redirect).
    flushing: Option<usize>,
}

pub async fn list(
    State(dash): State<Shared>,
    signed: Signed,
    Query(form): Query<WindowsForm>,
) -> Result<Html<String>, UiError> {
    let now = dash.now();
    let filter = WindowFilter {
        rule: None,
        status: Some("open".into()),
        limit: Some(LIMIT),
    };
    let open = windows::list(&dash.app.config, dash.app.queries.store(), &filter)
        .await?
        .map_err(UiError::BadRequest)?;
    let mut rules: Vec<String> = open.iter().map(|window| window.rule.clone()).collect();
    rules.sort();
    rules.dedup();
    let rows: Vec<Value> = open
        .iter()
        .map(|window| {
            context! {
                id => window.id.to_string(),
                rule => window.rule.clone(),
                group_key => window.group_key.clone(),
                count => window.count,
                opened_at => when(&window.opened_at),
                age => ago((now - window.opened_at).num_seconds()),
                due_at => when(&window.due_at),
                due_in => match window.due_at > now {
                    true => format!("in {}", ago((window.due_at - now).num_seconds())),
                    false => "now".to_string(),
                },
                forced => window.forced,
            }
        })
        .collect();
    dash.render(
        "windows.html",
        "windows",
        Some(&signed),
        context! {
            title => "Windows",
            windows => rows,
            rules,
            flushing => form.flushing,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct FlushForm {
    csrf: Option<String>,
    rule: Option<String>,
    /// Present (even empty: a window without a group) for one window; absent for all of
    /// the rule's.
    key: Option<String>,
}

/// Make a window, or every open window of a rule, due now.
pub async fn flush(
    State(dash): State<Shared>,
    signed: Signed,
    headers: HeaderMap,
    Fields(form): Fields<FlushForm>,
) -> Result<Response, UiError> {
    signed.check_csrf(&headers, form.csrf.as_deref())?;
    let Some(rule) = super::given(&form.rule) else {
        return Err(UiError::BadRequest(
            "say which rule's windows to flush".into(),
        ));
    };
    let request = FlushRequest {
        rule: Some(rule),
        key: form.key,
    };
    let ids = windows::flush_now(dash.app.queries.store(), &dash.app.clock, &request).await?;
    // The flusher closes them within its poll interval; a wake makes the workers look.
    dash.app.wake.notify_one();
    Ok(Redirect::to(&link(
        "/ui/windows",
        &[("flushing", Some(ids.len().to_string()))],
    ))
    .into_response())
}
