//! Values written into templates with `${env:…}` or `${file:…}` (a webhook URL's token, an
//! API key header) are sent, but shown nowhere: not in plans, dry runs or attempt logs, nor
//! in any answer of the API or output of the command line.

use crate::support::*;
use herald::action::{ActionInput, NoRefs};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HOOK_TOKEN: &str = "T0001/B0001/XXXXsecretXXXX";
const API_KEY: &str = "key-9f8e7d-abc";

const CONFIG: &str = r#"
[secrets]
github = "It's a Secret to Everybody"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.all]
sources = ["github"]
actions = ["hook"]

[actions.hook]
kind = "http"
url = "https://hooks.example.com/services/${env:HOOK_TOKEN}"
headers = { "X-Api-Key" = "${env:API_KEY}", "X-Port" = "${env:PORT}" }
body = '{"key": "${env:API_KEY}", "ref": {{ event.ref }}}'
"#;

#[tokio::test]
async fn interpolated_values_are_sent_but_never_shown() {
    let env: herald::kit::interpolate::EnvLookup = Arc::new(|name| match name {
        "HOOK_TOKEN" => Some(HOOK_TOKEN.into()),
        "API_KEY" => Some(API_KEY.into()),
        "PORT" => Some("443".into()),
        _ => None,
    });
    let loaded = herald::config::from_text(
        std::path::Path::new("herald.toml"),
        CONFIG,
        env,
        &herald::integrations::catalog(),
    )
    .unwrap_or_else(|report| panic!("{report}"));
    let config = loaded.config;
    let context = minijinja::Value::from(minijinja::value::Serde(serde_json::json!({
        "event": {"ref": "refs/heads/main"}
    })));
    let input = ActionInput {
        templates: &config.templates,
        context: &context,
        refs: &NoRefs,
        now: chrono::Utc::now(),
        done: 0,
        delivery: None,
    };
    let plan = config.actions["hook"].action.plan(&input).await.unwrap();
    let request = &plan.requests[0];
    assert!(request.url.as_str().ends_with(HOOK_TOKEN));
    let sent_body = std::str::from_utf8(request.body.as_ref().unwrap()).unwrap();
    assert!(sent_body.contains(API_KEY), "{sent_body}");
    assert!(request.headers.iter().any(|(_, v)| v == API_KEY));

    let shown = plan.describe().to_string();
    for value in [HOOK_TOKEN, "XXXXsecretXXXX", "9f8e7d"] {
        assert!(!shown.contains(value), "{value} shown in {shown}");
    }
    assert!(
        shown.contains("https://hooks.example.com/services/[redacted]"),
        "{shown}"
    );
    // Values too short to be credentials (a port) stay readable.
    assert!(shown.contains("443"), "{shown}");
}

/// What `CONFIG`'s action does, at a sink, on a real server whose admin API is on: the first
/// attempt times out (its error is kept too), the retry is answered.
const SERVED: &str = r#"
[server]
admin_secret = "admin"

[secrets]
github = "It's a Secret to Everybody"
admin = "admin-token-for-tests"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.all]
sources = ["github"]
actions = ["hook"]

[actions.hook]
kind = "http"
url = "{SINK}/services/${env:HOOK_TOKEN}"
headers = { "X-Api-Key" = "${env:API_KEY}" }
body = '{"key": "${env:API_KEY}", "ref": {{ event.ref }}}'
timeout = "2s"
retry = { schedule = ["100ms"], jitter = 0 }

[delivery]
poll_interval = "100ms"
"#;

/// The environment the interpolated values come from.
const ENV: &[(&str, &str)] = &[("HOOK_TOKEN", HOOK_TOKEN), ("API_KEY", API_KEY)];

/// `herald serve` with `ENV`, its log (JSON lines) kept; killed when dropped.
struct Serving {
    child: Child,
    address: String,
    log: Arc<Mutex<String>>,
}

