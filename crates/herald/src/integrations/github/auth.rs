//! How herald authenticates to GitHub: a token (a named secret), or a GitHub App. An App
//! signs an RS256 JWT with its private key and trades it for an installation token, which
//! is cached until a minute before it expires, fetched again when GitHub refuses it, and
//! shared by every action of the same installation (one token request serves them all).

use super::api;
use crate::action::{Authorize, CredentialCheck, Outcome, PlannedRequest, Runbook};
use crate::kit::build::Builder;
use crate::secret::Secret;
use crate::transport;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use toml::Spanned;

/// `app = { id = 123, installation = 456, private_key = "secret-name" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppOptions {
    /// The App's id (its settings page, "App ID").
    pub id: u64,
    /// The installation on the account that owns the repositories.
    pub installation: u64,
    /// The secret holding the App's private key (the `.pem` GitHub downloads).
    pub private_key: Spanned<String>,
}

/// Where GitHub's API is: its base URL and the `X-GitHub-Api-Version` calls send.
#[derive(Debug, Clone, Copy)]
pub struct Api<'a> {
    pub url: &'a str,
    pub version: &'a str,
}

/// As whom herald calls GitHub.
#[derive(Debug, Clone)]
pub enum GithubAuth {
    /// `Authorization: Bearer <token>`.
    Token(Secret),
    /// An installation token of a GitHub App, fetched when a request is sent.
    App(Arc<AppInstallation>),
}

impl GithubAuth {
    /// Read `token` or `app` (exactly one) for the table at `span`; an App's installation
    /// tokens are asked for at `api` (its URL and `X-GitHub-Api-Version`).
    pub fn build(
        builder: &mut Builder<'_>,
        span: Range<usize>,
        token: Option<&Spanned<String>>,
        app: Option<&Spanned<AppOptions>>,
        api: Api<'_>,
    ) -> Option<GithubAuth> {
        match (token, app) {
            (Some(token), None) => builder.secret(token).map(GithubAuth::Token),
            (None, Some(app)) => {
                let options = app.get_ref();
                let key = builder.secret(&options.private_key)?;
                if let Some(problem) = key_problem(&key) {
                    builder.error(options.private_key.span(), problem);
                    return None;
                }
                let installation =
                    AppInstallation::shared(api, options.id, options.installation, key);
                Some(GithubAuth::App(installation))
            }
            (Some(_), Some(_)) => {
                builder.error(span, "set `token` or `app`, not both");
                None
            }
            (None, None) => {
                builder.error(
                    span,
                    "needs `token` or `app`: a token's secret, or `app = { id, installation, private_key }`",
                );
                None
            }
        }
    }

    /// `request` with this credential: the token as a bearer, or the installation token
    /// fetched when it is sent.
    pub fn apply(&self, request: PlannedRequest) -> PlannedRequest {
        match self {
            GithubAuth::Token(token) => request.bearer(token),
            GithubAuth::App(installation) => request.authorized(installation.clone()),
        }
    }

    /// The secrets this credential is made from (for `credential_secrets`).
    pub fn secret_names(&self) -> Vec<&str> {
        match self {
            GithubAuth::Token(token) => vec![token.name()],
            GithubAuth::App(installation) => vec![installation.private_key.name()],
        }
    }

    /// The `Authorization` header value, for a call made outside the step runner (a read
    /// before planning); `Err` says why there is none.
    pub async fn header(
        &self,
        http: &reqwest::Client,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        match self {
            GithubAuth::Token(token) => Ok(format!("Bearer {}", token.expose())),
            GithubAuth::App(installation) => installation
                .authorization(http, now)
                .await
                .map_err(|outcome| error_of(&outcome)),
        }
    }

    /// GitHub refused what `header` gave: an App's next call fetches a fresh token.
    pub fn refused(&self) {
        if let GithubAuth::App(installation) = self {
            installation.refused();
        }
    }

    /// `GET {api}/rate_limit` with this credential: whether GitHub takes it, without
    /// touching a repository or using up the rate limit. An App's check first fetches an
    /// installation token.
    pub fn credential_check(&self, api: Api<'_>, timeout: Duration) -> Option<CredentialCheck> {
        let text = format!("{}/rate_limit", api.url.trim_end_matches('/'));
        let url = url::Url::parse(&text).ok()?;
        let request = PlannedRequest::new(http::Method::GET, url, text, timeout)
            .header("accept", api::ACCEPT)
            .header("x-github-api-version", api.version);
        let credential = match self {
            GithubAuth::Token(token) => format!("GitHub token `{}`", token.name()),
            GithubAuth::App(app) => format!(
                "GitHub App {} installation {} (key `{}`)",
                app.app_id,
                app.installation_id,
                app.private_key.name()
            ),
        };
        Some(CredentialCheck {
            credential,
            request: self.apply(request),
            read: |answer, now| api::classify(answer.status, &answer.headers, &answer.body, now),
        })
    }

