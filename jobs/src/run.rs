//! One entry point for every job, shared by `hookline job NAME`, the cron scheduler and the
//! Lambda schedule function, plus the metrics every run records.

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use hookline_shared::Context;
use hookline_shared::config::Config;
use hookline_shared::config::units::Duration as ConfigDuration;
use hookline_shared::metrics as names;
use hookline_shared::redis::RedisConn;
use hookline_shared::spool::SqsSpool;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use hookline_shared::objects::{self, ArchiveUrlError};

use crate::archive::{self, ArchiveError};
use crate::drain_spool::{self, DrainError};
use crate::recover_github::{self, RecoverError, RecoverOptions};
use crate::summarize::{self, SummaryError};
use crate::{Budget, JobError, compact, rotate};

/// The scheduled jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobName {
    /// Hot → warm.
    Compact,
    /// Warm → cold.
    Archive,
    /// Daily summaries.
    Summarize,
    /// Bloom filter generation swap.
    RotateBloom,
    /// SQS spool → Redis.
    DrainSpool,
    /// Failed GitHub deliveries → redelivery requests.
    RecoverGithub,
}

impl JobName {
    /// Every job, in the order a scheduler lists them.
    pub const ALL: [JobName; 6] = [
        JobName::Compact,
        JobName::Archive,
        JobName::Summarize,
        JobName::RotateBloom,
        JobName::DrainSpool,
        JobName::RecoverGithub,
    ];

    /// The jobs `config` gives work to, which a scheduler runs: every job, but `drain-spool`
    /// only with `spool.sqs_queue_url` and `recover-github` only with `recover.github`.
    pub fn scheduled(config: &Config) -> Vec<JobName> {
        Self::ALL
            .into_iter()
            .filter(|job| match job {
                JobName::DrainSpool => config.spool.sqs_queue_url.is_some(),
                JobName::RecoverGithub => !config.recover.github.is_empty(),
                _ => true,
            })
            .collect()
    }

