//! Test helpers: `spawn_app`, a scriptable fake sink, request signing.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use herald::app::App;
use herald::clock::{ManualClock, SharedClock};
use herald::config;
use herald_store::SharedStore;
use hmac::{KeyInit, Mac};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

pub const GITHUB_SECRET: &str = "It's a Secret to Everybody";
pub const ADMIN_TOKEN: &str = "admin-token-for-tests";

/// A running herald without background workers: tests step deliveries with `deliver()`.
pub struct TestApp {
    pub address: SocketAddr,
    pub app: App,
    pub store: SharedStore,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    _dir: Arc<tempfile::TempDir>,
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Spawn herald with `config` (TOML); `{SINK}` is replaced by `sink` (a base URL).
pub async fn spawn_app(config_text: &str, sink: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text.replace("{SINK}", sink);
    std::fs::write(dir.path().join("herald.toml"), &text).unwrap();
    spawn_in(Arc::new(dir)).await
}

/// Spawn herald on the configuration and store already in `dir`.
async fn spawn_in(dir: Arc<tempfile::TempDir>) -> TestApp {
    let path = dir.path().join("herald.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let loaded = config::from_text(
        &path,
        &text,
        Arc::new(|_| None),
        &herald::integrations::catalog(),
    )
    .unwrap_or_else(|report| panic!("{report}"));
    let store = herald::services::storage::open_migrated(&loaded.config.storage)
        .await
        .unwrap();
    let clock = ManualClock::new(start_time());
    let shared: SharedClock = clock.clone();
    let app = App::new(loaded.config, store.clone(), shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let router = app.router();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .unwrap();
    });
    TestApp {
        address,
        app,
        store,
        clock,
        http: client(),
        shutdown,
        _dir: dir,
    }
}

impl TestApp {
    /// Stop this herald and start a new one on the same configuration and store, with a
    /// fresh clock at the start time plus what this one had advanced.
    pub async fn restart(self) -> TestApp {
        let dir = self._dir.clone();
        let elapsed = self.clock_now() - start_time();
        drop(self);
        let app = spawn_in(dir).await;
        app.advance(elapsed.to_std().unwrap().as_secs_f64());
        app
    }

    /// A second herald on the same configuration and store, as a replica would be.
    pub async fn replica(&self) -> TestApp {
        let app = spawn_in(self._dir.clone()).await;
        let elapsed = self.clock_now() - start_time();
        app.advance(elapsed.to_std().unwrap().as_secs_f64());
        app
    }

    /// Now, on herald's clock.
    pub fn clock_now(&self) -> DateTime<Utc> {
        herald::clock::Clock::now(self.clock.as_ref())
    }

    /// The directory holding `herald.toml` and the store.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Attempt every delivery due now; returns how many were attempted.
    pub async fn deliver(&self) -> usize {
        self.app.worker.run_once().await.unwrap()
    }

    /// Attempt deliveries until none is due (one at a time per ordering key takes several
    /// rounds); returns how many were attempted.
    pub async fn deliver_all(&self) -> usize {
        let mut total = 0;
        loop {
            match self.deliver().await {
                0 => return total,
                n => total += n,
            }
        }
    }

