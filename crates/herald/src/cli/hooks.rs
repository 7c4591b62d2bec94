//! `herald hooks register|list|show|rotate|import|delete`: registered hooks, on the store
//! directly (a running herald sees a change at once). A secret is printed only by the
//! command that makes it, once.

use super::output::{self, say};
use super::{load_config, open_store};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Needs;
use crate::secret::Secret;
use crate::services::Hooks;
use crate::services::hooks::{HookView, ImportRequest, RegisterRequest, WithSecret, parse_grace};
use anyhow::Context;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Register a repository's hook under a registry source; prints its URL and a new
    /// secret, once.
    Register {
        /// The registry source (`registry = true`).
        #[arg(long)]
        source: String,
        /// The repository, as owner/name.
        #[arg(long)]
        repo: String,
        /// The hook's id, the last segment of its URL; default the repository's name.
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Registered hooks (never their secrets), by source then id.
    List {
        /// Only this registry's hooks.
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One hook (never its secret).
    Show {
        source: String,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Give a hook a new secret, printed once; the old one is still accepted for --grace.
    Rotate {
        source: String,
        id: String,
        /// How long the old secret stays valid, so the sender can be updated meanwhile.
        #[arg(long, default_value = "24h")]
        grace: String,
        #[arg(long)]
        json: bool,
    },
    /// Register a hook with the secret its sender already uses (from unotify, or a webhook
    /// set up by hand); replaces the secret of a hook registered under that id.
    #[command(group(clap::ArgGroup::new("given").required(true)))]
    Import {
        #[arg(long)]
        source: String,
        #[arg(long)]
        repo: String,
        #[arg(long)]
        id: Option<String>,
        /// The secret itself (it then shows in shell history; prefer the two below).
        #[arg(long, group = "given")]
        secret: Option<String>,
        /// Read the secret from this environment variable.
        #[arg(long, group = "given", value_name = "VAR")]
        secret_env: Option<String>,
        /// Read the secret from standard input (a trailing newline is dropped).
        #[arg(long, group = "given")]
        secret_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove a hook: its URL answers 404 from then on.
    Delete { source: String, id: String },
}

pub async fn run(path: &Path, command: Command) -> anyhow::Result<ExitCode> {
    let config = Arc::new(load_config(path, Needs::Everything)?);
    let store = open_store(&config).await?;
    let clock: SharedClock = Arc::new(SystemClock);
    let hooks = Hooks::new(config, store, clock);
    match command {
        Command::Register {
            source,
            repo,
            id,
            json,
        } => {
            let request = RegisterRequest { source, repo, id };
            let created = hooks.register(&request).await?;
            if json {
                return print_json(&created.to_json());
            }
            say!(
                "Registered hook `{}` of source `{}` for {}.",
                created.hook.id,
                created.hook.source,
                created.hook.repository
            );
            print_secret(&created);
        }
        Command::List { source, json } => {
            let found = hooks.list(source.as_deref()).await?;
            if json {
                return print_json(&found);
            }
            let rows = found
                .iter()
                .map(|hook| {
                    vec![
                        hook.source.clone(),
                        hook.id.clone(),
                        hook.repository.clone(),
                        hook.url.clone(),
                        output::time(&hook.created_at),
                        output::optional(
                            &hook.previous_secret_valid_until.map(|t| output::time(&t)),
                        ),
                    ]
                })
                .collect();
            output::table(
                &[
                    "SOURCE",
                    "ID",
                    "REPOSITORY",
                    "URL",
                    "CREATED",
                    "OLD SECRET UNTIL",
                ],
                rows,
            );
        }
        Command::Show { source, id, json } => {
            let hook = hooks.show(&source, &id).await?;
            if json {
                return print_json(&hook);
            }
            print_fields(&hook);
        }
        Command::Rotate {
            source,
            id,
            grace,
            json,
        } => {
            let grace = parse_grace(Some(&grace))?;
            let rotated = hooks.rotate(&source, &id, grace).await?;
            if json {
                return print_json(&rotated.to_json());
            }
            say!("New secret for hook `{id}` of source `{source}`.");
            print_secret(&rotated);
            if let Some(until) = rotated.hook.previous_secret_valid_until {
                say!(
                    "The old secret is still accepted until {}: update the sender before then.",
                    output::time(&until)
                );
            } else {
                say!("The old secret is no longer accepted.");
            }
        }
        Command::Import {
            source,
            repo,
            id,
            secret,
            secret_env,
            secret_stdin,
            json,
        } => {
            let secret = given_secret(secret, secret_env, secret_stdin)?;
            let request = ImportRequest {
                source,
                repo,
                id,
                secret,
            };
            let (hook, created) = hooks.import(&request).await?;
            if json {
                return print_json(&hook);
            }
            let what = if created {
                "Imported"
            } else {
                "Replaced the secret of"
            };
            say!(
                "{what} hook `{}` of source `{}` for {}.",
                hook.id,
                hook.source,
                hook.repository
            );
            say!();
            say!("  Payload URL  {}", hook.url);
            if hook.url.starts_with('/') {
                say!("{}", PATH_ONLY);
            }
        }
        Command::Delete { source, id } => {
            hooks.delete(&source, &id).await?;
            say!("Deleted hook `{id}` of source `{source}`: /hooks/{source}/{id} now answers 404.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

const PATH_ONLY: &str =
    "  (a path: prefix it with the address senders reach herald at, or set `server.public_url`)";

fn print_secret(created: &WithSecret) {
    say!();
    say!("  Payload URL  {}", created.hook.url);
    if created.hook.url.starts_with('/') {
        say!("{PATH_ONLY}");
    }
    say!("  Secret       {}", created.secret.expose());
    say!();
    say!(
        "This secret is shown once and cannot be shown again: paste it into the repository's \
         webhook settings now (Content type: application/json)."
    );
}

fn print_fields(hook: &HookView) {
    output::fields(&[
        ("source", hook.source.clone()),
        ("id", hook.id.clone()),
        ("repository", hook.repository.clone()),
        ("url", hook.url.clone()),
        ("created", output::time(&hook.created_at)),
        ("updated", output::time(&hook.updated_at)),
        (
            "old secret until",
            output::optional(&hook.previous_secret_valid_until.map(|t| output::time(&t))),
        ),
    ]);
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<ExitCode> {
    output::json(value).map(|()| ExitCode::SUCCESS)
}

/// The secret to import, from the one place given.
fn given_secret(
    secret: Option<String>,
    env: Option<String>,
    stdin: bool,
) -> anyhow::Result<Secret> {
    let text = if let Some(secret) = secret {
        secret
    } else if let Some(var) = env {
        std::env::var(&var).with_context(|| format!("environment variable {var} is not set"))?
    } else if stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the secret from standard input")?;
        text.trim_end_matches(['\n', '\r']).to_string()
    } else {
        anyhow::bail!("give the secret with --secret, --secret-env or --secret-stdin");
    };
    Ok(Secret::new("imported hook secret", text))
}
