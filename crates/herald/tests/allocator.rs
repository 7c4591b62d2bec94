#![cfg(target_os = "linux")]
//! herald's allocator nudge (`services::memory`) gives memory freed under a load back to
//! the system. Its own test binary: it measures this process's resident memory, which
//! other tests running alongside would disturb.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use herald::services::memory::{nudge_allocator, nudge_every};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Past mimalloc's default purge delay (1 s), after which a freed page may be returned.
const PAST_PURGE_DELAY: Duration = Duration::from_millis(1_300);

const MB: u64 = 1_000_000;

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kilobytes = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("VmRSS in /proc/self/status");
    kilobytes * 1024
}

#[test]
fn memory_freed_after_a_load_returns_to_the_system_once_nudged() {
    let before = resident_bytes();
    // A load's worth of small blocks, written so their pages are resident, then freed.
    let blocks: Vec<Vec<u8>> = (0..200_000).map(|i| vec![i as u8; 300]).collect();
    let loaded = resident_bytes();
    drop(blocks);
    std::thread::sleep(PAST_PURGE_DELAY);
    let resting = resident_bytes();
    // The nudging task as `serve` runs it, on this thread, every 1.3 s instead of 10 s, for
    // three nudges: the first frees the empty pages to mimalloc's arena, the next, past the
    // purge delay, returns them to the system.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PAST_PURGE_DELAY * 5 / 2).await;
            stop.cancel();
        });
        tokio::time::timeout(
            PAST_PURGE_DELAY * 10,
            nudge_every(PAST_PURGE_DELAY, shutdown),
        )
        .await
        .expect("the nudging ends once shut down");
    });
    let nudged = resident_bytes();
    let started = std::time::Instant::now();
    nudge_allocator();
    let took = started.elapsed();
    eprintln!(
        "resident: before {} MB, loaded {} MB, freed and resting {} MB, nudged {} MB; a nudge took {took:?}",
        before / MB,
        loaded / MB,
        resting / MB,
        nudged / MB
    );
    assert!(
        loaded > before + 50 * MB,
        "the load made over 50 MB resident"
    );
    assert!(
        nudged < before + 10 * MB,
        "after the task's nudges the freed blocks are no longer resident: {} MB over the start",
        nudged.saturating_sub(before) / MB
    );
}
