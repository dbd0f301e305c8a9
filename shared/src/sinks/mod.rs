//! Sinks: where a consumer group delivers events.
//!
//! One trait, [`Sink`]; a library user adds a destination by implementing it. A sink either
//! delivers an event (the consumer then acknowledges it) or returns a [`SinkError`] (the
//! consumer retries with backoff, then dead-letters). Built-in: `http` (Standard Webhooks
//! signed POST), `stream` (routing to other streams), `log`.

pub mod breaker;
mod http;
mod log;
mod stream;

use std::sync::Arc;

use std::time::Duration;

use crate::clock::Clock;
use crate::config::{CircuitBreaker, SinkConfig};
use crate::event::StoredEvent;
use crate::redis::RedisConn;
use crate::streams::Keys;
use breaker::Breaker;

pub use self::http::HttpSink;
pub use self::log::LogSink;
pub use self::stream::StreamSink;

/// What a successful delivery answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// The destination's HTTP status, for sinks that speak HTTP.
    pub status: Option<u16>,
}

/// Why a delivery failed; the message never carries the payload.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// The destination answered with a non-success status.
    #[error("destination answered {0}")]
    Status(u16),
    /// No answer within the sink's timeout.
    #[error("timed out")]
    Timeout,
    /// The destination's circuit breaker is open: no call was made.
    #[error("circuit open")]
    CircuitOpen,
    /// Anything else: connection refused, Redis error, …
    #[error("{0}")]
    Failed(String),
}

/// Why a configured sink cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The sink's URL does not parse.
    #[error("not a URL: {0}")]
    Url(#[from] url::ParseError),
    /// The signing secret is not a Standard Webhooks key.
    #[error(transparent)]
    Key(#[from] crate::providers::KeyError),
    /// The HTTP client cannot be set up (e.g. no TLS roots).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A destination for events.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Delivers one event. `Ok` means it may be acknowledged.
    async fn deliver(&self, event: &StoredEvent) -> Result<Delivered, SinkError>;
}

/// The circuit-breaker destination of a URL: its origin, e.g. `https://app.example.com:443`.
pub fn destination(url: &str) -> Result<String, BuildError> {
    Ok(reqwest::Url::parse(url)?.origin().ascii_serialization())
}

/// Builds a configured sink; `conn` serves stream sinks and circuit breakers, `clock` dates
/// the signatures.
pub fn build(
    config: &SinkConfig,
    conn: &RedisConn,
    keys: &Keys,
    breaker: CircuitBreaker,
    clock: &Clock,
) -> Result<Arc<dyn Sink>, BuildError> {
    Ok(match config {
        SinkConfig::Http {
            url,
            secret,
            secrets,
            timeout,
        } => {
            let destination = destination(url)?;
            let probe_lease = timeout.get() + Duration::from_secs(1);
            let key = keys.breaker(&destination);
            let breaker = Breaker::new(conn.clone(), key, destination, breaker, probe_lease);
            let keys: Vec<&str> = secret.iter().chain(secrets).map(|k| k.expose()).collect();
            let sink = HttpSink::new(url, &keys, timeout.get(), Some(breaker))?;
            Arc::new(sink.with_clock(clock.clone()))
        }
        SinkConfig::Stream { routes } => Arc::new(StreamSink::new(routes.clone(), conn.clone())),
        SinkConfig::Log {} => Arc::new(LogSink),
    })
}
