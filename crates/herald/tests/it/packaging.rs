//! What ships beside the binary agrees with it: the Dockerfile and the systemd unit run a
//! command line `herald` accepts, on the same paths; the licence file is the declared one;
//! the Grafana dashboard and docs/deploy.md name the metrics herald exports.

use clap::CommandFactory;
use herald::cli::Cli;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repository().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The arguments after `INSTRUCTION ` on the Dockerfile's line starting with it.
fn instruction<'a>(dockerfile: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name} ");
    let found = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix(&prefix));
    found.unwrap_or_else(|| panic!("no {name} in the Dockerfile"))
}

/// The `--config` that `herald` reads from `args` (the binary's name first), which must be
/// a valid `serve` command line.
fn serve_config(args: &[String]) -> PathBuf {
    let matches = Cli::command()
        .try_get_matches_from(args)
        .unwrap_or_else(|error| panic!("{args:?}: {error}"));
    let (command, serve) = matches.subcommand().expect("a command");
    assert_eq!(command, "serve", "{args:?}");
    serve.get_one::<PathBuf>("config").unwrap().clone()
}

/// `rust-version` of the workspace.
fn rust_version() -> String {
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    manifest["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_image_and_the_unit_run_herald_serve_on_the_same_paths() {
    let dockerfile = read("Dockerfile");
    let entrypoint: Vec<String> = serde_json::from_str(instruction(&dockerfile, "ENTRYPOINT"))
        .expect("ENTRYPOINT in JSON form");
    let cmd: Vec<String> =
        serde_json::from_str(instruction(&dockerfile, "CMD")).expect("CMD in JSON form");
    assert_eq!(entrypoint, ["herald"]);
    let image_args: Vec<String> = entrypoint.into_iter().chain(cmd.clone()).collect();
    let image_config = serve_config(&image_args);

    let unit = read("packaging/herald.service");
    let exec_start = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let unit_args: Vec<String> = exec_start.split_whitespace().map(String::from).collect();
    assert!(unit_args[0].ends_with("/herald"), "{exec_start}");
    let unit_config = serve_config(&unit_args);
    assert_eq!(image_config, unit_config);
    assert_eq!(unit_config, Path::new("/etc/herald/herald.toml"));
    // `herald serve --help` names the same flags.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in cmd
        .iter()
        .map(String::as_str)
        .chain(exec_start.split_whitespace())
    {
        if flag.starts_with("--") {
            assert!(
                help.contains(flag),
                "{flag} is not in `herald serve --help`"
            );
        }
    }

    // The image listens where it says, on the port it exposes.
    let listen = cmd
        .iter()
        .position(|arg| arg == "--listen")
        .expect("--listen");
    let port = cmd[listen + 1].rsplit(':').next().unwrap();
    assert_eq!(instruction(&dockerfile, "EXPOSE"), port);
    // One state directory: the image's volume, the unit's StateDirectory, the docs' path.
    assert_eq!(instruction(&dockerfile, "VOLUME"), "/var/lib/herald");
    assert!(unit.lines().any(|line| line == "StateDirectory=herald"));
    assert!(unit.lines().any(|line| line == "Restart=on-failure"));
    let deploy = read("docs/deploy.md");
    assert!(deploy.contains(r#"path = "/var/lib/herald/herald.db""#));
    // Built with the declared minimum Rust, as in CI: from Cargo.lock, the binary alone.
    let builder = instruction(&dockerfile, "FROM");
    let version = rust_version();
    assert!(
        builder.starts_with(&format!("rust:{version}-")),
        "{builder} is not Rust {version}"
    );
    assert!(dockerfile.contains("cargo build --release --locked -p herald"));
    let ignored = read(".dockerignore");
    for path in ["target/", ".git/"] {
        assert!(ignored.lines().any(|line| line == path), "{path}");
    }
}

#[test]
fn the_licence_file_is_the_declared_licence() {
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    let declared = manifest["workspace"]["package"]["license"]
        .as_str()
        .unwrap();
    assert_eq!(declared, "Apache-2.0");
    let licence = read("LICENSE");
    assert!(
        licence.contains("Apache License\n                           Version 2.0, January 2004")
    );
    assert!(licence.contains("END OF TERMS AND CONDITIONS"));
    let readme = read("README.md");
    assert!(readme.contains(&format!("Rust {} or later", rust_version())));
}

/// `herald_…` names in `text` (PromQL or Markdown).
fn metric_names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices("herald_") {
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        names.insert(name);
    }
    names
}

/// The exported metric a series name belongs to (a histogram's `_bucket`, `_sum`, `_count`).
fn family(series: &str) -> &str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = series.strip_suffix(suffix)
            && herald::telemetry::is_histogram(base)
        {
            return base;
        }
    }
    series
}

#[test]
fn the_dashboard_and_the_docs_name_the_exported_metrics() {
    let exported: BTreeSet<&str> = herald::telemetry::metric_names().collect();
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("docs/grafana-dashboard.json")).expect("valid JSON");
    let mut charted = BTreeSet::new();
    let panels = dashboard["panels"].as_array().unwrap();
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            for series in metric_names_in(expr) {
                let name = family(&series).to_string();
                assert!(exported.contains(name.as_str()), "{series} in {expr}");
                charted.insert(name);
            }
        }
    }
    for new in [
        "herald_build_info",
        "herald_queue_oldest_due_age_seconds",
        "herald_writer_batch_jobs",
        "herald_writer_commit_duration_seconds",
        "herald_windows_open",
        "herald_alerts_open",
        "herald_poller_lag_seconds",
    ] {
        assert!(charted.contains(new), "the dashboard has no panel on {new}");
    }
    let deploy = read("docs/deploy.md");
    let documented = metric_names_in(&deploy);
    for name in &exported {
        assert!(
            documented.contains(*name),
            "docs/deploy.md does not list {name}"
        );
    }
    for name in &documented {
        assert!(
            exported.contains(family(name)),
            "docs/deploy.md names {name}"
        );
    }
}
