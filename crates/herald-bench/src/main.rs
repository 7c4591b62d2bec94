//! herald-bench: herald's durable ingest against a raw axum baseline, and herald's
//! end-to-end latency, each server in its own child process; `scale`, a store of many
//! events, its queries timed and its bytes per event; `pace`, the outbox under peak ingest
//! and the memory kept afterwards. See docs/benchmarks.md.

mod child;
mod e2e;
mod load;
mod machine;
mod pace;
mod payload;
mod report;
mod scale;
mod scenario;
mod serve;
mod wire;

use child::ServerChild;
use clap::{Parser, Subcommand};
use report::Measured;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "herald-bench",
    about = "Benchmark herald against a raw axum baseline"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, clap::Args)]
struct Options {
    /// Measured time of each closed-loop run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured time before it.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Concurrent keep-alive connections, one per load task.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Webhooks per second in the end-to-end run.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Length of the end-to-end run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    e2e_duration: Duration,
    /// Rounds of the closed-loop runs (the baseline, herald, and herald on PostgreSQL with
    /// --postgres), one after another; with more than one, their medians come last. Each
    /// round's herald starts on a new store, unless --ingest-config names one.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Skip the end-to-end run.
    #[arg(long)]
    skip_e2e: bool,
    /// Run the ingest part on this herald configuration instead of the built-in one (for
    /// experiments; its GitHub source must be `github`, with the secret `herald-bench-secret`).
    #[arg(long)]
    ingest_config: Option<PathBuf>,
    /// Run the ingest part on PostgreSQL too, in a new database on the server of
    /// --postgres-url (dropped afterwards), and report its rate as a share of SQLite's.
    #[arg(long, conflicts_with = "ingest_config")]
    postgres: bool,
    /// After herald's run, run it three more ways and give each as a share of the baseline:
    /// its store on /dev/shm (no disk), with no delivery per event (the rule matches no
    /// push), and both. What each gains says how much of the cost is the disk's, the
    /// outbox's, and the request path's.
    #[arg(long, conflicts_with = "ingest_config")]
    breakdown: bool,
    /// The PostgreSQL server of --postgres, with a database to connect to first.
    #[arg(
        long,
        env = "HERALD_BENCH_DATABASE_URL",
        default_value = "postgres://root@127.0.0.1:5432/test"
    )]
    postgres_url: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fill a store with many events and time `herald status`'s health query and
    /// `herald events list` on it; report the store's bytes per event.
    Scale(scale::ScaleOptions),
    /// Ingest at its peak into a rule that forwards every event to a fast sink: ingest and
    /// delivery rates, the backlog left, the time to drain it, and RSS at rest afterwards.
    Pace(pace::PaceOptions),
    // The server children, started by the benchmark itself.
    #[command(hide = true)]
    ServeBaseline {
        #[arg(long)]
        listen: SocketAddr,
    },
    #[command(hide = true)]
    ServeHerald {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        listen: SocketAddr,
    },
}

/// The allocator the `herald` binary ships with, so the herald measured is the one shipped;
/// the baseline, in the same binary, runs on it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::ServeBaseline { listen }) => serve::baseline(listen).await,
        Some(Command::ServeHerald { config, listen }) => serve::herald(&config, listen).await,
        Some(Command::Scale(options)) => scale::run(&options).await,
        Some(Command::Pace(options)) => pace::run(&options).await,
        None => bench(&cli.options).await,
    }
}

async fn bench(options: &Options) -> anyhow::Result<()> {
    // reqwest is built without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    report::header(cpus, &cpu_model());
    report::machine("before");
    let mut rounds = Vec::new();
    for round in 1..=options.rounds {
        if options.rounds > 1 {
            println!("\n=== round {round} of {} ===", options.rounds);
        }
        // Each round's herald starts on an empty store, as the first round's does.
        let dir = tempfile::tempdir()?;
        let config = match &options.ingest_config {
            Some(path) => path.clone(),
            None => scenario::write_config(dir.path(), &scenario::ingest_config())?,
        };
        rounds.push(closed_loop_round(&config, options).await?);
    }
    if rounds.len() > 1 {
        report::print_rounds(&rounds);
    }
    if !options.skip_e2e {
        end_to_end(options).await?;
    }
    report::machine("after");
    Ok(())
}

/// The baseline, herald on `config`, and with --postgres herald on PostgreSQL, each
/// printed as it ends.
async fn closed_loop_round(config: &Path, options: &Options) -> anyhow::Result<report::Round> {
    let baseline = closed_loop("baseline", None, options).await?;
    report::print_load(&baseline, options.connections);
    let herald = closed_loop("herald durable ingest", Some(config), options).await?;
    report::print_load(&herald, options.connections);
    report::print_ratio(&baseline, &herald);
    let mut on_postgres = None;
    if options.postgres {
        let measured = ingest_on_postgres(options).await?;
        report::print_load(&measured, options.connections);
        report::print_share_of_sqlite(&herald, &measured);
        on_postgres = Some(measured);
    }
    let mut round = report::Round::of(&baseline, &herald, on_postgres.as_ref());
    if options.breakdown {
        for without in scenario::Without::ALL {
            let measured = ingest_without(without, options).await?;
            report::print_load(&measured, options.connections);
            report::print_ratio(&baseline, &measured);
            round.without.push((without, measured.load.throughput()));
        }
    }
    Ok(round)
}

