//! Registered hooks: what `/api/hooks`, `herald hooks` and the ingress share. A hook lives
//! in the store (so every replica sees it at once) with its secret sealed under
//! `[hooks] key`; a fresh secret is returned once, and lists never show one.

use crate::clock::SharedClock;
use crate::config::{Config, SharedConfig, SourceConfig};
use crate::ingress::source::Source;
use crate::registry::{HookId, HookKey, Repository, SealError, fresh_secret};
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use herald_store::model::{EventHook, Hook};
use herald_store::{SharedStore, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long a rotated-out secret stays valid unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);
/// The longest grace a rotation may give the old secret.
pub const MAX_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest secret `import` takes.
const MAX_SECRET: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// Bad input, naming the field (`source`, `repo`, `id`, `secret`, `grace`).
    #[error("`{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error(
        "`id`: `{id}` is already registered under source `{registry}` (give another with `id`)"
    )]
    Taken { registry: String, id: String },
    #[error(
        "registered hooks need `[hooks] key`: the name of a secret of 32 bytes (64 hex characters or base64) that encrypts their secrets"
    )]
    NoKey,
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> HookError {
    HookError::Invalid {
        field,
        message: message.into(),
    }
}

/// A hook as shown: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookView {
    pub source: String,
    pub id: String,
    pub repository: String,
    /// Where its sender posts: absolute with `server.public_url`, else the path alone.
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The secret a rotation replaced is still accepted until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
}

/// A hook with the secret it was just given, to show once.
#[derive(Debug, Clone)]
pub struct WithSecret {
    pub hook: HookView,
    pub secret: Secret,
}

impl WithSecret {
    /// The hook's fields and `secret`: what register and rotate answer, this once.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!(self.hook);
        value["secret"] = serde_json::json!(self.secret.expose());
        value
    }
}

/// `POST /api/hooks`, `herald hooks register`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub source: String,
    #[serde(alias = "repository")]
    pub repo: String,
    pub id: Option<String>,
}

/// `PUT /api/hooks/{source}/{id}`, `herald hooks import`: a hook with a secret it already
/// has (a GitHub webhook set up before herald).
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub source: String,
    pub repo: String,
    pub id: Option<String>,
    pub secret: Secret,
}

/// What verifies and labels a delivery to a registered hook.
pub struct HookVerifier {
    /// The registry's source kind, verifying with the hook's secrets.
    pub source: Arc<dyn Source>,
    pub hook: EventHook,
}

pub struct Hooks {
    config: SharedConfig,
    store: SharedStore,
    clock: SharedClock,
}

impl Hooks {
    pub fn new(config: SharedConfig, store: SharedStore, clock: SharedClock) -> Hooks {
        Hooks {
            config,
            store,
            clock,
        }
    }

    /// A new hook with a fresh secret. Nothing is stored unless all of it is valid.
    pub async fn register(&self, request: &RegisterRequest) -> Result<WithSecret, HookError> {
        let source = registry_input(&self.config, &request.source)?;
        let repository = Repository::parse(&request.repo).map_err(|m| invalid("repo", m))?;
        let id = hook_id(request.id.as_deref(), &repository)?;
        let key = self.key()?;
        let secret = fresh_secret()?;
        let now = self.clock.now();
        let hook = Hook {
            source: source.name.clone(),
            id: id.to_string(),
            repository: repository.to_string(),
            secret: key.seal(&source.name, id.as_str(), secret.expose())?,
            previous: None,
            created_at: now,
            updated_at: now,
        };
        match self.store.create_hook(&hook).await {
            Ok(()) => Ok(WithSecret {
                hook: self.view(&hook),
                secret,
            }),
            Err(StoreError::Conflict(_)) => Err(HookError::Taken {
                registry: hook.source,
                id: hook.id,
            }),
            Err(error) => Err(error.into()),
        }
    }

    /// Every hook of `source` (all registries if None), by source then id.
    pub async fn list(&self, source: Option<&str>) -> Result<Vec<HookView>, HookError> {
        if let Some(source) = source {
            registry_input(&self.config, source)?;
        }
        let hooks = self.store.list_hooks(source).await?;
        Ok(hooks.iter().map(|hook| self.view(hook)).collect())
    }

    pub async fn show(&self, source: &str, id: &str) -> Result<HookView, HookError> {
        let hook = self.store.get_hook(source, id).await?;
        hook.map(|hook| self.view(&hook))
            .ok_or_else(|| not_found(source, id))
    }

    /// A fresh secret for the hook; the one it replaces is still accepted for `grace`.
    pub async fn rotate(
        &self,
        source: &str,
        id: &str,
        grace: Duration,
    ) -> Result<WithSecret, HookError> {
        if grace > MAX_GRACE {
            return Err(invalid(
                "grace",
                format!("must be at most {}", humantime::format_duration(MAX_GRACE)),
            ));
        }
        let key = self.key()?;
        let secret = fresh_secret()?;
        let sealed = key.seal(source, id, secret.expose())?;
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let rotated = self
            .store
            .rotate_hook_secret(source, id, &sealed, until, now)
            .await?
            .ok_or_else(|| not_found(source, id))?;
        Ok(WithSecret {
            hook: self.view(&rotated),
            secret,
        })
    }

