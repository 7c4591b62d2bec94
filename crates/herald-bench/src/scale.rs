//! `herald-bench scale`: a store filled with N events (default 1,000,000) through the
//! `Store` trait, then the queries `herald status` and `herald events list` run on it
//! timed, and the store's bytes per event. See docs/benchmarks.md.

mod data;
mod fill;
mod pages;
mod target;

use herald_store::SharedStore;
use herald_store::model::{EventQuery, JsonText};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
pub use target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, clap::Args)]
pub struct ScaleOptions {
    /// Events to fill the store with.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: BackendChoice,
    /// The PostgreSQL server to make a new database on (dropped afterwards unless --keep).
    #[arg(
        long,
        env = "HERALD_BENCH_DATABASE_URL",
        default_value = "postgres://root@127.0.0.1:5432/test"
    )]
    postgres_url: String,
    /// Where the new SQLite file goes (default: a temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Events per write transaction while filling.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    /// Timed runs of each query (after a first, reported apart).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Do not fill: migrate the store at this URL (SQLite path or postgres://) and time the
    /// queries on it. With it, --backend and --events are not used.
    #[arg(long)]
    existing: Option<String>,
    /// Skip measuring the size (it compacts the store first: VACUUM, VACUUM FULL).
    #[arg(long)]
    no_size: bool,
    /// Keep the store made, and print where it is.
    #[arg(long)]
    keep: bool,
    /// Also time every dashboard page on the store, rendered by herald's router.
    #[arg(long)]
    pages: bool,
}

pub async fn run(options: &ScaleOptions) -> anyhow::Result<()> {
    crate::report::machine("before");
    zstd_round_trip();
    if let Some(url) = &options.existing {
        let target = Target::existing(url).await?;
        measure(target, options, None).await?;
    } else {
        let backends: &[BackendChoice] = match options.backend {
            BackendChoice::Both => &[BackendChoice::Sqlite, BackendChoice::Postgres],
            BackendChoice::Sqlite => &[BackendChoice::Sqlite],
            BackendChoice::Postgres => &[BackendChoice::Postgres],
        };
        for backend in backends {
            let target = match backend {
                BackendChoice::Postgres => Target::new_postgres(&options.postgres_url).await?,
                _ => Target::new_sqlite(options.dir.clone()).await?,
            };
            println!(
                "\n[scale: {}] filling {} with {} events, {} per transaction",
                target.backend(),
                target.describe(),
                options.events,
                options.batch
            );
            let plan = fill::FillPlan {
                events: options.events,
                batch: options.batch,
                seed: 16,
            };
            let filled = fill::fill(&target.store, &plan).await?;
            let seconds = filled.elapsed.as_secs_f64();
            println!(
                "  filled in {seconds:.0} s ({:.0} events/s)",
                options.events as f64 / seconds
            );
            measure(target, options, Some(&filled.per_source)).await?;
        }
    }
    crate::report::machine("after");
    Ok(())
}

