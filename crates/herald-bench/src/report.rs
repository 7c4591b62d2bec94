//! Percentiles and the printed report.

use crate::e2e::E2eResult;
use crate::load::LoadResult;
use crate::machine::CpuTimes;
use crate::scenario::{HeraldCounters, Without};
use std::time::Duration;

/// One closed-loop scenario: the load result and what the server process used.
pub struct Measured {
    pub name: &'static str,
    pub load: LoadResult,
    pub peak_rss: u64,
    /// Server and load-generator CPU seconds during the measured window.
    pub server_cpu: f64,
    pub bench_cpu: f64,
    /// The whole machine's CPU time in the window (None where /proc/stat is unreadable).
    pub machine: Option<CpuTimes>,
    pub herald: Option<HeraldCounters>,
}

/// Nearest-rank percentile of sorted values; zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The middle value (the upper middle of an even count); None when there are none.
pub fn median<T: PartialOrd + Copy>(values: impl IntoIterator<Item = T>) -> Option<T> {
    let mut values: Vec<T> = values.into_iter().collect();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.get(values.len() / 2).copied()
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

pub fn machine(label: &str) {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average {label}: {}", loadavg.trim());
}

pub fn header(cpus: usize, model: &str) {
    println!("herald-bench: {cpus} CPUs ({model})");
}

pub fn print_load(measured: &Measured, connections: usize) {
    let load = &measured.load;
    let seconds = load.duration.as_secs_f64();
    println!(
        "\n[{}] {connections} connections, {:.1} s measured",
        measured.name, seconds
    );
    println!("  requests completed: {}", load.latencies.len());
    println!("  throughput:         {:.0} req/s", load.throughput());
    println!(
        "  latency p50:        {}",
        ms(percentile(&load.latencies, 50.0))
    );
    println!(
        "  latency p99:        {}",
        ms(percentile(&load.latencies, 99.0))
    );
    println!("  errors:             {}", load.errors);
    println!("  peak RSS (server):  {}", mb(measured.peak_rss));
    println!(
        "  CPU: server {:.0}%, load generator {:.0}% (of one core)",
        measured.server_cpu / seconds * 100.0,
        measured.bench_cpu / seconds * 100.0
    );
    print_machine(measured);
    if let Some(counters) = measured.herald {
        println!(
            "  herald: {:.0} events stored, {:.0} deliveries done, {:.0} still pending (warm-up included)",
            counters.events_stored, counters.deliveries_succeeded, counters.queue_pending
        );
    }
}

/// How busy the whole machine was, and the CPU each request took: the server's own, and
/// everything's (server, generator, kernel), which is what a bound-by-CPU run trades.
fn print_machine(measured: &Measured) {
    let Some(window) = measured.machine else {
        return;
    };
    let Some(shares) = window.shares() else {
        return;
    };
    println!(
        "  machine: {:.0}% busy (user {:.0}%, kernel {:.0}%), I/O wait {:.0}%, steal {:.0}% of all CPUs",
        shares.busy, shares.user, shares.system, shares.iowait, shares.steal
    );
    let requests = measured.load.latencies.len();
    if requests > 0 {
        let per_request = |seconds: f64| seconds / requests as f64 * 1e6;
        println!(
            "  CPU per request: server {:.0} µs, whole machine {:.0} µs",
            per_request(measured.server_cpu),
            per_request(window.busy_seconds(crate::child::TICKS_PER_SECOND))
        );
    }
}

/// A herald run's throughput as a share of the baseline's in the same round.
pub fn print_ratio(baseline: &Measured, herald: &Measured) {
    let ratio = herald.load.throughput() / baseline.load.throughput() * 100.0;
    println!("\n{} throughput: {ratio:.1}% of the baseline", herald.name);
}

/// What one round of the closed-loop runs measured: requests a second, and herald's p99.
pub struct Round {
    pub baseline: f64,
    pub herald: f64,
    pub herald_p99: Duration,
    /// With `--postgres`: herald on PostgreSQL.
    pub postgres: Option<(f64, Duration)>,
    /// With `--breakdown`: herald with each part taken away, its requests a second.
    pub without: Vec<(Without, f64)>,
}

impl Round {
    pub fn of(baseline: &Measured, herald: &Measured, postgres: Option<&Measured>) -> Round {
        let p99 = |m: &Measured| percentile(&m.load.latencies, 99.0);
        Round {
            baseline: baseline.load.throughput(),
            herald: herald.load.throughput(),
            herald_p99: p99(herald),
            postgres: postgres.map(|m| (m.load.throughput(), p99(m))),
            without: Vec::new(),
        }
    }
}

/// The medians over the rounds, and the range of each ratio: a ratio is taken within its
/// round, where baseline and herald met the same machine.
pub fn print_rounds(rounds: &[Round]) {
    let (Some(baseline), Some(herald), Some(p99)) = (
        median(rounds.iter().map(|r| r.baseline)),
        median(rounds.iter().map(|r| r.herald)),
        median(rounds.iter().map(|r| r.herald_p99)),
    ) else {
        return;
    };
    let ratios: Vec<f64> = rounds
        .iter()
        .map(|r| r.herald / r.baseline * 100.0)
        .collect();
    println!("\n[medians of {} rounds]", rounds.len());
    println!("  baseline:               {baseline:.0} req/s");
    println!(
        "  herald durable ingest:  {herald:.0} req/s, p99 {}; {} of the baseline",
        ms(p99),
        spread(&ratios)
    );
    let postgres: Vec<(f64, Duration, f64)> = rounds
        .iter()
        .filter_map(|r| {
            r.postgres
                .map(|(rate, p99)| (rate, p99, rate / r.herald * 100.0))
        })
        .collect();
    if let (Some(rate), Some(p99)) = (
        median(postgres.iter().map(|p| p.0)),
        median(postgres.iter().map(|p| p.1)),
    ) {
        let shares: Vec<f64> = postgres.iter().map(|p| p.2).collect();
        println!(
            "  herald on PostgreSQL:   {rate:.0} req/s, p99 {}; {} of its throughput on SQLite",
            ms(p99),
            spread(&shares)
        );
    }
    for without in Without::ALL {
        // Each round's rate without this part, and its share of that round's baseline.
        let runs: Vec<(f64, f64)> = rounds
            .iter()
            .flat_map(|r| {
                r.without
                    .iter()
                    .filter(move |(taken, _)| *taken == without)
                    .map(move |(_, rate)| (*rate, rate / r.baseline * 100.0))
            })
            .collect();
        if let Some(rate) = median(runs.iter().map(|run| run.0)) {
            let ratios: Vec<f64> = runs.iter().map(|run| run.1).collect();
            println!(
                "  {}: {rate:.0} req/s; {} of the baseline",
                without.name(),
                spread(&ratios)
            );
        }
    }
}

/// "M% (L–H%)": the median of percentages and their range.
fn spread(percentages: &[f64]) -> String {
    let median = median(percentages.iter().copied()).unwrap_or(0.0);
    let low = percentages.iter().copied().fold(f64::INFINITY, f64::min);
    let high = percentages
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    format!("{median:.1}% ({low:.1}–{high:.1}%)")
}

/// Issue 16's row: herald's ingest on PostgreSQL against the same on SQLite, same run.
pub fn print_share_of_sqlite(sqlite: &Measured, postgres: &Measured) {
    let share = postgres.load.throughput() / sqlite.load.throughput() * 100.0;
    println!("\nherald durable ingest on PostgreSQL: {share:.1}% of its throughput on SQLite");
}

pub fn print_e2e(result: &mut E2eResult, rate: f64, duration: Duration, peak_rss: u64) {
    result.latencies.sort();
    let latencies = &result.latencies;
    println!(
        "\n[end-to-end] {rate:.0} req/s for {:.1} s, http action to a local sink",
        duration.as_secs_f64()
    );
    println!(
        "  sent {}, accepted {}, arrived at the sink {}",
        result.sent,
        result.accepted,
        latencies.len()
    );
    println!("  latency p50:        {}", ms(percentile(latencies, 50.0)));
    println!("  latency p99:        {}", ms(percentile(latencies, 99.0)));
    println!(
        "  latency max:        {}",
        ms(latencies.last().copied().unwrap_or_default())
    );
    println!("  peak RSS (herald):  {}", mb(peak_rss));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&values, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&values, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }

    #[test]
    fn median_takes_the_middle_or_the_upper_middle() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4, 1, 3, 2]), Some(3));
        assert_eq!(median(Vec::<u64>::new()), None);
    }

    #[test]
    fn spread_gives_the_median_and_the_range() {
        assert_eq!(spread(&[61.4, 67.4, 64.3]), "64.3% (61.4–67.4%)");
    }
}
