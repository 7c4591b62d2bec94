//! Closed-loop load: N tasks, each with its own keep-alive connection, sending the next
//! request as soon as the previous one is answered, for a warm-up and then a measured window.
//! Everything but the delivery id is prepared before the run (the body is the same push
//! each time, so its signature is too), so the generator spends its CPU on sending.

use crate::payload;
use crate::wire::{Connection, Target};
use std::sync::Arc;
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
    /// Latencies of the 2xx answers to requests started in the window, shortest first.
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

/// What every request of a run shares.
struct Prepared {
    target: Target,
    /// The push's fixed headers and its signature, as `name: value` lines.
    headers: Vec<String>,
    body: Vec<u8>,
}

/// Run the plan. `prefix` keeps delivery ids distinct across runs on the same server.
pub async fn run(plan: &LoadPlan, prefix: &str) -> LoadResult {
    let body = payload::push_body();
    let mut headers: Vec<String> = payload::PUSH_HEADERS
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    headers.push(format!(
        "x-hub-signature-256: {}",
        payload::signature(&body)
    ));
    let prepared = Arc::new(Prepared {
        target: Target::parse(&plan.url).expect("the benchmark's servers are plain http"),
        headers,
        body: body.to_vec(),
    });
    let start = Instant::now();
    let window = Window {
        counted_from: start + plan.warmup,
        end: start + plan.warmup + plan.duration,
    };
    let tasks: Vec<_> = (0..plan.connections)
        .map(|task| {
            let id = format!("{prefix}-{task}");
            tokio::spawn(connection(prepared.clone(), id, window))
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
    total.latencies.sort_unstable();
    total
}

/// One connection's loop.
async fn connection(prepared: Arc<Prepared>, id: String, window: Window) -> LoadResult {
    let mut connection = Connection::new(prepared.target.clone());
    let mut result = LoadResult::default();
    for n in 0u64.. {
        let delivery = format!("x-github-delivery: {id}-{n}");
        let started = Instant::now();
        if started >= window.end {
            break;
        }
        let headers = prepared.headers.iter().map(String::as_str);
        let sent = connection
            .post(headers.chain([delivery.as_str()]), &prepared.body)
            .await;
        let counted = started >= window.counted_from;
        match sent {
            Ok(status) if (200..300).contains(&status) => {
                if counted {
                    result.latencies.push(started.elapsed());
                }
            }
            Ok(_) => result.errors += u64::from(counted),
            Err(_) => {
                result.errors += u64::from(counted);
                // Do not spin on a server that is gone.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    result
}
