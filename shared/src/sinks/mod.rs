//! Sinks: where a consumer group delivers events.
//!
//! One trait, [`Sink`]; a library user adds a destination by implementing it. A sink either
//! delivers an event (the consumer then acknowledges it) or returns a [`SinkError`] (the
//! consumer retries with backoff, then dead-letters). Built-in: `http` (Standard Webhooks
//! signed POST), `stream` (routing to other streams), `log`.

mod http;
mod log;
mod stream;

use std::sync::Arc;

use crate::config::SinkConfig;
use crate::event::StoredEvent;
use crate::redis::RedisConn;

pub use self::http::HttpSink;
pub use self::log::LogSink;
pub use self::stream::StreamSink;

/// Why a delivery failed; the message never carries the payload.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// The destination answered with a non-success status.
    #[error("destination answered {0}")]
    Status(u16),
    /// No answer within the sink's timeout.
    #[error("timed out")]
    Timeout,
    /// Anything else: connection refused, Redis error, …
    #[error("{0}")]
    Failed(String),
}

/// A destination for events.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Delivers one event. `Ok` means it may be acknowledged.
    async fn deliver(&self, event: &StoredEvent) -> Result<(), SinkError>;
}

/// Builds a configured sink. `conn` serves stream sinks.
pub fn build(config: &SinkConfig, conn: &RedisConn) -> Result<Arc<dyn Sink>, String> {
    Ok(match config {
        SinkConfig::Http {
            url,
            secret,
            timeout,
        } => Arc::new(HttpSink::new(url, secret, timeout.get())?),
        SinkConfig::Stream { routes } => Arc::new(StreamSink::new(routes.clone(), conn.clone())),
        SinkConfig::Log {} => Arc::new(LogSink),
    })
}
