//! `herald check`: validate a configuration file.

use super::output::say;
use crate::config;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
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
            Ok(ExitCode::SUCCESS)
        }
        Err(report) => {
            eprint!("{}", report.render(color));
            eprintln!("{}: {} error(s)", path.display(), report.errors().count());
            Ok(ExitCode::FAILURE)
        }
    }
}
