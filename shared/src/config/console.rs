//! The `console` section: the web operator console (`hookline console`, or `/console` on
//! `observability.listen` when `enabled`).

use serde::Deserialize;

use super::ConfigError;
use super::server::Cidr;
use super::units::Duration;
use crate::secret::Secret;

/// Shortest `console.token` accepted: guessing 16 random characters is out of reach.
pub const MIN_TOKEN_LEN: usize = 16;

/// Who may use the console and what its overview reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Also serve the console at `/console` on `observability.listen` of every role.
    pub enabled: bool,
    /// The shared secret of the login form (at least 16 characters).
    pub token: Option<Secret<str>>,
    /// A header an authenticating proxy sets to the user's name; honoured only on
    /// connections from `trusted_proxies`.
    pub trusted_user_header: Option<String>,
    /// The proxies whose `trusted_user_header` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// `/metrics` URLs of the ingest processes, read for the overview's rejects by reason.
    pub scrape: Vec<String>,
    /// How often the overview's charts take a sample.
    pub sample_every: Duration,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            token: None,
            trusted_user_header: None,
            trusted_proxies: Vec::new(),
            session_ttl: Duration::secs(12 * 3600),
            scrape: Vec::new(),
            sample_every: Duration::secs(10),
        }
    }
}

impl ConsoleConfig {
    /// Whether some way to log in is configured.
    pub fn has_login(&self) -> bool {
        self.token.is_some() || self.trusted_user_header.is_some()
    }

    pub(super) fn validate(&self, ops_listener: bool) -> Result<(), ConfigError> {
        if self
            .token
            .as_ref()
            .is_some_and(|t| t.expose().chars().count() < MIN_TOKEN_LEN)
        {
            return Err(ConfigError::at(
                "console.token",
                format!("must be at least {MIN_TOKEN_LEN} characters"),
            ));
        }
        if let Some(header) = &self.trusted_user_header {
            if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(ConfigError::at(
                    "console.trusted_user_header",
                    "not a header name",
                ));
            }
            if self.trusted_proxies.is_empty() {
                return Err(ConfigError::at(
                    "console.trusted_proxies",
                    "must list the proxies that set console.trusted_user_header",
                ));
            }
        }
        if self.enabled && !self.has_login() {
            return Err(ConfigError::at(
                "console.enabled",
                "needs console.token or console.trusted_user_header: the console never runs \
                 without authentication",
            ));
        }
        if self.enabled && !ops_listener {
            return Err(ConfigError::at(
                "console.enabled",
                "needs observability.listen: the console is never served on the public \
                 webhook port",
            ));
        }
        if self.session_ttl.get() < std::time::Duration::from_secs(60) {
            return Err(ConfigError::at(
                "console.session_ttl",
                "must be at least 1m",
            ));
        }
        if self.sample_every.get() < std::time::Duration::from_secs(1) {
            return Err(ConfigError::at(
                "console.sample_every",
                "must be at least 1s",
            ));
        }
        for (i, url) in self.scrape.iter().enumerate() {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    return Err(ConfigError::at(
                        format!("console.scrape[{i}]"),
                        "must be an http(s) URL, e.g. http://ingest:9090/metrics",
                    ));
                }
            }
        }
        Ok(())
    }
}
