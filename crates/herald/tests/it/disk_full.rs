//! A full disk: ingest answers 503 with `Retry-After` (the sender retries; nothing
//! acknowledged is lost) and `/readyz` says writes fail; once space is freed, events are
//! accepted again without a restart. The store lives on a small tmpfs; where the machine
//! does not allow mounting one, the test says loudly that it was skipped.

use crate::crash;
use crate::support::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[secrets]
github = "It's a Secret to Everybody"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.keep]
sources = ["github"]
actions = ["log"]

[actions.log]
kind = "log"
message = "got {{ meta.dedup_key }}"
"#;

/// A tmpfs of `size`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|error| error.to_string())?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Write zeros into `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    // The last partial chunk: fill to the last byte.
    while file.write_all(&[0]).is_ok() {}
    let _ = file.sync_all();
}

async fn push(base: &str, delivery: &str) -> reqwest::Response {
    let body = serde_json::json!({"ref": "refs/heads/main", "pad": "x".repeat(2000)}).to_string();
    post_github(&client(), base, ("push", delivery), &body, GITHUB_SECRET).await
}

async fn ready_status(base: &str) -> u16 {
    client()
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let _tmpfs = match Tmpfs::mount(dir.path(), "8m") {
        Ok(tmpfs) => tmpfs,
        Err(error) => {
            eprintln!(
                "SKIPPED (cannot mount a tmpfs here: {error}): a_full_disk_answers_503_and_recovers_when_space_returns"
            );
            return;
        }
    };
    std::fs::write(dir.path().join("herald.toml"), CONFIG).unwrap();
    let (mut herald, address) = crash::start(dir.path());
    let base = format!("http://{address}");
    assert_eq!(push(&base, "before").await.status(), 202);
    assert_eq!(ready_status(&base).await, 200);

    let filler = dir.path().join("filler");
    fill(&filler);
    // Writes fail now, whatever the WAL still had room for: ingest until they do.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    let refused = loop {
        n += 1;
        let response = push(&base, &format!("full-{n}")).await;
        if response.status() != 202 {
            break response;
        }
        assert!(
            Instant::now() < deadline,
            "ingest kept answering 202 on a full disk"
        );
    };
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("storage"),
        "{body}"
    );
    assert_eq!(ready_status(&base).await, 503);

    std::fs::remove_file(&filler).unwrap();
    // The next write succeeds: an event, and within a heartbeat the readiness.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = push(&base, "after").await;
        if response.status() == 202 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ingest did not recover: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while ready_status(&base).await != 200 {
        assert!(Instant::now() < deadline, "/readyz did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    herald.kill();
}
