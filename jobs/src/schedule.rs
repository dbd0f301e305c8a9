//! `hookline schedule`: runs the jobs on their cron expressions (`lifecycle.schedule`, with
//! seconds, UTC) with tokio-cron-scheduler, any number of replicas against one Redis.
//!
//! Each firing belongs to a tick: the schedule's latest occurrence at or before the firing
//! (the scheduler fires at or just after the occurrence). A replica runs a tick only while it
//! holds the job's lock ([`crate::lock`]) and only if the job's completed tick
//! (`{prefix}:job:{name}:tick`) is older, and records the tick after a success, so each tick
//! runs once across replicas. A failed run leaves the tick open for the next one. At start a
//! replica catches up once: if the latest occurrence before now was never completed (the
//! schedulers were down), it runs that one tick, not every missed one. Every run is
//! recorded in the `{prefix}:job-runs` stream and in the job metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};
use croner::Cron;
use hookline_shared::Context;
use hookline_shared::clock::Clock;
use hookline_shared::config::{self, Config};
use hookline_shared::metrics as names;
use hookline_shared::redis::RedisConn;
use hookline_shared::redis::jobs::{self, RunRecord};
use hookline_shared::streams::Keys;
use hookline_shared::supervise::LoopHealth;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::run::{self, JobName, JobRun, Outcome};
use crate::{Budget, gauges, lock};

/// The longest budget of a scheduled run (Lambda's limit, so both shapes behave alike).
pub const MAX_BUDGET: Duration = Duration::from_secs(14 * 60);
/// How long a stopping scheduler waits for runs in flight. Jobs are safe to kill at any
/// point, so one still running after this is dropped and the next tick carries on.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Why the scheduler could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The cron scheduler failed.
    #[error("scheduler: {0}")]
    Scheduler(#[from] JobSchedulerError),
}

/// Runs every job on its schedule until `shutdown`, as `runner`, then waits up to
/// [`SHUTDOWN_GRACE`] for the runs in flight. Ticks and the jobs' notion of now come from
/// `ctx.clock`.
pub async fn run(
    ctx: &Context,
    runner: String,
    shutdown: CancellationToken,
) -> Result<(), ScheduleError> {
    let state = Arc::new(Ticks {
        conn: ctx.redis.shared(),
        keys: Keys::new(ctx.config.streams.prefix.clone()),
        config: ctx.config.clone(),
        clock: ctx.clock.clone(),
        runner,
        runs: TaskTracker::new(),
        gauges: LoopHealth::new("gauges", "the scheduler"),
    });
    let scheduled = JobName::scheduled(&ctx.config);
    for &job in &scheduled {
        for outcome in [Outcome::Success, Outcome::Failure, Outcome::Skipped] {
            metrics::counter!(names::JOB_RUNS, "job" => job.as_str(), "outcome" => outcome.as_str())
                .increment(0);
        }
    }
    for tier in ["warm", "cold"] {
        metrics::counter!(names::LIFECYCLE_BYTES, "tier" => tier).increment(0);
    }
    for outcome in ["requested", "refused"] {
        metrics::counter!(names::RECOVER_REDELIVERIES, "outcome" => outcome).increment(0);
    }
    state.refresh_gauges().await;
    let crons: Vec<(JobName, Cron)> = scheduled
        .iter()
        .map(|&job| {
            let cron = config::lifecycle::cron(job.schedule(&state.config));
            (job, cron.expect("validated with the config"))
        })
        .collect();
    let mut scheduler = JobScheduler::new().await?;
    for (job, cron) in crons.clone() {
        let expr = job.schedule(&state.config).to_owned();
        if let Some(period) = period(&cron, state.now()) {
            metrics::gauge!(names::JOB_INTERVAL, "job" => job.as_str()).set(period.as_secs_f64());
        }
        let fired = state.clone();
        scheduler
            .add(Job::new_async(expr.as_str(), move |_, _| {
                let state = fired.clone();
                let cron = cron.clone();
                Box::pin(async move {
                    if let Some(tick) = latest(&cron, state.now()) {
                        state.spawn(job, cron, tick);
                    }
                })
            })?)
            .await?;
    }
    scheduler.start().await?;
    tracing::info!(runner = %state.runner, "scheduler started");
    for (job, cron) in crons {
        if let Some(tick) = latest(&cron, state.now()) {
            state.spawn(job, cron, tick);
        }
    }
    shutdown.cancelled().await;
    scheduler.shutdown().await?;
    state.runs.close();
    tracing::info!("scheduler stopping; waiting for the runs in flight");
    if tokio::time::timeout(SHUTDOWN_GRACE, state.runs.wait())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?SHUTDOWN_GRACE, "runs still in flight after the grace; stopping them (the next tick carries on)");
    }
    Ok(())
}

/// The latest occurrence at or before `now`.
fn latest(cron: &Cron, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let whole_second = now.with_nanosecond(0)?;
    cron.find_previous_occurrence(&whole_second, true).ok()
}

