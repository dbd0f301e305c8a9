//! The `redis` section: where the streams live and how to reach them.

use serde::Deserialize;

use super::{ConfigError, units::Duration};
use crate::secret::Secret;

/// How hookline connects to Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[user:pass@]host:port[/db]` of a single server, or of any cluster node.
    /// `HOOKLINE_REDIS_URL` overrides it.
    pub url: Option<String>,
    /// Several seed nodes (cluster) or sentinels; use instead of `url`.
    pub urls: Vec<String>,
    /// `single` (default), `cluster` or `sentinel`.
    pub mode: RedisMode,
    /// The master's name, required with `mode: sentinel`.
    pub sentinel_master: Option<String>,
    /// ACL user name, when not in the URL.
    pub username: Option<String>,
    /// Password, when not in the URL (use `${VAR}`).
    pub password: Option<Secret<str>>,
    /// TLS to Redis (`rediss://` URLs imply it).
    pub tls: bool,
    /// How long to wait for a TCP connection.
    pub connect_timeout: Duration,
    /// How long one command may take before the request fails with 503.
    pub response_timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            urls: Vec::new(),
            mode: RedisMode::Single,
            sentinel_master: None,
            username: None,
            password: None,
            tls: false,
            connect_timeout: Duration::secs(2),
            response_timeout: Duration::secs(2),
        }
    }
}

/// The shape of the Redis deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    /// One server (or a managed primary endpoint).
    Single,
    /// Redis Cluster: every partition's keys share a hash tag, so they live in one slot.
    Cluster,
    /// A master found through Redis Sentinel.
    Sentinel,
}

/// `url` with its password, if any, shown as `***`.
fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// The URL used when none is configured.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

impl RedisConfig {
    /// The nodes to connect to: `urls`, else `url`, else the local default.
    pub fn nodes(&self) -> Vec<String> {
        match (&self.url, self.urls.is_empty()) {
            (_, false) => self.urls.clone(),
            (Some(url), true) => vec![url.clone()],
            (None, true) => vec![DEFAULT_URL.to_owned()],
        }
    }

    /// One line saying which Redis this reaches and how, never a password, e.g.
    /// `single redis://10.0.0.5:6379, TLS off, user default`.
    pub fn describe(&self) -> String {
        let urls: Vec<url::Url> = self
            .nodes()
            .iter()
            .filter_map(|node| url::Url::parse(node).ok())
            .collect();
        let nodes: Vec<String> = urls.iter().map(redacted).collect();
        let tls = self.tls || urls.iter().any(|u| u.scheme() == "rediss");
        let user = self
            .username
            .clone()
            .or_else(|| {
                urls.iter()
                    .map(|u| u.username().to_owned())
                    .find(|name| !name.is_empty())
            })
            .unwrap_or_else(|| "default".to_owned());
        let mode = match self.mode {
            RedisMode::Single => "single",
            RedisMode::Cluster => "cluster",
            RedisMode::Sentinel => "sentinel",
        };
        format!(
            "{mode} {}, TLS {}, user {user}",
            nodes.join(" "),
            if tls { "on" } else { "off" }
        )
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.url.is_some() && !self.urls.is_empty() {
            return Err(ConfigError::at(
                "redis.urls",
                "give either `url` or `urls`, not both",
            ));
        }
        let key = if self.urls.is_empty() {
            "redis.url"
        } else {
            "redis.urls"
        };
        for url in self.nodes() {
            let scheme = url.split_once("://").map(|(s, _)| s);
            match scheme {
                Some("redis") => {}
                Some("rediss") => {
                    return Err(ConfigError::at(
                        key,
                        "TLS (rediss://) is not supported by this build yet; reach Redis over a \
                         private network or a TLS sidecar",
                    ));
                }
                _ => return Err(ConfigError::at(key, "must start with redis://")),
            }
            if redis::parse_redis_url(&url).is_none() {
                return Err(ConfigError::at(key, "is not a valid Redis URL"));
            }
        }
        if self.tls {
            return Err(ConfigError::at(
                "redis.tls",
                "TLS is not supported by this build yet; reach Redis over a private network or \
                 a TLS sidecar",
            ));
        }
        match self.mode {
            RedisMode::Single if self.urls.len() > 1 => Err(ConfigError::at(
                "redis.urls",
                "several URLs need `mode: cluster` (or `sentinel`)",
            )),
            RedisMode::Sentinel => Err(ConfigError::at(
                "redis.mode",
                "sentinel is not supported by this build yet; use single (a managed primary \
                 endpoint) or cluster",
            )),
            _ if self.response_timeout.get().is_zero() => Err(ConfigError::at(
                "redis.response_timeout",
                "must be greater than 0",
            )),
            _ => Ok(()),
        }
    }
}
