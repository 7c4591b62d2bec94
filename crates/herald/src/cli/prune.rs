//! `herald prune`: delete old records now. Dead letters are only ever pruned here.

use super::output::say;
use super::{load_config, open_store};
use crate::config::Needs;
use crate::services::retention;
use anyhow::bail;
use chrono::Utc;
use herald_store::model::PrunePolicy;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete dead deliveries last updated longer ago than this (e.g. 30d).
    #[arg(long, value_parser = humantime::parse_duration)]
    dead_older_than: Option<Duration>,
    /// Delete succeeded deliveries older than this.
    #[arg(long, value_parser = humantime::parse_duration)]
    succeeded_older_than: Option<Duration>,
    /// Delete events older than this that no remaining delivery refers to.
    #[arg(long, value_parser = humantime::parse_duration)]
    events_older_than: Option<Duration>,
}

pub async fn run(path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    if args.dead_older_than.is_none()
        && args.succeeded_older_than.is_none()
        && args.events_older_than.is_none()
    {
        bail!(
            "say what to prune: --dead-older-than, --succeeded-older-than and/or --events-older-than"
        );
    }
    let config = load_config(path, Needs::Store)?;
    let store = open_store(&config).await?;
    let now = Utc::now();
    let ago = |age: Duration| chrono::Duration::from_std(age).map(|age| now - age);
    let policy = PrunePolicy {
        dead_before: args.dead_older_than.map(ago).transpose()?,
        succeeded_before: args.succeeded_older_than.map(ago).transpose()?,
        events_before: args.events_older_than.map(ago).transpose()?,
        refs_before: None,
    };
    let report = retention::prune(&store, &policy).await?;
    say!(
        "pruned {} deliveries and {} events",
        report.deliveries,
        report.events
    );
    Ok(ExitCode::SUCCESS)
}
