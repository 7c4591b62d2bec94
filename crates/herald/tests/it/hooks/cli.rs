//! `herald hooks`: the same, from the command line, against a running herald's store.

use super::*;
use crate::cli::{herald, stdout};
use crate::support::*;
use serde_json::Value;

fn secret_in(output: &str) -> String {
    output
        .split_whitespace()
        .find(|word| is_secret(word))
        .unwrap_or_else(|| panic!("no secret in {output}"))
        .to_string()
}

#[tokio::test]
async fn the_cli_registers_lists_rotates_imports_and_deletes() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let dir = app.dir();
    let run = |args: &[&str]| herald(dir, args);

    let output = run(&["hooks", "register", "--source", "repos", "--repo", REPO]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let secret = secret_in(&text);
    assert!(text.contains("/hooks/repos/webhook-test-repo"), "{text}");
    assert!(text.contains("server.public_url"), "{text}");
    assert!(text.contains("cannot be shown again"), "{text}");
    // The running herald sees it at once.
    assert_eq!(
        release_to(&app, "webhook-test-repo", "c-1", &secret).await,
        202
    );

    let again = run(&["hooks", "register", "--source", "repos", "--repo", REPO]);
    assert!(!again.status.success());
    let error = String::from_utf8_lossy(&again.stderr);
    assert!(error.contains("already registered"), "{error}");
    let bad = run(&["hooks", "register", "--source", "repos", "--repo", "nope"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`repo`"));

    let json = run(&[
        "hooks", "register", "--source", "repos", "--repo", "acme/api", "--id", "api", "--json",
    ]);
    let created: Value = serde_json::from_slice(&json.stdout).unwrap();
    let api_secret = created["secret"].as_str().unwrap().to_string();
    assert!(is_secret(&api_secret));

    let list = stdout(&run(&["hooks", "list"]));
    assert!(
        list.contains("webhook-test-repo") && list.contains("acme/api"),
        "{list}"
    );
    let list_json = stdout(&run(&["hooks", "list", "--source", "repos", "--json"]));
    let show = stdout(&run(&["hooks", "show", "repos", "webhook-test-repo"]));
    assert!(show.contains(REPO), "{show}");
    let show_json = stdout(&run(&["hooks", "show", "repos", "api", "--json"]));
    for output in [&list, &list_json, &show, &show_json] {
        assert!(
            !output.contains(&secret) && !output.contains(&api_secret),
            "{output}"
        );
        assert!(!output.contains("\"secret\""), "{output}");
    }

    let rotated = stdout(&run(&[
        "hooks",
        "rotate",
        "repos",
        "webhook-test-repo",
        "--grace",
        "1h",
    ]));
    let new = secret_in(&rotated);
    assert_ne!(new, secret);
    assert!(rotated.contains("still accepted until"), "{rotated}");
    assert_eq!(
        release_to(&app, "webhook-test-repo", "c-2", &new).await,
        202
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "c-3", &secret).await,
        202
    );

    // Import from an environment variable, and from standard input.
    let imported = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "hooks",
            "import",
            "--source",
            "repos",
            "--repo",
            "acme/web",
            "--secret-env",
            "WEB_SECRET",
        ])
        .env("HERALD_CONFIG", dir.join("herald.toml"))
        .env("WEB_SECRET", "from-the-environment")
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    assert!(stdout(&imported).contains("Imported hook `web`"));
    assert!(!stdout(&imported).contains("from-the-environment"));
    assert_eq!(
        release_to(&app, "web", "c-4", "from-the-environment").await,
        202
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "hooks",
            "import",
            "--source",
            "repos",
            "--repo",
            "acme/web",
            "--secret-stdin",
        ])
        .env("HERALD_CONFIG", dir.join("herald.toml"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin\n")
        .unwrap();
    let replaced = child.wait_with_output().unwrap();
    assert!(stdout(&replaced).contains("Replaced the secret of hook `web`"));
    assert_eq!(release_to(&app, "web", "c-5", "from-stdin").await, 202);
    let none = run(&["hooks", "import", "--source", "repos", "--repo", "acme/web"]);
    assert!(!none.status.success());

    let deleted = run(&["hooks", "delete", "repos", "web"]);
    assert!(deleted.status.success());
    assert_eq!(release_to(&app, "web", "c-6", "from-stdin").await, 404);
    assert!(!run(&["hooks", "delete", "repos", "web"]).status.success());
    assert!(!run(&["hooks", "show", "repos", "web"]).status.success());
}
