//! The dashboard's hooks page: every registered hook with its payload URL and rotation,
//! never a secret.

use super::*;
use crate::dashboard::{browser, page, sign_in_with};

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
    let new_secret = rotated.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();

    let http = browser();
    let (status, _) = page(&app, &http, "/ui/hooks", "").await;
    assert_eq!(status, 303, "signed out: to the sign-in page");
    let cookie = sign_in_with(&app, &http, ADMIN_TOKEN).await;
    let (status, html) = page(&app, &http, "/ui/hooks", &cookie).await;
    assert_eq!(status, 200);
    // minijinja escapes `/` in what a page shows.
    let html = html.replace("&#x2f;", "/");
    for shown in [
        "webhook-test-repo",
        REPO,
        "/hooks/repos/webhook-test-repo",
        "Old secret valid until",
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
    let (_, overview) = page(&app, &http, "/ui", &cookie).await;
    let overview = overview.replace("&#x2f;", "/");
    assert!(overview.contains(r#"href="/ui/hooks""#));
    assert!(
        !overview.contains(r#"href="/ui/pollers""#),
        "no poller here"
    );
}
