//! The documentation's configurations load: every ```toml block of README.md,
//! docs/config.md, docs/pollers.md, docs/deploybot.md and docs/deploy.md, and every file in
//! examples/ and examples/presets/.

use std::path::{Path, PathBuf};
use std::sync::Arc;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Plausible values for every variable the examples use.
fn env() -> herald::kit::interpolate::EnvLookup {
    Arc::new(|name| {
        Some(match name {
            name if name.contains("BILLING") => {
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string()
            }
            "HERALD_SINK_URL" => "http://127.0.0.1:9000/".to_string(),
            // 32 bytes, as `openssl rand -hex 32` writes them.
            name if name.contains("HOOKS_KEY") => "ab".repeat(32),
            // A GitHub App's key, as the `.pem` GitHub downloads (a test-only key).
            name if name.contains("PRIVATE_KEY") => {
                include_str!("testdata/github-app/test-only-private-key.pem").to_string()
            }
            _ => format!("value-of-{name}"),
        })
    })
}

/// Load `text` as if it were a file in a directory with a `secrets/` folder.
fn load(name: &str, text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    for secret in ["sink-token", "slack-signing"] {
        std::fs::write(dir.path().join("secrets").join(secret), "from-a-file\n").unwrap();
    }
    herald::config::from_text(
        &dir.path().join(name),
        text,
        env(),
        &herald::integrations::catalog(),
    )
    .map(|_| ())
    .map_err(|report| report.short())
}

fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_documented_configuration_loads() {
    let mut checked = 0;
    for doc in [
        "README.md",
        "docs/config.md",
        "docs/pollers.md",
        "docs/deploybot.md",
        "docs/deploy.md",
    ] {
        let text = std::fs::read_to_string(repository().join(doc)).unwrap();
        for (n, block) in toml_blocks(&text).into_iter().enumerate() {
            load("herald.toml", &block)
                .unwrap_or_else(|errors| panic!("{doc} block {}:\n{errors}\n{block}", n + 1));
            checked += 1;
        }
    }
    assert!(checked >= 5, "found only {checked} toml blocks");
}

#[test]
fn every_example_loads() {
    let mut checked = 0;
    // The presets `herald init` writes are examples too.
    let folders = ["examples", "examples/presets"];
    let entries = folders
        .iter()
        .flat_map(|folder| std::fs::read_dir(repository().join(folder)).unwrap());
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            load(path.file_name().unwrap().to_str().unwrap(), &text)
                .unwrap_or_else(|errors| panic!("{}:\n{errors}", path.display()));
            checked += 1;
        }
    }
    assert!(checked >= 3);
}

fn reference() -> String {
    std::fs::read_to_string(repository().join("examples/reference.toml")).unwrap()
}

#[test]
fn the_reference_shows_every_section_kind_and_key() {
    let catalog = herald::integrations::catalog();
    let missing = herald::config::reference::missing(&reference(), &catalog);
    assert!(
        missing.is_empty(),
        "examples/reference.toml is missing:\n{}",
        missing.join("\n")
    );
}

#[test]
fn removing_a_key_from_the_reference_fails_the_check() {
    let catalog = herald::integrations::catalog();
    let text = reference();
    for (line, key) in [
        ("max_replies = ", "`max_replies`"),
        ("project_slug = ", "`project_slug`"),
        ("quiet = ", "`window.quiet`"),
        ("workflow = ", "`circleci.workflow`"),
    ] {
        let without: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with(line))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(without, text, "the reference shows {line}");
        let missing = herald::config::reference::missing(&without, &catalog);
        assert!(
            missing.iter().any(|m| m.contains(key)),
            "{key}: {missing:?}"
        );
    }
}
