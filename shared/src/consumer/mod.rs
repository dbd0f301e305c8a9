//! The consumer runtime: every configured group on every partition, at-least-once.
//!
//! [`run`] starts one worker per (group, partition) — see `partition` for how a worker reads,
//! acknowledges, retries, claims and dead-letters — and returns once `shutdown` fired and
//! every worker drained.

mod acker;
pub mod backoff;
pub mod budget;
pub mod dlq;
mod partition;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::Context;
use crate::config::ConfigError;
use crate::redis::RedisConn;
use crate::sinks;
use crate::streams::Keys;
use budget::ByteBudget;
use partition::{Shared, Worker};

/// Why an operator command on consumer groups failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A consumer name unique to this process: `{host}-{pid}-{random}`.
pub fn consumer_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hookline".to_owned());
    let random = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &random[random.len() - 6..]
    )
}

/// Runs every configured group until `shutdown`, as consumer `consumer`.
pub async fn run(
    ctx: &Context,
    consumer: &str,
    shutdown: CancellationToken,
) -> Result<(), ConfigError> {
    run_within(ctx, consumer, &budget(ctx), shutdown).await
}

/// The byte budget of a consumer process (`consumer.batch_bytes`).
fn budget(ctx: &Context) -> ByteBudget {
    ByteBudget::new(ctx.config.consumer.batch_bytes.bytes())
}

/// [`run`], taking entries out of `budget`.
async fn run_within(
    ctx: &Context,
    consumer: &str,
    budget: &ByteBudget,
    shutdown: CancellationToken,
) -> Result<(), ConfigError> {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in workers(ctx, consumer, budget)? {
        let reader = dedicated(ctx)?;
        tasks.spawn(worker.run(reader, shutdown.clone()));
    }
    tracing::info!(consumer, workers = tasks.len(), "consuming");
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// What `hookline consume` runs: every configured group and, unless `consumer.summaries` is
/// off, the built-in summary group ([`crate::summary`]), as consumer `consumer`, within one
/// byte budget.
pub async fn run_with_summaries(
    ctx: &Context,
    consumer: &str,
    shutdown: CancellationToken,
) -> Result<(), ConfigError> {
    let budget = budget(ctx);
    let (consumed, counted) = tokio::join!(
        run_within(ctx, consumer, &budget, shutdown.clone()),
        crate::summary::run_within(ctx, consumer, &budget, shutdown)
    );
    consumed.and(counted)
}

/// Takes every entry left idle past its group's `claim_idle` by any consumer and delivers it
/// now (`hookline claim-pending`); returns how many were taken.
pub async fn claim_pending(ctx: &Context, consumer: &str) -> Result<usize, ConsumerError> {
    let mut taken = 0;
    for worker in workers(ctx, consumer, &budget(ctx))? {
        taken += worker.claim_and_deliver().await?;
    }
    Ok(taken)
}

/// One worker per configured (group, partition), sharing one connection, `budget` and each
/// group's sink.
fn workers(
    ctx: &Context,
    consumer: &str,
    budget: &ByteBudget,
) -> Result<Vec<Arc<Worker>>, ConfigError> {
    let config = &ctx.config;
    let conn = ctx.redis.shared();
    let keys = Keys::new(config.streams.prefix.clone());
    let shared = Shared {
        clock: ctx.clock.clone(),
        wait: ctx.redis.wait(),
        dlq_max_len: config.consumer.dlq_max_len,
        budget: budget.clone(),
        attempts_retention_ms: config
            .consumer
            .record_attempts
            .then(|| (config.lifecycle.hot.get() + config.lifecycle.warm.get()).as_millis() as u64),
    };
    let mut workers = Vec::new();
    for (name, group) in &config.consumer.groups {
        let sink = sinks::build(&group.sink, &conn, &keys, group.circuit_breaker, &ctx.clock)
            .map_err(|why| {
                ConfigError::at(format!("consumer.groups.{name}.sink"), why.to_string())
            })?;
        for partition in 0..config.streams.partitions {
            workers.push(Worker::new(
                conn.clone(),
                &keys,
                (partition, name, consumer),
                (group.clone(), sink.clone()),
                shared.clone(),
            ));
        }
    }
    Ok(workers)
}

/// A connection of a worker's own, for its blocking group reads.
pub(crate) fn dedicated(ctx: &Context) -> Result<RedisConn, ConfigError> {
    ctx.redis.dedicated()
}
