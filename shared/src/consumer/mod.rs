//! The consumer runtime: every configured group on every partition, at-least-once.
//!
//! [`run`] starts one worker per (group, partition) — see `partition` for how a worker reads,
//! acknowledges, retries, claims and dead-letters — and returns once `shutdown` fired and
//! every worker drained.

mod acker;
pub mod backoff;
pub mod dlq;
mod partition;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::Context;
use crate::config::ConfigError;
use crate::redis::RedisConn;
use crate::sinks;
use crate::streams::Keys;
use partition::Worker;

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
    let mut tasks = tokio::task::JoinSet::new();
    for worker in workers(ctx, consumer)? {
        let reader = dedicated(ctx)?;
        tasks.spawn(worker.run(reader, shutdown.clone()));
    }
    tracing::info!(consumer, workers = tasks.len(), "consuming");
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// What `hookline consume` runs: every configured group and, unless `consumer.summaries` is
/// off, the built-in summary group ([`crate::summary`]), as consumer `consumer`.
pub async fn run_with_summaries(
    ctx: &Context,
    consumer: &str,
    shutdown: CancellationToken,
) -> Result<(), ConfigError> {
    let (consumed, counted) = tokio::join!(
        run(ctx, consumer, shutdown.clone()),
        crate::summary::run(ctx, consumer, shutdown)
    );
    consumed.and(counted)
}

/// Takes every entry left idle past its group's `claim_idle` by any consumer and delivers it
/// now (`hookline claim-pending`); returns how many were taken.
pub async fn claim_pending(ctx: &Context, consumer: &str) -> Result<usize, ConsumerError> {
    let mut taken = 0;
    for worker in workers(ctx, consumer)? {
        taken += worker.claim_and_deliver().await?;
    }
    Ok(taken)
}

/// One worker per configured (group, partition), sharing one connection and each group's sink.
fn workers(ctx: &Context, consumer: &str) -> Result<Vec<Arc<Worker>>, ConfigError> {
    let config = &ctx.config;
    let conn = ctx.redis.shared();
    let keys = Keys::new(config.streams.prefix.clone());
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
                group.clone(),
                sink.clone(),
                (
                    ctx.clock.clone(),
                    ctx.redis.wait(),
                    config.consumer.dlq_max_len,
                ),
            ));
        }
    }
    Ok(workers)
}

/// A connection of a worker's own, for its blocking group reads.
pub(crate) fn dedicated(ctx: &Context) -> Result<RedisConn, ConfigError> {
    ctx.redis.dedicated()
}
