//! The dashboard's hooks page: every registered hook with its payload URL and rotation,
//! never a secret.

use super::*;
use crate::dashboard::{browser, page, page_text, sign_in_with};

#[tokio::test]
async fn the_hooks_page_lists_each_hook_and_no_secret() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let secret = registered(&app, REPO).await;
    let rotated = api(
        &app,
        Method::POST,
        "/api/hooks/repos/webhook-test-repo/rotate",
        None,
    )
    .await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    // As the page shows a time: `2026-12-06 10:00:00 UTC`.
    let old_valid_until = rotated["previous_secret_valid_until"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string();

    let http = browser();
    let (status, _) = page(&app, &http, "/ui/hooks", "").await;
    assert_eq!(status, 303, "signed out: to the sign-in page");
    let cookie = sign_in_with(&app, &http, ADMIN_TOKEN).await;
    let (status, html) = page_text(&app, &http, "/ui/hooks", &cookie).await;
    assert_eq!(status, 200);
    for shown in [
        "webhook-test-repo",
        REPO,
        "/hooks/repos/webhook-test-repo",
        // The rotated-out secret's last moment, in its row.
        &old_valid_until,
        r#"href="/ui/hooks" aria-current="page""#,
    ] {
        assert!(html.contains(shown), "{shown} in:\n{html}");
    }
    assert!(
        !html.contains("No hook is registered"),
        "the hook is listed:\n{html}"
    );
    for hidden in [secret.as_str(), new_secret.as_str(), HOOKS_KEY, ADMIN_TOKEN] {
        assert!(!html.contains(hidden), "a secret on the page");
    }
    // The registry is in use: every page's navigation links to the hooks page.
    let (_, overview) = page_text(&app, &http, "/ui", &cookie).await;
    assert!(overview.contains(r#"href="/ui/hooks""#));
    assert!(
        !overview.contains(r#"href="/ui/pollers""#),
        "no poller here"
    );
}
