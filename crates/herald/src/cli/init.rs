//! `herald init`: write a preset's commented configuration, then say what to do next (its
//! guide online among it); `--docs` prints the guide instead.

use super::output::say;
use crate::presets::{self, Preset};
use anyhow::{Context, anyhow, bail};
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The preset to write; without it, the presets are listed.
    #[arg(long, conflicts_with = "list")]
    preset: Option<String>,
    /// Where to write the configuration.
    #[arg(long, short, default_value = "herald.toml")]
    output: PathBuf,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    force: bool,
    /// List the presets, one line each.
    #[arg(long)]
    list: bool,
    /// Print the preset's guide (its docs/*.md, as built in) instead of writing anything.
    #[arg(long, requires = "preset", conflicts_with_all = ["force", "list"])]
    docs: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some(name) = args.preset.as_deref() else {
        print_list();
        return Ok(ExitCode::SUCCESS);
    };
    let preset = presets::find(name).ok_or_else(|| {
        anyhow!(
            "unknown preset `{name}` (known: {}); `herald init --list` describes them",
            presets::names().join(", ")
        )
    })?;
    if args.docs {
        say!("{}", preset.doc.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    write_new(&args.output, preset.text, args.force)?;
    print_next_steps(preset, &args.output);
    Ok(ExitCode::SUCCESS)
}

fn print_list() {
    let width = presets::names().iter().map(|n| n.len()).max().unwrap_or(0);
    say!("presets (herald init --preset NAME [--output FILE]; --docs prints its guide):");
    for preset in presets::PRESETS {
        say!("  {:width$}  {}", preset.name, preset.description);
    }
}

/// Write `text` to `path`. Without `force` the file must not exist: `create_new` checks and
/// creates in one step, so a file that appears meanwhile is not overwritten either.
fn write_new(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(path) {
        Err(error) if error.kind() == ErrorKind::AlreadyExists => bail!(
            "{} already exists; pass --force to overwrite it, or --output to write elsewhere",
            path.display()
        ),
        opened => opened.with_context(|| format!("cannot create {}", path.display()))?,
    };
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn print_next_steps(preset: &Preset, path: &Path) {
    let config = path.display();
    say!("wrote {config} (preset {})", preset.name);
    let mut steps = vec![format!(
        "read {config}: every setting is explained in its comments"
    )];
    steps.push(format!(
        "read the guide: {} (or herald init --preset {} --docs)",
        preset.doc_url(),
        preset.name
    ));
    let vars = presets::env_vars(preset.text);
    if !vars.is_empty() {
        let exports: Vec<String> = vars
            .iter()
            .map(|v| format!("\n       export {v}=..."))
            .collect();
        steps.push(format!(
            "set the environment variables it reads:{}",
            exports.concat()
        ));
    }
    steps.push(format!("herald check --config {config}"));
    steps.push(format!("herald serve --config {config}"));
    say!("\nnext:");
    for (n, step) in steps.iter().enumerate() {
        say!("  {}. {step}", n + 1);
    }
}
