//! The real `herald serve` in a child process, with environment variables of the test's
//! choosing, its threads read from /proc, stopped with SIGTERM as a service manager does.

use crate::support::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped, so a failing test leaves no server behind.
pub struct Serving {
    child: Child,
    address: String,
}

/// Start `herald serve` in `dir` (holding `herald.toml`) on a free port, with `env`; wait
/// until it listens.
pub fn serve(dir: &Path, env: &[(&str, &str)]) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "serve",
            "--config",
            "herald.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env("HERALD_LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("herald exited before listening")
            .unwrap();
        let log: Value = serde_json::from_str(&line).unwrap_or_default();
        if log["fields"]["message"] == "herald is listening" {
            break log["fields"]["address"].as_str().unwrap().to_string();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Serving { child, address }
}

impl Serving {
    /// POST a signed pull request; the status and the answer.
    pub async fn post_pull_request(&self, body: &str) -> (u16, Value) {
        let base = format!("http://{}", self.address);
        let response = post_github(
            &client(),
            &base,
            ("pull_request", "delivery-1"),
            body,
            GITHUB_SECRET,
        )
        .await;
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// The names of the process's threads (at most 15 characters each, as Linux keeps
    /// them).
    pub fn threads(&self) -> Vec<String> {
        let tasks = format!("/proc/{}/task", self.child.id());
        std::fs::read_dir(tasks)
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_string())
            .collect()
    }

    /// SIGTERM; its exit status once it has stopped.
    pub fn terminate(mut self) -> ExitStatus {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(signalled.success(), "kill -TERM failed");
        self.child.wait().unwrap()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM, waited for on a blocking thread: the test's own servers (a fake collector)
/// go on answering meanwhile.
pub async fn stop(herald: Serving) -> ExitStatus {
    tokio::task::spawn_blocking(move || herald.terminate())
        .await
        .unwrap()
}

/// Wait (10 s at most) until `done`, as a separate process gets there.
pub async fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
