//! A server child process: started by re-executing this binary with a hidden subcommand,
//! measured through /proc, and stopped by closing its stdin.

use anyhow::Context;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// How long a child may take to stop gracefully before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Kernel clock ticks per second in /proc/<pid>/stat and /proc/stat (USER_HZ, 100 on Linux).
pub const TICKS_PER_SECOND: f64 = 100.0;

pub struct ServerChild {
    child: Child,
    stdin: Option<ChildStdin>,
    pub pid: u32,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
}

impl ServerChild {
    /// Run `current_exe() <args>` and wait for the address it prints first.
    pub async fn start(args: &[&str]) -> anyhow::Result<ServerChild> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        ServerChild::start_exe(&exe, args).await
    }

    /// Run `exe <args>` (a herald-bench binary, perhaps of another build) and wait for the
    /// address it prints first.
    pub async fn start_exe(exe: &Path, args: &[&str]) -> anyhow::Result<ServerChild> {
        // Quiet by default: herald's log action writes an info line per event.
        let log = std::env::var("HERALD_BENCH_LOG").unwrap_or_else(|_| "warn".to_string());
        let mut child = Command::new(exe)
            .args(args)
            .env("RUST_LOG", log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the server child")?;
        let pid = child.id().context("the child exited at once")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let address = lines
            .next_line()
            .await?
            .with_context(|| format!("`{}` exited before listening", args.join(" ")))?;
        Ok(ServerChild {
            stdin: child.stdin.take(),
            child,
            pid,
            url: format!("http://{}", address.trim()),
        })
    }

    /// Peak resident set size (VmHWM) so far, in bytes.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        peak_rss(&self.pid.to_string())
    }

    /// Resident set size now (VmRSS), in bytes: what the server holds at rest.
    pub fn rss(&self) -> anyhow::Result<u64> {
        status_bytes(&self.pid.to_string(), "VmRSS:")
    }

    /// Close stdin (the child's signal to shut down) and wait; kill it if it lingers.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                eprintln!("server child {} did not stop; killing it", self.pid);
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// VmHWM of a process (`self` or a pid), in bytes.
pub fn peak_rss(pid: &str) -> anyhow::Result<u64> {
    status_bytes(pid, "VmHWM:")
}

/// A size field of /proc/<pid>/status (given in kB there), in bytes.
fn status_bytes(pid: &str, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .with_context(|| format!("no {field} in /proc status"))?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("empty {field}"))?
        .parse()?;
    Ok(kib * 1024)
}

/// utime + stime of a process (`self` or a pid), all threads, in seconds.
pub fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces; the fields after its closing parenthesis do not.
    let rest = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / TICKS_PER_SECOND)
}
