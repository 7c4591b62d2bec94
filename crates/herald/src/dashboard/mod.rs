//! The dashboard at `/ui`: server-rendered pages over the same services as the API and the
//! CLI. Templates and assets are embedded in the binary; the templates are loaded into one
//! minijinja `Environment` when the router is built, so a syntax error fails at start.
//!
//! Signing in exchanges the admin token for a session (`session.rs`). A page without a
//! session redirects to `/ui/login`; a POST without one answers 403, and a POST whose CSRF
//! token (form field `csrf`, or header `X-CSRF-Token` for htmx) is not the session's
//! answers 403 too. The CSRF check is written here rather than with tower-http's
//! `CsrfLayer`: the token must be the session's own, read from the form body the handler
//! parses anyway, and a few lines with `credential_eq` do that without a second body read.

mod alerts;
mod chart;
mod deliveries;
mod events;
mod hooks;
mod overview;
mod pollers;
pub mod session;
mod tail;
mod throttle;
mod windows;

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::secret::credential_eq;
use axum::Extension;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Environment, Value, context};
use serde::Deserialize;
use session::{COOKIE, Session, Sessions};
use std::net::SocketAddr;
use std::sync::Arc;

/// Templates: (name, text). Names end in `.html`, so their output is HTML-escaped.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("login.html", include_str!("templates/login.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("events.html", include_str!("templates/events.html")),
    ("event.html", include_str!("templates/event.html")),
    ("deliveries.html", include_str!("templates/deliveries.html")),
    ("delivery.html", include_str!("templates/delivery.html")),
    ("windows.html", include_str!("templates/windows.html")),
    ("alerts.html", include_str!("templates/alerts.html")),
    ("tail.html", include_str!("templates/tail.html")),
    ("hooks.html", include_str!("templates/hooks.html")),
    ("pollers.html", include_str!("templates/pollers.html")),
];

/// The navigation: (page, path, label, when it is shown). A new page is a template, a
/// route and a line here.
const NAV: &[(&str, &str, &str, Shown)] = &[
    ("overview", "/ui", "Overview", Shown::Always),
    ("events", "/ui/events", "Events", Shown::Always),
    ("deliveries", "/ui/deliveries", "Deliveries", Shown::Always),
    ("windows", "/ui/windows", "Windows", Shown::Always),
    ("alerts", "/ui/alerts", "Alerts", Shown::Always),
    ("hooks", "/ui/hooks", "Hooks", Shown::WithRegistry),
    ("pollers", "/ui/pollers", "Pollers", Shown::WithPoller),
    ("tail", "/ui/tail", "Live tail", Shown::Always),
];

/// Pages of a feature appear in the navigation when the configuration uses it.
#[derive(Clone, Copy)]
enum Shown {
    Always,
    WithRegistry,
    WithPoller,
}

impl Shown {
    fn holds(self, config: &crate::config::Config) -> bool {
        let any = |test: fn(&crate::config::model::SourceConfig) -> bool| {
            config.sources.values().any(&test)
        };
        match self {
            Shown::Always => true,
            Shown::WithRegistry => any(|source| source.registry),
            Shown::WithPoller => any(|source| source.poller.is_some()),
        }
    }
}

const HTMX: &str = include_str!("../../assets/htmx.min.js");
const CSS: &str = include_str!("../../assets/dashboard.css");
const TAIL: &str = include_str!("../../assets/tail.js");

/// Form bodies are a few fields.
const FORM_LIMIT: usize = 64 << 10;

/// What the dashboard's handlers share.
pub struct Dashboard {
    pub app: AppState,
    env: Environment<'static>,
    pub sessions: Sessions,
    sign_ins: throttle::SignInThrottle,
}

type Shared = Arc<Dashboard>;

/// Every template, loaded and compiled.
pub fn environment() -> Result<Environment<'static>, minijinja::Error> {
    environment_of(TEMPLATES)
}

fn environment_of(
    templates: &[(&'static str, &'static str)],
) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // In the assets' URLs: a new build's assets are fetched anew despite their long cache.
    env.add_global(
        "assets_version",
        concat!(env!("CARGO_PKG_VERSION"), "-", env!("HERALD_COMMIT")),
    );
    for (name, text) in templates {
        env.add_template(name, text)?;
    }
    Ok(env)
}

/// The `/ui` routes (nested under `/ui` by `api::router`).
///
/// # Panics
/// When an embedded template does not compile: herald does not start.
pub fn router<S>(app: AppState) -> Router<S> {
    let env = environment().unwrap_or_else(|error| panic!("a dashboard template: {error:#}"));
    let dashboard = Arc::new(Dashboard {
        app,
        env,
        sessions: Sessions::default(),
        sign_ins: throttle::SignInThrottle::default(),
    });
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/events", get(events::list))
        .route("/events/{id}", get(events::show))
        .route("/deliveries", get(deliveries::list))
        .route("/deliveries/replay", post(deliveries::replay_dead))
        .route("/deliveries/{id}", get(deliveries::show))
        .route("/deliveries/{id}/replay", post(deliveries::replay_one))
        .route("/windows", get(windows::list))
        .route("/windows/flush", post(windows::flush))
        .route("/alerts", get(alerts::page))
        .route("/hooks", get(hooks::page))
        .route("/pollers", get(pollers::page))
        .route("/tail", get(tail::page))
        .route("/tail/stream", get(tail::stream))
        .route("/assets/htmx.min.js", get(htmx))
        .route("/assets/dashboard.css", get(css))
        .route("/assets/tail.js", get(tail_js))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(axum::middleware::from_fn(protect))
        .with_state(dashboard)
}

