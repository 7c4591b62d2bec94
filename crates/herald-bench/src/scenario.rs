//! The herald configurations under test, and reading herald's own counters from `/metrics`.

use crate::payload::SECRET;
use std::path::{Path, PathBuf};

/// (b) Durable ingest: every push matches one rule with a `log` action, so each delivery
/// also goes through the outbox. Storage is the default: SQLite, `synchronous = full`.
pub fn ingest_config() -> String {
    bench_config("log", LOG_ACTION)
}

/// (b) on PostgreSQL: the same, its store the database at `url`.
pub fn ingest_config_on_postgres(url: &str) -> anyhow::Result<String> {
    // A URL leaves few characters unescaped; these two would end or escape the TOML string.
    anyhow::ensure!(
        !url.contains(['"', '\\']),
        "the PostgreSQL URL may not hold a quote or a backslash"
    );
    let storage = format!("[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\n");
    Ok(bench_config_stored("log", "", LOG_ACTION, &storage))
}

const LOG_ACTION: &str = r#"
[actions.log]
kind = "log"
"#;

/// What `--breakdown` takes away from the durable ingest run, to show what its cost is made
/// of: the disk (the store on a memory-backed file system, so `fsync` and the writes never
/// reach a device), the delivery (the rule matches no push, so each event is stored alone
/// and the outbox has nothing to do), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Without {
    Disk,
    Delivery,
    DiskAndDelivery,
}

impl Without {
    pub const ALL: [Without; 3] = [Without::Disk, Without::Delivery, Without::DiskAndDelivery];

    pub fn name(self) -> &'static str {
        match self {
            Without::Disk => "herald without the disk (store on /dev/shm)",
            Without::Delivery => "herald without deliveries (no rule matches)",
            Without::DiskAndDelivery => "herald without the disk or deliveries",
        }
    }

    fn keeps_disk(self) -> bool {
        self == Without::Delivery
    }

    fn keeps_delivery(self) -> bool {
        self == Without::Disk
    }

    /// The ingest configuration with this taken away, its SQLite store in `dir`: a
    /// directory on /dev/shm unless the disk is kept.
    pub fn config(self, dir: &Path) -> String {
        // JSON's string escapes are a subset of TOML's basic string's.
        let path = serde_json::Value::from(dir.join("herald.db").to_string_lossy());
        let storage = format!("[storage]\npath = {path}\n");
        // A push still passes verification, parsing and the rules; only no rule takes it.
        let events = if self.keeps_delivery() {
            "push"
        } else {
            "release"
        };
        bench_config_for(events, "log", "", LOG_ACTION, &storage)
    }

    /// Where its store goes: on /dev/shm, unless the disk is kept.
    pub fn store_dir(self) -> anyhow::Result<tempfile::TempDir> {
        if self.keeps_disk() {
            return Ok(tempfile::tempdir()?);
        }
        tempfile::tempdir_in(MEMORY_FS).map_err(|error| {
            anyhow::anyhow!(
                "--breakdown keeps a store on {MEMORY_FS}, which this machine refuses: {error}"
            )
        })
    }
}

/// A memory-backed file system on Linux.
const MEMORY_FS: &str = "/dev/shm";

/// (c) End to end: every push is forwarded to the sink with its send time.
pub fn e2e_config(sink_url: &str) -> String {
    bench_config(
        "sink",
        &format!(
            r#"
[actions.sink]
kind = "http"
url = "{sink_url}/e2e"
body = '{{"sent": {{{{ event.sent_ns }}}}}}'

[delivery]
poll_interval = "1s"
"#
        ),
    )
}

/// Pace: every push is forwarded whole (about 5 KB) to a sink that answers at once, so
/// only herald limits how fast the outbox goes. `concurrency` sets `[delivery]
/// concurrency` (herald's default when `None`).
pub fn pace_config(sink_url: &str, concurrency: Option<usize>) -> String {
    let concurrency = concurrency.map_or(String::new(), |n| format!("concurrency = {n}"));
    bench_config(
        "sink",
        &format!(
            r#"
[actions.sink]
kind = "http"
url = "{sink_url}"
body = '{{{{ event }}}}'

[delivery]
{concurrency}
"#
        ),
    )
}

/// Pace into SQL: every push becomes one row of `applied` in an SQLite file next to the
/// store, through a `sql` action, whose deliveries run one at a time in the events' order
/// (how the workos-sync preset keeps its tables).
pub fn pace_sql_config(concurrency: Option<usize>) -> String {
    let concurrency = concurrency.map_or(String::new(), |n| format!("concurrency = {n}"));
    bench_config_with_secrets(
        "sink",
        "target = \"sqlite://target.db\"",
        &format!(
            r#"
[actions.sink]
kind = "sql"
database = "target"
schema = "CREATE TABLE IF NOT EXISTS applied (id text PRIMARY KEY, sha text NOT NULL)"
statements = [{{ sql = "INSERT INTO applied (id, sha) VALUES ($1, $2)", params = ["{{{{ meta.dedup_key }}}}", "{{{{ event.after }}}}"] }}]

[delivery]
{concurrency}
"#
        ),
    )
}

/// The benchmark's GitHub source and its one rule, every push to `action`, with the
/// action's sections (`rest`) and the SQLite store next to the file.
fn bench_config(action: &str, rest: &str) -> String {
    bench_config_with_secrets(action, "", rest)
}

/// As `bench_config`, with more `[secrets]` lines (`secrets`) for the action.
fn bench_config_with_secrets(action: &str, secrets: &str, rest: &str) -> String {
    bench_config_stored(action, secrets, rest, SQLITE_STORAGE)
}

/// The store of every configuration but one: SQLite, next to the file.
const SQLITE_STORAGE: &str = "[storage]\npath = \"herald.db\"\n";

