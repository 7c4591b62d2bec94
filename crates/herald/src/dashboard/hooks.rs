//! `/ui/hooks`: the registered hooks of every registry (`services::hooks`), never a
//! secret. Registering and rotating stay with the CLI and the API: a secret is shown once,
//! in the answer that creates it, and a page is no place for it.

use super::{Shared, Signed, UiError, when};
use crate::api::error::ApiError;
use axum::extract::State;
use axum::response::Html;
use minijinja::{Value, context};

pub async fn page(State(dash): State<Shared>, signed: Signed) -> Result<Html<String>, UiError> {
    let hooks = dash.app.hooks.list(None).await.map_err(ApiError::from)?;
    let rows: Vec<Value> = hooks
        .iter()
        .map(|hook| {
            context! {
                source => hook.source.clone(),
                id => hook.id.clone(),
                repository => hook.repository.clone(),
                url => hook.url.clone(),
                created_at => when(&hook.created_at),
                updated_at => when(&hook.updated_at),
                previous_valid_until => hook.previous_secret_valid_until.as_ref().map(when),
            }
        })
        .collect();
    let registries: Vec<String> = dash
        .app
        .config
        .sources
        .values()
        .filter(|source| source.registry)
        .map(|source| source.name.clone())
        .collect();
    dash.render(
        "hooks.html",
        "hooks",
        Some(&signed),
        context! { title => "Registered hooks", hooks => rows, registries },
    )
}
