//! The `redis` section: where the streams live and how to reach them.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::{ConfigError, units::Duration};
use crate::secret::Secret;

/// How hookline connects to Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` (TLS) `[user:pass@]host:port[/db]` of a single server, or of
    /// any cluster node. `HOOKLINE_REDIS_URL` overrides it.
    pub url: Option<String>,
    /// Several seed nodes (cluster) or the sentinels (sentinel); use instead of `url`.
    pub urls: Vec<String>,
    /// `single` (default), `cluster` or `sentinel`.
    pub mode: RedisMode,
    /// The master's name as the sentinels know it, required with `mode: sentinel`.
    pub sentinel_master: Option<String>,
    /// ACL user name for the sentinels themselves, when they require one.
    pub sentinel_username: Option<String>,
    /// Password for the sentinels themselves (use `${VAR}`).
    pub sentinel_password: Option<Secret<str>>,
    /// ACL user name, when not in the URL.
    pub username: Option<String>,
    /// Password, when not in the URL (use `${VAR}`).
    pub password: Option<Secret<str>>,
    /// TLS to Redis (and to the sentinels): `true` with the system's trust roots, or
    /// `{ca_file, cert_file, key_file}`. A `rediss://` URL implies `true`.
    #[serde(deserialize_with = "tls_setting")]
    pub tls: Option<TlsFiles>,
    /// Writes acknowledged only once replicas have them (`WAIT`); off by default.
    pub wait: Option<WaitConfig>,
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
            sentinel_username: None,
            sentinel_password: None,
            username: None,
            password: None,
            tls: None,
            wait: None,
            connect_timeout: Duration::secs(2),
            response_timeout: Duration::secs(2),
        }
    }
}

/// Certificates for TLS to Redis (PEM files). Empty: the system's trust roots, no client
/// certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// A private CA that signed the server's certificate; trusted instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// A client certificate (chain) for servers with `tls-auth-clients yes`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key.
    pub key_file: Option<PathBuf>,
}

/// `redis.tls`: `true`/`false`, or the certificate files.
fn tls_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TlsFiles>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Setting {
        On(bool),
        Files(TlsFiles),
    }
    match Setting::deserialize(d) {
        Ok(Setting::On(on)) => Ok(on.then(TlsFiles::default)),
        Ok(Setting::Files(files)) => Ok(Some(files)),
        Err(_) => Err(serde::de::Error::custom(
            "must be true, false or {ca_file, cert_file, key_file} (keys: PEM file paths)",
        )),
    }
}

/// `redis.wait`: how many replicas must have a write before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitConfig {
    /// Replicas that must confirm each write (`WAIT replicas timeout`).
    pub replicas: u32,
    /// How long to wait for them; fewer in time → the request fails (503) and is retried.
    #[serde(default = "default_wait_timeout")]
    pub timeout: Duration,
}

fn default_wait_timeout() -> Duration {
    Duration::millis(500)
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

    /// Whether connections use TLS (`tls`, or a `rediss://` URL).
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some() || self.nodes().iter().any(|n| n.starts_with("rediss://"))
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
        let user = self
            .username
            .clone()
            .or_else(|| {
                urls.iter()
                    .map(|u| u.username().to_owned())
                    .find(|name| !name.is_empty())
            })
            .unwrap_or_else(|| "default".to_owned());
        let shape = match (self.mode, &self.sentinel_master) {
            (RedisMode::Single, _) => "single".to_owned(),
            (RedisMode::Cluster, _) => "cluster".to_owned(),
            (RedisMode::Sentinel, master) => {
                format!("sentinel master {} via", master.as_deref().unwrap_or("?"))
            }
        };
        let tls = match &self.tls {
            Some(files) if files.cert_file.is_some() => "on (client certificate)",
            _ if self.uses_tls() => "on",
            _ => "off",
        };
        let mut line = format!("{shape} {}, TLS {tls}, user {user}", nodes.join(" "));
        if let Some(wait) = self.wait {
            line.push_str(&format!(
                ", writes wait for {} replica(s) up to {:?}",
                wait.replicas, wait.timeout
            ));
        }
        line
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
            if !matches!(scheme, Some("redis" | "rediss")) {
                return Err(ConfigError::at(
                    key,
                    "must start with redis:// or rediss://",
                ));
            }
            if redis::parse_redis_url(&url).is_none() {
                return Err(ConfigError::at(key, "is not a valid Redis URL"));
            }
        }
        let schemes: std::collections::BTreeSet<bool> = self
            .nodes()
            .iter()
            .map(|n| n.starts_with("rediss://"))
            .collect();
        if schemes.len() > 1 {
            return Err(ConfigError::at(key, "mixes redis:// and rediss:// URLs"));
        }
        if let Some(files) = &self.tls
            && files.cert_file.is_some() != files.key_file.is_some()
        {
            return Err(ConfigError::at(
                "redis.tls",
                "cert_file and key_file go together (a client certificate and its key)",
            ));
        }
        if let Some(wait) = self.wait {
            if wait.replicas == 0 {
                return Err(ConfigError::at("redis.wait.replicas", "must be at least 1"));
            }
            if wait.timeout.get().is_zero() || wait.timeout >= self.response_timeout {
                return Err(ConfigError::at(
                    "redis.wait.timeout",
                    "must be greater than 0 and less than redis.response_timeout",
                ));
            }
        }
        if self.response_timeout.get().is_zero() {
            return Err(ConfigError::at(
                "redis.response_timeout",
                "must be greater than 0",
            ));
        }
        match self.mode {
            RedisMode::Single if self.urls.len() > 1 => Err(ConfigError::at(
                "redis.urls",
                "several URLs need `mode: cluster` (or `sentinel`)",
            )),
            RedisMode::Sentinel if self.sentinel_master.is_none() => Err(ConfigError::at(
                "redis.sentinel_master",
                "is required with mode: sentinel (the master's name in the sentinels)",
            )),
            RedisMode::Sentinel if self.url.is_none() && self.urls.is_empty() => Err(
                ConfigError::at("redis.urls", "list the sentinels with mode: sentinel"),
            ),
            _ => Ok(()),
        }
    }
}
