//! The `consumer` section: consumer groups, each with a sink and an optional filter.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ConfigError;
use super::source::check_name;
use super::units::{Duration, Size};
use crate::secret::Secret;

/// The built-in summary group's name (`crate::summary` runs it), refused for user groups.
pub const SUMMARY_GROUP: &str = "hookline-summaries";

/// The extra time `claim_idle` must leave beyond a sink's timeout, so an entry still in
/// flight on a live consumer is never claimed by another one.
pub const CLAIM_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Consumer groups by name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Each key is the consumer group's name in Redis.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupConfig>,
    /// Whether `hookline consume` also runs the built-in summary group (default true). On a
    /// busy pipeline, turn it off on the delivery consumers and run one `hookline consume`
    /// with no groups and this on: summary counting then has its own process.
    #[serde(default = "defaults::yes")]
    pub summaries: bool,
    /// Entries each partition's dead-letter stream keeps at most (approximately); older ones
    /// are trimmed. `hookline_dlq_fill_ratio` and an alert warn well before.
    #[serde(default = "defaults::dlq_max_len")]
    pub dlq_max_len: u64,
    /// The most entry bytes one consumer process reads and holds at once, all groups,
    /// partitions and the summary counter together: reads are bounded by it, and an entry
    /// holds its share until it is settled. One entry larger than this is handled alone.
    #[serde(default = "defaults::batch_bytes")]
    pub batch_bytes: Size,
    /// Whether every delivery attempt is recorded in the partition's attempts stream
    /// (default true; `hookline events show` lists them).
    #[serde(default = "defaults::yes")]
    pub record_attempts: bool,
}

/// One consumer group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Where processed events go.
    pub sink: SinkConfig,
    /// Which events the group handles; the rest are acknowledged untouched.
    #[serde(default)]
    pub filter: Filter,
    /// Where a new group starts: `earliest` (id 0, the default: events ingested before the
    /// first consumer ran are delivered) or `latest`.
    #[serde(default)]
    pub start: StartPosition,
    /// Entries read at most per read (reads are bounded in bytes, too: `consumer.batch_bytes`).
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// Sink calls in flight at once per consumer process.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// Attempts after the first before an entry may go to the dead-letter stream (with
    /// `retry_for`: both must be spent).
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// How long after its first failed attempt an entry is still retried, however many
    /// attempts that takes: an entry is dead-lettered only once `max_retries` retries are
    /// spent AND `retry_for` has passed, so an outage shorter than it sends nothing to the DLQ.
    #[serde(default = "defaults::retry_for")]
    pub retry_for: Duration,
    /// Exponential backoff with full jitter between attempts.
    #[serde(default)]
    pub backoff: Backoff,
    /// Entries pending longer than this on another consumer are claimed; must exceed the
    /// sink timeout plus 5s.
    #[serde(default = "defaults::claim_idle")]
    pub claim_idle: Duration,
    /// On SIGTERM, how long in-flight work may take before the process exits.
    #[serde(default = "defaults::shutdown_grace")]
    pub shutdown_grace: Duration,
    /// Stops calling a failing destination for a while (http sinks).
    #[serde(default)]
    pub circuit_breaker: CircuitBreaker,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            groups: BTreeMap::new(),
            summaries: true,
            dlq_max_len: defaults::dlq_max_len(),
            batch_bytes: defaults::batch_bytes(),
            record_attempts: true,
        }
    }
}

mod defaults {
    use super::{Duration, Size};
    pub fn yes() -> bool {
        true
    }
    pub fn batch_size() -> usize {
        100
    }
    pub fn concurrency() -> usize {
        16
    }
    pub fn max_retries() -> u32 {
        8
    }
    pub fn retry_for() -> Duration {
        Duration::secs(24 * 3600)
    }
    pub fn dlq_max_len() -> u64 {
        1_000_000
    }
    pub fn batch_bytes() -> Size {
        Size::mib(16)
    }
    pub fn claim_idle() -> Duration {
        Duration::secs(300)
    }
    pub fn shutdown_grace() -> Duration {
        Duration::secs(30)
    }
    pub fn sink_timeout() -> Duration {
        Duration::secs(10)
    }
}

/// Where a new group starts reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartPosition {
    /// From the start of the stream.
    #[default]
    Earliest,
    /// Only entries appended after the group was created.
    Latest,
}

/// A sink, chosen by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// POST of the original payload, signed with Standard Webhooks headers.
    Http {
        /// The destination URL.
        url: String,
        /// `whsec_...` Standard Webhooks signing key.
        #[serde(default)]
        secret: Option<Secret<str>>,
        /// Several keys instead, each signing every delivery (the receiver rotates with
        /// overlap: it accepts either while it moves from the old key to the new).
        #[serde(default)]
        secrets: Vec<Secret<str>>,
        /// How long one delivery may take.
        #[serde(default = "defaults::sink_timeout")]
        timeout: Duration,
    },
    /// Fan-out to other streams by routing rules; the first matching rule wins.
    Stream {
        /// Routing rules.
        routes: Vec<Route>,
    },
    /// Writes one log line per event (metadata only, never the payload).
    Log {},
}

