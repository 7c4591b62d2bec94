//! The `herald` command line. One file per command; each calls the same services as the
//! admin API.

mod check;
mod deliveries;
mod events;
mod explain;
mod hooks;
mod init;
mod manual;
mod output;
mod poll;
mod prune;
mod replay;
mod send;
mod serve;
mod status;
mod test;
mod windows;

use crate::config::{self, Config, Needs};
use anyhow::Context;
use clap::{Parser, Subcommand};
use herald_store::SharedStore;
use output::say;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};

/// `herald --version`: the version, the commit and the build date (see `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("HERALD_COMMIT"),
    " ",
    env!("HERALD_BUILD_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version = VERSION,
    about = "Signed webhooks in; durable rules and retried actions out."
)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "HERALD_CONFIG",
        default_value = "herald.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive webhooks and deliver actions until stopped (Ctrl-C or SIGTERM).
    Serve(serve::Args),
    /// Validate the configuration; every problem is reported once, with its line and column.
    Check(check::Args),
    /// Create or upgrade the store's schema (serve also does this at start).
    Migrate,
    /// Feed a payload through the rules, as if a source had received it.
    Send(send::Args),
    /// The event log.
    #[command(subcommand)]
    Events(events::Command),
    /// The outbox: deliveries and their attempts.
    #[command(subcommand)]
    Deliveries(deliveries::Command),
    /// Why each rule did or did not match an event: source, type, filter, window.
    Explain(explain::Args),
    /// Re-queue deliveries, by id or by filter.
    Replay(replay::Args),
    /// Delete old records now, including dead letters (serve prunes on a schedule, without them).
    Prune(prune::Args),
    /// Write a ready-made, commented configuration for a common workflow (`--list` shows them).
    Init(init::Args),
    /// Health per destination, source and rule, and the monitors' open alerts.
    Status(status::Args),
    /// Send one real request through a rule's actions now, and show request, answer and verdict.
    Test(test::Args),
    /// Aggregation windows: list the open ones, or flush them now.
    #[command(subcommand)]
    Windows(windows::Command),
    /// Registered hooks: one URL and secret per repository under a registry source.
    #[command(subcommand)]
    Hooks(hooks::Command),
    /// Pull a poller source now (`--once`), or read a range of its items (`--since`).
    Poll(poll::Args),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell (e.g.
    /// `source <(herald completions bash)`).
    Completions(manual::CompletionsArgs),
    /// Print the manual page (roff: `herald man | man -l -`), a command's, or write them all.
    Man(manual::ManArgs),
}

pub async fn run(cli: Cli) -> ExitCode {
    let result = run_command(cli).await;
    close_stores().await;
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_command(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.config, args).await,
        Command::Check(args) => check::run(&cli.config, args).await,
        Command::Migrate => migrate(&cli.config).await,
        Command::Send(args) => send::run(&cli.config, args).await,
        Command::Events(command) => events::run(&cli.config, command).await,
        Command::Deliveries(command) => deliveries::run(&cli.config, command).await,
        Command::Explain(args) => explain::run(&cli.config, args).await,
        Command::Replay(args) => replay::run(&cli.config, args).await,
        Command::Prune(args) => prune::run(&cli.config, args).await,
        Command::Init(args) => init::run(args),
        Command::Status(args) => status::run(&cli.config, args).await,
        Command::Test(args) => test::run(&cli.config, args).await,
        Command::Windows(command) => windows::run(&cli.config, command).await,
        Command::Hooks(command) => hooks::run(&cli.config, command).await,
        Command::Poll(args) => poll::run(&cli.config, args).await,
        Command::Completions(args) => manual::completions(&args),
        Command::Man(args) => manual::man(&args),
    }
}

/// The stores the command opened, for `close_stores`.
static OPENED: Mutex<Vec<SharedStore>> = Mutex::new(Vec::new());

/// Close what the command opened once it is done. On SQLite, closing folds the log into
/// the database file: without it, every command would leave a -wal file behind.
async fn close_stores() {
    let opened = std::mem::take(&mut *OPENED.lock().unwrap_or_else(PoisonError::into_inner));
    for store in opened {
        store.close().await;
    }
}

/// Load the configuration, printing its problems (and warnings) to stderr. A command that
/// sends needs every secret (`Needs::Everything`); one that reads or writes the store
/// needs none (`Needs::Store`: a secret that cannot be read is absent, not an error).
fn load_config(path: &std::path::Path, needs: Needs) -> anyhow::Result<Config> {
    load(path, needs).map(|loaded| loaded.config)
}

/// `load_config`, with what a `Needs::Store` load went without.
fn load(path: &std::path::Path, needs: Needs) -> anyhow::Result<config::Loaded> {
    let catalog = crate::integrations::catalog();
    match config::load_needing(path, &catalog, needs) {
        Ok(loaded) => {
            if loaded.warnings.diagnostics.iter().any(|_| true) {
                eprint!(
                    "{}",
                    loaded.warnings.render(std::io::stderr().is_terminal())
                );
            }
            Ok(loaded)
        }
        Err(report) => {
            eprint!("{}", report.render(std::io::stderr().is_terminal()));
            let count = report.errors().count();
            // Were the secrets all that is wrong, say so: this command sends, others need not.
            if needs == Needs::Everything
                && let Ok(reading) = config::load_needing(path, &catalog, Needs::Store)
                && !reading.absent.is_empty()
            {
                anyhow::bail!(
                    "{} has {count} error(s): this command sends, and needs what it cannot read: {} (`events`, `deliveries`, `windows`, `status` and `replay` work without)",
                    path.display(),
                    reading.absent.describe()
                )
            }
            anyhow::bail!("{} has {count} error(s)", path.display())
        }
    }
}

/// Open and migrate the configured store; `run` closes it after the command.
async fn open_store(config: &Config) -> anyhow::Result<SharedStore> {
    let store = crate::services::storage::open_migrated(&config.storage)
        .await
        .with_context(|| {
            let mut message = format!("cannot open the store ({})", describe_storage(config));
            if let Some(why) = unwritable(config) {
                message.push_str(&format!(": the file cannot be written: {why}"));
            }
            message
        })?;
    OPENED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(store.clone());
    Ok(store)
}

/// Why the SQLite file cannot be written, when the file system says (a read-only mount,
/// no permission): SQLite's own error says only that it cannot open the file.
fn unwritable(config: &Config) -> Option<std::io::Error> {
    let config::StorageConfig::Sqlite { path, .. } = &config.storage else {
        return None;
    };
    if path.exists() {
        return std::fs::OpenOptions::new().append(true).open(path).err();
    }
    match std::fs::OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(path);
            None
        }
        Err(error) => Some(error),
    }
}

fn describe_storage(config: &Config) -> String {
    match &config.storage {
        config::StorageConfig::Sqlite { path, .. } => format!("SQLite at {}", path.display()),
        config::StorageConfig::Postgres { .. } => "PostgreSQL".to_string(),
    }
}

async fn migrate(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = load_config(path, Needs::Store)?;
    open_store(&config).await?;
    say!("schema is up to date ({})", describe_storage(&config));
    Ok(ExitCode::SUCCESS)
}
