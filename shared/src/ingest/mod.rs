//! The ingest HTTP handler: one axum [`Router`] served by the Lambda function URL
//! (`lambda_http::run`) and by `hookline serve` (`axum::serve`) alike.
//!
//! `POST /webhooks/{source}`: look up the source, apply its rate limit, read the body
//! within `max_payload`, verify the signature over the raw bytes, read event metadata,
//! and append through the de-duplicating script. A 2xx is sent only after Redis
//! acknowledged the append; when Redis does not answer within `redis.response_timeout` the
//! answer is 503 with `Retry-After`. Container mode adds [`ops::router`] (`/healthz`,
//! `/readyz`, `/metrics`).

mod body;
mod error;
mod handler;
pub mod ops;
mod ratelimit;

use axum::Router;
use axum::routing::post;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use error::IngestError;

use crate::clock::Clock;
use crate::config::{Config, ConfigError, SourceLimits};
use crate::dedup::{AppendOptions, Appender};
use crate::providers::{self, Provider, ProviderKind};
use crate::redis::Redis;
use crate::secret::Secret;
use crate::streams::Keys;
use ratelimit::SourceLimiter;

/// Everything a request needs, built once per process from the config.
#[derive(Debug)]
pub struct IngestState {
    /// Sources by URL path segment.
    sources: HashMap<String, Source>,
    /// Batches appends per partition over the shared Redis connection; an append that takes
    /// longer than `redis.response_timeout` fails and the request gets 503.
    appender: Appender,
    /// `streams.partitions`.
    partitions: u16,
    /// `server.body_timeout`: the whole body must arrive within it.
    body_timeout: Duration,
    /// Dates `received_at` and checks signed timestamps.
    clock: Clock,
}

/// A configured source, ready to verify requests.
#[derive(Debug)]
struct Source {
    name: String,
    tenant: String,
    kind: ProviderKind,
    provider: Arc<dyn Provider>,
    keys: Vec<Secret>,
    limits: SourceLimits,
    limiter: Option<SourceLimiter>,
}

impl IngestState {
    /// Builds the state from a validated config, the process's Redis and the clock.
    pub fn new(config: &Config, redis: &Redis, clock: Clock) -> Result<Self, ConfigError> {
        let mut sources = HashMap::with_capacity(config.sources.len());
        for (name, cfg) in &config.sources {
            let provider = providers::build(cfg.provider, cfg.hmac_options());
            let keys = cfg
                .secrets
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    provider.signing_key(s.expose()).map_err(|why| {
                        ConfigError::at(format!("sources.{name}.secrets[{i}]"), why.to_string())
                    })
                })
                .collect::<Result<_, _>>()?;
            let source = Source {
                name: name.clone(),
                tenant: cfg.tenant.clone(),
                kind: cfg.provider,
                provider,
                keys,
                limits: config.effective(cfg),
                limiter: cfg.rate_limit.map(SourceLimiter::new),
            };
            // The counters the alert rules and the dashboard divide exist from the start, so
            // their rates are defined before the first webhook.
            for kind in ["window", "bloom"] {
                metrics::counter!(crate::metrics::DEDUP_HITS, "source" => name.clone(), "kind" => kind)
                    .increment(0);
            }
            for status in ["200", "202", "503"] {
                metrics::counter!(crate::metrics::INGEST_REQUESTS, "source" => name.clone(), "status" => status)
                    .increment(0);
            }
            sources.insert(name.clone(), source);
        }
        let keys = Keys::new(config.streams.prefix.clone());
        let partitions = config.streams.partitions;
        let timeout = config.redis.response_timeout.get();
        Ok(Self {
            sources,
            appender: Appender::new(
                redis,
                keys,
                partitions,
                timeout,
                AppendOptions::from_config(config),
                clock.clone(),
            )?,
            partitions,
            body_timeout: config.server.body_timeout.get(),
            clock,
        })
    }
}

/// The webhook routes: `POST /webhooks/{source}` (other methods get 405).
pub fn router(state: Arc<IngestState>) -> Router {
    Router::new()
        .route("/webhooks/{source}", post(handler::ingest))
        .fallback(handler::not_found)
        .with_state(state)
}
