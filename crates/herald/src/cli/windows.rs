//! `herald windows list|flush`: open aggregation windows, and flushing them now.

use super::output;
use super::output::say;
use super::{load, open_store};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Needs;
use crate::outbox::flusher::Flusher;
use crate::services::windows::{self, FlushRequest, WindowFilter};
use anyhow::anyhow;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Open windows (or flushed ones with --status flushed), newest first.
    List {
        #[arg(long)]
        rule: Option<String>,
        /// open (default), flushed or all.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Close windows now, whatever their quiet period and calendar, and queue their
    /// deliveries (a running `herald serve` delivers them).
    Flush {
        /// Only this rule's windows.
        #[arg(long)]
        rule: Option<String>,
        /// Only the window of this group (with --rule).
        #[arg(long)]
        key: Option<String>,
    },
}

pub async fn run(path: &Path, command: Command) -> anyhow::Result<ExitCode> {
    // Listing and flushing need the store and the rules, not the actions' credentials.
    let loaded = load(path, Needs::Store)?;
    let config = Arc::new(loaded.config);
    let store = open_store(&config).await?;
    match command {
        Command::List {
            rule,
            status,
            limit,
            json,
        } => {
            let filter = WindowFilter {
                rule,
                status,
                limit: Some(limit),
            };
            let found = windows::list(&config, &store, &filter)
                .await?
                .map_err(|e| anyhow!(e))?;
            if json {
                return output::json(&found).map(|()| ExitCode::SUCCESS);
            }
            let rows = found
                .iter()
                .map(|w| {
                    vec![
                        w.id.to_string(),
                        w.rule.clone(),
                        if w.group_key.is_empty() {
                            "-".into()
                        } else {
                            w.group_key.clone()
                        },
                        w.count.to_string(),
                        output::time(&w.opened_at),
                        output::time(&w.last_event_at),
                        output::time(&w.due_at),
                    ]
                })
                .collect();
            output::table(
                &[
                    "ID",
                    "RULE",
                    "GROUP",
                    "EVENTS",
                    "OPENED",
                    "LAST EVENT",
                    "DUE",
                ],
                rows,
            );
        }
        Command::Flush { rule, key } => {
            if key.is_some() && rule.is_none() {
                anyhow::bail!("--key needs --rule");
            }
            // A window's deliveries are written with their actions' ordering keys: an
            // action that could not be built without its secret has none to give.
            let waiting: Vec<String> = config
                .rules
                .iter()
                .filter(|r| r.window.is_some() && rule.as_ref().is_none_or(|name| *name == r.name))
                .flat_map(|r| &r.actions)
                .filter(|action| {
                    loaded
                        .absent
                        .stand_ins
                        .contains(&format!("actions.{action}"))
                })
                .map(|action| format!("`{action}`"))
                .collect();
            if !waiting.is_empty() {
                anyhow::bail!(
                    "cannot flush: action(s) {} need secrets that could not be read: {}",
                    waiting.join(", "),
                    loaded.absent.describe()
                );
            }
            let clock: SharedClock = Arc::new(SystemClock);
            let ids = windows::flush_now(&store, &clock, &FlushRequest { rule, key }).await?;
            // Close them here too, so the deliveries are queued even if no herald is running.
            let flusher = Flusher::new(config.clone(), store.clone(), clock, Arc::default());
            let flushed = flusher.run_once().await?;
            say!("{} windows made due; {flushed} flushed", ids.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