    /// How to replace this credential when GitHub refuses it.
    pub fn runbook(&self) -> Runbook {
        match self {
            GithubAuth::Token(_) => TOKEN_RUNBOOK,
            GithubAuth::App(_) => APP_RUNBOOK,
        }
    }
}

/// Replacing a GitHub token, as the Pact → GitHub guide sets it up: a machine user's
/// classic personal access token.
pub const TOKEN_RUNBOOK: Runbook = Runbook {
    before: &[
        "Log in to GitHub as the dedicated machine user that owns the token (not a personal account).",
        "Settings → Developer settings → Personal access tokens → Tokens (classic) → Generate new token (classic): scope `repo` (required by repository_dispatch), no expiration, named e.g. `herald-<date>`.",
    ],
    after: &[
        "Revoke the old token in the machine user's settings so a leaked copy cannot be reused.",
    ],
};

/// Replacing a GitHub App's private key (or finding that the App was uninstalled).
pub const APP_RUNBOOK: Runbook = Runbook {
    before: &[
        "Check that the GitHub App is still installed on the account and has access to the repository (the account's Settings → Applications → Installed GitHub Apps); a 404 for the installation means it was uninstalled or the `installation` id is wrong.",
        "As an owner of the App: Settings → Developer settings → GitHub Apps → the app → Private keys → Generate a private key; a `.pem` file downloads.",
    ],
    after: &["Delete the old key under the App's Private keys so a leaked copy cannot be used."],
};

/// Why `key` cannot sign an App's JWT, naming the secret but never showing it.
fn key_problem(key: &Secret) -> Option<String> {
    let pem = key.expose();
    let labelled = [
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----",
    ]
    .iter()
    .any(|label| pem.contains(label));
    let readable = labelled && jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).is_ok();
    (!readable).then(|| {
        format!(
            "the secret `{}` is not an RSA private key in PEM form (the `.pem` file a GitHub App's Private keys section downloads, starting `-----BEGIN RSA PRIVATE KEY-----`)",
            key.name()
        )
    })
}

/// The text of a failed outcome.
fn error_of(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done { .. } => String::new(),
        Outcome::RateLimited { error, .. }
        | Outcome::Transient { error, .. }
        | Outcome::Permanent { error }
        | Outcome::Credential { error } => error.clone(),
    }
}

/// The installation tokens are asked for with this timeout.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// A token is used until this long before GitHub says it expires.
const EXPIRY_MARGIN: TimeDelta = TimeDelta::minutes(1);
/// The JWT's `iat` is set this far back, for clocks a little ahead of GitHub's.
const JWT_BACKDATE: TimeDelta = TimeDelta::seconds(60);
/// The JWT's lifetime from now; GitHub refuses more than 10 minutes.
const JWT_LIFETIME: TimeDelta = TimeDelta::minutes(9);
/// An installation token's answer is small.
const TOKEN_BODY_LIMIT: usize = 64 << 10;

/// One installation of a GitHub App, and its installation token while it is valid.
#[derive(Debug)]
pub struct AppInstallation {
    api_url: String,
    api_version: String,
    app_id: u64,
    installation_id: u64,
    /// The App's private key, PEM.
    private_key: Secret,
    /// The installation token and when GitHub says it expires.
    cached: Mutex<Option<(Secret, DateTime<Utc>)>>,
    /// Held while a token is fetched, so concurrent calls wait for it instead of each
    /// asking for one.
    fetching: tokio::sync::Mutex<()>,
}

type InstallationKey = (String, u64, u64);

/// Every installation the configuration names, by (API URL, App id, installation id).
fn installations() -> &'static Mutex<HashMap<InstallationKey, Arc<AppInstallation>>> {
    static INSTALLATIONS: OnceLock<Mutex<HashMap<InstallationKey, Arc<AppInstallation>>>> =
        OnceLock::new();
    INSTALLATIONS.get_or_init(Mutex::default)
}

/// JWT claims GitHub reads: issued at, expires at (at most 10 minutes later), the App id.
#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

/// `POST /app/installations/{id}/access_tokens` answers 201 with these.
#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: DateTime<Utc>,
}

