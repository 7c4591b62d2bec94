//! `herald events list|show`.

use super::output::say;
use super::output::{self, Page};
use super::{load_config, open_store};
use crate::services::Queries;
use crate::services::query::EventFilter;
use anyhow::anyhow;
use std::path::Path;
use std::process::ExitCode;
use uuid::Uuid;

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
    /// One event with its payload and headers.
    Show {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(path: &Path, command: Command) -> anyhow::Result<ExitCode> {
    let config = load_config(path)?;
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
        Command::Show { id, json } => {
            let event = queries
                .event(id)
                .await?
                .ok_or_else(|| anyhow!("no event {id}"))?;
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
        }
    }
    Ok(ExitCode::SUCCESS)
}
