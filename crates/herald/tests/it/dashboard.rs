//! The dashboard at `/ui`: signing in with the admin token, sessions in an HttpOnly,
//! SameSite=Strict cookie, every page behind a session, every action behind the session's
//! CSRF token, the explanation of an event on its page, replay and flush through the forms,
//! and no configured secret value on any rendered page.

use crate::support::*;
use serde_json::json;

// Letters, digits and dashes: HTML escaping cannot hide them from the search.
const WEBHOOK_SECRET: &str = "gh-webhook-SECRET-51c2e8";
const TOKEN: &str = "admin-TOKEN-SECRET-93ab71";
const CIRCLE_TOKEN: &str = "circle-TOKEN-SECRET-07de44";

const CONFIG: &str = r#"
[server]
admin_secret = "admin"

[secrets]
github = "gh-webhook-SECRET-51c2e8"
admin = "admin-TOKEN-SECRET-93ab71"
circle = "circle-TOKEN-SECRET-07de44"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.main-only]
sources = ["github"]
events = ["push"]
filter = "event.ref == 'refs/heads/main'"
actions = ["sink"]

[rules.forward]
sources = ["github"]
events = ["push"]
actions = ["sink", "pipeline"]

[rules.digest]
sources = ["github"]
events = ["push"]
actions = ["sink"]
window = { group = "{{ event.repository.name }}", quiet = "10m" }

[actions.sink]
kind = "http"
url = "{SINK}/hook"
retry = { schedule = ["1s"], jitter = 0 }

[actions.pipeline]
kind = "circleci-pipeline"
token = "circle"
api_url = "{SINK}"
project_slug = "gh/acme/api"
branch = "main"
retry = { schedule = ["1s"], jitter = 0 }

[storage]
path = "herald.db"
"#;

/// A client that shows redirects instead of following them and keeps no cookies.
pub fn browser() -> reqwest::Client {
    herald::tls::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// herald with one push of a feature branch stored: its two deliveries dead (the sink
/// answers 410), and the digest rule's window open.
async fn app_with_a_push(sink: &Sink) -> (TestApp, String) {
    sink.script([answer(410), answer(410)]);
    let app = spawn_app(CONFIG, &sink.url).await;
    let push = json!({"ref": "refs/heads/feature", "after": "abc", "repository": {"name": "api", "full_name": "acme/api"}});
    let response = app
        .github("push", "delivery-1", &push.to_string(), WEBHOOK_SECRET)
        .await;
    assert_eq!(response.status(), 202);
    let event_id = response.json::<serde_json::Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.deliver_all().await;
    let deliveries = app.deliveries().await;
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == herald_store::model::DeliveryStatus::Dead),
        "{deliveries:?}"
    );
    (app, event_id)
}

/// Sign in; the session cookie (`name=value`).
async fn sign_in(app: &TestApp, http: &reqwest::Client) -> String {
    sign_in_with(app, http, TOKEN).await
}