impl AppInstallation {
    /// An installation with nothing cached, owned by the caller alone.
    pub fn new(api: Api<'_>, app_id: u64, installation_id: u64, private_key: Secret) -> Self {
        AppInstallation {
            api_url: api.url.trim_end_matches('/').to_string(),
            api_version: api.version.to_string(),
            app_id,
            installation_id,
            private_key,
            cached: Mutex::default(),
            fetching: tokio::sync::Mutex::default(),
        }
    }

    /// The process's one instance of this installation, so every action that uses it shares
    /// its token (a new one if the private key changed; the first API version named stays).
    pub fn shared(
        api: Api<'_>,
        app_id: u64,
        installation_id: u64,
        private_key: Secret,
    ) -> Arc<Self> {
        let key = (
            api.url.trim_end_matches('/').to_string(),
            app_id,
            installation_id,
        );
        let mut all = installations()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = all.get(&key)
            && known.private_key.expose() == private_key.expose()
        {
            return known.clone();
        }
        let installation = Arc::new(Self::new(api, app_id, installation_id, private_key));
        all.insert(key, installation.clone());
        installation
    }

    /// The cached token, if it is still good at `now`.
    fn fresh(&self, now: DateTime<Utc>) -> Option<String> {
        let cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        match &*cached {
            Some((token, expires_at)) if now < *expires_at - EXPIRY_MARGIN => {
                Some(format!("Bearer {}", token.expose()))
            }
            _ => None,
        }
    }

    /// The App's JWT at `now`, signed with its private key.
    fn jwt(&self, now: DateTime<Utc>) -> Result<String, String> {
        let claims = Claims {
            iat: (now - JWT_BACKDATE).timestamp(),
            exp: (now + JWT_LIFETIME).timestamp(),
            iss: self.app_id.to_string(),
        };
        let unreadable = |_| {
            format!(
                "the secret `{}` cannot sign the GitHub App's JWT: it is not an RSA private key",
                self.private_key.name()
            )
        };
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.private_key.expose().as_bytes())
            .map_err(unreadable)?;
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &claims, &key).map_err(unreadable)
    }

    /// Ask GitHub for an installation token.
    async fn fetch(
        &self,
        http: &reqwest::Client,
        now: DateTime<Utc>,
    ) -> Result<AccessToken, Outcome> {
        let jwt = self
            .jwt(now)
            .map_err(|error| Outcome::Credential { error })?;
        let address = format!(
            "{}/app/installations/{}/access_tokens",
            self.api_url, self.installation_id
        );
        let url = url::Url::parse(&address)
            .map_err(|error| Outcome::permanent(format!("bad URL {address}: {error}")))?;
        let request = PlannedRequest::new(http::Method::POST, url, address, TOKEN_TIMEOUT)
            .bearer(&Secret::new("github-app-jwt", jwt))
            .header("accept", api::ACCEPT)
            .header("x-github-api-version", &self.api_version);
        let what = format!(
            "installation token of GitHub App {} (installation {})",
            self.app_id, self.installation_id
        );
        let answer = transport::send(http, &request, TOKEN_BODY_LIMIT)
            .await
            .map_err(|error| Outcome::transient(format!("{what}: {error}")))?;
        match api::classify(answer.status, &answer.headers, &answer.body, now) {
            Outcome::Done { .. } => serde_json::from_str::<AccessToken>(&answer.body)
                .map_err(|_| Outcome::transient(format!("{what}: the answer has no token"))),
            Outcome::RateLimited { wait, error } => Err(Outcome::RateLimited {
                wait,
                error: format!("{what}: {error}"),
            }),
            Outcome::Transient { error, retry_after } => Err(Outcome::Transient {
                error: format!("{what}: {error}"),
                retry_after,
            }),
            // The JWT refused, the App or installation unknown: the key or ids are wrong.
            _ if matches!(answer.status, 401 | 403 | 404) => Err(Outcome::Credential {
                error: format!(
                    "{what} refused: {}",
                    api::describe(answer.status, "refused", &answer.body)
                ),
            }),
            outcome => Err(Outcome::permanent(format!(
                "{what}: {}",
                error_of(&outcome)
            ))),
        }
    }
}

