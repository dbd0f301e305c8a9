//! The `sources` section: one entry per sender, named by its URL path segment.

use serde::Deserialize;

use super::units::{Duration, Rate, Size};
use super::{Cidr, ConfigError};
use crate::providers::{self, HmacAlgorithm, HmacOptions, ProviderKind, SignatureEncoding};
use crate::secret::Secret;

/// One webhook sender: `POST /webhooks/{name}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The signature scheme and metadata layout: github, gitlab, stripe, slack, shopify, jira,
    /// linear, pagerduty, standard, hmac or none.
    pub provider: ProviderKind,
    /// The tenant events of this source belong to.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Signing secrets; a request is accepted when any one matches, so a new secret can be
    /// added before the old one is removed. Must be empty for `provider: none`.
    #[serde(default)]
    pub secrets: Vec<Secret<str>>,
    /// How long a repeat is answered as a duplicate exactly; default `dedup.default_window`.
    pub dedup_window: Option<Duration>,
    /// How long this source's cold objects are kept: each archive run deletes those whose
    /// hour ended longer ago. Default: kept until deleted by other means.
    pub retention: Option<Duration>,
    /// Verified requests per period accepted by one ingest instance, e.g. `5000/s`: only
    /// requests whose signature checked out count, so junk cannot spend it.
    pub rate_limit: Option<Rate>,
    /// Requests that fail verification, per period, answered 401 before further ones get 429
    /// (default `10/s`): their own bucket, which a real sender's requests never draw from.
    #[serde(default = "default_invalid_rate_limit")]
    pub invalid_rate_limit: Rate,
    /// Where requests may come from (`[CIDR, …]`, e.g. GitHub's published hook ranges); others
    /// get 403 before their body is read. Empty: anywhere.
    #[serde(default)]
    pub allow_ips: Vec<Cidr>,
    /// Largest accepted body; default `security.max_payload` (10MiB).
    pub max_payload: Option<Size>,
    /// How far a signed timestamp may be from now, either way; default
    /// `security.timestamp_tolerance` (5m).
    pub timestamp_tolerance: Option<Duration>,
    /// `provider: hmac` only: the header carrying the signature.
    pub header: Option<String>,
    /// `provider: hmac` only: sha1, sha256 (default) or sha512.
    pub algorithm: Option<HmacAlgorithm>,
    /// `provider: hmac` only: hex (default) or base64.
    pub encoding: Option<SignatureEncoding>,
    /// `provider: hmac` only: text before the signature, e.g. `sha256=`.
    pub prefix: Option<String>,
}

fn default_invalid_rate_limit() -> Rate {
    Rate {
        count: 10,
        per: std::time::Duration::from_secs(1),
    }
}

fn default_tenant() -> String {
    "default".to_owned()
}

/// Names that appear in URLs, stream fields and archive keys: `[A-Za-z0-9_-]`, 1–64 chars.
pub(super) fn check_name(path: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::at(
            path,
            "must be 1-64 characters of A-Z, a-z, 0-9, '-' or '_'",
        ))
    }
}

impl SourceConfig {
    /// The generic HMAC provider's options, for `provider: hmac`.
    pub fn hmac_options(&self) -> Option<HmacOptions> {
        let header = self.header.as_deref()?.parse().ok()?;
        Some(HmacOptions {
            header,
            algorithm: self.algorithm.unwrap_or(HmacAlgorithm::Sha256),
            encoding: self.encoding.unwrap_or(SignatureEncoding::Hex),
            prefix: self.prefix.clone(),
        })
    }

    pub(super) fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let at = |key: &str| format!("sources.{name}.{key}");
        check_name(&format!("sources.{name}"), name)?;
        check_name(&at("tenant"), &self.tenant)?;
        self.validate_hmac_keys(&at)?;
        match (self.provider, self.secrets.is_empty()) {
            (ProviderKind::None, false) => {
                return Err(ConfigError::at(
                    at("secrets"),
                    "must be empty for provider none",
                ));
            }
            (ProviderKind::None, true) => {}
            (kind, true) => {
                return Err(ConfigError::at(
                    at("secrets"),
                    format!(
                        "provider {} needs at least one secret (write `provider: none` to accept \
                         unsigned requests)",
                        kind.as_str()
                    ),
                ));
            }
            (kind, false) => {
                let provider = providers::build(kind, self.hmac_options());
                for (i, secret) in self.secrets.iter().enumerate() {
                    if secret.expose().is_empty() {
                        return Err(ConfigError::at(
                            format!("{}[{i}]", at("secrets")),
                            "is empty",
                        ));
                    }
                    provider.signing_key(secret.expose()).map_err(|why| {
                        ConfigError::at(format!("{}[{i}]", at("secrets")), why.to_string())
                    })?;
                }
            }
        }
        if self.max_payload.is_some_and(|s| s.bytes() == 0) {
            return Err(ConfigError::at(at("max_payload"), "must be greater than 0"));
        }
        if self.dedup_window.is_some_and(|d| d.get().as_millis() == 0) {
            return Err(ConfigError::at(at("dedup_window"), "must be at least 1ms"));
        }
        if self
            .retention
            .is_some_and(|d| d.get() < std::time::Duration::from_secs(3600))
        {
            return Err(ConfigError::at(
                at("retention"),
                "must be at least 1h (cold objects hold an hour each)",
            ));
        }
        Ok(())
    }

    /// `header`, `algorithm`, `encoding` and `prefix` belong to `provider: hmac` alone, and
    /// `header` is required there.
    fn validate_hmac_keys(&self, at: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        let given = [
            ("header", self.header.is_some()),
            ("algorithm", self.algorithm.is_some()),
            ("encoding", self.encoding.is_some()),
            ("prefix", self.prefix.is_some()),
        ];
        if self.provider != ProviderKind::Hmac {
            if let Some((key, _)) = given.iter().find(|(_, set)| *set) {
                return Err(ConfigError::at(at(key), "is only for provider hmac"));
            }
            return Ok(());
        }
        match self.header.as_deref() {
            None => Err(ConfigError::at(
                at("header"),
                "is required for provider hmac",
            )),
            Some(h) if h.parse::<http::HeaderName>().is_err() => Err(ConfigError::at(
                at("header"),
                "is not a valid HTTP header name",
            )),
            Some(_) => Ok(()),
        }
    }
}