impl Serving {
    fn start(dir: &Path) -> Serving {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .env("HERALD_CONFIG", dir.join("herald.toml"))
            .envs(ENV.iter().copied())
            .env("RUST_LOG", "debug")
            .env("HERALD_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("herald exited before listening")
                .unwrap();
            log.lock().unwrap().push_str(&line);
            let record: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if record["fields"]["message"] == "herald is listening" {
                break record["fields"]["address"].as_str().unwrap().to_string();
            }
        };
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push_str(&line);
            }
        });
        Serving {
            child,
            address,
            log,
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary in `dir` with `ENV` set.
fn herald(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .current_dir(dir)
        .env("HERALD_CONFIG", dir.join("herald.toml"))
        .envs(ENV.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Fails the test if `shown` holds an interpolated value, or part of one.
fn assert_hidden(what: &str, shown: &str) {
    for value in [HOOK_TOKEN, "XXXXsecretXXXX", API_KEY, "9f8e7d"] {
        assert!(!shown.contains(value), "{value} shown by {what}:\n{shown}");
    }
}

/// Each of `requests` shown in `shown` has its three values (the URL's token, the header
/// and the body's key) as `[redacted]`, and nothing else is.
fn assert_redacted(what: &str, shown: &str, requests: usize) {
    assert_eq!(
        shown.matches("/services/[redacted]").count(),
        requests,
        "{what}:\n{shown}"
    );
    assert_eq!(
        shown.matches("[redacted]").count(),
        3 * requests,
        "{what}:\n{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_of_the_api_and_no_output_of_the_cli_shows_an_interpolated_value() {
    let sink = Sink::start().await;
    sink.script([Answer {
        delay: Duration::from_secs(5),
        ..answer(200)
    }]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.toml"),
        SERVED.replace("{SINK}", &sink.url),
    )
    .unwrap();
    let herald_serve = Serving::start(dir.path());
    let base = format!("http://{}", herald_serve.address);
    let http = client();
    let push = r#"{"ref":"refs/heads/main"}"#;
    let response = post_github(&http, &base, ("push", "push-1"), push, GITHUB_SECRET).await;
    assert_eq!(response.status(), 202);
    let event_id = response.json::<serde_json::Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    let get = async |path: &str| {
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let deliveries = loop {
        let text = get("/api/deliveries").await;
        if text.contains("\"succeeded\"") {
            break text;
        }
        assert!(Instant::now() < deadline, "not delivered: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let listed: serde_json::Value = serde_json::from_str(&deliveries).unwrap();
    let delivery_id = listed[0]["id"].as_str().unwrap().to_string();

    // The sink got the real values, each time.
    let received = sink.received();
    assert_eq!(received.len(), 2, "{received:?}");
    for request in &received {
        assert_eq!(request.path, format!("/services/{HOOK_TOKEN}"));
        assert_eq!(request.headers["x-api-key"], API_KEY);
        assert_eq!(
            request.body,
            format!(r#"{{"key": "{API_KEY}", "ref": "refs/heads/main"}}"#)
        );
    }

    // The API: the values nowhere, `[redacted]` where the attempts' requests had them.
    let detail = get(&format!("/api/deliveries/{delivery_id}")).await;
    let tested = http
        .post(format!("{base}/api/rules/all/test"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"payload": {"ref": "refs/heads/main"}, "type": "push"}))
        .send()
        .await
        .unwrap();
    assert_eq!(tested.status(), 200);
    let tested = tested.text().await.unwrap();
    for (what, shown, requests) in [
        ("/api/deliveries", deliveries, 0),
        ("/api/deliveries/{id}", detail, 2),
        (
            "/api/events/{id}",
            get(&format!("/api/events/{event_id}")).await,
            0,
        ),
        (
            "/api/events/{id}/explain",
            get(&format!("/api/events/{event_id}/explain")).await,
            0,
        ),
        ("/api/status", get("/api/status").await, 0),
        ("/api/rules/{rule}/test", tested, 1),
    ] {
        assert_hidden(what, &shown);
        assert_redacted(what, &shown, requests);
    }

    // The command line, with the values in its environment.
    let dir = dir.path();
    std::fs::write(dir.join("push.json"), push).unwrap();
    let send = [
        "send",
        "--source",
        "github",
        "--file",
        "push.json",
        "-H",
        "X-GitHub-Event: push",
        "--dry-run",
    ];
    // Each command, and how many requests (each showing the three values) it prints.
    let commands: Vec<(Vec<&str>, usize)> = vec![
        (vec!["deliveries", "list"], 0),
        (vec!["deliveries", "list", "--json"], 0),
        (vec!["deliveries", "show", &delivery_id], 2),
        (vec!["deliveries", "show", &delivery_id, "--json"], 2),
        (vec!["events", "show", &event_id], 0),
        (vec!["events", "show", &event_id, "--json"], 0),
        (vec!["explain", &event_id], 0),
        (vec!["status"], 0),
        (vec!["status", "--json"], 0),
        (send.to_vec(), 1),
        ([&send[..], &["--json"]].concat(), 1),
        (vec!["test", "all"], 1),
        (vec!["test", "all", "--json"], 1),
    ];
    for (command, requests) in &commands {
        let output = herald(dir, command);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{command:?}: {stderr}");
        let what = format!("{command:?}");
        assert_hidden(&what, &format!("{stdout}{stderr}"));
        assert_redacted(&what, &stdout, *requests);
    }
    assert_hidden("herald serve's log", &herald_serve.log.lock().unwrap());
    // The API's test and `herald test` sent for real, three times.
    assert_eq!(sink.count(), 5);
    assert!(
        sink.received()
            .iter()
            .all(|r| r.headers["x-api-key"] == API_KEY)
    );
}