/// Sign in with `token`; the session cookie (`name=value`).
pub async fn sign_in_with(app: &TestApp, http: &reqwest::Client, token: &str) -> String {
    let response = http
        .post(app.url("/ui/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/ui");
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// A page as its text reads: minijinja escapes `/` in what it shows (`&#x2f;`).
pub async fn page_text(
    app: &TestApp,
    http: &reqwest::Client,
    path: &str,
    cookie: &str,
) -> (u16, String) {
    let (status, html) = page(app, http, path, cookie).await;
    (status, html.replace("&#x2f;", "/"))
}

pub async fn page(
    app: &TestApp,
    http: &reqwest::Client,
    path: &str,
    cookie: &str,
) -> (u16, String) {
    let response = http
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The CSRF token in a page's forms.
fn csrf_of(html: &str) -> String {
    let start = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token")
        + r#"name="csrf" value=""#.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Every page of the dashboard for this app's data.
async fn every_page(app: &TestApp, event_id: &str) -> Vec<String> {
    let mut pages = vec![
        "/ui".to_string(),
        "/ui/events".to_string(),
        "/ui/events?source=github&type=push&since=1h".to_string(),
        format!("/ui/events/{event_id}"),
        "/ui/deliveries".to_string(),
        "/ui/deliveries?status=dead&rule=forward".to_string(),
        "/ui/windows".to_string(),
        "/ui/alerts".to_string(),
        "/ui/hooks".to_string(),
        "/ui/pollers".to_string(),
        "/ui/tail".to_string(),
    ];
    for delivery in app.deliveries().await {
        pages.push(format!("/ui/deliveries/{}", delivery.id));
    }
    pages
}

#[tokio::test]
async fn signing_in_takes_the_admin_token_and_sets_a_strict_http_only_cookie() {
    let sink = Sink::start().await;
    let app = spawn_app(CONFIG, &sink.url).await;
    let http = browser();

    let form = http.get(app.url("/ui/login")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains(r#"name="token""#));

    for wrong in [
        "",
        "admin",
        "admin-TOKEN-SECRET-93ab7",
        "admin-token-for-tests",
    ] {
        let refused = http
            .post(app.url("/ui/login"))
            .form(&[("token", wrong)])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{wrong:?}");
        assert!(refused.headers().get("set-cookie").is_none());
    }

    let signed = http
        .post(app.url("/ui/login"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("herald_session="), "{cookie}");
    let id = cookie["herald_session=".len()..].split(';').next().unwrap();
    assert_eq!(id.len(), 64, "32 random bytes in hex: {cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    // Behind a TLS proxy, the cookie is only sent over TLS.
    let proxied = http
        .post(app.url("/ui/login"))
        .header("x-forwarded-proto", "https")
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    let secure = proxied.headers()["set-cookie"].to_str().unwrap();
    assert!(secure.contains("; Secure"), "{secure}");

    // Signing out ends the session (with the session's CSRF token only).
    let session = cookie.split(';').next().unwrap().to_string();
    let (status, overview) = page(&app, &http, "/ui", &session).await;
    assert_eq!(status, 200);
    let refused = http
        .post(app.url("/ui/logout"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let out = http
        .post(app.url("/ui/logout"))
        .header("cookie", &session)
        .form(&[("csrf", csrf_of(&overview))])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = http
        .get(app.url("/ui"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303);
    assert_eq!(after.headers()["location"], "/ui/login");
}

#[tokio::test]
async fn every_page_needs_a_session_and_every_action_answers_403_without_one() {
    let sink = Sink::start().await;
    let (app, event_id) = app_with_a_push(&sink).await;
    let http = browser();
    let cookie = sign_in(&app, &http).await;
    for path in every_page(&app, &event_id).await {
        for without in ["", "herald_session=0000", "other=1"] {
            let response = http
                .get(app.url(&path))
                .header("cookie", without)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 303, "{path} with {without:?}");
            assert_eq!(response.headers()["location"], "/ui/login", "{path}");
        }
        let response = http
            .get(app.url(&path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        let body = response.text().await.unwrap();
        assert!(body.contains("<nav>"), "{path}: the layout");
        assert!(
            !body.contains(" style="),
            "{path}: no inline style, which the policy refuses"
        );
    }
    let delivery = app.deliveries().await[0].id;
    let (_, overview) = page(&app, &http, "/ui", &cookie).await;
    let csrf = csrf_of(&overview);
    for path in [
        format!("/ui/deliveries/{delivery}/replay"),
        "/ui/deliveries/replay".to_string(),
        "/ui/windows/flush".to_string(),
        "/ui/logout".to_string(),
    ] {
        // Even with a CSRF token that would be right, no session is no action.
        let response = http
            .post(app.url(&path))
            .form(&[("csrf", csrf.as_str()), ("rule", "digest")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }
    assert!(
        app.deliveries()
            .await
            .iter()
            .all(|d| d.status == herald_store::model::DeliveryStatus::Dead)
    );

    let slash = http.get(app.url("/ui/")).send().await.unwrap();
    assert_eq!(slash.status(), 308);
    assert_eq!(slash.headers()["location"], "/ui");
    // The assets need no session and are cached.
    for (path, kind) in [
        ("/ui/assets/htmx.min.js", "text/javascript"),
        ("/ui/assets/dashboard.css", "text/css"),
        ("/ui/assets/tail.js", "text/javascript"),
    ] {
        let asset = http.get(app.url(path)).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{path}");
        assert!(
            asset.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(
            asset.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age=31536000")
        );
    }
}

#[tokio::test]
async fn replay_and_flush_need_the_sessions_csrf_token() {
    let sink = Sink::start().await;
    let (app, _) = app_with_a_push(&sink).await;
    let http = browser();
    let cookie = sign_in(&app, &http).await;
    let other = sign_in(&app, &http).await;
    let deliveries = app.deliveries().await;
    let (first, second) = (deliveries[0].id, deliveries[1].id);
    let (status, detail) = page(&app, &http, &format!("/ui/deliveries/{first}"), &cookie).await;
    assert_eq!(status, 200);
    assert!(detail.contains("Replay"));
    let csrf = csrf_of(&detail);
    let (_, elsewhere) = page(&app, &http, "/ui", &other).await;
    let other_csrf = csrf_of(&elsewhere);
    assert_ne!(csrf, other_csrf, "a token per session");

    let replay = format!("/ui/deliveries/{first}/replay");
    let post = |fields: Vec<(&'static str, String)>, header: Option<String>| {
        let mut request = http
            .post(app.url(&replay))
            .header("cookie", &cookie)
            .form(&fields);
        if let Some(token) = header {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    assert_eq!(post(vec![], None).await.unwrap().status(), 403);
    assert_eq!(
        post(vec![("csrf", String::new())], None)
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(vec![("csrf", "0".repeat(64))], None)
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(vec![("csrf", other_csrf.clone())], None)
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(vec![], Some("wrong".into())).await.unwrap().status(),
        403
    );
    assert_eq!(
        app.store
            .get_delivery(first)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "dead"
    );

    let replayed = post(vec![("csrf", csrf.clone())], None).await.unwrap();
    assert_eq!(replayed.status(), 303);
    assert_eq!(
        replayed.headers()["location"],
        format!("/ui/deliveries/{first}?replayed=1").as_str()
    );
    assert_eq!(
        app.store
            .get_delivery(first)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "pending"
    );
    let (_, again) = page(
        &app,
        &http,
        &format!("/ui/deliveries/{first}?replayed=1"),
        &cookie,
    )
    .await;
    assert!(again.contains("pending again"), "{again}");

    // Replay every dead delivery of a filter; htmx sends the token as a header.
    let all = http
        .post(app.url("/ui/deliveries/replay"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .form(&[("rule", "forward")])
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), 303);
    assert!(
        all.headers()["location"]
            .to_str()
            .unwrap()
            .contains("replayed=1")
    );
    assert_eq!(
        app.store
            .get_delivery(second)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "pending"
    );

    // The digest's window: open, shown, and flushed now from its form.
    let (_, windows) = page(&app, &http, "/ui/windows", &cookie).await;
    assert!(
        windows.contains("digest") && windows.contains("<code>api</code>"),
        "{windows}"
    );
    let flush = |fields: Vec<(&'static str, String)>| {
        http.post(app.url("/ui/windows/flush"))
            .header("cookie", &cookie)
            .form(&fields)
            .send()
    };
    let refused = flush(vec![("rule", "digest".into()), ("key", "api".into())])
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let wrong = flush(vec![
        ("csrf", other_csrf),
        ("rule", "digest".into()),
        ("key", "api".into()),
    ])
    .await
    .unwrap();
    assert_eq!(wrong.status(), 403);
    let open = |app: &TestApp| {
        let store = app.store.clone();
        async move {
            store
                .list_windows(&herald_store::model::WindowQuery {
                    rule: Some("digest".into()),
                    status: None,
                    limit: 10,
                })
                .await
                .unwrap()
        }
    };
    assert!(!open(&app).await[0].forced);
    let flushed = flush(vec![
        ("csrf", csrf),
        ("rule", "digest".into()),
        ("key", "api".into()),
    ])
    .await
    .unwrap();
    assert_eq!(flushed.status(), 303);
    assert_eq!(flushed.headers()["location"], "/ui/windows?flushing=1");
    let window = &open(&app).await[0];
    assert!(window.forced, "{window:?}");
    assert!(window.due_at <= app.clock_now(), "{window:?}");
}

#[tokio::test]
async fn an_events_page_says_why_a_rule_did_not_fire() {
    let sink = Sink::start().await;
    let (app, event_id) = app_with_a_push(&sink).await;
    let http = browser();
    let cookie = sign_in(&app, &http).await;
    let (status, html) = page(&app, &http, &format!("/ui/events/{event_id}"), &cookie).await;
    assert_eq!(status, 200);
    let row = html
        .split("<tr class=")
        .find(|row| row.contains("<td>main-only</td>"))
        .expect("a row for the rule main-only");
    assert!(row.starts_with("\"unmatched\""), "{row}");
    assert!(row.contains("but its filter is false"), "{row}");
    assert!(row.contains("<code>false</code>"), "{row}");
    let digest = html
        .split("<tr class=")
        .find(|row| row.contains("<td>digest</td>"))
        .unwrap();
    assert!(digest.contains("group <code>api</code>"), "{digest}");
    // Its deliveries are linked, and its payload is on the page.
    for delivery in app.deliveries().await {
        assert!(html.contains(&format!("/ui/deliveries/{}", delivery.id)));
    }
    assert!(
        html.contains("<details>") && html.contains("&quot;after&quot;: &quot;abc&quot;"),
        "{html}"
    );
    // Found by the sender's delivery id as well.
    let (status, by_delivery) = page(&app, &http, "/ui/events/delivery-1", &cookie).await;
    assert_eq!(status, 200);
    assert!(by_delivery.contains(&event_id));
    let (missing, _) = page(&app, &http, "/ui/events/nothing-here", &cookie).await;
    assert_eq!(missing, 404);

    // The list pages: filters and the event found by source and type.
    let (_, list) = page(&app, &http, "/ui/events?source=github&type=push", &cookie).await;
    assert!(list.contains(&event_id));
    let (_, none) = page(&app, &http, "/ui/events?type=release", &cookie).await;
    assert!(!none.contains(&event_id));
    let (bad, _) = page(&app, &http, "/ui/events?since=yesterday-ish", &cookie).await;
    assert_eq!(bad, 400);
}

#[tokio::test]
async fn keyset_pages_link_to_the_older_ones_and_search_the_payloads() {
    let sink = Sink::start().await;
    let app = spawn_app(CONFIG, &sink.url).await;
    for n in 0..55 {
        let body = json!({"ref": "refs/heads/main", "after": format!("c{n}"), "repository": {"name": "api"}});
        let response = app
            .github("push", &format!("d-{n}"), &body.to_string(), WEBHOOK_SECRET)
            .await;
        assert_eq!(response.status(), 202);
    }
    let http = browser();
    let cookie = sign_in(&app, &http).await;
    let (_, first) = page(&app, &http, "/ui/events?source=github", &cookie).await;
    assert_eq!(first.matches("<a href=\"/ui/events/").count(), 50);
    assert!(first.contains("rel=\"next\""));
    let next = next_link(&first);
    assert!(
        next.contains("before=") && next.contains("source=github"),
        "{next}"
    );
    let (status, second) = page(&app, &http, &next, &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(second.matches("<a href=\"/ui/events/").count(), 5);
    assert!(!second.contains("rel=\"next\""));

    // A text search in the payloads, case-insensitive, paged the same way.
    let (_, one) = page(&app, &http, "/ui/events?q=C7", &cookie).await;
    assert_eq!(one.matches("<a href=\"/ui/events/").count(), 1, "{one}");
    assert!(one.contains("1 found among 55 events read"), "{one}");
    let (_, all) = page(&app, &http, "/ui/events?q=HEADS%2FMAIN", &cookie).await;
    assert_eq!(all.matches("<a href=\"/ui/events/").count(), 50);
    let next = next_link(&all);
    assert!(
        next.contains("q=HEADS%2FMAIN") && next.contains("before="),
        "{next}"
    );
    let (_, rest) = page(&app, &http, &next, &cookie).await;
    assert_eq!(rest.matches("<a href=\"/ui/events/").count(), 5);
    let (_, none) = page(&app, &http, "/ui/events?q=nowhere-to-be-found", &cookie).await;
    assert!(none.contains("No events match."));
}

/// The page's "next" link, unescaped.
fn next_link(html: &str) -> String {
    let marker = "class=\"pager\"><a href=\"";
    let start = html.find(marker).expect("a next link") + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn no_page_shows_a_configured_secret() {
    let sink = Sink::start().await;
    let (app, event_id) = app_with_a_push(&sink).await;
    let http = browser();
    let cookie = sign_in(&app, &http).await;
    let mut pages = every_page(&app, &event_id).await;
    pages.push("/ui/login".into());
    let mut rendered = 0;
    for path in pages {
        let (status, html) = page(&app, &http, &path, &cookie).await;
        assert_eq!(status, 200, "{path}");
        for secret in [WEBHOOK_SECRET, TOKEN, CIRCLE_TOKEN] {
            assert!(!html.contains(secret), "{path} shows {secret}");
        }
        rendered += 1;
    }
    assert!(rendered >= 10);
    // The pipeline's attempt was made with its token, which the page shows redacted.
    let pipeline = app
        .deliveries()
        .await
        .into_iter()
        .find(|d| d.action == "pipeline")
        .unwrap();
    let (_, html) = page(
        &app,
        &http,
        &format!("/ui/deliveries/{}", pipeline.id),
        &cookie,
    )
    .await;
    assert!(html.contains("Request (secrets redacted)"), "{html}");
}

#[tokio::test]
async fn the_live_tail_streams_new_events_until_herald_stops() {
    let sink = Sink::start().await;
    let (app, first) = app_with_a_push(&sink).await;
    let http = browser();
    let cookie = sign_in(&app, &http).await;
    let (_, tail) = page(&app, &http, "/ui/tail", &cookie).await;
    assert!(tail.contains(&format!("data-after=\"{first}\"")), "{tail}");
    assert!(tail.contains("/ui/assets/tail.js?v="));

    let refused = http.get(app.url("/ui/tail/stream")).send().await.unwrap();
    assert_eq!(refused.status(), 303);

    let mut stream = http
        .get(app.url(&format!("/ui/tail/stream?after={first}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let push = json!({"ref": "refs/heads/main", "after": "def", "repository": {"name": "api"}});
    let sent = app
        .github("push", "delivery-2", &push.to_string(), WEBHOOK_SECRET)
        .await;
    let second = sent.json::<serde_json::Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut read = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !read.contains(&second) {
        assert!(std::time::Instant::now() < deadline, "no event in {read}");
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk())
            .await
            .unwrap()
            .unwrap()
            .expect("the stream goes on");
        read.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(read.contains("event: event"), "{read}");
    assert!(read.contains(&format!("id: {second}")), "{read}");
    assert!(read.contains("\"event_type\":\"push\""), "{read}");
    assert!(
        !read.contains(&format!("id: {first}")),
        "only events after the page's: {read}"
    );

    // Shutting down ends the stream, so graceful shutdown need not wait for it.
    app.app.state.stopping.cancel();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while stream.chunk().await.unwrap().is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ended");
}

#[tokio::test]
async fn the_alerts_page_lists_alerts_and_recoveries_among_herald_events() {
    let sink = Sink::start().await;
    let app = spawn_app(CONFIG, &sink.url).await;
    let ingest = &app.app.state.ingest;
    let alert = json!({"monitor": "sink-down", "kind": "failure_streak", "subject": "sink", "state": "alert"});
    ingest
        .emit("monitor.alert", "sink-down/sink/1/alert".into(), alert)
        .await
        .unwrap();
    // Other events of herald's source (a schedule's ticks) do not hide them.
    for n in 0..60 {
        ingest
            .emit("schedule.nightly", format!("tick-{n}"), json!({}))
            .await
            .unwrap();
    }
    let recovered =
        json!({"monitor": "sink-down", "kind": "failure_streak", "subject": "sink", "state": "ok"});
    ingest
        .emit("monitor.recovered", "sink-down/sink/1/ok".into(), recovered)
        .await
        .unwrap();
    let http = browser();
    let cookie = sign_in(&app, &http).await;
    let (status, html) = page(&app, &http, "/ui/alerts", &cookie).await;
    assert_eq!(status, 200);
    let recovery = html
        .find("<td>monitor.recovered</td>")
        .expect("the recovery");
    let raised = html.find("<td>monitor.alert</td>").expect("the alert");
    assert!(recovery < raised, "newest first");
    assert!(html.contains("<td>sink-down</td>"));
    assert!(!html.contains("schedule.nightly"));
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_public_url_is_https() {
    let sink = Sink::start().await;
    let config = CONFIG.replace(
        "admin_secret = \"admin\"",
        "admin_secret = \"admin\"\npublic_url = \"https://herald.example.com\"",
    );
    let app = spawn_app(&config, &sink.url).await;
    let signed = browser()
        .post(app.url("/ui/login"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test]
async fn without_an_admin_secret_the_dashboard_is_off() {
    let sink = Sink::start().await;
    let config = CONFIG
        .replace("admin_secret = \"admin\"", "")
        .replace("admin = \"admin-TOKEN-SECRET-93ab71\"", "");
    let app = spawn_app(&config, &sink.url).await;
    let http = browser();
    let (status, login) = page(&app, &http, "/ui/login", "").await;
    assert_eq!(status, 200);
    assert!(login.contains("The dashboard is off"), "{login}");
    let refused = http
        .post(app.url("/ui/login"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn wrong_tokens_are_limited_per_address_and_the_right_one_waits_too() {
    let sink = Sink::start().await;
    let app = spawn_app(CONFIG, &sink.url).await;
    let http = browser();
    let sign_in_with = |token: &'static str| {
        http.post(app.url("/ui/login"))
            .form(&[("token", token)])
            .send()
    };
    for _ in 0..5 {
        assert_eq!(sign_in_with("guess").await.unwrap().status(), 401);
    }
    let held = sign_in_with("guess").await.unwrap();
    assert_eq!(held.status(), 429);
    assert_eq!(held.headers()["retry-after"], "5");
    assert!(held.text().await.unwrap().contains("try again in 5 s"));
    // While held back the token is not compared: the right one gets no session either.
    let right = sign_in_with(TOKEN).await.unwrap();
    assert_eq!(right.status(), 429);
    assert!(right.headers().get("set-cookie").is_none());

    app.advance(5.0);
    let right = sign_in_with(TOKEN).await.unwrap();
    assert_eq!(right.status(), 303);
    // A success forgets the failures: five more guesses before the next hold.
    for _ in 0..5 {
        assert_eq!(sign_in_with("guess").await.unwrap().status(), 401);
    }
    assert_eq!(sign_in_with("guess").await.unwrap().status(), 429);
}

#[tokio::test]
async fn a_dashboard_secret_signs_in_to_the_dashboard_and_opens_nothing_else() {
    const DASHBOARD_TOKEN: &str = "dashboard-TOKEN-SECRET-6f0e12";
    let sink = Sink::start().await;
    let config = CONFIG
        .replace(
            "admin_secret = \"admin\"",
            "admin_secret = \"admin\"\ndashboard_secret = \"dashboard\"",
        )
        .replace(
            "[secrets]",
            "[secrets]\ndashboard = \"dashboard-TOKEN-SECRET-6f0e12\"",
        );
    let app = spawn_app(&config, &sink.url).await;
    let http = browser();
    for token in [DASHBOARD_TOKEN, TOKEN] {
        let signed = http
            .post(app.url("/ui/login"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status(), 303, "{token}");
        let cookie = signed.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap();
        let (status, overview) = page(&app, &http, "/ui", cookie).await;
        assert_eq!(status, 200);
        assert!(!overview.contains(DASHBOARD_TOKEN) && !overview.contains(TOKEN));
    }
    let api = http
        .get(app.url("/api/events"))
        .bearer_auth(DASHBOARD_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.status(),
        401,
        "the admin API takes only the admin token"
    );
}
