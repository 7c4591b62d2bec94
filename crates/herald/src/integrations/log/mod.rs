//! `kind = "log"`: renders a message and records it (in the attempt log and as a log
//! line) without sending anything. Useful to try rules, and in the benchmark.

use crate::action::{Action, ActionInput, Plan, PlanError};
use crate::core::template::{Escape, TemplateRef};
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::kit::{ActionCommon, ActionKind, Integration};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use toml::Spanned;

pub const KIND: &str = "log";

const DEFAULT_MESSAGE: &str = "{{ meta.source }} {{ meta.type }} event {{ meta.id }}";

#[derive(Debug)]
pub struct LogAction {
    message: TemplateRef,
}

#[async_trait]
impl Action for LogAction {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        // A log line is shown, so it is rendered with secrets redacted.
        let message = input
            .templates
            .render_redacted(&self.message, input.context)?;
        Ok(Plan::log(message))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    message: Option<Spanned<String>>,
}

pub fn build(
    options: Item<'_>,
    _common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let span = options.span();
    let options: Options = builder.options(options)?;
    let message = options
        .message
        .unwrap_or_else(|| Spanned::new(span, DEFAULT_MESSAGE.to_string()));
    let message = builder.template("message", &message, Escape::None)?;
    Some(Arc::new(LogAction { message }))
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}

/// `log`: no provider, nothing sent.
pub const INTEGRATION: Integration = Integration {
    actions: &[ActionKind {
        name: KIND,
        build,
        options,
    }],
    ..Integration::named("log")
};
