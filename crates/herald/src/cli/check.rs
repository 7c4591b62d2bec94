//! `herald check`: validate a configuration file; with `--online`, also ask each
//! destination whether herald's credential for it works.

use super::output::say;
use crate::action::CredentialStatus;
use crate::config::{self, Config};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also ask each destination whether its credential works (Slack's auth.test, GitHub's
    /// rate_limit, Jira's myself, CircleCI's me), sending nothing that shows.
    #[arg(long)]
    online: bool,
}

pub async fn run(path: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let color = std::io::stderr().is_terminal();
    match config::load(path, &crate::integrations::catalog()) {
        Ok(loaded) => {
            eprint!("{}", loaded.warnings.render(color));
            let config = loaded.config;
            say!(
                "{}: ok ({} sources, {} rules, {} actions{})",
                path.display(),
                config.sources.len(),
                config.rules.len(),
                config.actions.len(),
                match loaded.warnings.warnings().count() {
                    0 => String::new(),
                    n => format!(", {n} warning(s)"),
                }
            );
            if args.online {
                return Ok(online(&config).await);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(report) => {
            eprint!("{}", report.render(color));
            eprintln!("{}: {} error(s)", path.display(), report.errors().count());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// One line per action and credential: ok, refused (in the provider's words) or
/// unreachable. A credential several actions share is asked about once. Fails when a
/// destination refused one.
async fn online(config: &Config) -> ExitCode {
    let http = crate::transport::client();
    let mut asked: HashMap<(String, String), CredentialStatus> = HashMap::new();
    let mut refused = 0;
    let mut checked = 0;
    for (name, action) in &config.actions {
        for check in action.action.credential_checks() {
            checked += 1;
            let key = (check.credential.clone(), check.request.url.to_string());
            let status = match asked.get(&key) {
                Some(status) => status.clone(),
                None => {
                    let status = check.run(&http, chrono::Utc::now()).await;
                    asked.insert(key, status.clone());
                    status
                }
            };
            let verdict = match &status {
                CredentialStatus::Ok => "ok".to_string(),
                CredentialStatus::Refused(why) => {
                    refused += 1;
                    format!("refused: {why}")
                }
                CredentialStatus::Unreachable(why) => format!("unreachable: {why}"),
            };
            say!("action `{name}`: {}: {verdict}", check.credential);
        }
    }
    if checked == 0 {
        say!("no action has a credential herald can check");
    }
    if refused > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
