//! hookline's configuration: one YAML file, parsed into typed sections and validated as a
//! whole before any process starts work.
//!
//! Loading ([`load`]) reads the file (or `HOOKLINE_CONFIG_YAML`), replaces `${NAME}` with the
//! environment variable NAME (a missing one is an error, never an empty string), refuses
//! unknown keys and wrong types, applies `HOOKLINE_REDIS_URL`, and runs cross-field checks.
//! Every failure is one [`ConfigError`] naming the key path, e.g.
//! `sources.github.secrets[0]: environment variable GITHUB_SECRET is not set`.
//!
//! `docs/hookline.example.yaml` documents every key; a test keeps it loadable.

mod console;
mod consumer;
mod dedup;
pub mod lifecycle;
mod load;
mod observability;
mod outputs;
mod privacy;
mod recover;
mod redis;
mod server;
mod source;
mod spool;
pub mod units;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use console::{ConsoleConfig, MIN_TOKEN_LEN};
pub use consumer::{
    Backoff, CLAIM_MARGIN, CircuitBreaker, ConsumerConfig, Filter, GroupConfig, Route,
    SUMMARY_GROUP, SinkConfig, StartPosition,
};
pub use dedup::{BloomConfig, BloomShape, DedupConfig, OnHit};
pub use lifecycle::{LifecycleConfig, S3Config, Schedule};
pub use load::{ConfigSource, from_env, load, parse};
pub use observability::{LogFormat, ObservabilityConfig};
pub use outputs::{OutputMode, OutputsConfig, SqsOutput};
pub use privacy::PrivacyConfig;
pub use recover::{GithubHook, RecoverConfig};
pub use redis::{DEFAULT_URL, RedisConfig, RedisMode, TlsFiles, WaitConfig};
pub use server::{Cidr, ServerConfig};
pub use source::SourceConfig;
pub use spool::SpoolConfig;
use units::{Duration, Size};

/// A configuration problem: the key path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    /// Dotted key path, e.g. `sources.github.secrets[0]`.
    pub path: String,
    /// What is wrong, never quoting a secret.
    pub reason: String,
}

impl ConfigError {
    /// An error at `path`.
    pub fn at(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How to reach Redis.
    #[serde(default)]
    pub redis: RedisConfig,
    /// Stream key prefix and partition count.
    #[serde(default)]
    pub streams: StreamsConfig,
    /// The container HTTP server (`hookline serve`).
    #[serde(default)]
    pub server: ServerConfig,
    /// Webhook senders by URL path segment.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// Consumer groups.
    #[serde(default)]
    pub consumer: ConsumerConfig,
    /// Hot → warm → cold ages, archive and job schedule.
    #[serde(default)]
    pub lifecycle: LifecycleConfig,
    /// De-duplication windows and bloom filters.
    #[serde(default)]
    pub dedup: DedupConfig,
    /// Defaults for per-source request limits.
    #[serde(default)]
    pub security: SecurityConfig,
    /// Logs and metrics.
    #[serde(default)]
    pub observability: ObservabilityConfig,
    /// Where ingest keeps events while Redis cannot take them.
    #[serde(default)]
    pub spool: SpoolConfig,
    /// Copies of appended events (the SQS mirror of a migration).
    #[serde(default)]
    pub outputs: OutputsConfig,
    /// Senders asked to redeliver what hookline missed (`job recover-github`).
    #[serde(default)]
    pub recover: RecoverConfig,
    /// The web operator console.
    #[serde(default)]
    pub console: ConsoleConfig,
    /// Personal fields kept out of what operators see by default.
    #[serde(default)]
    pub privacy: PrivacyConfig,
}

/// Stream naming and partitioning.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamsConfig {
    /// First part of every key, e.g. `hookline:events:{0}`.
    pub prefix: String,
    /// Number of partitions; each is one stream (and one Redis Cluster slot).
    pub partitions: u16,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self {
            prefix: "hookline".into(),
            partitions: 1,
        }
    }
}

/// Defaults for request limits that sources may override.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Largest accepted body of sources that set no `max_payload`.
    pub max_payload: Size,
    /// Allowed clock difference of signed timestamps, for sources that set none.
    pub timestamp_tolerance: Duration,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            max_payload: Size::mib(10),
            timestamp_tolerance: Duration::secs(300),
        }
    }
}

impl Config {
    /// Runs every cross-field check; the loader calls it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.redis.validate()?;
        self.server.validate()?;
        self.spool.validate()?;
        self.outputs.validate()?;
        self.console.validate(self.observability.listen.is_some())?;
        self.observability.validate()?;
        self.privacy.validate()?;
        let prefix = &self.streams.prefix;
        if prefix.is_empty() || prefix.contains(['{', '}']) || prefix.contains(char::is_whitespace)
        {
            return Err(ConfigError::at(
                "streams.prefix",
                "must be non-empty, without braces or spaces",
            ));
        }
        if !(1..=1024).contains(&self.streams.partitions) {
            return Err(ConfigError::at(
                "streams.partitions",
                "must be between 1 and 1024",
            ));
        }
        for (name, source) in &self.sources {
            source.validate(name)?;
        }
        let names: Vec<&str> = self.sources.keys().map(String::as_str).collect();
        self.consumer.validate(&names)?;
        self.lifecycle.validate()?;
        self.recover.validate(&self.sources)?;
        self.dedup.validate()
    }

    /// The consumer groups compaction waits for on every partition: `lifecycle.required_groups`,
    /// or else every group of `consumer.groups` plus the summary group when summaries are on.
    /// While one of them does not exist on a partition, nothing there has provably been read
    /// by it, so nothing there leaves the hot tier.
    pub fn required_groups(&self) -> Vec<String> {
        if let Some(groups) = &self.lifecycle.required_groups {
            return groups.clone();
        }
        let mut groups: Vec<String> = self.consumer.groups.keys().cloned().collect();
        if self.consumer.summaries {
            groups.push(SUMMARY_GROUP.to_owned());
        }
        groups
    }

    /// A source's effective settings, with section defaults filled in.
    pub fn effective(&self, source: &SourceConfig) -> SourceLimits {
        SourceLimits {
            dedup_window: source
                .dedup_window
                .unwrap_or(self.dedup.default_window)
                .get(),
            max_payload: source
                .max_payload
                .unwrap_or(self.security.max_payload)
                .bytes(),
            timestamp_tolerance: source
                .timestamp_tolerance
                .unwrap_or(self.security.timestamp_tolerance)
                .get(),
        }
    }
}

/// A source's limits after defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    /// Exact de-duplication window.
    pub dedup_window: std::time::Duration,
    /// Largest accepted body in bytes.
    pub max_payload: u64,
    /// Allowed clock difference of signed timestamps.
    pub timestamp_tolerance: std::time::Duration,
}

#[cfg(test)]
mod tests;

/// An SQS queue URL: `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` (or `http://` for a
/// local SQS-compatible server).
fn check_queue_url(path: &str, text: &str) -> Result<(), ConfigError> {
    let url = url::Url::parse(text)
        .map_err(|e| ConfigError::at(path, format!("not a queue URL: {e}")))?;
    let named = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .is_some_and(|n| !n.is_empty());
    if !matches!(url.scheme(), "https" | "http") || !named {
        return Err(ConfigError::at(
            path,
            "must be a queue URL, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/hookline",
        ));
    }
    Ok(())
}
