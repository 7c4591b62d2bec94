//! `herald explain ID`: why each rule did or did not match one event.

use super::output::{self, say};
use super::{load_config, open_store};
use crate::config::Needs;
use crate::services::Queries;
use crate::services::explain::{self, EventExplanation};
use anyhow::anyhow;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// herald's event id, or the id its sender gave the delivery (GitHub's
    /// `X-GitHub-Delivery`).
    #[arg(value_name = "ID")]
    id: String,
    /// The source of the event, when a sender's delivery id is not enough.
    #[arg(long)]
    source: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn run(path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let config = load_config(path, Needs::Store)?;
    let store = open_store(&config).await?;
    let queries = Queries::new(store.clone());
    let event = queries
        .find_event(&args.id, args.source.as_deref())
        .await?
        .map_err(|e| anyhow!(e))?;
    let explained = explain::explain(&config, &store, &event).await?;
    if args.json {
        return output::json(&explained).map(|()| ExitCode::SUCCESS);
    }
    print(&explained);
    Ok(ExitCode::SUCCESS)
}

fn print(explained: &EventExplanation) {
    say!(
        "event {} ({} / {})",
        explained.event_id,
        explained.source,
        explained.event_type
    );
    if explained.rules.is_empty() {
        say!("\nthe configuration has no rules");
    }
    for rule in &explained.rules {
        let verdict = match rule.explanation.matched {
            true => "matched",
            false => "did not match",
        };
        say!("\nrule {}: {verdict}", rule.explanation.rule);
        say!("  why: {}", rule.explanation.reason);
        if let Some(window) = &rule.window {
            let group = match window.group_key.as_str() {
                "" => "its one group".to_string(),
                key => format!("group {key:?}"),
            };
            match &window.window {
                Some(joined) => say!(
                    "  window: {group}, window {} ({}, {} events, due {})",
                    joined.id,
                    joined.status,
                    joined.count,
                    output::time(&joined.due_at)
                ),
                None => say!("  window: {group} (no longer in the store)"),
            }
        }
        for delivery in &rule.deliveries {
            say!(
                "  delivery {} → {}: {} ({} attempts){}",
                delivery.id,
                delivery.action,
                delivery.status,
                delivery.attempts,
                delivery
                    .last_error
                    .as_ref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            );
        }
    }
}
