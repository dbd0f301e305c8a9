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

mod consumer;
pub mod lifecycle;
mod load;
mod observability;
mod redis;
mod source;
pub mod units;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

pub use consumer::{
    Backoff, CLAIM_MARGIN, CircuitBreaker, ConsumerConfig, Filter, GroupConfig, Route, SinkConfig,
    StartPosition,
};
pub use lifecycle::{LifecycleConfig, S3Config, Schedule};
pub use load::{ConfigSource, from_env, load, parse};
pub use observability::{LogFormat, ObservabilityConfig};
pub use redis::{DEFAULT_URL, RedisConfig, RedisMode};
pub use source::SourceConfig;
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

/// The container HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address `hookline serve` listens on; `--listen` overrides it.
    pub listen: SocketAddr,
    /// How long a sender may take to send a whole request body; slower ones get 408.
    pub body_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_timeout: Duration::secs(30),
        }
    }
}

/// De-duplication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// Exact de-duplication window of sources that set none.
    pub default_window: Duration,
    /// Long-term probabilistic de-duplication.
    pub bloom: BloomConfig,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            default_window: Duration::secs(300),
            bloom: BloomConfig::default(),
        }
    }
}

/// Bloom filter sizing, per partition and generation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BloomConfig {
    /// Whether repeats after the window are caught at all (default true).
    pub enabled: bool,
    /// Identities one generation holds at the configured false-positive rate.
    pub capacity: u64,
    /// Probability that a new event is taken for a repeat, at capacity.
    pub false_positive_rate: f64,
    /// How long bloom hits are kept in the suspects stream for inspection.
    pub suspects_retention: Duration,
}

impl Default for BloomConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            capacity: 10_000_000,
            false_positive_rate: 0.001,
            suspects_retention: Duration::secs(7 * 86_400),
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

impl BloomConfig {
    /// The filter's shape; `None` when the bloom filter is disabled.
    pub fn shape(&self) -> Option<crate::dedup::BloomShape> {
        self.enabled.then(|| {
            crate::dedup::BloomShape::for_capacity(self.capacity, self.false_positive_rate)
        })
    }
}

/// Redis strings are at most 512 MiB, so one bloom generation is too.
const MAX_BLOOM_BYTES: u64 = 512 * 1024 * 1024;

impl Config {
    /// Runs every cross-field check; the loader calls it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.redis.validate()?;
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
        self.dedup.validate()
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

impl DedupConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.default_window.get().as_millis() == 0 {
            return Err(ConfigError::at(
                "dedup.default_window",
                "must be at least 1ms",
            ));
        }
        let bloom = &self.bloom;
        let p = bloom.false_positive_rate;
        if !(p > 0.0 && p < 1.0) {
            return Err(ConfigError::at(
                "dedup.bloom.false_positive_rate",
                "must be between 0 and 1 (exclusive)",
            ));
        }
        if bloom.capacity == 0 {
            return Err(ConfigError::at(
                "dedup.bloom.capacity",
                "must be at least 1",
            ));
        }
        let bytes = crate::dedup::BloomShape::for_capacity(bloom.capacity, p).bytes();
        if bytes > MAX_BLOOM_BYTES {
            return Err(ConfigError::at(
                "dedup.bloom.capacity",
                format!(
                    "needs {} MiB per generation at this false-positive rate; a Redis string \
                     holds at most 512 MiB",
                    bytes >> 20
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
