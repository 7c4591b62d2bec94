//! A full disk: ingest answers 503 with `Retry-After` (the sender retries; nothing
//! acknowledged is lost) and `/readyz` says writes fail; once space is freed, events are
//! accepted again without a restart. A store on a read-only mount stops `serve` at start,
//! with the cause. The store lives on a small tmpfs; where the machine does not allow
//! mounting one, the tests say loudly that they were skipped.

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

/// `mount -o remount,<mode> dir`.
fn remount(dir: &Path, mode: &str) {
    let status = Command::new("mount")
        .args(["-o", &format!("remount,{mode}")])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "remount {mode} failed");
}

/// `herald serve` in `dir`, which must exit by itself within 10 s: its output.
fn serve_exit(dir: &Path) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "serve",
            "--config",
            "herald.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "serve kept running on a store it cannot write:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// A store on a read-only mount is refused at start, with the cause, whether a clean stop
/// left only the database file (SQLite cannot open it) or a crash left its log beside it
/// (it opens, and the first write fails): not discovered by the first sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_store_on_a_read_only_mount_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let _tmpfs = match Tmpfs::mount(dir.path(), "8m") {
        Ok(tmpfs) => tmpfs,
        Err(error) => {
            eprintln!(
                "SKIPPED (cannot mount a tmpfs here: {error}): serve_refuses_a_store_on_a_read_only_mount_and_says_why"
            );
            return;
        }
    };
    std::fs::write(dir.path().join("herald.toml"), CONFIG).unwrap();
    let migrated = crate::cli::herald(dir.path(), &["migrate"]);
    assert!(migrated.status.success(), "{migrated:?}");
    assert!(!dir.path().join("herald.db-wal").exists());

    remount(dir.path(), "ro");
    let refused = serve_exit(dir.path());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "error: cannot open the store (SQLite at ./herald.db): the file cannot be written: \
             Read-only file system"
        ),
        "{stderr}"
    );

    // A crash leaves the log and its index beside the file; SQLite opens them read-only.
    remount(dir.path(), "rw");
    let (mut herald, address) = crash::start(dir.path());
    assert_eq!(
        push(&format!("http://{address}"), "stored").await.status(),
        202
    );
    herald.kill();
    assert!(dir.path().join("herald.db-wal").exists());
    remount(dir.path(), "ro");
    let refused = serve_exit(dir.path());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("error: cannot write to the store: ")
            && stderr.contains("attempt to write a readonly database"),
        "{stderr}"
    );
    assert!(!stderr.contains("herald is listening"), "{stderr}");
}