    /// Store a hook with the secret it already has, creating it or replacing the secret
    /// (and repository) of the one registered under that id. Returns it, and whether it
    /// was created.
    pub async fn import(&self, request: &ImportRequest) -> Result<(HookView, bool), HookError> {
        let source = registry_input(&self.config, &request.source)?;
        let repository = Repository::parse(&request.repo).map_err(|m| invalid("repo", m))?;
        let id = hook_id(request.id.as_deref(), &repository)?;
        check_secret(request.secret.expose())?;
        let key = self.key()?;
        let now = self.clock.now();
        let hook = Hook {
            source: source.name.clone(),
            id: id.to_string(),
            repository: repository.to_string(),
            secret: key.seal(&source.name, id.as_str(), request.secret.expose())?,
            previous: None,
            created_at: now,
            updated_at: now,
        };
        let created = self.store.import_hook(&hook).await?;
        let stored = self.store.get_hook(&hook.source, &hook.id).await?;
        Ok((self.view(stored.as_ref().unwrap_or(&hook)), created))
    }

    pub async fn delete(&self, source: &str, id: &str) -> Result<(), HookError> {
        if self.store.delete_hook(source, id).await? {
            Ok(())
        } else {
            Err(not_found(source, id))
        }
    }

    /// The verifier of a delivery to `/hooks/{source}/{id}`: the registry's kind with the
    /// hook's secret, and its previous one while its grace lasts. None if no such hook.
    pub async fn verifier(
        &self,
        source: &SourceConfig,
        id: &str,
    ) -> Result<Option<HookVerifier>, HookError> {
        let Some(hook) = self.store.get_hook(&source.name, id).await? else {
            return Ok(None);
        };
        let key = self.key()?;
        let now = self.clock.now();
        let mut secrets = vec![key.open(&hook.source, &hook.id, &hook.secret)?];
        if let Some(previous) = hook.previous.as_ref().filter(|p| p.valid_until > now) {
            secrets.push(key.open(&hook.source, &hook.id, &previous.secret)?);
        }
        let verifying = source.source.with_secrets(secrets).ok_or_else(|| {
            HookError::NotFound(format!("source `{}` is not a registry", source.name))
        })?;
        Ok(Some(HookVerifier {
            source: verifying,
            hook: EventHook {
                id: hook.id,
                repository: hook.repository,
            },
        }))
    }

    fn key(&self) -> Result<&HookKey, HookError> {
        self.config.hooks.key.as_ref().ok_or(HookError::NoKey)
    }

    fn view(&self, hook: &Hook) -> HookView {
        let now = self.clock.now();
        HookView {
            source: hook.source.clone(),
            id: hook.id.clone(),
            repository: hook.repository.clone(),
            url: payload_url(&self.config, &hook.source, &hook.id),
            created_at: hook.created_at,
            updated_at: hook.updated_at,
            previous_secret_valid_until: hook
                .previous
                .as_ref()
                .map(|p| p.valid_until)
                .filter(|until| *until > now),
        }
    }
}

/// A rotation's grace period as people write it (`24h`, `30m`, `0s`); `24h` if not given.
pub fn parse_grace(text: Option<&str>) -> Result<Duration, HookError> {
    let Some(text) = text else {
        return Ok(DEFAULT_GRACE);
    };
    let grace = humantime::parse_duration(text.trim()).map_err(|_| {
        invalid(
            "grace",
            format!("{text:?} is not a duration like 24h or 30m"),
        )
    })?;
    if grace > MAX_GRACE {
        return Err(invalid(
            "grace",
            format!("must be at most {}", humantime::format_duration(MAX_GRACE)),
        ));
    }
    Ok(grace)
}

/// The URL a hook's sender posts to: `{server.public_url}/hooks/{source}/{id}`, or the path
/// alone when herald does not know its public address.
pub fn payload_url(config: &Config, source: &str, id: &str) -> String {
    let path = format!("/hooks/{source}/{id}");
    match &config.server.public_url {
        Some(base) => format!("{base}{path}"),
        None => path,
    }
}

/// The registry source named in a request's `source` field.
fn registry_input<'c>(config: &'c Config, name: &str) -> Result<&'c SourceConfig, HookError> {
    if name.is_empty() {
        return Err(invalid("source", "must not be empty"));
    }
    let source = config
        .source(name)
        .ok_or_else(|| invalid("source", format!("no source `{name}` is configured")))?;
    if !source.registry {
        return Err(invalid(
            "source",
            format!("source `{name}` is not a registry (set `registry = true` on it)"),
        ));
    }
    Ok(source)
}

/// The given id, or the repository's name.
fn hook_id(given: Option<&str>, repository: &Repository) -> Result<HookId, HookError> {
    HookId::parse(given.unwrap_or(repository.name())).map_err(|m| invalid("id", m))
}

/// An imported secret: any text GitHub takes, without control characters.
fn check_secret(secret: &str) -> Result<(), HookError> {
    if secret.is_empty() {
        return Err(invalid("secret", "must not be empty"));
    }
    if secret.len() > MAX_SECRET {
        return Err(invalid(
            "secret",
            format!("must be at most {MAX_SECRET} bytes"),
        ));
    }
    if secret.chars().any(char::is_control) {
        return Err(invalid("secret", "must not hold control characters"));
    }
    Ok(())
}

fn not_found(source: &str, id: &str) -> HookError {
    HookError::NotFound(format!(
        "no hook `{id}` is registered under source `{source}`"
    ))
}
