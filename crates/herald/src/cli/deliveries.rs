//! `herald deliveries list|show`.

use super::output::say;
use super::output::{self, Page};
use super::{load_config, open_store};
use crate::config::Needs;
use crate::services::Queries;
use crate::services::query::{DeliveryDetail, DeliveryFilter};
use crate::services::trial::TEST_PREFIX;
use anyhow::anyhow;
use std::path::Path;
use std::process::ExitCode;
use uuid::Uuid;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Newest first.
    List {
        /// pending, succeeded or dead.
        #[arg(long)]
        status: Option<String>,
        /// Only deliveries of this rule.
        #[arg(long)]
        rule: Option<String>,
        /// Only deliveries of this action.
        #[arg(long)]
        action: Option<String>,
        /// Only deliveries of this event: herald's event id, or the id its sender gave the
        /// delivery (GitHub's `X-GitHub-Delivery`).
        #[arg(long, value_name = "ID")]
        event: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// One delivery with every attempt: request, status, latency, error, response.
    Show {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(path: &Path, command: Command) -> anyhow::Result<ExitCode> {
    let config = load_config(path, Needs::Store)?;
    let queries = Queries::new(open_store(&config).await?);
    match command {
        Command::List {
            status,
            rule,
            action,
            event,
            page,
        } => {
            let filter = DeliveryFilter {
                status,
                rule,
                action,
                event,
                since: page.since,
                until: page.until,
                before: page.before,
                limit: Some(page.limit),
            };
            let query = queries
                .delivery_query(&filter, chrono::Utc::now())
                .await?
                .map_err(|e| anyhow!(e))?;
            let deliveries = queries.deliveries(&query).await?;
            if page.json {
                return output::json(&deliveries).map(|()| ExitCode::SUCCESS);
            }
            let rows = deliveries
                .iter()
                .map(|d| {
                    vec![
                        d.id.to_string(),
                        output::time(&d.created_at),
                        d.rule.clone(),
                        d.action.clone(),
                        d.status.to_string(),
                        d.attempts.to_string(),
                        output::cut(&output::optional(&d.last_error), 40),
                    ]
                })
                .collect();
            output::table(
                &[
                    "id",
                    "created",
                    "rule",
                    "action",
                    "status",
                    "attempts",
                    "last error",
                ],
                rows,
            );
        }
        Command::Show { id, json } => {
            let detail = queries
                .delivery(id)
                .await?
                .ok_or_else(|| anyhow!("no delivery {id}"))?;
            if json {
                return output::json(&detail).map(|()| ExitCode::SUCCESS);
            }
            print_detail(&detail)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_detail(detail: &DeliveryDetail) -> anyhow::Result<()> {
    let d = &detail.delivery;
    let next = if d.status == herald_store::model::DeliveryStatus::Pending {
        output::time(&d.next_attempt_at)
    } else {
        "-".into()
    };
    output::fields(&[
        ("id", d.id.to_string()),
        ("event", output::optional(&d.event_id)),
        ("rule", d.rule.clone()),
        ("action", d.action.clone()),
        ("status", d.status.to_string()),
        ("attempts", d.attempts.to_string()),
        ("next attempt", next),
        ("last status", output::optional(&d.last_status_code)),
        ("last error", output::optional(&d.last_error)),
        (
            "failure kind",
            d.failure_kind
                .map_or("-".into(), |kind| kind.as_str().to_string()),
        ),
        ("ordering key", output::optional(&d.ordering_key)),
        ("steps done", d.progress.to_string()),
        (
            "test",
            if d.idempotency_key.starts_with(TEST_PREFIX) {
                "yes (sent by `herald test`)".into()
            } else {
                "no".into()
            },
        ),
    ]);
    for attempt in &detail.attempts {
        say!(
            "\nattempt {} at {}: {} in {} ms, status {}",
            attempt.number,
            output::time(&attempt.started_at),
            attempt.outcome.as_str(),
            attempt.duration_ms,
            output::optional(&attempt.status_code)
        );
        if let Some(error) = &attempt.error {
            say!("  error: {error}");
        }
        if let Some(request) = &attempt.request {
            say!("  request:");
            output::plan(request, "    ", false);
        }
        if let Some(body) = attempt.response_body.as_deref().filter(|b| !b.is_empty()) {
            say!("  response:");
            output::lines(&output::readable(body), "    ");
        }
    }
    Ok(())
}