/// The durable ingest run with `without` taken away (--breakdown), on a new store.
async fn ingest_without(without: scenario::Without, options: &Options) -> anyhow::Result<Measured> {
    let dir = without.store_dir()?;
    let config = scenario::write_config(dir.path(), &without.config(dir.path()))?;
    closed_loop(without.name(), Some(&config), options).await
}

/// The durable ingest run with herald's store in a new PostgreSQL database, checkpointed
/// first so that no checkpoint falls due in the run, and dropped afterwards.
async fn ingest_on_postgres(options: &Options) -> anyhow::Result<Measured> {
    let target = scale::Target::new_postgres(&options.postgres_url).await?;
    target.store.close().await;
    let measured = async {
        if let Err(error) = target.checkpoint().await {
            println!("\n(no CHECKPOINT before the PostgreSQL run: {error})");
        }
        let dir = tempfile::tempdir()?;
        let url = target.postgres_url(&options.postgres_url)?;
        let text = scenario::ingest_config_on_postgres(&url)?;
        let config = scenario::write_config(dir.path(), &text)?;
        let name = "herald durable ingest on PostgreSQL";
        closed_loop(name, Some(&config), options).await
    }
    .await;
    // The database goes whatever happened in the run.
    target.finish(false).await?;
    measured
}

/// Start a server child (herald on `config`, or the baseline without one), load it, and
/// read its peak RSS before stopping it.
async fn closed_loop(
    name: &'static str,
    config: Option<&Path>,
    options: &Options,
) -> anyhow::Result<Measured> {
    let config_arg = config.map(|path| path.to_string_lossy().into_owned());
    let args = match &config_arg {
        Some(path) => vec!["serve-herald", "--listen", "127.0.0.1:0", "--config", path],
        None => vec!["serve-baseline", "--listen", "127.0.0.1:0"],
    };
    let server = ServerChild::start(&args).await?;
    let plan = load::LoadPlan {
        url: format!("{}/hooks/github", server.url),
        connections: options.connections,
        warmup: options.warmup,
        duration: options.duration,
    };
    // CPU used by each side, sampled at the window's edges.
    let pid = server.pid.to_string();
    let warmup = options.warmup;
    let at_start = tokio::spawn(async move {
        tokio::time::sleep(warmup).await;
        cpu_sample(&pid)
    });
    // Delivery ids unique to the run, from its start in milliseconds: a store kept from an
    // earlier run (--ingest-config) would take the same ids as duplicates and write nothing.
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let prefix = format!("b{:x}", started.map_or(0, |since| since.as_millis()));
    let load = load::run(&plan, &prefix).await;
    let end = cpu_sample(&server.pid.to_string());
    let start = at_start.await?;
    let herald = match config {
        Some(_) => Some(scenario::scrape(&server.url).await?),
        None => None,
    };
    let peak_rss = server.peak_rss()?;
    server.stop().await?;
    Ok(Measured {
        name,
        load,
        peak_rss,
        server_cpu: end.server - start.server,
        bench_cpu: end.bench - start.bench,
        machine: start.machine.zip(end.machine).map(|(s, e)| s.until(e)),
        herald,
    })
}

/// CPU used so far by the server, by this process (the load generator) and by the machine.
struct CpuSample {
    server: f64,
    bench: f64,
    machine: Option<machine::CpuTimes>,
}

fn cpu_sample(pid: &str) -> CpuSample {
    CpuSample {
        server: child::cpu_seconds(pid).unwrap_or(0.0),
        bench: child::cpu_seconds("self").unwrap_or(0.0),
        machine: machine::CpuTimes::now().ok(),
    }
}

/// (c): herald forwarding each webhook to a sink in this process, at a fixed rate.
async fn end_to_end(options: &Options) -> anyhow::Result<()> {
    let sink = e2e::Sink::start(Instant::now()).await?;
    let dir = tempfile::tempdir()?;
    let config = scenario::write_config(dir.path(), &scenario::e2e_config(&sink.url))?;
    let config_arg = config.to_string_lossy();
    let args = [
        "serve-herald",
        "--listen",
        "127.0.0.1:0",
        "--config",
        &config_arg,
    ];
    let server = ServerChild::start(&args).await?;
    let plan = e2e::RatePlan {
        url: format!("{}/hooks/github", server.url),
        rate: options.rate,
        duration: options.e2e_duration,
        connections: options.connections,
    };
    let mut result = e2e::run(&plan, &sink).await;
    let peak_rss = server.peak_rss()?;
    server.stop().await?;
    report::print_e2e(&mut result, options.rate, options.e2e_duration, peak_rss);
    Ok(())
}

fn cpu_model() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or_else(
            || "unknown CPU".to_string(),
            |(_, model)| model.trim().to_string(),
        )
}
