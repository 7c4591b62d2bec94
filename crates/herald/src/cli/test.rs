//! `herald test RULE [--payload FILE]`: send one real request through a rule's actions now
//! and print the request, the answer and the verdict.

use super::output::say;
use super::{load_config, open_store, output};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Needs;
use crate::outbox::Executor;
use crate::outbox::executor::action_deps;
use crate::services::trial::{TrialInput, TrialReport, run_trial};
use anyhow::Context;
use herald_store::Writer;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The rule whose actions to run.
    rule: String,
    /// The event payload (JSON). Without it, the rule's newest stored event is sent again.
    #[arg(long)]
    payload: Option<PathBuf>,
    /// The event type of --payload (default: the rule's first literal event type).
    #[arg(long = "type")]
    event_type: Option<String>,
    /// The source the event comes from (default: the rule's first source).
    #[arg(long)]
    source: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let config = Arc::new(load_config(path, Needs::Everything)?);
    let payload = match &args.payload {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", file.display()))?,
            )
        }
        None => None,
    };
    let store = open_store(&config).await?;
    let clock: SharedClock = Arc::new(SystemClock);
    let (writer, writer_task) = Writer::spawn(store.clone(), 1);
    let deps = action_deps(&config, clock.clone());
    let executor = Executor::new(config.clone(), store.clone(), writer, deps);
    let input = TrialInput {
        payload,
        event_type: args.event_type.clone(),
        source: args.source.clone(),
    };
    let report = run_trial(&config, &store, &executor, &clock, &args.rule, input).await;
    drop(executor);
    writer_task.await?;
    let report = report?;
    if args.json {
        output::json(&report)?;
    } else {
        print(&report);
    }
    let all_succeeded = report.results.iter().all(|r| r.verdict == "success");
    Ok(if all_succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print(report: &TrialReport) {
    say!(
        "rule {}: test event {} (payload: {})",
        report.rule,
        report.event_id,
        if report.payload_from == "given" {
            "given".to_string()
        } else {
            format!("copy of event {}", report.payload_from)
        }
    );
    for result in &report.results {
        say!(
            "\n{} (delivery {}, marked as a test)",
            result.action,
            result.delivery_id
        );
        if let Some(request) = &result.request {
            output::plan(request, "  ", false);
        }
        say!(
            "  answer: {}",
            result
                .status_code
                .map_or("no HTTP answer".to_string(), |status| format!(
                    "HTTP {status}"
                ))
        );
        if let Some(body) = result.response_body.as_deref().filter(|b| !b.is_empty()) {
            say!("  body:");
            output::lines(&output::readable(body), "    ");
        }
        if let Some(error) = &result.error {
            say!("  error: {error}");
        }
        say!("  verdict: {}", result.verdict);
    }
}
