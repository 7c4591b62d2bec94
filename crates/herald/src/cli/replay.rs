//! `herald replay`: re-queue deliveries by id, or by filter (dead ones unless `--status`).

use super::output::say;
use super::{load_config, open_store};
use crate::config::Needs;
use crate::services::Queries;
use crate::services::query::ReplayRequest;
use anyhow::anyhow;
use std::path::Path;
use std::process::ExitCode;
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delivery ids. Without ids, give a filter.
    ids: Vec<Uuid>,
    /// Deliveries of this rule.
    #[arg(long)]
    rule: Option<String>,
    /// Deliveries of this action.
    #[arg(long)]
    action: Option<String>,
    /// dead (the default for a filter) or succeeded.
    #[arg(long)]
    status: Option<String>,
    /// Created since: a time (2026-11-22T10:00:00Z) or an age (2h).
    #[arg(long)]
    since: Option<String>,
    /// Created before this time (or age).
    #[arg(long)]
    until: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let config = load_config(path, Needs::Store)?;
    let queries = Queries::new(open_store(&config).await?);
    let now = chrono::Utc::now();
    let request = ReplayRequest {
        ids: args.ids,
        rule: args.rule,
        action: args.action,
        status: args.status,
        since: args.since,
        until: args.until,
    };
    let selector = request.to_selector(now).map_err(|e| anyhow!(e))?;
    let ids = queries.replay(&selector, now).await?;
    if args.json {
        say!("{}", serde_json::json!({ "replayed": ids }));
    } else {
        say!(
            "{} deliveries re-queued (a running `herald serve` delivers them)",
            ids.len()
        );
        for id in ids {
            say!("  {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
