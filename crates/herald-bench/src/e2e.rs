//! End-to-end latency: webhooks sent at a fixed rate to herald, whose `http` action
//! forwards each to a sink in this process. The send time travels in the payload
//! (nanoseconds since a shared `Instant`), so the sink computes each latency itself.

use crate::payload;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long to wait, after the last send, for forwarded requests still on their way.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Receives herald's forwarded requests and records their latency.
#[derive(Clone)]
pub struct Sink {
    epoch: Instant,
    latencies: Arc<Mutex<Vec<Duration>>>,
    pub url: String,
}

impl Sink {
    pub async fn start(epoch: Instant) -> anyhow::Result<Sink> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sink = Sink {
            epoch,
            latencies: Arc::default(),
            url: format!("http://{}", listener.local_addr()?),
        };
        let router = axum::Router::new()
            .route("/e2e", axum::routing::post(record))
            .with_state(sink.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(sink)
    }

    fn arrived(&self) -> usize {
        self.latencies.lock().expect("not poisoned").len()
    }
}

/// The action's body is `{"sent": <ns>}`.
async fn record(State(sink): State<Sink>, body: Bytes) -> StatusCode {
    let now = sink.epoch.elapsed();
    let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&body);
    let Some(sent) = parsed.ok().and_then(|value| value["sent"].as_u64()) else {
        return StatusCode::BAD_REQUEST;
    };
    let latency = now.saturating_sub(Duration::from_nanos(sent));
    sink.latencies.lock().expect("not poisoned").push(latency);
    StatusCode::OK
}

pub struct RatePlan {
    pub url: String,
    pub rate: f64,
    pub duration: Duration,
    pub connections: usize,
}

#[derive(Debug, Default)]
pub struct E2eResult {
    pub sent: u64,
    /// Answered 2xx by herald.
    pub accepted: u64,
    /// Received by the sink; their latencies.
    pub latencies: Vec<Duration>,
}

/// Send `rate × duration` webhooks on schedule, then wait for the sink to get them.
pub async fn run(plan: &RatePlan, sink: &Sink) -> E2eResult {
    let total = (plan.rate * plan.duration.as_secs_f64()).round() as u64;
    let next = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let tail = payload::push_body().slice(1..);
    let tasks: Vec<_> = (0..plan.connections)
        .map(|task| {
            let schedule = Schedule {
                next: next.clone(),
                total,
                start,
                interval: Duration::from_secs_f64(1.0 / plan.rate),
            };
            let (url, tail, epoch) = (plan.url.clone(), tail.clone(), sink.epoch);
            tokio::spawn(sender(url, task, schedule, tail, epoch))
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.expect("a sender task panicked");
    }
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while (sink.arrived() as u64) < accepted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    E2eResult {
        sent: total,
        accepted,
        latencies: sink.latencies.lock().expect("not poisoned").clone(),
    }
}

/// Request `i` is due at `start + i × interval`; tasks take the next index in turn.
struct Schedule {
    next: Arc<AtomicU64>,
    total: u64,
    start: tokio::time::Instant,
    interval: Duration,
}

/// One connection: send each request it takes at its due time; returns how many got a 2xx.
async fn sender(url: String, task: usize, schedule: Schedule, tail: Bytes, epoch: Instant) -> u64 {
    let client = payload::client();
    let mut accepted = 0;
    loop {
        let i = schedule.next.fetch_add(1, Ordering::Relaxed);
        if i >= schedule.total {
            return accepted;
        }
        let due = schedule.start + schedule.interval.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let sent_ns = epoch.elapsed().as_nanos();
        // The push body with the send time as its first field.
        let body = Bytes::from([format!("{{\"sent_ns\":{sent_ns},").as_bytes(), &tail].concat());
        let signature = payload::signature(&body);
        let delivery = format!("e2e-{task}-{i}");
        if let Ok(true) = payload::send(&client, &url, &delivery, signature, body).await {
            accepted += 1;
        }
    }
}
