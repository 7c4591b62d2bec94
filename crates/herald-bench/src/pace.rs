//! `herald-bench pace`: does the outbox keep pace with ingest at its peak, and what memory
//! does herald keep afterwards? Closed-loop signed ingest for a while against a rule that
//! forwards each push to a fast sink in this process, then the backlog left, the time to
//! drain it, and the server's RSS at rest. Several server builds may take turns
//! (`--server-exe`), so a before and an after are compared within one run.

use crate::child::ServerChild;
use crate::load;
use crate::report::{machine, mb};
use crate::scenario::{self, HeraldCounters};
use axum::http::StatusCode;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often the drain is checked.
const DRAIN_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, clap::Args)]
pub struct PaceOptions {
    /// Measured time of closed-loop ingest.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured ingest before it.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Concurrent keep-alive connections, one per load task.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// `[delivery] concurrency` of the server (herald's default when not given).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Where deliveries go: `http`, a sink in this process that answers at once (parallel
    /// deliveries), or `sql`, one insert each into an SQLite file (one at a time, in order).
    #[arg(long, value_enum, default_value_t = Target::Http)]
    into: Target,
    /// How long to wait for the backlog to drain after the load.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    drain_timeout: Duration,
    /// How long the drained server rests before its RSS is read.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    rest: Duration,
    /// Runs of each server, taking turns.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// A herald-bench binary to serve herald instead of this one (another build, e.g. the
    /// commit before a change); repeat to compare several. This binary when none.
    #[arg(long)]
    server_exe: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Target {
    Http,
    Sql,
}

/// One run against one server build.
#[derive(Debug, Clone, Copy, Default)]
struct PaceRun {
    ingest_rate: f64,
    delivery_rate: f64,
    backlog_at_end: f64,
    drain_seconds: f64,
    rss_start: u64,
    rss_peak: u64,
    rss_rest: u64,
    events: f64,
    /// The backlog at each tenth of the measured window.
    backlog_samples: [f64; BACKLOG_SAMPLES],
}

/// How many times the backlog is read while the load runs: whether it levels off or keeps
/// growing tells a bounded backlog from one that is not.
const BACKLOG_SAMPLES: usize = 10;

pub async fn run(options: &PaceOptions) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    machine("before");
    let servers = match options.server_exe.is_empty() {
        true => vec![std::env::current_exe()?],
        false => options.server_exe.clone(),
    };
    let sink = Sink::start().await?;
    let mut results: Vec<Vec<PaceRun>> = vec![Vec::new(); servers.len()];
    for round in 1..=options.runs {
        for (server, runs) in servers.iter().zip(&mut results) {
            let measured = one_run(server, &sink, options).await?;
            print_run(round, server, &measured);
            runs.push(measured);
        }
    }
    if options.runs > 1 {
        for (server, runs) in servers.iter().zip(&results) {
            print_run(0, server, &median(runs));
        }
    }
    machine("after");
    Ok(())
}

/// Start `exe` on a fresh store, load it, wait for the drain, rest, and read its RSS.
async fn one_run(
    exe: &std::path::Path,
    sink: &Sink,
    options: &PaceOptions,
) -> anyhow::Result<PaceRun> {
    let dir = tempfile::tempdir()?;
    let text = match options.into {
        Target::Http => scenario::pace_config(&sink.url, options.concurrency),
        Target::Sql => scenario::pace_sql_config(options.concurrency),
    };
    let config = scenario::write_config(dir.path(), &text)?;
    let config = config.to_string_lossy();
    let args = [
        "serve-herald",
        "--listen",
        "127.0.0.1:0",
        "--config",
        &config,
    ];
    let server = ServerChild::start_exe(exe, &args).await?;
    let rss_start = server.rss()?;
    let plan = load::LoadPlan {
        url: format!("{}/hooks/github", server.url),
        connections: options.connections,
        warmup: options.warmup,
        duration: options.duration,
    };
    // The counters where the measured window starts.
    let (url, warmup) = (server.url.clone(), options.warmup);
    let at_start = tokio::spawn(async move {
        tokio::time::sleep(warmup).await;
        scenario::scrape(&url).await
    });
    let samples = tokio::spawn(sample_backlog(
        server.url.clone(),
        options.warmup,
        options.duration,
    ));
    let loaded = load::run(&plan, "pace").await;
    let at_end = scenario::scrape(&server.url).await?;
    let at_start: HeraldCounters = at_start.await??;
    let backlog_samples = samples.await??;
    let drain_seconds = drain(&server.url, options.drain_timeout).await?;
    tokio::time::sleep(options.rest).await;
    let measured = PaceRun {
        ingest_rate: loaded.throughput(),
        delivery_rate: (at_end.deliveries_succeeded - at_start.deliveries_succeeded)
            / options.duration.as_secs_f64(),
        backlog_at_end: at_end.queue_pending,
        drain_seconds,
        rss_start,
        rss_peak: server.peak_rss()?,
        rss_rest: server.rss()?,
        events: at_end.events_stored,
        backlog_samples,
    };
    server.stop().await?;
    Ok(measured)
}

