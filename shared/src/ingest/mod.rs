//! The ingest HTTP handler: one axum [`Router`] served by the Lambda function URL
//! (`lambda_http::run`) and by `hookline serve` (`axum::serve`) alike.
//!
//! `POST /webhooks/{source}`: look up the source, check the client's address against its
//! `allow_ips` and the process's rate limit, read the body within `max_payload`, the body
//! timeout and the memory budget, verify the signature over the raw bytes (a failure spends
//! the source's invalid bucket, a success its rate limit), read event metadata, and append
//! through the de-duplicating script under an identity made of signed data only. A 2xx is sent only after Redis
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

use tokio::sync::Semaphore;

pub use error::IngestError;

use crate::clock::Clock;
use crate::config::{Cidr, Config, ConfigError, SourceLimits};
use crate::dedup::{AppendOptions, Appender};
use crate::mirror::Mirror;
use crate::providers::{self, Provider, ProviderKind};
use crate::redis::Redis;
use crate::secret::Secret;
use crate::spool::Spool;
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
    /// `server.max_in_flight_bytes` as permits: bodies hold them from the first byte until
    /// the request is answered; one that finds too few is refused with 503 at once.
    budget: Arc<Semaphore>,
    /// `server.rate_limit`: the whole process's admissions, before any source's.
    limiter: Option<SourceLimiter>,
    /// `server.trusted_proxies`: peers whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<Cidr>,
    /// `spool`: where events go while Redis cannot take them.
    spool: Option<Spool>,
    /// `outputs.sqs`: where appended events are copied.
    mirror: Option<Mirror>,
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
    /// `rate_limit`: spent by verified requests only.
    limiter: Option<SourceLimiter>,
    /// `invalid_rate_limit`: spent by requests that fail verification.
    invalid_limiter: SourceLimiter,
    /// `allow_ips`; empty: anywhere.
    allow_ips: Vec<Cidr>,
}

/// The client's address, as the transport knows it: the socket's peer (`hookline serve`) or
/// the function URL's `sourceIp` (Lambda). The handler does not require it; without it,
/// `allow_ips` admits nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::IpAddr);

impl IngestState {
    /// Builds the state from a validated config, the process's Redis and the clock.
    pub async fn new(config: &Config, redis: &Redis, clock: Clock) -> Result<Self, ConfigError> {
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
                invalid_limiter: SourceLimiter::new(cfg.invalid_rate_limit),
                allow_ips: cfg.allow_ips.clone(),
            };
            // The counters the alert rules and the dashboard divide exist from the start, so
            // their rates are defined before the first webhook.
            for kind in ["window", "bloom"] {
                metrics::counter!(crate::metrics::DEDUP_HITS, "source" => name.clone(), "kind" => kind)
                    .increment(0);
            }
            for status in ["200", "202", "401", "403", "429", "503"] {
                metrics::counter!(crate::metrics::INGEST_REQUESTS, "source" => name.clone(), "status" => status)
                    .increment(0);
            }
            for counter in [crate::metrics::SPOOLED, crate::metrics::MIRROR_FAILURES] {
                metrics::counter!(counter, "source" => name.clone()).increment(0);
            }
            sources.insert(name.clone(), source);
        }
        for gauge in [
            crate::metrics::SPOOL_EVENTS,
            crate::metrics::SPOOL_OLDEST_AGE,
        ] {
            metrics::gauge!(gauge).set(0.0);
        }
        metrics::counter!(crate::metrics::SPOOL_DRAINED).increment(0);
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
            budget: Arc::new(Semaphore::new(
                usize::try_from(config.server.max_in_flight_bytes.bytes())
                    .unwrap_or(Semaphore::MAX_PERMITS)
                    .min(Semaphore::MAX_PERMITS),
            )),
            limiter: config.server.rate_limit.map(SourceLimiter::new),
            trusted_proxies: config.server.trusted_proxies.clone(),
            spool: Spool::open(config).await?,
            mirror: Mirror::open(config).await,
        })
    }

    /// The spool, for the drainer.
    pub fn spool(&self) -> Option<&Spool> {
        self.spool.as_ref()
    }

    /// The mirror, for the drainer.
    pub fn mirror(&self) -> Option<&Mirror> {
        self.mirror.as_ref()
    }
}

/// The webhook routes: `POST /webhooks/{source}` (other methods get 405).
pub fn router(state: Arc<IngestState>) -> Router {
    Router::new()
        .route("/webhooks/{source}", post(handler::ingest))
        .fallback(handler::not_found)
        .with_state(state)
}
