//! hookline's lifecycle jobs. The CLI (`hookline job NAME`), the scheduler and the Lambda
//! schedules all call these functions; each run is bounded by a time budget and resumable:
//! it stops cleanly when the budget is spent and the next run carries on.
//!
//! # Layout
//! - [`segment`]: the warm tier's segment format (length-prefixed entries, zstd).
//! - [`compact`]: hot → warm.
//! - [`archive`]: warm → cold (`.jsonl.zst` objects with manifests).
//! - [`summarize`]: render a day's summaries from the counts kept as events flowed.
//! - [`rotate`]: swap the bloom filters' generations.
//! - [`drain_spool`]: the Lambda function's SQS spool → Redis.
//! - [`recover_github`]: ask GitHub to redeliver the deliveries it failed and hookline missed.
//! - [`replay`]: re-append a time range from the hot, warm and cold tiers.
//! - [`run`]: one entry point for every job, and the metrics of a run.
//! - [`invoke`] and [`emf`]: a scheduled Lambda invocation and its CloudWatch metrics.
//! - [`lock`] and [`schedule`]: the cron scheduler, one runner per job across replicas.
#![forbid(unsafe_code)]

pub mod archive;
pub mod compact;
pub mod drain_spool;
pub mod emf;
pub mod gauges;
pub mod invoke;
pub mod lock;
pub mod recover_github;
pub mod replay;
pub mod rotate;
pub mod run;
pub mod schedule;
pub mod segment;
pub mod summarize;

use std::time::{Duration, Instant};

/// Why a job failed; what it finished before the failure stays done.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stream entry id that is not `ms-seq`.
    #[error("unexpected stream id {0:?}")]
    BadId(String),
}

/// How long a job run may work before it stops at the next safe point.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    until: Instant,
}

impl Budget {
    /// A budget of `duration` from now.
    pub fn new(duration: Duration) -> Self {
        Self {
            until: Instant::now() + duration,
        }
    }

    /// Whether the budget is spent.
    pub fn spent(&self) -> bool {
        Instant::now() >= self.until
    }
}