#[async_trait]
impl Authorize for AppInstallation {
    async fn authorization(
        &self,
        http: &reqwest::Client,
        now: DateTime<Utc>,
    ) -> Result<String, Outcome> {
        if let Some(header) = self.fresh(now) {
            return Ok(header);
        }
        let _fetching = self.fetching.lock().await;
        // Another call may have fetched one while this one waited.
        if let Some(header) = self.fresh(now) {
            return Ok(header);
        }
        let fetched = self.fetch(http, now).await?;
        let header = format!("Bearer {}", fetched.token);
        let token = Secret::new("github-installation-token", fetched.token);
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((token, fetched.expires_at));
        tracing::info!(
            app = self.app_id,
            installation = self.installation_id,
            expires_at = %fetched.expires_at,
            "Fetched a GitHub App installation token"
        );
        Ok(header)
    }

    fn refused(&self) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str =
        include_str!("../../../tests/it/testdata/github-app/test-only-private-key.pem");
    const PUBLIC: &str =
        include_str!("../../../tests/it/testdata/github-app/test-only-public-key.pem");

    fn api(url: &str) -> Api<'_> {
        Api {
            url,
            version: api::DEFAULT_API_VERSION,
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn the_jwt_is_rs256_with_the_app_id_and_a_ten_minute_window() {
        let app = AppInstallation::new(
            api("https://api.github.com/"),
            123,
            456,
            Secret::new("k", PEM),
        );
        let jwt = app.jwt(at(0)).unwrap();
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<serde_json::Value>(&jwt, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["iss"], "123");
        assert_eq!(claims["iat"], at(-60).timestamp());
        assert_eq!(claims["exp"], at(540).timestamp());
        assert_eq!(app.api_url, "https://api.github.com");
    }

    #[test]
    fn a_key_that_is_not_an_rsa_private_key_is_named_but_not_shown() {
        assert_eq!(key_problem(&Secret::new("app_key", PEM)), None);
        let garbled = PEM.replace("MII", "xyz");
        for value in [PUBLIC, "ghp_not_a_key_at_all", garbled.as_str()] {
            let problem = key_problem(&Secret::new("app_key", value)).expect(value);
            assert!(problem.contains("`app_key`"), "{problem}");
            assert!(!problem.contains(value), "{problem}");
        }
    }

    #[test]
    fn a_token_is_fresh_until_a_minute_before_it_expires_and_forgotten_when_refused() {
        let app = AppInstallation::new(api("http://x"), 1, 2, Secret::new("k", PEM));
        *app.cached.lock().unwrap() = Some((Secret::new("t", "ghs_1"), at(3600)));
        assert_eq!(app.fresh(at(0)).as_deref(), Some("Bearer ghs_1"));
        assert_eq!(app.fresh(at(3539)).as_deref(), Some("Bearer ghs_1"));
        assert_eq!(app.fresh(at(3540)), None);
        app.refused();
        assert_eq!(app.fresh(at(0)), None);
    }

    #[test]
    fn installations_are_shared_by_url_app_and_installation() {
        let key = || Secret::new("k", PEM);
        let one = AppInstallation::shared(api("http://shared.test/"), 7, 8, key());
        let same = AppInstallation::shared(api("http://shared.test"), 7, 8, key());
        let other = AppInstallation::shared(api("http://shared.test"), 7, 9, key());
        assert!(Arc::ptr_eq(&one, &same));
        assert!(!Arc::ptr_eq(&one, &other));
        let rekeyed =
            AppInstallation::shared(api("http://shared.test"), 7, 8, Secret::new("k", "x"));
        assert!(!Arc::ptr_eq(&one, &rekeyed));
    }

    #[test]
    fn the_runbooks_name_the_machine_users_token_or_the_apps_private_keys() {
        let steps = TOKEN_RUNBOOK.before.join("\n");
        assert!(steps.contains("machine user"), "{steps}");
        assert!(steps.contains("classic"), "{steps}");
        assert!(steps.contains("`repo`"), "{steps}");
        assert!(TOKEN_RUNBOOK.after[0].starts_with("Revoke the old token"));
        let steps = APP_RUNBOOK.before.join("\n");
        assert!(
            steps.contains("Settings → Developer settings → GitHub Apps → the app → Private keys"),
            "{steps}"
        );
        assert!(APP_RUNBOOK.after[0].starts_with("Delete the old key"));
    }

    #[test]
    fn debug_shows_neither_key_nor_token() {
        let app = AppInstallation::new(api("http://x"), 1, 2, Secret::new("k", PEM));
        *app.cached.lock().unwrap() = Some((Secret::new("t", "ghs_secret"), at(3600)));
        let shown = format!("{:?}", GithubAuth::App(Arc::new(app)));
        assert!(!shown.contains("PRIVATE"), "{shown}");
        assert!(!shown.contains("ghs_secret"), "{shown}");
    }
}
