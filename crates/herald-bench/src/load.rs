//! Closed-loop load: N tasks, each with its own single-connection client, sending the next
//! request as soon as the previous one is answered, for a warm-up and then a measured window.

use crate::payload;
use bytes::Bytes;
use std::time::{Duration, Instant};

pub struct LoadPlan {
    /// Full URL of the webhook endpoint.
    pub url: String,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What the measured window saw.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Latencies of the 2xx answers to requests started in the window.
    pub latencies: Vec<Duration>,
    /// Non-2xx answers and transport errors in the window.
    pub errors: u64,
    pub duration: Duration,
}

impl LoadResult {
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.duration.as_secs_f64()
    }
}

/// Instants shared by all tasks: when counting starts, and when sending stops.
#[derive(Clone, Copy)]
struct Window {
    counted_from: Instant,
    end: Instant,
}

/// Run the plan. `prefix` keeps delivery ids distinct across runs on the same server.
pub async fn run(plan: &LoadPlan, prefix: &str) -> LoadResult {
    let body = payload::push_body();
    let start = Instant::now();
    let window = Window {
        counted_from: start + plan.warmup,
        end: start + plan.warmup + plan.duration,
    };
    let tasks: Vec<_> = (0..plan.connections)
        .map(|task| {
            let (url, body) = (plan.url.clone(), body.clone());
            let id = format!("{prefix}-{task}");
            tokio::spawn(connection(url, id, body, window))
        })
        .collect();
    let mut total = LoadResult {
        duration: plan.duration,
        ..LoadResult::default()
    };
    for task in tasks {
        let part = task.await.expect("a load task panicked");
        total.latencies.extend(part.latencies);
        total.errors += part.errors;
    }
    total
}

/// One connection's loop.
async fn connection(url: String, id: String, body: Bytes, window: Window) -> LoadResult {
    let client = payload::client();
    let mut result = LoadResult::default();
    for n in 0u64.. {
        let delivery = format!("{id}-{n}");
        // Signing is part of what a sender does, but not of the request's latency.
        let signature = payload::signature(&body);
        let started = Instant::now();
        if started >= window.end {
            break;
        }
        let sent = payload::send(&client, &url, &delivery, signature, body.clone()).await;
        let counted = started >= window.counted_from;
        match sent {
            Ok(true) if counted => result.latencies.push(started.elapsed()),
            Ok(true) => {}
            Ok(false) => result.errors += u64::from(counted),
            Err(_) => {
                result.errors += u64::from(counted);
                // Do not spin on a server that is gone.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    result
}
