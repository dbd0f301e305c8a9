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

/// How long a job run may work before it stops at the next safe point, and whether it may
/// go on at all: a run fenced by its lock ([`Budget::fenced`]) counts as spent once the lock
/// is lost, so it stops before its next write instead of racing the run that took over.
#[derive(Debug, Clone)]
pub struct Budget {
    until: Instant,
    lost: Option<tokio_util::sync::CancellationToken>,
}

impl Budget {
    /// A budget of `duration` from now.
    pub fn new(duration: Duration) -> Self {
        Self {
            until: Instant::now() + duration,
            lost: None,
        }
    }

    /// The same budget, spent as soon as `lost` is cancelled (the job's lock was lost).
    pub fn fenced(self, lost: tokio_util::sync::CancellationToken) -> Self {
        Self {
            lost: Some(lost),
            ..self
        }
    }

    /// Whether the budget is spent (its time is up, or the lock it is fenced by was lost).
    pub fn spent(&self) -> bool {
        Instant::now() >= self.until || self.lost.as_ref().is_some_and(|l| l.is_cancelled())
    }
}