/// Only this origin's scripts, styles and forms; no framing (no clickjacking of the
/// buttons). htmx's config meta tag turns off its inline indicator style and `eval`.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers on every dashboard response: the content security policy, no framing, no
/// sniffing, no referrer outside herald, and no caching of a page (they are a session's)
/// unless the response set its own (the assets).
async fn protect(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

impl Dashboard {
    /// Render `template` inside the layout, with the session's CSRF token and the page's
    /// name for the navigation.
    fn render(
        &self,
        template: &str,
        page: &str,
        signed: Option<&Signed>,
        values: Value,
    ) -> Result<Html<String>, UiError> {
        let template = self
            .env
            .get_template(template)
            .map_err(|error| UiError::Internal(error.to_string()))?;
        let nav: Vec<(&str, &str, &str)> = NAV
            .iter()
            .filter(|(name, .., shown)| *name == page || shown.holds(&self.app.config))
            .map(|&(name, href, label, _)| (name, href, label))
            .collect();
        let context = context! {
            page => page,
            nav,
            csrf => signed.map(|signed| signed.session.csrf.clone()),
            ..values
        };
        template
            .render(context)
            .map(Html)
            .map_err(|error| UiError::Internal(format!("{error:#}")))
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.app.clock.now()
    }
}

/// A serializable value for a template.
fn value<T: serde::Serialize>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// A form body, or an empty form when there is none (or it does not parse): a POST without
/// its fields then fails the CSRF check (403) rather than answering 415 or 422.
pub struct Fields<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Fields<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Default,
{
    type Rejection = std::convert::Infallible;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Fields(
            axum::Form::<T>::from_request(request, state)
                .await
                .map(|axum::Form(form)| form)
                .unwrap_or_default(),
        ))
    }
}

/// A signed-in request: its session id and session. Without one, a page redirects to
/// `/ui/login` and anything else answers 403.
pub struct Signed {
    id: String,
    pub session: Session,
}

impl FromRequestParts<Shared> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, dash: &Shared) -> Result<Self, Response> {
        if let Some(id) = cookie(&parts.headers, COOKIE)
            && let Some(session) = dash.sessions.get(id, dash.now())
        {
            return Ok(Signed {
                id: id.to_string(),
                session,
            });
        }
        if parts.method == Method::GET || parts.method == Method::HEAD {
            Err(Redirect::to("/ui/login").into_response())
        } else {
            Err(UiError::Forbidden("sign in first".into()).into_response())
        }
    }
}

