//! Where a deployment goes: environments, which pushes deploy where, what `deploy` accepts,
//! and the environment's URL from a channel's settings. Pure: no I/O.

use super::state::Settings;
use std::collections::BTreeMap;

/// The environment of a pull request's deployments, named `pr<number>` at GitHub.
pub const PULL_REQUEST: &str = "pr";

/// One environment `deploy` accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// The ref `deploy <environment>` deploys when none is given.
    pub default_ref: Option<String>,
    /// Refs are tags (`v1.2.0` means `refs/tags/v1.2.0`); branches otherwise.
    pub tags: bool,
    /// Only refs matching this may be deployed here (`v*` for production).
    pub refs: Option<glob::Pattern>,
}

/// A push to a ref matching `pattern` deploys to `environment`.
#[derive(Debug, Clone, PartialEq)]
pub struct PushRule {
    pub pattern: glob::Pattern,
    pub environment: String,
}

/// The deployment workflow's routing.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    pub environments: BTreeMap<String, Environment>,
    /// Tried in order; the first match decides.
    pub push: Vec<PushRule>,
}

impl Default for Routing {
    /// deploybot's workflow: main/master → preview, `release*` → test, `v*` or digit tags
    /// → production; `deploy` to preview, test, staging or production (tags starting `v`).
    fn default() -> Self {
        let pattern = |text: &str| glob::Pattern::new(text).expect("a valid default pattern");
        let environment = |default_ref: Option<&str>, tags: bool, refs: Option<&str>| Environment {
            default_ref: default_ref.map(str::to_string),
            tags,
            refs: refs.map(pattern),
        };
        let push = [
            ("refs/heads/main", "preview"),
            ("refs/heads/master", "preview"),
            ("refs/heads/release*", "test"),
            ("refs/tags/v*", "production"),
            ("refs/tags/[0-9]*", "production"),
        ];
        Routing {
            environments: BTreeMap::from([
                (
                    "preview".to_string(),
                    environment(Some("main"), false, None),
                ),
                ("test".to_string(), environment(None, false, None)),
                (
                    "staging".to_string(),
                    environment(Some("main"), false, None),
                ),
                (
                    "production".to_string(),
                    environment(None, true, Some("v*")),
                ),
            ]),
            push: push
                .into_iter()
                .map(|(ref_pattern, environment)| PushRule {
                    pattern: pattern(ref_pattern),
                    environment: environment.to_string(),
                })
                .collect(),
        }
    }
}

/// A deployment asked for with `deploy`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRequest {
    /// Fully qualified: `refs/heads/main`, `refs/tags/v1.2.0`.
    pub git_ref: String,
    pub environment: String,
}

/// Why `deploy` was refused: the reply says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployRefusal {
    Usage,
    UnknownEnvironment(String),
    NoDefaultRef(String),
    RefNotAllowed { environment: String },
}

impl Routing {
    /// The environment a push to `git_ref` deploys to, if any.
    pub fn push_environment(&self, git_ref: &str) -> Option<&str> {
        self.push
            .iter()
            .find(|rule| rule.pattern.matches(git_ref))
            .map(|rule| rule.environment.as_str())
    }

    /// `deploy <ref> to <environment>` or `deploy <environment>`, lowercased as deploybot
    /// did, checked against the environments.
    pub fn deploy(&self, args: &[&str]) -> Result<DeployRequest, DeployRefusal> {
        let (git_ref, environment) = match args {
            [environment] => (None, environment.to_lowercase()),
            [git_ref, _, environment] => (Some(git_ref.to_lowercase()), environment.to_lowercase()),
            _ => return Err(DeployRefusal::Usage),
        };
        let Some(settings) = self.environments.get(&environment) else {
            return Err(DeployRefusal::UnknownEnvironment(environment));
        };
        let git_ref = match git_ref.or_else(|| settings.default_ref.clone()) {
            Some(git_ref) => git_ref,
            None => return Err(DeployRefusal::NoDefaultRef(environment)),
        };
        let short = short_ref(&git_ref);
        if settings
            .refs
            .as_ref()
            .is_some_and(|refs| !refs.matches(short))
        {
            return Err(DeployRefusal::RefNotAllowed { environment });
        }
        let git_ref = match git_ref.starts_with("refs/") {
            true => git_ref,
            false if settings.tags => format!("refs/tags/{git_ref}"),
            false => format!("refs/heads/{git_ref}"),
        };
        Ok(DeployRequest {
            git_ref,
            environment,
        })
    }

    /// The environment names, in order, for help texts.
    pub fn environment_names(&self) -> Vec<&str> {
        self.environments.keys().map(String::as_str).collect()
    }
}

/// `main` of `refs/heads/main`, `v1.2.0` of `refs/tags/v1.2.0`; anything else as it is.
pub fn short_ref(git_ref: &str) -> &str {
    git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| git_ref.strip_prefix("refs/tags/"))
        .unwrap_or(git_ref)
}