/// As `bench_config_with_secrets`, with `storage` as the `[storage]` section.
fn bench_config_stored(action: &str, secrets: &str, rest: &str, storage: &str) -> String {
    bench_config_for("push", action, secrets, rest, storage)
}

/// As `bench_config_stored`, the rule taking the GitHub events `events` (a TOML string).
fn bench_config_for(
    events: &str,
    action: &str,
    secrets: &str,
    rest: &str,
    storage: &str,
) -> String {
    format!(
        r#"
[server]
shutdown_grace = "1s"

[secrets]
github = "{SECRET}"
{secrets}

[sources.github]
kind = "github"
secrets = ["github"]

[rules.bench]
sources = ["github"]
events = ["{events}"]
actions = ["{action}"]
{rest}
{storage}"#
    )
}

/// Write `text` as `herald.toml` in `dir`; the store lands next to it.
pub fn write_config(dir: &Path, text: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("herald.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// herald's counters, read from its Prometheus endpoint.
#[derive(Debug, Default, Clone, Copy)]
pub struct HeraldCounters {
    pub events_stored: f64,
    pub deliveries_succeeded: f64,
    pub queue_pending: f64,
}

pub async fn scrape(base_url: &str) -> anyhow::Result<HeraldCounters> {
    let text = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .get(format!("{base_url}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let sum = |name: &str, label: &str| -> f64 {
        text.lines()
            .filter(|line| line.starts_with(name) && line.contains(label))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .fold(0.0, |total, value| total + value)
    };
    Ok(HeraldCounters {
        events_stored: sum("herald_events_total{", "outcome=\"stored\""),
        deliveries_succeeded: sum("herald_deliveries_total{", "outcome=\"success\""),
        queue_pending: sum("herald_queue_pending ", ""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--postgres`'s configuration stores in the database named, and refuses a URL that
    /// would break out of its TOML string.
    #[test]
    fn the_postgres_configuration_names_its_database() {
        let dir = tempfile::tempdir().unwrap();
        let url = "postgres://u@127.0.0.1:5432/fresh?sslmode=disable";
        let path = write_config(dir.path(), &ingest_config_on_postgres(url).unwrap()).unwrap();
        let loaded = herald::config::load(&path, &herald::integrations::catalog()).unwrap();
        match &loaded.config.storage {
            herald::config::StorageConfig::Postgres { url: stored, .. } => {
                assert_eq!(stored.expose(), url)
            }
            other => panic!("stored on {other:?}"),
        }
        assert!(ingest_config_on_postgres("postgres://u@h/db?application_name=a\\b").is_err());
        assert!(ingest_config_on_postgres("postgres://u@h/db?application_name=\"").is_err());
    }

    /// `--breakdown`'s configurations store where they are told, and only the one that
    /// keeps deliveries has a rule that takes the benchmark's pushes.
    #[test]
    fn each_breakdown_configuration_takes_its_part_away() {
        let dir = tempfile::tempdir().unwrap();
        for without in Without::ALL {
            let path = write_config(dir.path(), &without.config(dir.path())).unwrap();
            let loaded = herald::config::load(&path, &herald::integrations::catalog()).unwrap();
            match &loaded.config.storage {
                herald::config::StorageConfig::Sqlite { path, .. } => {
                    assert_eq!(path, &dir.path().join("herald.db"), "{without:?}")
                }
                other => panic!("{without:?} stored on {other:?}"),
            }
            let rule = &loaded.config.rules[0];
            let takes_pushes = rule.events.iter().any(|pattern| pattern.matches("push"));
            assert_eq!(takes_pushes, without == Without::Disk, "{without:?}");
            assert_eq!(rule.actions, ["log"], "{without:?}");
        }
    }

    /// Without the disk, the store goes on a memory-backed file system.
    #[test]
    fn without_the_disk_the_store_is_on_dev_shm() {
        if !Path::new(MEMORY_FS).is_dir() {
            eprintln!("SKIPPED: no {MEMORY_FS} on this machine");
            return;
        }
        let dir = Without::Disk.store_dir().unwrap();
        assert!(dir.path().starts_with(MEMORY_FS));
        let dir = Without::Delivery.store_dir().unwrap();
        assert!(!dir.path().starts_with(MEMORY_FS));
    }

    /// Each configuration the benchmark serves loads, with its one rule and action.
    #[test]
    fn every_configuration_loads() {
        let dir = tempfile::tempdir().unwrap();
        for (text, action) in [
            (ingest_config(), "log"),
            (
                ingest_config_on_postgres("postgres://u@127.0.0.1:5432/db").unwrap(),
                "log",
            ),
            (e2e_config("http://127.0.0.1:9"), "sink"),
            (pace_config("http://127.0.0.1:9/", None), "sink"),
            (pace_sql_config(None), "sink"),
        ] {
            let path = write_config(dir.path(), &text).unwrap();
            let loaded = herald::config::load(&path, &herald::integrations::catalog())
                .unwrap_or_else(|report| panic!("{report:?}\n{text}"));
            let config = &loaded.config;
            assert_eq!(config.rules.len(), 1, "{text}");
            assert!(config.actions.contains_key(action), "{text}");
        }
        let path = write_config(dir.path(), &pace_config("http://127.0.0.1:9/", Some(32))).unwrap();
        let loaded = herald::config::load(&path, &herald::integrations::catalog()).unwrap();
        assert_eq!(loaded.config.delivery.concurrency, 32);
        let sql = write_config(dir.path(), &pace_sql_config(None)).unwrap();
        let loaded = herald::config::load(&sql, &herald::integrations::catalog()).unwrap();
        assert_eq!(loaded.config.actions["sink"].action.kind(), "sql");
    }
}
