//! `herald completions SHELL` and `herald man`: shell completions and manual pages, made
//! from the same clap definitions as the commands themselves.

use super::Cli;
use super::output::{self, say};
use anyhow::{Context, bail};
use clap::CommandFactory;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// A command's own page, e.g. `events list` (herald-events-list(1)).
    #[arg(value_name = "COMMAND")]
    command: Vec<String>,
    /// Write every page (herald.1, herald-serve.1, …) into this directory instead.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "herald", &mut script);
    output::raw(&script)?;
    Ok(ExitCode::SUCCESS)
}

pub fn man(args: &ManArgs) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command().disable_help_subcommand(true);
    // Names each subcommand's page (herald-events-list).
    command.build();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let written = write_pages(&command, dir)?;
        say!("wrote {written} manual pages to {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    for name in &args.command {
        let Some(sub) = command.find_subcommand(name).cloned() else {
            bail!("no command `{name}` (try `herald help`)");
        };
        command = sub;
    }
    let mut page = Vec::new();
    page_of(command).render(&mut page)?;
    output::raw(&page)?;
    Ok(ExitCode::SUCCESS)
}

fn page_of(command: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(command)
        .date(env!("HERALD_BUILD_DATE"))
        .source(format!("herald {}", super::VERSION))
        .manual("herald manual")
}

/// `command`'s page and its subcommands', as files in `dir`; how many.
fn write_pages(command: &clap::Command, dir: &std::path::Path) -> anyhow::Result<usize> {
    let mut written = 0;
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        written += write_pages(sub, dir)?;
    }
    page_of(command.clone())
        .generate_to(dir)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    Ok(written + 1)
}