/// Time the queries, check the counts against what was written, and size the store.
async fn measure(
    mut target: Target,
    options: &ScaleOptions,
    expected: Option<&BTreeMap<String, i64>>,
) -> anyhow::Result<()> {
    let migrated = target.reopen().await?;
    println!(
        "[scale: {}] {}: migrations applied in {:.2} s",
        target.backend(),
        target.describe(),
        migrated.as_secs_f64()
    );
    let store = target.store.clone();
    let health = store.health().await?;
    let counted: BTreeMap<String, i64> = health
        .sources
        .iter()
        .map(|source| (source.source.clone(), source.events))
        .collect();
    let events: i64 = counted.values().sum();
    match expected {
        Some(expected) if expected != &counted => {
            anyhow::bail!("health counts {counted:?}, but the fill wrote {expected:?}")
        }
        Some(_) => println!("  health counts every source's events right ({events} in all)"),
        None => println!("  {events} events in the store"),
    }
    // The health query first, as `herald status` and the monitors run it, then the lists.
    let timed = [
        time(options.runs, || health_rows(&store)).await?,
        time(options.runs, || list(&store, Some("github"), Some("push"))).await?,
        time(options.runs, || {
            list(&store, Some("github"), Some("release"))
        })
        .await?,
        time(options.runs, || list(&store, Some("github"), None)).await?,
    ];
    let names = [
        "health (herald status, monitors)",
        "events list --source github --type push",
        "events list --source github --type release",
        "events list --source github (not a target)",
    ];
    for (name, timing) in names.iter().zip(&timed) {
        println!(
            "  {name:<45} first {:>9}, median of {} {:>9} ({} rows)",
            ms(timing.first),
            options.runs,
            ms(timing.median),
            timing.rows
        );
    }
    if options.pages {
        pages::measure(&store, options.runs).await?;
    }
    if !options.no_size && events > 0 {
        let size = target.size().await?;
        let per_event = |bytes: u64| bytes as f64 / events as f64;
        println!(
            "  store size after compaction: {:.1} MB, {:.0} bytes per event",
            size.total as f64 / 1e6,
            per_event(size.total)
        );
        for (table, data, indexes) in &size.tables {
            if data + indexes >= size.total / 200 {
                println!(
                    "    {table:<12} {:>6.0} B/event (table {:.0}, indexes {:.0})",
                    per_event(data + indexes),
                    per_event(*data),
                    per_event(*indexes)
                );
            }
        }
    }
    target.finish(options.keep).await
}

/// What compressing and decompressing a payload costs: 20,000 of the fill's payloads made
/// into zstd frames as SQLite stores them (`JsonText::compressed`, on the request's path)
/// and read back (`JsonText::decompress`, for every event read), one after another on this
/// thread; the best of three rounds.
fn zstd_round_trip() {
    const PAYLOADS: u64 = 20_000;
    let mut rng = data::Rng::new(16);
    let texts: Vec<String> = (0..PAYLOADS)
        .map(|n| data::payload(&mut rng, n).to_string())
        .collect();
    let (mut compress, mut decompress) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let documents: Vec<JsonText> = texts
            .iter()
            .map(|text| JsonText::encode(&serde_json::from_str(text).expect("JSON")))
            .collect();
        let started = Instant::now();
        for document in &documents {
            document.compressed();
        }
        compress = compress.min(started.elapsed());
        let started = Instant::now();
        for document in &documents {
            let frame = document.compressed().expect("a 4 KB payload compresses");
            JsonText::decompress(frame).expect("a frame decompresses");
        }
        decompress = decompress.min(started.elapsed());
    }
    let each = |total: Duration| total.as_secs_f64() * 1e6 / PAYLOADS as f64;
    println!(
        "zstd, a {} B payload: compress {:.1} µs, decompress {:.1} µs (best of 3 rounds of {PAYLOADS})",
        texts[0].len(),
        each(compress),
        each(decompress)
    );
}

async fn health_rows(store: &SharedStore) -> anyhow::Result<usize> {
    let health = store.health().await?;
    Ok(health.sources.len() + health.rules.len() + health.actions.len())
}

/// `herald events list` with its default page (50).
async fn list(
    store: &SharedStore,
    source: Option<&str>,
    event_type: Option<&str>,
) -> anyhow::Result<usize> {
    let query = EventQuery {
        source: source.map(str::to_string),
        event_type: event_type.map(str::to_string),
        limit: 50,
        ..EventQuery::default()
    };
    Ok(store.list_events(&query).await?.len())
}

struct Timing {
    first: Duration,
    median: Duration,
    rows: usize,
}

/// The first run, then the median of `runs` more.
async fn time<F, Fut>(runs: usize, mut query: F) -> anyhow::Result<Timing>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let started = Instant::now();
    let rows = query().await?;
    let first = started.elapsed();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        query().await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(Timing {
        first,
        median: times[times.len() / 2],
        rows,
    })
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