    /// The name used on the command line, in metrics and in Redis keys.
    pub fn as_str(self) -> &'static str {
        match self {
            JobName::Compact => "compact",
            JobName::Archive => "archive",
            JobName::Summarize => "summarize",
            JobName::RotateBloom => "rotate-bloom",
            JobName::DrainSpool => "drain-spool",
            JobName::RecoverGithub => "recover-github",
        }
    }

    /// The job's cron expression in `lifecycle.schedule`.
    pub fn schedule(self, config: &Config) -> &str {
        let schedule = &config.lifecycle.schedule;
        match self {
            JobName::Compact => &schedule.compact,
            JobName::Archive => &schedule.archive,
            JobName::Summarize => &schedule.summarize,
            JobName::RotateBloom => &schedule.rotate_bloom,
            JobName::DrainSpool => &schedule.drain_spool,
            JobName::RecoverGithub => &schedule.recover_github,
        }
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job name that is none of [`JobName::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown job {0:?}: expected compact, archive, summarize, rotate-bloom, drain-spool or recover-github"
)]
pub struct UnknownJob(pub String);

impl FromStr for JobName {
    type Err = UnknownJob;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobName::ALL
            .into_iter()
            .find(|job| job.as_str() == s)
            .ok_or_else(|| UnknownJob(s.to_owned()))
    }
}

/// What to run, with the options a job takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobRun {
    /// The job.
    pub job: JobName,
    /// For `summarize`: the UTC day as days since the epoch; by default yesterday (for late
    /// events) and today (partial).
    pub day: Option<i64>,
    /// For `recover-github`: how far back, and whether only to list.
    pub recover: RecoverOptions,
    /// For `compact` and `archive`: the age that replaces `lifecycle.hot` / `lifecycle.warm`
    /// (forcing a move under memory pressure; unread entries still never move).
    pub older_than: Option<std::time::Duration>,
}

impl JobRun {
    /// `job` with its default options.
    pub fn new(job: JobName) -> Self {
        Self {
            job,
            day: None,
            recover: RecoverOptions::default(),
            older_than: None,
        }
    }
}

/// Why a run failed; what it finished before the failure stays done.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Redis failed.
    #[error(transparent)]
    Job(#[from] JobError),
    /// Archiving failed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// Summarizing failed.
    #[error(transparent)]
    Summary(#[from] SummaryError),
    /// `lifecycle.archive` names a store that cannot be opened.
    #[error("lifecycle.archive: {0}")]
    Store(#[from] ArchiveUrlError),
    /// Draining the SQS spool stopped.
    #[error(transparent)]
    Drain(#[from] DrainError),
    /// Recovering failed GitHub deliveries failed.
    #[error(transparent)]
    Recover(#[from] RecoverError),
}

/// Runs one job to completion or until `budget` is spent; returns a one-line report. The run
/// is one `job` span, with its outcome and the counts of its report as attributes.
pub async fn run(
    config: &Config,
    conn: &mut RedisConn,
    run: JobRun,
    budget: Budget,
    now_ms: u64,
) -> Result<String, RunError> {
    let span = tracing::info_span!(
        "job",
        job = run.job.as_str(),
        outcome = Empty,
        entries = Empty,
        segments = Empty,
        objects = Empty,
        bytes = Empty,
        raw_bytes = Empty,
        expired = Empty,
        unreadable = Empty,
        summaries = Empty,
        events = Empty,
        duplicates = Empty,
        partitions = Empty,
        failed = Empty,
        redeliveries = Empty,
        refused = Empty,
        budget_spent = Empty,
    );
    // Boxed: every job's future nested in the span's is too deep a type for the Lambda
    // function's compiler limits, and one allocation per run costs nothing.
    let result = Box::pin(run_once(config, conn, run, budget, now_ms))
        .instrument(span.clone())
        .await;
    let outcome = match &result {
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    };
    span.record("outcome", outcome.as_str());
    result
}

/// [`run`] inside its span: each job records its counts there.
async fn run_once(
    config: &Config,
    conn: &mut RedisConn,
    run: JobRun,
    budget: Budget,
    now_ms: u64,
) -> Result<String, RunError> {
    let span = Span::current();
    let line = match run.job {
        JobName::Compact => {
            let config = &forced(config, run.older_than, |l, age| l.hot = age);
            let r = compact::compact(config, conn, now_ms, budget).await?;
            span.record("entries", r.entries)
                .record("segments", r.segments)
                .record("raw_bytes", r.raw_bytes)
                .record("bytes", r.warm_bytes)
                .record("unreadable", r.unreadable)
                .record("budget_spent", r.budget_spent);
            let mut line = format!(
                "compacted {} entries into {} segment(s)",
                r.entries, r.segments
            );
            if r.entries > 0 {
                let ratio = r.raw_bytes as f64 / r.warm_bytes.max(1) as f64;
                line.push_str(&format!(
                    ": {} bytes -> {} bytes warm ({ratio:.1}x)",
                    r.raw_bytes, r.warm_bytes
                ));
            }
            for (partition, groups) in &r.blocked {
                line.push_str(&format!(
                    "; partition {partition} stays hot: group(s) {} do not exist there yet",
                    groups.join(", ")
                ));
            }
            if r.unreadable > 0 {
                line.push_str(&format!(
                    "; {} entries that are not events moved raw to the dead-letter streams",
                    r.unreadable
                ));
            }
            if r.budget_spent {
                line.push_str("; budget spent, the next run carries on");
            }
            line
        }
        JobName::Archive => {
            let Some(store) = objects::store_for(config).await? else {
                return Ok("lifecycle.archive is not set: nothing to archive".into());
            };
            let config = &forced(config, run.older_than, |l, age| l.warm = age);
            let r = archive::archive(config, conn, store.as_ref(), now_ms, budget).await?;
            span.record("entries", r.entries)
                .record("segments", r.segments)
                .record("objects", r.objects)
                .record("bytes", r.bytes)
                .record("expired", r.expired)
                .record("budget_spent", r.budget_spent);
            let mut line = format!(
                "archived {} entries from {} segment(s) into {} object(s), {} bytes",
                r.entries, r.segments, r.objects, r.bytes
            );
            if r.expired > 0 {
                line.push_str(&format!(
                    "; deleted {} object(s) past their source's retention",
                    r.expired
                ));
            }
            if r.budget_spent {
                line.push_str("; budget spent, the next run carries on");
            }
            line
        }
        JobName::Summarize => {
            let days = match run.day {
                Some(day) => vec![day],
                None => {
                    let today = summarize::day_of(now_ms);
                    vec![today - 1, today]
                }
            };
            let store = objects::store_for(config).await?;
            let mut parts = Vec::new();
            let (mut summaries, mut events) = (0, 0);
            for day in days {
                let r = summarize::summarize(config, conn, store.as_deref(), day).await?;
                summaries += r.summaries;
                events += r.events;
                span.record("summaries", summaries).record("events", events);
                let mut part = format!(
                    "{}: {} tenant/source pair(s), {} event(s)",
                    summarize::date(day),
                    r.summaries,
                    r.events
                );
                if r.audit_entries > 0 {
                    part.push_str(&format!(", {} audit entr(ies) archived", r.audit_entries));
                }
                parts.push(part);
            }
            format!("summarized {}", parts.join("; "))
        }
        JobName::RotateBloom => {
            let rotated = rotate::rotate_bloom(config, conn).await?;
            span.record("partitions", rotated);
            format!("rotated the bloom filters of {rotated} partition(s)")
        }
        JobName::DrainSpool => {
            let Some(url) = &config.spool.sqs_queue_url else {
                return Ok("spool.sqs_queue_url is not set: nothing to drain".into());
            };
            let spool = SqsSpool::open(url, config)
                .await
                .map_err(DrainError::from)?;
            let r = drain_spool::drain_spool(config, conn, &spool, budget, now_ms).await?;
            span.record("events", r.moved.new)
                .record("duplicates", r.moved.duplicates)
                .record("unreadable", r.unreadable)
                .record("budget_spent", r.budget_spent);
            let mut line = format!(
                "drained {} spooled event(s) into Redis ({} already there)",
                r.moved.new, r.moved.duplicates
            );
            if r.unreadable > 0 {
                line.push_str(&format!(
                    "; {} message(s) are not spool records (left for the dead-letter queue)",
                    r.unreadable
                ));
            }
            if r.budget_spent {
                line.push_str("; budget spent, the next run carries on");
            }
            line
        }
        JobName::RecoverGithub => {
            if config.recover.github.is_empty() {
                return Ok("recover.github is not set: nothing to recover".into());
            }
            let reports =
                recover_github::recover_github(config, conn, run.recover, budget, now_ms).await?;
            let total = |count: fn(&recover_github::HookReport) -> usize| {
                reports.iter().map(count).sum::<usize>()
            };
            span.record("failed", total(|r| r.failed))
                .record("redeliveries", total(|r| r.asked.len()))
                .record("refused", total(|r| r.refused));
            let mut lines: Vec<String> = reports.iter().map(ToString::to_string).collect();
            if run.recover.dry_run {
                for report in &reports {
                    lines.extend(report.asked.iter().map(|f| {
                        format!(
                            "would ask: {} {} (delivery {}, {})",
                            report.hook, f.guid, f.delivery, f.event
                        )
                    }));
                }
            }
            lines.join("\n")
        }
    };
    Ok(line)
}

/// `config` with a tier age replaced by `older_than`, when given, through `set`.
fn forced(
    config: &Config,
    older_than: Option<std::time::Duration>,
    set: impl FnOnce(&mut hookline_shared::config::LifecycleConfig, ConfigDuration),
) -> std::borrow::Cow<'_, Config> {
    match older_than {
        None => std::borrow::Cow::Borrowed(config),
        Some(age) => {
            let mut forced = config.clone();
            set(
                &mut forced.lifecycle,
                ConfigDuration::millis(age.as_millis() as u64),
            );
            std::borrow::Cow::Owned(forced)
        }
    }
}

/// Runs one job like [`run`], but only while holding the job's lock (the scheduler's lock,
/// so a manual run, a Lambda run and a scheduler run never overlap); `None` when another
/// process holds it. What every entry point but the scheduler (which takes the lock itself,
/// around its tick bookkeeping) calls.
pub async fn run_exclusive(
    ctx: &Context,
    job: JobRun,
    budget: Budget,
) -> Result<Option<String>, RunError> {
    let keys = hookline_shared::streams::Keys::new(ctx.config.streams.prefix.clone());
    let lock_key = keys.job_lock(job.job.as_str());
    let mut conn = ctx.redis.shared();
    let held = crate::lock::acquire(&conn, &lock_key, crate::lock::TTL)
        .await
        .map_err(JobError::from)?;
    let Some(held) = held else {
        return Ok(None);
    };
    let budget = budget.fenced(held.lost());
    let result = run(&ctx.config, &mut conn, job, budget, ctx.clock.now_ms()).await;
    held.release(&conn).await.map_err(JobError::from)?;
    result.map(Some)
}

/// How a run ended, for `hookline_job_runs_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The job ran and succeeded.
    Success,
    /// The job ran and failed.
    Failure,
    /// Another replica holds the job's lock, or already ran this tick.
    Skipped,
}

impl Outcome {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Records a run's outcome and duration in the process's metrics (the last success comes
/// from Redis, so every scheduler replica exports the same: `schedule` sets it).
pub fn record(job: JobName, outcome: Outcome, started: Instant) {
    let name = job.as_str();
    metrics::counter!(names::JOB_RUNS, "job" => name, "outcome" => outcome.as_str()).increment(1);
    if outcome == Outcome::Skipped {
        return;
    }
    metrics::histogram!(names::JOB_DURATION, "job" => name).record(started.elapsed().as_secs_f64());
}
