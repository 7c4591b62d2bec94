//! `herald events list|show`.

use super::output::say;
use super::output::{self, Page};
use super::{load_config, open_store};
use crate::config::Needs;
use crate::services::Queries;
use crate::services::query::EventFilter;
use anyhow::anyhow;
use herald_store::model::DeliveryQuery;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Newest first.
    List {
        /// Only events of this source.
        #[arg(long)]
        source: Option<String>,
        /// Exact event type, e.g. pull_request.opened.
        #[arg(long = "type")]
        event_type: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// One event with its headers, payload and deliveries.
    Show {
        /// herald's event id, or the id its sender gave the delivery (GitHub's
        /// `X-GitHub-Delivery`: the event's dedup key).
        #[arg(value_name = "ID")]
        id: String,
        /// The source of the event, when a sender's delivery id is not enough.
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(path: &Path, command: Command) -> anyhow::Result<ExitCode> {
    let config = load_config(path, Needs::Store)?;
    let queries = Queries::new(open_store(&config).await?);
    match command {
        Command::List {
            source,
            event_type,
            page,
        } => {
            let filter = EventFilter {
                source,
                event_type,
                since: page.since,
                until: page.until,
                before: page.before,
                limit: Some(page.limit),
            };
            let query = filter
                .to_query(chrono::Utc::now())
                .map_err(|e| anyhow!(e))?;
            let events = queries.events(&query).await?;
            if page.json {
                return output::json(&events).map(|()| ExitCode::SUCCESS);
            }
            let rows = events
                .iter()
                .map(|e| {
                    vec![
                        e.id.to_string(),
                        output::time(&e.received_at),
                        e.source.clone(),
                        e.event_type.clone(),
                        output::optional(&e.dedup_key),
                    ]
                })
                .collect();
            output::table(&["id", "received", "source", "type", "dedup key"], rows);
        }
        Command::Show { id, source, json } => {
            let event = queries
                .find_event(&id, source.as_deref())
                .await?
                .map_err(|e| anyhow!(e))?;
            if json {
                return output::json(&event).map(|()| ExitCode::SUCCESS);
            }
            let mut fields = vec![
                ("id", event.id.to_string()),
                ("received", output::time(&event.received_at)),
                ("source", event.source.clone()),
                ("type", event.event_type.clone()),
                ("dedup key", output::optional(&event.dedup_key)),
            ];
            if let Some(hook) = &event.hook {
                fields.push(("hook", format!("{} ({})", hook.id, hook.repository)));
            }
            output::fields(&fields);
            say!("\nheaders");
            for (name, value) in &event.headers {
                say!("  {name}: {value}");
            }
            say!(
                "\npayload\n{}",
                serde_json::to_string_pretty(&event.payload)?
            );
            let query = DeliveryQuery {
                event_id: Some(event.id),
                limit: 1000,
                ..DeliveryQuery::default()
            };
            say!("\ndeliveries");
            let deliveries = queries.deliveries(&query).await?;
            if deliveries.is_empty() {
                say!("  (none: no rule matched, or its window is not flushed yet)");
            }
            for d in deliveries {
                say!(
                    "  {}  {} → {}  {} ({} attempts)",
                    d.id,
                    d.rule,
                    d.action,
                    d.status,
                    d.attempts
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