/// The time between the next two occurrences after `now`.
fn period(cron: &Cron, now: DateTime<Utc>) -> Option<Duration> {
    let next = cron.find_next_occurrence(&now, false).ok()?;
    let after = cron.find_next_occurrence(&next, false).ok()?;
    (after - next).to_std().ok()
}

struct Ticks {
    config: Arc<Config>,
    clock: Clock,
    conn: RedisConn,
    keys: Keys,
    runner: String,
    runs: TaskTracker,
    /// The gauge refresh after every tick, supervised like every background loop.
    gauges: LoopHealth,
}

impl Ticks {
    /// Now, by the scheduler's clock.
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.clock.now_ms() as i64).unwrap_or_default()
    }

    fn spawn(self: &Arc<Self>, job: JobName, cron: Cron, tick: DateTime<Utc>) {
        let state = self.clone();
        self.runs.spawn(async move {
            if let Err(e) = state.tick(job, &cron, tick).await {
                tracing::warn!(job = %job, error = %e, "cannot run this tick; the next one retries");
                run::record(job, Outcome::Failure, Instant::now());
            }
            // Whether this replica ran the tick or not, it exports what Redis knows, so a
            // standby's gauges are as fresh as the active one's.
            state.refresh_gauges().await;
        });
    }

    /// Sets the tier gauges and every job's last success from Redis.
    async fn refresh_gauges(&self) {
        let mut conn = self.conn.clone();
        let Some(sampled) = self
            .gauges
            .observe(gauges::sample(&self.config, &mut conn).await)
        else {
            return;
        };
        sampled.record();
        for job in JobName::scheduled(&self.config) {
            let last = jobs::last_success(&mut conn, &self.keys, job.as_str()).await;
            match self.gauges.observe(last) {
                Some(Some(at)) => {
                    metrics::gauge!(names::JOB_LAST_SUCCESS, "job" => job.as_str()).set(at)
                }
                Some(None) => {}
                None => return,
            }
        }
    }

    /// Runs `job` for `tick` unless another replica holds it or already ran it.
    async fn tick(&self, job: JobName, cron: &Cron, tick: DateTime<Utc>) -> redis::RedisResult<()> {
        let started = Instant::now();
        let tick_ms = tick.timestamp_millis();
        let Some(held) =
            lock::acquire(&self.conn, &self.keys.job_lock(job.as_str()), lock::TTL).await?
        else {
            run::record(job, Outcome::Skipped, started);
            return Ok(());
        };
        let mut conn = self.conn.clone();
        let done = jobs::completed_tick(&mut conn, &self.keys, job.as_str()).await?;
        if done.is_some_and(|done| done >= tick_ms) {
            run::record(job, Outcome::Skipped, started);
            return held.release(&self.conn).await;
        }
        let now = self.now();
        let budget = cron
            .find_next_occurrence(&now, false)
            .ok()
            .and_then(|next| (next - now).to_std().ok())
            .unwrap_or(MAX_BUDGET)
            .clamp(Duration::from_secs(1), MAX_BUDGET);
        let result = run::run(
            &self.config,
            &mut conn,
            JobRun::new(job),
            Budget::new(budget).fenced(held.lost()),
            self.clock.now_ms(),
        )
        .await;
        let (outcome, detail) = match &result {
            Ok(line) => {
                tracing::info!(job = %job, tick = %tick, "{line}");
                (Outcome::Success, line.clone())
            }
            Err(e) => {
                tracing::error!(job = %job, tick = %tick, error = %e, "job failed");
                (Outcome::Failure, e.to_string())
            }
        };
        let record = RunRecord {
            job: job.as_str(),
            tick_ms,
            runner: &self.runner,
            outcome: outcome.as_str(),
            duration: started.elapsed(),
            detail: &detail,
            succeeded_at: (outcome == Outcome::Success)
                .then(|| self.clock.now_ms() as f64 / 1000.0),
        };
        let recorded = jobs::record_run(&mut conn, &self.keys, record).await;
        run::record(job, outcome, started);
        held.release(&self.conn).await?;
        recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_firing_belongs_to_the_occurrence_at_or_before_it() {
        let cron = config::lifecycle::cron("0 */5 * * * *").unwrap();
        let tick = latest(&cron, at("2026-11-24T18:05:00.400Z")).unwrap();
        assert_eq!(tick, at("2026-11-24T18:05:00Z"));
        let tick = latest(&cron, at("2026-11-24T18:09:59Z")).unwrap();
        assert_eq!(tick, at("2026-11-24T18:05:00Z"));
    }

    #[test]
    fn period_is_the_gap_between_occurrences() {
        let cron = config::lifecycle::cron("0 15 * * * *").unwrap();
        assert_eq!(
            period(&cron, at("2026-11-24T18:00:00Z")),
            Some(Duration::from_secs(3600))
        );
    }
}
