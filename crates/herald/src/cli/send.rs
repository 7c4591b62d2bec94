//! `herald send`: feed a request (a body, a query string, headers) through the rules.
//! With `--dry-run`, print the matched rules, the windows the event would join and the
//! exact requests that would be made, store nothing, and exit 1 if a delivery would fail.

use super::output::say;
use super::{load, open_store, output};
use crate::action::{ActionInput, NoRefs, RefLookup, StoreRefs};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, Needs, StorageConfig};
use crate::core::context::new_event_context;
use crate::ingress::source::RawRequest;
use crate::services::ingest::{self, Preparation, Prepared};
use crate::services::{Ingest, IngestOutcome};
use crate::traces::Traces;
use anyhow::{Context, bail};
use herald_store::model::{Document, WindowQuery, WindowStatus};
use herald_store::{SharedStore, Writer};
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
    /// The request body, e.g. a saved webhook delivery (`-`: standard input). Without it,
    /// the body is empty, as for a webhook that sends its fields in the query string.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The request's query string, e.g. `eventType=x&providerName=y` (a source with
    /// `query_params = true` reads its fields from it).
    #[arg(long, value_name = "QUERY")]
    query: Option<String>,
    /// A request header, `Name: value` (repeatable), e.g. `X-GitHub-Event: push`.
    #[arg(long = "header", short = 'H', value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// Print what would happen; store and send nothing. Needs no secret; exits 1 if a
    /// delivery would fail.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    // A dry run sends nothing: it needs no secret, and plans with stand-ins for absent ones.
    let needs = if args.dry_run {
        Needs::Store
    } else {
        Needs::Everything
    };
    let loaded = load(path, needs)?;
    let config = loaded.config;
    if !loaded.absent.is_empty() {
        eprintln!(
            "note: a dry run does without what it cannot read: {}",
            loaded.absent.describe()
        );
    }
    let body = read_body(args.file.as_deref())?;
    let query = args.query.as_deref().unwrap_or_default();
    let query = query.strip_prefix('?').unwrap_or(query);
    let headers = parse_headers(&args.headers)?;
    let clock: SharedClock = Arc::new(SystemClock);
    if args.dry_run {
        let request = RawRequest {
            headers: &headers,
            body: &body,
            query,
        };
        return dry_run(&config, &args, &request, &clock).await;
    }
    let store = open_store(&config).await?;
    let (writer, writer_task) = Writer::spawn(store, 1);
    // The event's trace starts here; `serve` delivers it.
    let traces = Traces::start_or_off(&config.telemetry);
    let ingest =
        Ingest::new(Arc::new(config), writer, clock, Arc::default()).with_traces(traces.clone());
    let outcome = ingest.inject(&args.source, &headers, &body, query).await;
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

/// The body from a file, standard input (`-`), or none.
fn read_body(file: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    match file {
        None => Ok(Vec::new()),
        Some(path) if path == Path::new("-") => {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut body)
                .context("cannot read standard input")?;
            Ok(body)
        }
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
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
    request: &RawRequest<'_>,
    clock: &SharedClock,
) -> anyhow::Result<ExitCode> {
    let Some(source) = config.source(&args.source) else {
        bail!("unknown source `{}`", args.source);
    };
    let prepared = match ingest::prepare(config, source, request, clock)? {
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
    let store = store_for_dry_run(config).await;
    let refs: Box<dyn RefLookup> = match &store {
        Some(store) => Box::new(StoreRefs(store.clone())),
        None => Box::new(NoRefs),
    };
    let mut report = plan_all(config, &prepared, refs.as_ref()).await;
    report["windows"] = windows_joined(config, &prepared, store.as_ref()).await?;
    if args.json {
        output::json(&report)?;
    } else {
        print_report(&report);
    }
    let failing = report["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|delivery| delivery.get("error").is_some())
        .count();
    let filter_errors = report["filter_errors"].as_array().map_or(0, Vec::len);
    if failing + filter_errors == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    let mut problems = Vec::new();
    if failing > 0 {
        problems.push(format!("{failing} deliveries would fail"));
    }
    if filter_errors > 0 {
        problems.push(format!(
            "{filter_errors} rules' filters or window groups fail on this event"
        ));
    }
    eprintln!("error: {}", problems.join("; "));
    Ok(ExitCode::FAILURE)
}

/// The store, to read what keyed actions remembered (so the plan says whether a message
/// would be posted, replied to or updated) and the open windows. A store that does not
/// exist yet is not created.
async fn store_for_dry_run(config: &Config) -> Option<SharedStore> {
    if let StorageConfig::Sqlite { path, .. } = &config.storage
        && !path.exists()
    {
        return None;
    }
    match open_store(config).await {
        Ok(store) => Some(store),
        Err(error) => {
            eprintln!(
                "warning: cannot read the store ({error:#}); planning as if nothing was remembered and no window was open"
            );
            None
        }
    }
}

/// The windows of the windowed rules the event matches: the open window of its group it
/// would join, or a new one. Their actions run when the window is flushed.
async fn windows_joined(
    config: &Config,
    prepared: &Prepared,
    store: Option<&SharedStore>,
) -> anyhow::Result<Value> {
    let mut windows = Vec::new();
    for entry in &prepared.item.windows {
        let open = match store {
            Some(store) => {
                let query = WindowQuery {
                    rule: Some(entry.rule.clone()),
                    status: Some(WindowStatus::Open),
                    limit: 1000,
                };
                store
                    .list_windows(&query)
                    .await?
                    .into_iter()
                    .find(|window| window.group_key == entry.group_key)
            }
            None => None,
        };
        let actions = config
            .rule(&entry.rule)
            .map(|rule| rule.actions.clone())
            .unwrap_or_default();
        windows.push(json!({
            "rule": entry.rule,
            "group": entry.group_key,
            "actions": actions,
            "joins": open.map(|window| json!({
                "id": window.id,
                "events": window.count,
                "opened_at": output::time(&window.opened_at),
            })),
        }));
    }
    Ok(Value::Array(windows))
}

/// The event, and for each matched (rule, action) its plan or why it cannot be planned.
async fn plan_all(config: &Config, prepared: &Prepared, refs: &dyn RefLookup) -> Value {
    let event = &prepared.item.event;
    let context = new_event_context(
        event,
        &std::sync::Arc::new(Document::from_text(event.payload.clone())),
    );
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
    let windows = report["windows"].as_array().cloned().unwrap_or_default();
    if deliveries.is_empty() && windows.is_empty() {
        say!("\nno rule matches: the event would be stored and nothing sent");
    }
    for window in &windows {
        let actions: Vec<&str> = window["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        say!(
            "\n{} → {} (windowed)",
            window["rule"].as_str().unwrap_or_default(),
            actions.join(", ")
        );
        let group = match window["group"].as_str() {
            Some("") | None => "its one group".to_string(),
            Some(group) => format!("group {group:?}"),
        };
        match window["joins"].as_object() {
            Some(open) => say!(
                "  would join the open window {} of {group} ({} events, opened {}); its actions run when it is flushed",
                open["id"].as_str().unwrap_or_default(),
                open["events"],
                open["opened_at"].as_str().unwrap_or_default()
            ),
            None => {
                say!("  would open a new window for {group}; its actions run when it is flushed")
            }
        }
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
        output::plan(&delivery["plan"], "  ", true);
    }
}