/// A routing rule of a stream sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Tenants matched (empty: all).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Sources matched (empty: all).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Event types matched (empty: all).
    #[serde(default)]
    pub event_types: Vec<String>,
    /// The stream key matching events are appended to.
    pub to: String,
}

/// Which events a group handles; every given list must match.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Tenants handled (empty: all).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Sources handled (empty: all).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Event types handled (empty: all).
    #[serde(default)]
    pub event_types: Vec<String>,
}

/// Exponential backoff bounds.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    /// The first retry's upper bound.
    pub initial: Duration,
    /// The largest delay between attempts.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::secs(1),
            max: Duration::secs(300),
        }
    }
}

/// Circuit breaker thresholds.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreaker {
    /// Consecutive failures that open the circuit.
    pub failures: u32,
    /// How long the circuit stays open before one probe is let through.
    pub open_for: Duration,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            failures: 5,
            open_for: Duration::secs(30),
        }
    }
}

impl ConsumerConfig {
    pub(super) fn validate(&self, sources: &[&str]) -> Result<(), ConfigError> {
        for (name, group) in &self.groups {
            group.validate(&format!("consumer.groups.{name}"), sources)?;
            check_name(&format!("consumer.groups.{name}"), name)?;
            if name == SUMMARY_GROUP {
                return Err(ConfigError::at(
                    format!("consumer.groups.{name}"),
                    "is the built-in summary group's name; choose another",
                ));
            }
        }
        if self.dlq_max_len < 1000 {
            return Err(ConfigError::at(
                "consumer.dlq_max_len",
                "must be at least 1000",
            ));
        }
        if !(64 << 10..=1 << 30).contains(&self.batch_bytes.bytes()) {
            return Err(ConfigError::at(
                "consumer.batch_bytes",
                "must be between 64KiB and 1GiB",
            ));
        }
        Ok(())
    }
}

impl GroupConfig {
    fn validate(&self, at: &str, sources: &[&str]) -> Result<(), ConfigError> {
        for (key, value) in [
            ("batch_size", self.batch_size),
            ("concurrency", self.concurrency),
        ] {
            if value == 0 {
                return Err(ConfigError::at(format!("{at}.{key}"), "must be at least 1"));
            }
        }
        if self.backoff.initial > self.backoff.max {
            return Err(ConfigError::at(
                format!("{at}.backoff.initial"),
                "must not exceed backoff.max",
            ));
        }
        if let Some((i, unknown)) = self
            .filter
            .sources
            .iter()
            .enumerate()
            .find(|(_, s)| !sources.contains(&s.as_str()))
        {
            return Err(ConfigError::at(
                format!("{at}.filter.sources[{i}]"),
                format!("no source named {unknown:?} is configured"),
            ));
        }
        match &self.sink {
            SinkConfig::Http {
                url,
                secret,
                secrets,
                timeout,
            } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError::at(
                        format!("{at}.sink.url"),
                        "must be an http:// or https:// URL",
                    ));
                }
                let keys: Vec<(String, &Secret<str>)> = match (secret, secrets.as_slice()) {
                    (Some(one), []) => vec![(format!("{at}.sink.secret"), one)],
                    (None, [_, ..]) => secrets
                        .iter()
                        .enumerate()
                        .map(|(i, key)| (format!("{at}.sink.secrets[{i}]"), key))
                        .collect(),
                    (None, []) => {
                        return Err(ConfigError::at(
                            format!("{at}.sink.secret"),
                            "is required (or secrets: a list of keys)",
                        ));
                    }
                    (Some(_), [_, ..]) => {
                        return Err(ConfigError::at(
                            format!("{at}.sink.secrets"),
                            "set secret or secrets, not both",
                        ));
                    }
                };
                for (path, key) in keys {
                    crate::providers::build(crate::providers::ProviderKind::Standard, None)
                        .signing_key(key.expose())
                        .map_err(|why| ConfigError::at(path, why.to_string()))?;
                }
                let least = timeout.get() + CLAIM_MARGIN;
                if self.claim_idle.get() <= least {
                    return Err(ConfigError::at(
                        format!("{at}.claim_idle"),
                        format!(
                            "must exceed the sink timeout plus {}s (more than {}), or an entry \
                             still in flight is delivered twice",
                            CLAIM_MARGIN.as_secs(),
                            humantime::format_duration(least)
                        ),
                    ));
                }
            }
            SinkConfig::Stream { routes } if routes.is_empty() => {
                return Err(ConfigError::at(
                    format!("{at}.sink.routes"),
                    "needs at least one route",
                ));
            }
            SinkConfig::Stream { .. } | SinkConfig::Log {} => {}
        }
        Ok(())
    }
}
