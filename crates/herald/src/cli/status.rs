//! `herald status`: health per destination, source and rule, and open alerts.

use super::output;
use super::output::say;
use super::{load_config, open_store};
use crate::config::Needs;
use crate::services::status::{StatusReport, status};
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let config = load_config(path, Needs::Store)?;
    let store = open_store(&config).await?;
    let report = status(&config, &store, chrono::Utc::now()).await?;
    if args.json {
        output::json(&report)?;
    } else {
        print(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print(report: &StatusReport) {
    say!("destinations");
    let rows: Vec<Vec<String>> = report
        .health
        .actions
        .iter()
        .map(|a| {
            let failure = match (&a.last_failure_at, &a.last_failure_error) {
                (Some(at), error) => format!(
                    "{} {} {}",
                    output::time(at),
                    output::optional(&a.last_failure_status),
                    output::cut(&output::optional(error), 50)
                ),
                (None, _) => "-".into(),
            };
            vec![
                a.action.clone(),
                a.last_success_at.as_ref().map_or("-".into(), output::time),
                failure,
                a.last_failure_kind
                    .map_or("-".into(), |k| k.as_str().to_string()),
                a.failure_streak.to_string(),
                a.pending.to_string(),
                a.dead.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "ACTION",
            "LAST SUCCESS",
            "LAST FAILURE",
            "KIND",
            "STREAK",
            "PENDING",
            "DEAD",
        ],
        rows,
    );
    say!("\nsources");
    let rows: Vec<Vec<String>> = report
        .health
        .sources
        .iter()
        .map(|s| {
            vec![
                s.source.clone(),
                s.last_event_at.as_ref().map_or("-".into(), output::time),
                s.events.to_string(),
            ]
        })
        .collect();
    output::table(&["SOURCE", "LAST EVENT", "EVENTS"], rows);
    say!("\nrules");
    let rows: Vec<Vec<String>> = report
        .health
        .rules
        .iter()
        .map(|r| {
            vec![
                r.rule.clone(),
                r.last_delivery_at.as_ref().map_or("-".into(), output::time),
                r.dead.to_string(),
            ]
        })
        .collect();
    output::table(&["RULE", "LAST DELIVERY", "DEAD"], rows);
    if !report.pollers.is_empty() {
        say!("\npollers");
        print_pollers(report);
    }
    say!("\nopen alerts");
    if report.alerts.is_empty() {
        say!("none");
    }
    for alert in &report.alerts {
        say!(
            "{} ({}) on {} since {}",
            alert.monitor,
            alert.kind,
            if alert.subject.is_empty() {
                "-"
            } else {
                &alert.subject
            },
            output::time(&alert.since)
        );
    }
}

fn print_pollers(report: &StatusReport) {
    let rows: Vec<Vec<String>> = report
        .pollers
        .iter()
        .map(|p| {
            let error = match (&p.last_error_at, &p.last_error) {
                (Some(at), error) if p.failures > 0 => format!(
                    "{} {} {}",
                    output::time(at),
                    p.last_error_kind.map_or("-", |k| k.as_str()),
                    output::cut(&output::optional(error), 50)
                ),
                _ => "-".into(),
            };
            vec![
                p.source.clone(),
                p.last_poll_at.as_ref().map_or("-".into(), output::time),
                p.last_success_at.as_ref().map_or("-".into(), output::time),
                p.lag_seconds.map_or("-".into(), |lag| format!("{lag}s")),
                p.last_items.to_string(),
                output::cut(p.cursor.as_deref().unwrap_or("-"), 32),
                error,
            ]
        })
        .collect();
    output::table(
        &[
            "SOURCE",
            "LAST POLL",
            "LAST SUCCESS",
            "LAG",
            "ITEMS",
            "CURSOR",
            "FAILING SINCE",
        ],
        rows,
    );
}
