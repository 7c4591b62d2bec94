//! `herald poll SOURCE --once`: one poll of a poller source now, through the same code
//! `serve` runs. `herald poll SOURCE --since T [--until U] [--reprocess]`: read a range of
//! the API's items (a backfill, or a replay) with a progress bar, leaving the live cursor
//! where it is.

use super::output::{self, say};
use super::{load_config, open_store};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Needs;
use crate::polling::backfill::{Progress, Range};
use crate::polling::{Cycle, Failure, PollOutcome, Pollers};
use crate::services::time::parse_time;
use crate::traces::Traces;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["once", "since"])))]
pub struct Args {
    /// The poller source, as named under [sources].
    source: String,
    /// Poll now, even if the next poll is not due, from the stored cursor to the end.
    #[arg(long)]
    once: bool,
    /// Read the items from this time: RFC 3339 (2024-09-06T18:03:00Z) or an age (2h).
    #[arg(long)]
    since: Option<String>,
    /// ... up to this time (default: to the newest item).
    #[arg(long, requires = "since")]
    until: Option<String>,
    /// Make new deliveries for items already stored (by default they are skipped).
    #[arg(long, requires = "since")]
    reprocess: bool,
    /// Print the result as JSON (and no progress bar).
    #[arg(long)]
    json: bool,
}

pub async fn run(path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let config = Arc::new(load_config(path, Needs::Everything)?);
    let store = open_store(&config).await?;
    let clock: SharedClock = Arc::new(SystemClock);
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "herald".to_string());
    let owner = format!("herald-poll:{host}:{}", std::process::id());
    // The events polled start their traces here; `serve` delivers them.
    let traces = Traces::start_or_off(&config.telemetry);
    let pollers = Pollers::new(config, store, clock.clone(), owner).with_traces(traces.clone());
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_interrupt(stop.clone()));
    let result = poll(&pollers, &args, &clock, &stop).await;
    traces.shutdown().await;
    result
}

async fn poll(
    pollers: &Pollers,
    args: &Args,
    clock: &SharedClock,
    stop: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    if args.once {
        return once(pollers, args, stop).await;
    }
    let now = clock.now();
    let parse = |text: &str| parse_time(text, now).map_err(|error| anyhow::anyhow!(error));
    let since = parse(args.since.as_deref().unwrap_or_default())?;
    let until = args.until.as_deref().map(parse).transpose()?;
    if until.is_some_and(|until| until < since) {
        anyhow::bail!("--until is before --since");
    }
    let range = Range {
        since,
        until,
        reprocess: args.reprocess,
    };
    backfill(pollers, args, range, stop).await
}

async fn stop_on_interrupt(stop: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        stop.cancel();
    }
}

async fn once(
    pollers: &Pollers,
    args: &Args,
    stop: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let outcome = pollers.poll(&args.source, true, stop).await?;
    let source = &args.source;
    let (cycle, next) = match outcome {
        PollOutcome::Polled {
            cycle,
            next_poll_at,
        } => (cycle, next_poll_at),
        PollOutcome::Busy { owner, until } => {
            let owner = owner.unwrap_or_else(|| "another process".into());
            let until = until.as_ref().map_or("-".into(), output::time);
            anyhow::bail!(
                "`{source}` is being polled by {owner} (lease until {until}); try again once it is done"
            );
        }
        PollOutcome::NotDue { .. } => anyhow::bail!("`{source}` could not be leased"),
    };
    if args.json {
        output::json(&serde_json::json!({
            "source": source,
            "pages": cycle.pages,
            "items": cycle.items,
            "stored": cycle.stored,
            "cursor": cycle.cursor,
            "failure": cycle.failure.as_ref().map(failure_json),
            "next_poll_at": next,
        }))?;
    } else {
        say!("{}", describe_once(source, &cycle));
    }
    Ok(if cycle.failure.is_some() || cycle.overtaken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn describe_once(source: &str, cycle: &Cycle) -> String {
    let cursor = cycle.cursor.as_deref().unwrap_or("none yet");
    let read = format!(
        "{} page(s), {} item(s) ({} new)",
        cycle.pages, cycle.items, cycle.stored
    );
    match &cycle.failure {
        Some(failure) => format!(
            "polling `{source}` failed after {read}: {} ({}); the cursor stays at {cursor} and the next poll starts there",
            failure.error,
            failure.kind.as_str()
        ),
        None if cycle.overtaken => {
            format!("another process polled `{source}` meanwhile; stopped after {read}")
        }
        None => format!("polled `{source}`: {read}; cursor {cursor}"),
    }
}

fn failure_json(failure: &Failure) -> serde_json::Value {
    serde_json::json!({ "kind": failure.kind.as_str(), "error": failure.error })
}

async fn backfill(
    pollers: &Pollers,
    args: &Args,
    range: Range,
    stop: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let bar = progress_bar(args.json);
    let mut on_page = |progress: &Progress| bar.set_message(describe(progress, started.elapsed()));
    let (progress, failure) = pollers
        .backfill(&args.source, range, &mut on_page, stop)
        .await?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    if args.json {
        output::json(&serde_json::json!({
            "source": args.source,
            "since": range.since,
            "until": range.until,
            "progress": progress,
            "seconds": elapsed.as_secs_f64(),
            "failure": failure.as_ref().map(failure_json),
        }))?;
    } else {
        let until = range.until.as_ref().map_or("now".into(), output::time);
        say!(
            "`{}` from {} to {until}: {}; the live cursor is unchanged",
            args.source,
            output::time(&range.since),
            describe(&progress, elapsed)
        );
        if let Some(failure) = &failure {
            say!(
                "stopped early: {} ({})",
                failure.error,
                failure.kind.as_str()
            );
        }
    }
    Ok(if failure.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A spinner on stderr when it is a terminal (indicatif draws nothing otherwise).
fn progress_bar(json: bool) -> ProgressBar {
    let target = if json {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(None, target);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message("asking for the first page");
    bar
}

fn describe(progress: &Progress, elapsed: Duration) -> String {
    let rate = progress.items as f64 / elapsed.as_secs_f64().max(0.001);
    let mut text = format!(
        "{} page(s), {} item(s): {} new, {} already stored",
        progress.pages, progress.items, progress.stored, progress.duplicates
    );
    if progress.reprocessed > 0 {
        text.push_str(&format!(
            ", {} new deliveries for them",
            progress.reprocessed
        ));
    }
    if progress.outside > 0 {
        text.push_str(&format!(", {} outside the range", progress.outside));
    }
    if progress.waits > 0 {
        text.push_str(&format!(", {} rate-limit wait(s)", progress.waits));
    }
    text.push_str(&format!(
        " in {:.1} s ({rate:.0} items/s)",
        elapsed.as_secs_f64()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_names_pages_items_and_the_rate() {
        let progress = Progress {
            pages: 3,
            items: 250,
            stored: 200,
            duplicates: 50,
            waits: 1,
            ..Progress::default()
        };
        assert_eq!(
            describe(&progress, Duration::from_secs(2)),
            "3 page(s), 250 item(s): 200 new, 50 already stored, 1 rate-limit wait(s) \
             in 2.0 s (125 items/s)"
        );
        let replayed = Progress {
            pages: 1,
            items: 15,
            duplicates: 15,
            reprocessed: 15,
            outside: 2,
            ..Progress::default()
        };
        assert_eq!(
            describe(&replayed, Duration::from_millis(500)),
            "1 page(s), 15 item(s): 0 new, 15 already stored, 15 new deliveries for them, \
             2 outside the range in 0.5 s (30 items/s)"
        );
    }
}
