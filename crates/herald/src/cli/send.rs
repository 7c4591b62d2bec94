//! `herald send`: feed a payload through the rules. With `--dry-run`, print the matched
//! rules and the exact requests that would be made, and store nothing.

use super::output::say;
use super::{load_config, open_store, output};
use crate::action::{ActionInput, NoRefs, RefLookup, StoreRefs};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, StorageConfig};
use crate::core::context::new_event_context;
use crate::ingress::source::RawRequest;
use crate::services::ingest::{self, Preparation, Prepared};
use crate::services::{Ingest, IngestOutcome};
use crate::traces::Traces;
use anyhow::{Context, bail};
use herald_store::Writer;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source to send to, as named in the configuration.
    #[arg(long)]
    source: String,
    /// The payload (the request body), e.g. a saved webhook delivery.
    #[arg(long)]
    file: PathBuf,
    /// A request header, `Name: value` (repeatable), e.g. `X-GitHub-Event: push`.
    #[arg(long = "header", short = 'H', value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// Print what would happen; store and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let config = load_config(path)?;
    let body = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let headers = parse_headers(&args.headers)?;
    let clock: SharedClock = Arc::new(SystemClock);
    if args.dry_run {
        return dry_run(&config, &args, &headers, &body, &clock).await;
    }
    let store = open_store(&config).await?;
    let (writer, writer_task) = Writer::spawn(store, 1);
    // The event's trace starts here; `serve` delivers it.
    let traces = Traces::start_or_off(&config.telemetry);
    let ingest =
        Ingest::new(Arc::new(config), writer, clock, Arc::default()).with_traces(traces.clone());
    let outcome = ingest.inject(&args.source, &headers, &body).await;
    drop(ingest);
    writer_task.await?;
    traces.shutdown().await;
    let outcome = outcome?;
    if args.json {
        output::json(&outcome_json(&outcome))?;
    } else {
        match outcome {
            IngestOutcome::Accepted {
                event_id,
                deliveries,
            } => say!(
                "stored event {event_id}; {deliveries} deliveries queued (a running `herald serve` delivers them)"
            ),
            IngestOutcome::Duplicate { event_id } => {
                say!("duplicate of event {event_id}: nothing stored")
            }
            IngestOutcome::Reply(reply) => {
                say!("answered directly ({}): {}", reply.status, reply.body)
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn outcome_json(outcome: &IngestOutcome) -> Value {
    match outcome {
        IngestOutcome::Accepted {
            event_id,
            deliveries,
        } => json!({"event_id": event_id, "duplicate": false, "deliveries": deliveries}),
        IngestOutcome::Duplicate { event_id } => json!({"event_id": event_id, "duplicate": true}),
        IngestOutcome::Reply(reply) => {
            json!({"reply": {"status": reply.status, "body": reply.body}})
        }
    }
}

/// `Name: value` pairs; a JSON content type is assumed when none is given.
fn parse_headers(raw: &[String]) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for pair in raw {
        let Some((name, value)) = pair.split_once(':') else {
            bail!("--header {pair:?} is not `Name: value`");
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("bad header name in {pair:?}"))?;
        let value = HeaderValue::from_str(value.trim())
            .with_context(|| format!("bad header value in {pair:?}"))?;
        headers.append(name, value);
    }
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(headers)
}

async fn dry_run(
    config: &Config,
    args: &Args,
    headers: &HeaderMap,
    body: &[u8],
    clock: &SharedClock,
) -> anyhow::Result<ExitCode> {
    let Some(source) = config.source(&args.source) else {
        bail!("unknown source `{}`", args.source);
    };
    let request = RawRequest {
        headers,
        body,
        query: "",
    };
    let prepared = match ingest::prepare(config, source, &request, clock)? {
        Preparation::Reply(reply) => {
            say!(
                "the source answers this request directly ({}): {}",
                reply.status,
                reply.body
            );
            return Ok(ExitCode::SUCCESS);
        }
        Preparation::Event(prepared) => prepared,
    };
    let refs = refs_for_dry_run(config).await;
    let report = plan_all(config, &prepared, refs.as_ref()).await;
    if args.json {
        output::json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// What keyed actions remembered, so the plan says whether a message would be posted,
/// replied to or updated. A store that does not exist yet is not created.
async fn refs_for_dry_run(config: &Config) -> Box<dyn RefLookup> {
    if let StorageConfig::Sqlite { path, .. } = &config.storage
        && !path.exists()
    {
        return Box::new(NoRefs);
    }
    match open_store(config).await {
        Ok(store) => Box::new(StoreRefs(store)),
        Err(error) => {
            eprintln!(
                "warning: cannot read the store ({error:#}); planning as if no message or deployment was remembered"
            );
            Box::new(NoRefs)
        }
    }
}

/// The event, and for each matched (rule, action) its plan or why it cannot be planned.
async fn plan_all(config: &Config, prepared: &Prepared, refs: &dyn RefLookup) -> Value {
    let event = &prepared.item.event;
    let context = new_event_context(event, &event.payload.decode());
    let input = ActionInput {
        templates: &config.templates,
        context: &context,
        refs,
        now: chrono::Utc::now(),
        done: 0,
        delivery: None,
    };
    let mut deliveries = Vec::new();
    for delivery in &prepared.item.deliveries {
        let action = &config.actions[&delivery.action];
        let plan = match action.action.plan(&input).await {
            Ok(plan) => json!({ "plan": plan.describe() }),
            Err(error) => json!({ "error": error.to_string() }),
        };
        let mut entry =
            json!({ "rule": delivery.rule, "action": delivery.action, "kind": action.kind });
        entry
            .as_object_mut()
            .expect("object")
            .extend(plan.as_object().cloned().unwrap_or_default());
        deliveries.push(entry);
    }
    let filter_errors: Vec<_> = prepared
        .filter_errors
        .iter()
        .map(|(rule, error)| json!({"rule": rule, "error": error}))
        .collect();
    json!({
        "event": { "source": event.source, "type": event.event_type, "dedup_key": event.dedup_key },
        "deliveries": deliveries,
        "filter_errors": filter_errors,
    })
}

fn print_report(report: &Value) {
    let event = &report["event"];
    output::fields(&[
        (
            "source",
            event["source"].as_str().unwrap_or_default().to_string(),
        ),
        (
            "type",
            event["type"].as_str().unwrap_or_default().to_string(),
        ),
        (
            "dedup key",
            event["dedup_key"].as_str().unwrap_or("-").to_string(),
        ),
    ]);
    for error in report["filter_errors"].as_array().into_iter().flatten() {
        say!(
            "rule {} does not match: its filter failed: {}",
            error["rule"],
            error["error"]
        );
    }
    let deliveries = report["deliveries"].as_array().cloned().unwrap_or_default();
    if deliveries.is_empty() {
        say!("\nno rule matches: the event would be stored and nothing sent");
    }
    for delivery in deliveries {
        say!(
            "\n{} → {} ({})",
            delivery["rule"].as_str().unwrap_or_default(),
            delivery["action"].as_str().unwrap_or_default(),
            delivery["kind"].as_str().unwrap_or_default()
        );
        if let Some(error) = delivery["error"].as_str() {
            say!("  would fail: {error}");
            continue;
        }
        print_plan(&delivery["plan"]);
    }
}

fn print_plan(plan: &Value) {
    if let Some(message) = plan["log"].as_str() {
        say!("  log: {message}");
    }
    if let Some(effect) = plan["effect"].as_object() {
        let mut shown = effect.clone();
        if let Some(purpose) = shown.remove("purpose") {
            say!("  would {}:", purpose.as_str().unwrap_or_default());
        }
        let shown = serde_json::to_string_pretty(&shown).unwrap_or_default();
        for line in shown.lines() {
            say!("  {line}");
        }
    }
    for request in plan["requests"].as_array().into_iter().flatten() {
        if let Some(purpose) = request["purpose"].as_str() {
            say!("  would {purpose}:");
        }
        say!(
            "  {} {}",
            request["method"].as_str().unwrap_or_default(),
            request["url"].as_str().unwrap_or_default()
        );
        for (name, value) in request["headers"].as_object().into_iter().flatten() {
            say!("  {name}: {}", value.as_str().unwrap_or_default());
        }
        if let Some(body) = request["body"].as_str() {
            say!();
            for line in body.lines() {
                say!("  {line}");
            }
        }
    }
}