impl Signed {
    /// Refuse (403) unless `field` (the form's `csrf`) or the `X-CSRF-Token` header is the
    /// session's token.
    fn check_csrf(&self, headers: &HeaderMap, field: Option<&str>) -> Result<(), UiError> {
        let given = field.or_else(|| headers.get("x-csrf-token")?.to_str().ok());
        match self.session.csrf_matches(given) {
            true => Ok(()),
            false => Err(UiError::Forbidden(
                "the form's CSRF token is missing or not this session's: reload the page".into(),
            )),
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the browser reached herald over TLS: a proxy in front says so with
/// `X-Forwarded-Proto`, or the configured public URL is https.
fn over_tls(dash: &Dashboard, headers: &HeaderMap) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    let public = dash
        .app
        .config
        .server
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    forwarded || public
}

fn session_cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a cookie of hex and ASCII")
}

async fn login_form(State(dash): State<Shared>) -> Result<Html<String>, UiError> {
    let off = sign_in_tokens(&dash).next().is_none();
    dash.render("login.html", "login", None, context! { off, error => () })
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

async fn login(
    State(dash): State<Shared>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Fields(form): Fields<LoginForm>,
) -> Result<Response, UiError> {
    if sign_in_tokens(&dash).next().is_none() {
        return Err(UiError::Forbidden(
            "the dashboard is off: set server.admin_secret (or server.dashboard_secret)".into(),
        ));
    }
    let address = peer.map(|Extension(ConnectInfo(peer))| peer.ip());
    if let Err(wait) = dash.sign_ins.check(address, dash.now()) {
        return too_many_sign_ins(&dash, wait);
    }
    let given = form.token.trim().as_bytes();
    // Every token compared, so the time taken does not tell which one was close.
    let matched = sign_in_tokens(&dash)
        .map(|token| credential_eq(given, token.expose().as_bytes()))
        .fold(false, |any, this| any | this);
    if !matched {
        dash.sign_ins.failed(address, dash.now());
        tracing::warn!(peer = ?address, "A dashboard sign-in with a wrong token");
        let page = dash.render(
            "login.html",
            "login",
            None,
            context! { off => false, error => "That token does not sign in." },
        )?;
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    }
    dash.sign_ins.succeeded(address);
    let (id, _) = dash.sessions.start(dash.now());
    let cookie = session_cookie(
        &id,
        session::LIFETIME.num_seconds(),
        over_tls(&dash, &headers),
    );
    let mut response = Redirect::to("/ui").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// The tokens that sign in: the admin token and the dashboard's own, those configured.
fn sign_in_tokens(dash: &Dashboard) -> impl Iterator<Item = &crate::secret::Secret> {
    let server = &dash.app.config.server;
    server.admin_token.iter().chain(&server.dashboard_token)
}

/// 429 with `Retry-After`: this address guessed too often; its token is not even compared.
fn too_many_sign_ins(dash: &Dashboard, wait: chrono::Duration) -> Result<Response, UiError> {
    let seconds = wait.num_seconds().max(1);
    let error = format!("Too many wrong tokens: try again in {seconds} s.");
    let page = dash.render(
        "login.html",
        "login",
        None,
        context! { off => false, error },
    )?;
    let mut response = (StatusCode::TOO_MANY_REQUESTS, page).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    Ok(response)
}

/// A form that only carries its CSRF token.
#[derive(Debug, Default, Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(
    State(dash): State<Shared>,
    signed: Signed,
    headers: HeaderMap,
    Fields(form): Fields<CsrfForm>,
) -> Result<Response, UiError> {
    signed.check_csrf(&headers, form.csrf.as_deref())?;
    dash.sessions.end(&signed.id);
    let mut response = Redirect::to("/ui/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie("", 0, over_tls(&dash, &headers)),
    );
    Ok(response)
}

/// Assets never change within a version: cached for a year.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", HTMX)
}

async fn tail_js() -> Response {
    asset("text/javascript; charset=utf-8", TAIL)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// A field of a filter form: empty means not given.
fn given(field: &Option<String>) -> Option<String> {
    field
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_string)
}

/// `path?key=value&…` of the given pairs (empty values left out).
fn link(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if let Some(value) = value
            && !value.is_empty()
        {
            query.append_pair(key, value);
        }
    }
    let query = query.finish();
    match query.is_empty() {
        true => path.to_string(),
        false => format!("{path}?{query}"),
    }
}

/// A dashboard error: a small HTML page with the message (5xx: opaque and logged).
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("internal error")]
    Internal(String),
}

impl From<herald_store::StoreError> for UiError {
    fn from(error: herald_store::StoreError) -> Self {
        UiError::Internal(error.to_string())
    }
}

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::NotFound(message) => UiError::NotFound(message),
            ApiError::BadRequest(message) => UiError::BadRequest(message),
            ApiError::Forbidden(message) => UiError::Forbidden(message),
            other => UiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = match &self {
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::Forbidden(_) => StatusCode::FORBIDDEN,
            UiError::Internal(detail) => {
                tracing::error!(error = %detail, "Dashboard request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} · herald</title>\
             <link rel=\"stylesheet\" href=\"/ui/assets/dashboard.css\"></head><body><main>\
             <h1>{code}</h1><p>{message}</p><p><a href=\"/ui\">Back to the overview</a></p></main></body></html>",
            code = status.as_u16(),
            message = escape(&self.to_string()),
        );
        (status, Html(body)).into_response()
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A time as the pages show it: `2026-12-06 10:00:00 UTC`.
fn when(time: &chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A duration in words, coarsely: `42s`, `5m 3s`, `2h 10m`, `3d 4h`.
fn ago(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {}s", seconds / 60, seconds % 60),
        3600..86400 => format!("{}h {}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d {}h", seconds / 86400, seconds % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let env = environment().unwrap();
        for (name, _) in TEMPLATES {
            env.get_template(name).unwrap();
        }
    }

    #[test]
    fn a_template_that_does_not_compile_is_refused_when_the_environment_is_built() {
        let broken = [
            ("layout.html", "{% block main %}{% endblock %}"),
            ("broken.html", "{% if x %}never closed"),
        ];
        let Err(error) = environment_of(&broken) else {
            panic!("a syntax error")
        };
        assert!(error.to_string().contains("broken.html"), "{error}");
    }

    #[test]
    fn the_session_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; herald_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie(&HeaderMap::new(), COOKIE), None);
    }

    #[test]
    fn links_leave_out_empty_fields() {
        assert_eq!(
            link(
                "/ui/events",
                &[
                    ("source", Some("git hub".into())),
                    ("type", None),
                    ("x", Some(String::new()))
                ]
            ),
            "/ui/events?source=git+hub"
        );
        assert_eq!(link("/ui/events", &[]), "/ui/events");
    }

    #[test]
    fn errors_are_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(ago(59), "59s");
        assert_eq!(ago(3 * 3600 + 120), "3h 2m");
    }
}
