//! `hookline job NAME` and `hookline replay`: the lifecycle jobs, run once by an operator.

use std::time::Duration;

use anyhow::Context as _;
use hookline_jobs::Budget;
use hookline_jobs::replay::{self, ReplayRequest};
use hookline_jobs::run::{self, JobRun};
use hookline_shared::Context;
use hookline_shared::config::ConfigError;
use hookline_shared::streams::Keys;
use serde_json::json;

use super::audit::Auditor;
use super::rfc3339_ms;
use crate::CliError;

/// How often a manual run asks again for a lock another run holds.
const LOCK_RETRY: Duration = Duration::from_secs(1);

/// Runs `job` once under its lock, as the scheduler and the Lambda do, within `budget`; a
/// forced move (`--older-than`) is recorded by `auditor`.
pub async fn job(
    ctx: &Context,
    job: JobRun,
    budget: Duration,
    auditor: &Auditor,
) -> Result<(), CliError> {
    let ran = run_job(ctx, job, budget).await;
    let Some(older_than) = job.older_than else {
        return ran.map(|_| ());
    };
    let args = json!({ "older_than": humantime::format_duration(older_than).to_string() });
    auditor
        .record(
            ctx,
            &format!("job {} --older-than", job.job),
            args,
            ran,
            |line| json!({ "report": line }),
        )
        .await
        .map(|_| ())
}

/// Runs `job` once under its lock within `budget` and prints its line, which it returns.
/// While another run holds the lock (a scheduler tick, or a killed run whose lock has not
/// expired yet) it waits for it, and fails only if the budget passes first.
async fn run_job(ctx: &Context, job: JobRun, budget: Duration) -> Result<String, CliError> {
    let budget = Budget::new(budget);
    let mut said = false;
    loop {
        if let Some(line) = run::run_exclusive(ctx, job, budget.clone()).await? {
            println!("{line}");
            return Ok(line);
        }
        if budget.spent() {
            return Err(anyhow::anyhow!(
                "another run of {} held the job's lock for the whole budget; nothing done",
                job.job
            )
            .into());
        }
        if !said {
            eprintln!(
                "{}: another run holds the job's lock (a scheduler, or a killed run whose lock \
                 expires within {}s); waiting for it…",
                job.job,
                hookline_jobs::lock::TTL.as_secs()
            );
            said = true;
        }
        tokio::time::sleep(LOCK_RETRY).await;
    }
}

/// Re-appends the events of `request`'s range (or counts them on a dry run), from whichever
/// tier holds them, printing progress on standard error; `auditor` records a replay that is
/// not a dry run.
pub async fn replay(
    ctx: &Context,
    request: ReplayRequest,
    auditor: &Auditor,
) -> Result<(), CliError> {
    if request.from_ms >= request.to_ms {
        return Err(CliError::Usage("--from must be before --to".into()));
    }
    let report = run_replay(ctx, &request, auditor, |n| {
        eprintln!("replayed {n} events…")
    })
    .await?;
    match request.dry_run {
        true => println!(
            "{} event(s) match; nothing appended (dry run)",
            report.matched
        ),
        false if report.appended == 0 && report.already > 0 => println!(
            "nothing new to replay: the {} matching event(s) were replayed already (by an \
             earlier run with these arguments)",
            report.already
        ),
        false => {
            let mut line = format!(
                "replayed {} of {} matching event(s)",
                report.appended, report.matched
            );
            if report.already > 0 {
                line.push_str(&format!(
                    "; {} replayed already (by an earlier run with these arguments, or earlier in \
                     this one: a dead letter's retried copy is the same event)",
                    report.already
                ));
            }
            println!("{line}");
        }
    }
    Ok(())
}

/// Replays `request` (or counts it on a dry run), calling `progress` with the events appended
/// so far every 1,000; `auditor` records a replay that is not a dry run.
pub async fn run_replay(
    ctx: &Context,
    request: &ReplayRequest,
    auditor: &Auditor,
    progress: impl FnMut(u64),
) -> Result<replay::ReplayReport, CliError> {
    let config = &ctx.config;
    let keys = Keys::new(config.streams.prefix.clone());
    let archive = hookline_shared::objects::store_for(config)
        .await
        .map_err(|why| ConfigError::at("lifecycle.archive", why.to_string()))?;
    let replayed = replay::replay(
        &mut ctx.redis.shared(),
        &keys,
        config.streams.partitions,
        archive.as_deref(),
        request,
        progress,
    )
    .await
    .context("replay stopped");
    if request.dry_run {
        return Ok(replayed?);
    }
    let args = json!({
        "from": rfc3339_ms(request.from_ms), "to": rfc3339_ms(request.to_ms),
        "source": request.source, "event_type": request.event_type,
        "to_stream": request.to_stream, "suspects": request.suspects,
    });
    auditor
        .record(
            ctx,
            "replay",
            args,
            replayed,
            |r| json!({"matched": r.matched, "appended": r.appended, "already": r.already}),
        )
        .await
}
