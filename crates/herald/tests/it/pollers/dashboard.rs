//! The dashboard's pollers page: each poller's health as `herald status` shows it, its last
//! error, and never its credential.

use super::*;
use crate::dashboard::{browser, page, page_text, sign_in_with};
use crate::fakes::workos::FakeWorkos;

#[tokio::test]
async fn the_pollers_page_shows_health_and_the_last_error_without_the_key() {
    let workos = FakeWorkos::start(KEY).await;
    let (app, _sink) = spawn(&workos, "now").await;
    let http = browser();
    let cookie = sign_in_with(&app, &http, ADMIN_TOKEN).await;

    let (status, before) = page(&app, &http, "/ui/pollers", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        before.contains("workos") && before.contains("never"),
        "{before}"
    );

    workos.publish_entity("user.created", "user_1");
    let polled = poll_now(&app).await;
    assert_eq!(polled.items, 1);
    workos.forbid(KEY);
    app.advance(60.0);
    assert!(poll_now(&app).await.failure.is_some());

    let (status, html) = page_text(&app, &http, "/ui/pollers", &cookie).await;
    assert_eq!(status, 200);
    for shown in [
        "/events",
        "Last error (credential",
        r#"<tr class="failing">"#,
        r#"href="/ui/pollers" aria-current="page""#,
    ] {
        assert!(html.contains(shown), "{shown} in:\n{html}");
    }
    assert!(!html.contains(KEY), "the API key on the page");
    let (_, overview) = page_text(&app, &http, "/ui", &cookie).await;
    assert!(overview.contains(r#"href="/ui/pollers""#));
    assert!(
        !overview.contains(r#"href="/ui/hooks""#),
        "no registry here"
    );
}