/// Whether `git_ref` names a tag.
pub fn is_tag(git_ref: &str) -> bool {
    git_ref.starts_with("refs/tags/")
}

/// The name GitHub knows the environment by: `pr12` for pull request 12.
pub fn github_environment(environment: &str, pull_request: Option<u64>) -> String {
    match pull_request {
        Some(number) if environment == PULL_REQUEST => format!("pr{number}"),
        _ => environment.to_string(),
    }
}

/// The environment's URL from the channel's settings: an explicit domain for it, else the
/// pattern filled in, else none (no base domain).
pub fn environment_url(settings: &Settings, environment: &str) -> Option<String> {
    if let Some(domain) = settings.url.get(environment) {
        return Some(format!("https://{domain}"));
    }
    let basedomain = settings.basedomain.as_deref()?;
    let separator = settings.urlseparator.as_deref().unwrap_or(".");
    let pattern = settings
        .urlpattern
        .as_deref()
        .unwrap_or(Settings::DEFAULT_URL_PATTERN);
    Some(
        pattern
            .replace("{environment}", environment)
            .replace("{urlseparator}", separator)
            .replace("{basedomain}", basedomain),
    )
}

/// `VERSION`: the tag for a tag, else `<environment>-<first 10 of the sha>`.
pub fn version(environment: &str, git_ref: &str, sha: &str) -> String {
    match is_tag(git_ref) {
        true => short_ref(git_ref).to_string(),
        false => format!("{environment}-{}", sha.get(..10).unwrap_or(sha)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(basedomain: Option<&str>) -> Settings {
        Settings {
            basedomain: basedomain.map(str::to_string),
            ..Settings::default()
        }
    }

    #[test]
    fn pushes_route_as_deploybot_did() {
        let routing = Routing::default();
        for (git_ref, expected) in [
            ("refs/heads/main", Some("preview")),
            ("refs/heads/master", Some("preview")),
            ("refs/heads/release/v1.3", Some("test")),
            ("refs/tags/v1.3.0", Some("production")),
            ("refs/tags/1.3.4", Some("production")),
            ("refs/heads/feature/y", None),
            ("refs/tags/latest", None),
        ] {
            assert_eq!(routing.push_environment(git_ref), expected, "{git_ref}");
        }
    }

    #[test]
    fn deploy_commands_are_checked_as_deploybot_did() {
        let routing = Routing::default();
        let request = |git_ref: &str, environment: &str| {
            Ok(DeployRequest {
                git_ref: git_ref.into(),
                environment: environment.into(),
            })
        };
        assert_eq!(
            routing.deploy(&["main", "to", "staging"]),
            request("refs/heads/main", "staging")
        );
        assert_eq!(
            routing.deploy(&["v1.2.0", "to", "production"]),
            request("refs/tags/v1.2.0", "production")
        );
        assert_eq!(
            routing.deploy(&["1.2", "to", "production"]),
            Err(DeployRefusal::RefNotAllowed {
                environment: "production".into()
            })
        );
        assert_eq!(
            routing.deploy(&["main", "to", "pr"]),
            Err(DeployRefusal::UnknownEnvironment("pr".into()))
        );
        assert_eq!(
            routing.deploy(&["staging"]),
            request("refs/heads/main", "staging")
        );
        assert_eq!(
            routing.deploy(&["production"]),
            Err(DeployRefusal::NoDefaultRef("production".into()))
        );
        assert_eq!(routing.deploy(&["a", "b"]), Err(DeployRefusal::Usage));
        assert_eq!(
            routing.deploy(&["Main", "to", "STAGING"]),
            request("refs/heads/main", "staging")
        );
    }

    #[test]
    fn urls_come_from_the_channel_settings() {
        assert_eq!(
            environment_url(&settings(Some("example.com")), "pr12").as_deref(),
            Some("https://pr12.example.com/")
        );
        assert_eq!(environment_url(&settings(None), "preview"), None);
        let mut explicit = settings(None);
        explicit
            .url
            .insert("production".into(), "www.example.com".into());
        assert_eq!(
            environment_url(&explicit, "production").as_deref(),
            Some("https://www.example.com")
        );
        let mut custom = settings(Some("example.com"));
        custom.urlpattern = Some("https://{basedomain}/{environment}".into());
        assert_eq!(
            environment_url(&custom, "test").as_deref(),
            Some("https://example.com/test")
        );
    }

    #[test]
    fn versions_are_the_tag_or_the_environment_and_short_sha() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            version("pr12", "refs/heads/feature/x", sha),
            "pr12-0123456789"
        );
        assert_eq!(version("production", "refs/tags/v1.3.0", sha), "v1.3.0");
        assert_eq!(github_environment("pr", Some(12)), "pr12");
        assert_eq!(github_environment("staging", None), "staging");
    }
}