/// The backlog (`herald_queue_pending`) at each tenth of the measured window.
async fn sample_backlog(
    url: String,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<[f64; BACKLOG_SAMPLES]> {
    let started = Instant::now() + warmup;
    let mut samples = [0.0; BACKLOG_SAMPLES];
    for (n, sample) in samples.iter_mut().enumerate() {
        let at = started + duration.mul_f64((n + 1) as f64 / BACKLOG_SAMPLES as f64);
        // Each a moment early, so the last is read while the load still runs.
        tokio::time::sleep_until((at - Duration::from_millis(200)).into()).await;
        *sample = scenario::scrape(&url).await?.queue_pending;
    }
    Ok(samples)
}

/// Seconds until nothing is pending (the drain timeout if it never happens).
async fn drain(url: &str, timeout: Duration) -> anyhow::Result<f64> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if scenario::scrape(url).await?.queue_pending == 0.0 {
            break;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Each figure's median over the runs (the upper middle of an even count).
fn median(runs: &[PaceRun]) -> PaceRun {
    fn mid<T: PartialOrd + Copy>(runs: &[PaceRun], pick: impl Fn(&PaceRun) -> T) -> T {
        crate::report::median(runs.iter().map(pick)).expect("at least one run")
    }
    PaceRun {
        ingest_rate: mid(runs, |run| run.ingest_rate),
        delivery_rate: mid(runs, |run| run.delivery_rate),
        backlog_at_end: mid(runs, |run| run.backlog_at_end),
        drain_seconds: mid(runs, |run| run.drain_seconds),
        rss_start: mid(runs, |run| run.rss_start),
        rss_peak: mid(runs, |run| run.rss_peak),
        rss_rest: mid(runs, |run| run.rss_rest),
        events: mid(runs, |run| run.events),
        backlog_samples: std::array::from_fn(|n| mid(runs, |run| run.backlog_samples[n])),
    }
}

/// Round 0 is the medians.
fn print_run(round: usize, server: &std::path::Path, run: &PaceRun) {
    let label = match round {
        0 => "median".to_string(),
        n => format!("run {n}"),
    };
    println!("\n[pace, {label}] {}", server.display());
    println!(
        "  ingest {:.0}/s, deliveries completed {:.0}/s ({:.0}% of ingest)",
        run.ingest_rate,
        run.delivery_rate,
        run.delivery_rate / run.ingest_rate * 100.0
    );
    println!(
        "  backlog at the end {:.0}, drained in {:.1} s; {:.0} events stored",
        run.backlog_at_end, run.drain_seconds, run.events
    );
    let samples: Vec<String> = run
        .backlog_samples
        .iter()
        .map(|backlog| format!("{backlog:.0}"))
        .collect();
    println!(
        "  backlog at each tenth of the load: {}",
        samples.join(", ")
    );
    println!(
        "  RSS at start {}, peak {}, at rest {}",
        mb(run.rss_start),
        mb(run.rss_peak),
        mb(run.rss_rest)
    );
}

/// Answers every forwarded request 200 at once: the destination is never the bottleneck.
struct Sink {
    url: String,
}

impl Sink {
    async fn start() -> anyhow::Result<Sink> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        // Taking the body makes axum read it whole, as a real destination would.
        let router = axum::Router::new().route(
            "/pace",
            axum::routing::post(|_body: axum::body::Bytes| async { StatusCode::OK }),
        );
        let url = format!("http://{}/pace", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Sink { url })
    }
}
