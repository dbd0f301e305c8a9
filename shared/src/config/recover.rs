//! The `recover` section: senders whose failed deliveries hookline asks to be sent again.

use serde::Deserialize;

use super::{ConfigError, SourceConfig};
use crate::providers::ProviderKind;
use crate::secret::Secret;

/// Where to recover failed deliveries from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoverConfig {
    /// GitHub webhooks whose failed deliveries `job recover-github` asks GitHub to redeliver.
    pub github: Vec<GithubHook>,
}

/// One GitHub webhook to watch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubHook {
    /// `repos/OWNER/REPO/hooks/ID`, `orgs/ORG/hooks/ID`, or `app` (a GitHub App's webhook).
    pub hook: String,
    /// A token that may read the hook and redeliver (repository and organization hooks).
    pub token: Option<Secret<str>>,
    /// The GitHub App's id (with `private_key`; for `hook: app`).
    pub app_id: Option<u64>,
    /// The App's private key, PEM (as GitHub hands it out).
    pub private_key: Option<Secret<str>>,
    /// The REST API's root; GitHub Enterprise Server: `https://HOST/api/v3`.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The hookline source the hook delivers to.
    pub source: String,
    /// Redeliveries asked for one delivery's guid at most, over all runs.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

fn default_api_url() -> String {
    "https://api.github.com".into()
}

fn default_max_attempts() -> u32 {
    3
}

impl GithubHook {
    /// The hook's REST path below the API root, e.g. `repos/o/r/hooks/1` or `app/hook`.
    pub fn path(&self) -> &str {
        if self.hook == "app" {
            "app/hook"
        } else {
            &self.hook
        }
    }
}

impl RecoverConfig {
    pub(super) fn validate(
        &self,
        sources: &std::collections::BTreeMap<String, SourceConfig>,
    ) -> Result<(), ConfigError> {
        for (i, hook) in self.github.iter().enumerate() {
            let at = |key: &str| format!("recover.github[{i}].{key}");
            if !valid_hook(&hook.hook) {
                return Err(ConfigError::at(
                    at("hook"),
                    "must be repos/OWNER/REPO/hooks/ID, orgs/ORG/hooks/ID or app",
                ));
            }
            let app = hook.hook == "app";
            match (app, &hook.token, hook.app_id, &hook.private_key) {
                (false, Some(_), None, None) | (true, None, Some(_), Some(_)) => {}
                (false, ..) => {
                    return Err(ConfigError::at(
                        at("token"),
                        "a repository or organization hook needs token (and no app_id/private_key)",
                    ));
                }
                (true, ..) => {
                    return Err(ConfigError::at(
                        at("app_id"),
                        "hook: app needs app_id and private_key (and no token)",
                    ));
                }
            }
            let url = url::Url::parse(&hook.api_url).ok();
            if !url.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
                return Err(ConfigError::at(at("api_url"), "must be an http(s) URL"));
            }
            // A config without sources (the job function's, which holds no webhook secrets)
            // cannot say what a source is; one with sources must name a github source.
            match sources.get(&hook.source) {
                _ if sources.is_empty() => {}
                Some(source) if source.provider == ProviderKind::Github => {}
                Some(_) => {
                    return Err(ConfigError::at(
                        at("source"),
                        format!("source {:?} is not a github source", hook.source),
                    ));
                }
                None => {
                    return Err(ConfigError::at(
                        at("source"),
                        format!("no source {:?} in sources", hook.source),
                    ));
                }
            }
            if hook.max_attempts == 0 {
                return Err(ConfigError::at(at("max_attempts"), "must be at least 1"));
            }
        }
        Ok(())
    }
}

/// `repos/OWNER/REPO/hooks/ID`, `orgs/ORG/hooks/ID` or `app`.
fn valid_hook(hook: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let id = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    match hook.split('/').collect::<Vec<_>>()[..] {
        ["app"] => true,
        ["repos", owner, repo, "hooks", n] => name(owner) && name(repo) && id(n),
        ["orgs", org, "hooks", n] => name(org) && id(n),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::valid_hook;

    #[test]
    fn hooks_are_repository_organization_or_app_paths() {
        for good in [
            "repos/octo/hello-world/hooks/12",
            "orgs/octo/hooks/7",
            "app",
        ] {
            assert!(valid_hook(good), "{good}");
        }
        for bad in [
            "repos/octo/hooks/12",
            "orgs/octo/hooks/x",
            "https://api.github.com/repos/o/r/hooks/1",
            "repos/o/r/hooks/1/",
            "apps",
            "",
        ] {
            assert!(!valid_hook(bad), "{bad}");
        }
    }
}