    /// Every delivery in the outbox, newest first.
    pub async fn deliveries(&self) -> Vec<herald_store::model::Delivery> {
        self.store
            .list_deliveries(&herald_store::model::DeliveryQuery {
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap()
    }

    /// The one delivery in the outbox (fails the test if there are more or none).
    pub async fn only_delivery(&self) -> herald_store::model::Delivery {
        let mut all = self.deliveries().await;
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    pub fn advance(&self, seconds: f64) {
        self.clock
            .advance(std::time::Duration::from_secs_f64(seconds));
    }

    /// GET `path` of the admin API with the admin token, as JSON.
    pub async fn admin_get(&self, path: &str) -> serde_json::Value {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// POST a GitHub-style delivery signed with `secret`.
    pub async fn github(
        &self,
        event: &str,
        delivery: &str,
        body: &str,
        secret: &str,
    ) -> reqwest::Response {
        post_github(&self.http, &self.url(""), (event, delivery), body, secret).await
    }
}

/// POST a GitHub-style delivery of `(event, delivery id)` signed with `secret` to the
/// herald at `base` (`http://host:port`).
pub async fn post_github(
    http: &reqwest::Client,
    base: &str,
    (event, delivery): (&str, &str),
    body: &str,
    secret: &str,
) -> reqwest::Response {
    http.post(format!("{base}/hooks/github"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            github_signature(secret, body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An HTTP client for tests (installs the TLS provider reqwest needs first).
pub fn client() -> reqwest::Client {
    herald::tls::install_crypto_provider();
    reqwest::Client::new()
}

pub fn github_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    )
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// A scripted answer; once the script is used up the sink answers 200.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// How long the sink waits before answering (a slow or hanging destination).
    pub delay: std::time::Duration,
}

pub fn answer(status: u16) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: String::new(),
        delay: std::time::Duration::ZERO,
    }
}

#[derive(Clone, Default)]
pub struct Sink {
    pub received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    /// How long unscripted answers wait (a slow destination).
    delay: Arc<Mutex<std::time::Duration>>,
    pub url: String,
}

impl Sink {
    pub async fn start() -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Sink {
            url: format!("http://{}", listener.local_addr().unwrap()),
            ..Sink::default()
        };
        let router = axum::Router::new()
            .fallback(record)
            .with_state(sink.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        sink
    }

    /// Answer every unscripted request after `delay`.
    pub fn answer_after(&self, delay: std::time::Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().unwrap().extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

async fn record(
    State(sink): State<Sink>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    sink.received.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: std::time::Instant::now(),
    });
    let answer = sink
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| Answer {
            delay: *sink.delay.lock().unwrap(),
            ..answer(200)
        });
    tokio::time::sleep(answer.delay).await;
    let mut response = (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
    for (name, value) in answer.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// A GitHub source forwarding pull requests and pushes to `{SINK}/hook`, retrying 1s, 2s.
pub const GITHUB_TO_SINK: &str = r#"
[server]
admin_secret = "admin"

[secrets]
github = "It's a Secret to Everybody"
admin = "admin-token-for-tests"

[sources.github]
kind = "github"
secrets = ["github"]
max_body = "64 KiB"

[rules.forward]
sources = ["github"]
events = ["pull_request.*", "push"]
actions = ["sink"]

[actions.sink]
kind = "http"
url = "{SINK}/hook"
body = '{"type": {{ meta.type }}, "delivery": {{ meta.dedup_key }}, "payload": {{ event }}}'
retry = { schedule = ["1s", "2s"], jitter = 0 }

[storage]
path = "herald.db"
"#;

pub fn pull_request(number: u64) -> String {
    serde_json::json!({"action": "opened", "number": number, "pull_request": {"title": "Fix \"quotes\" & <tags>"}}).to_string()
}

/// herald serving as `herald serve` does (workers, real clock) on a configuration with
/// `{SINK}` set to `sink`; `stop` shuts it down and waits.
pub struct ServedApp {
    pub base: String,
    pub store: SharedStore,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl ServedApp {
    pub async fn start(config_text: &str, sink: &str) -> ServedApp {
        let dir = tempfile::tempdir().unwrap();
        let text = config_text.replace("{SINK}", sink);
        let loaded = config::from_text(
            &dir.path().join("herald.toml"),
            &text,
            Arc::new(|_| None),
            &herald::integrations::catalog(),
        )
        .unwrap();
        let store = herald::services::storage::open_migrated(&loaded.config.storage)
            .await
            .unwrap();
        let clock = Arc::new(herald::clock::SystemClock);
        let app = App::new(loaded.config, store.clone(), clock);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.serve(listener, shutdown.clone()));
        ServedApp {
            base,
            store,
            shutdown,
            server,
            _dir: dir,
        }
    }

    /// Shut down as on SIGTERM and wait until it has stopped.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.unwrap().unwrap();
    }
}
