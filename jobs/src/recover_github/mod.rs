//! `recover-github`: GitHub never redelivers a failed webhook delivery by itself, and keeps
//! the record of every attempt for three days. For each hook in `recover.github` this job
//! lists the hook's deliveries newest first, down to `--since` (3 days) or to where its last
//! complete run got, finds the guids none of whose attempts succeeded and that hookline has
//! not stored either (looked up by `X-GitHub-Delivery` in the hot and warm tiers, over the
//! span the failures cover), and asks GitHub to redeliver each once per run and at most
//! `max_attempts` times in all, as recorded in Redis. A run stopped by a rate limit or its
//! budget asks for nothing more and leaves its checkpoint where it was, so the next run
//! lists that span again.

pub mod api;
pub mod plan;

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use hookline_shared::config::{Config, GithubHook};
use hookline_shared::metrics as names;
use hookline_shared::redis::RedisConn;
use hookline_shared::redis::recover::{self, Asked};
use hookline_shared::streams::Keys;

use crate::archive::ArchiveError;
use crate::replay::{self, ReplayRequest};
use crate::{Budget, JobError};
use api::{ApiError, Delivery, GitHub};
use plan::{Decision, Failed};

/// How long GitHub keeps deliveries: the default `--since`.
pub const GITHUB_KEEPS: Duration = Duration::from_secs(3 * 24 * 3600);
/// Kept in Redis a day longer than GitHub keeps deliveries.
const KEPT: Duration = Duration::from_secs(4 * 24 * 3600);
/// Listing goes this far past the checkpoint: an attempt still running when the last run
/// listed is dated when it started.
const OVERLAP_MS: u64 = 5 * 60 * 1000;
/// How long before GitHub's attempt hookline's `received_at` may lie (clock skew), and after.
const SKEW_MS: u64 = 60 * 60 * 1000;

/// A run's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoverOptions {
    /// How far back to look.
    pub since: Duration,
    /// List what would be asked for; ask for nothing.
    pub dry_run: bool,
}

impl Default for RecoverOptions {
    fn default() -> Self {
        Self {
            since: GITHUB_KEEPS,
            dry_run: false,
        }
    }
}

/// What one hook's run found and did.
#[derive(Debug, Clone, Default)]
pub struct HookReport {
    /// The hook.
    pub hook: String,
    /// Delivery attempts listed.
    pub seen: usize,
    /// Guids none of whose attempts succeeded.
    pub failed: usize,
    /// Of those, stored by hookline all the same.
    pub stored: usize,
    /// Redeliveries GitHub accepted (or, with `--dry-run`, would be asked for).
    pub asked: Vec<Failed>,
    /// Redeliveries GitHub refused.
    pub refused: usize,
    /// Failures already asked for, whose redelivery is not listed yet.
    pub waiting: usize,
    /// Failures past `max_attempts`.
    pub exhausted: usize,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
}

impl fmt::Display for HookReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} deliveries seen, {} failed guid(s), {} already stored, {} redelivery(ies) asked, {} refused",
            self.hook,
            self.seen,
            self.failed,
            self.stored,
            self.asked.len(),
            self.refused
        )?;
        if self.waiting > 0 {
            write!(f, ", {} awaiting a redelivery asked before", self.waiting)?;
        }
        if self.exhausted > 0 {
            write!(f, ", {} past max_attempts", self.exhausted)?;
        }
        if let Some(why) = &self.stopped {
            write!(f, "; stopped: {why} (the next run carries on)")?;
        }
        Ok(())
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// GitHub could not be asked (credentials, network, an unexpected answer).
    #[error("recover-github {hook}: {source}")]
    GitHub {
        /// The hook.
        hook: String,
        /// What failed.
        source: ApiError,
    },
    /// Redis failed.
    #[error(transparent)]
    Redis(#[from] JobError),
    /// The tiers could not be read.
    #[error(transparent)]
    Lookup(#[from] ArchiveError),
}

/// Runs every hook of `recover.github`.
pub async fn recover_github(
    config: &Config,
    conn: &mut RedisConn,
    options: RecoverOptions,
    budget: Budget,
    now_ms: u64,
) -> Result<Vec<HookReport>, RecoverError> {
    let mut reports = Vec::new();
    for hook in &config.recover.github {
        let failure = |source| RecoverError::GitHub {
            hook: hook.hook.clone(),
            source,
        };
        let github = GitHub::new(hook).map_err(failure)?;
        let report = recover_hook(config, conn, hook, &github, options, &budget, now_ms)
            .await
            .map_err(|e| match e {
                Interrupted::Api(e) => failure(e),
                Interrupted::Other(e) => e,
            })?;
        metrics::gauge!(names::RECOVER_FAILED_GUIDS, "hook" => hook.hook.clone())
            .set((report.failed - report.stored) as f64);
        reports.push(report);
    }
    Ok(reports)
}

enum Interrupted {
    Api(ApiError),
    Other(RecoverError),
}

impl<E: Into<RecoverError>> From<E> for Interrupted {
    fn from(e: E) -> Self {
        Interrupted::Other(e.into())
    }
}

/// An API error that stops the run without failing it.
fn stopping(e: ApiError, report: &mut HookReport) -> Result<(), Interrupted> {
    match e {
        ApiError::Stopped(stop) => {
            report.stopped = Some(stop.to_string());
            Ok(())
        }
        other => Err(Interrupted::Api(other)),
    }
}

async fn recover_hook(
    config: &Config,
    conn: &mut RedisConn,
    hook: &GithubHook,
    github: &GitHub,
    options: RecoverOptions,
    budget: &Budget,
    now_ms: u64,
) -> Result<HookReport, Interrupted> {
    let keys = Keys::new(config.streams.prefix.clone());
    let checkpoint_key = keys.recover_checkpoint(&hook.hook);
    let checkpoint = recover::checkpoint(conn, &checkpoint_key)
        .await
        .map_err(JobError::from)?;
    let since = now_ms.saturating_sub(options.since.as_millis() as u64);
    let floor = checkpoint.map_or(since, |c| c.saturating_sub(OVERLAP_MS).max(since));
    let mut report = HookReport {
        hook: hook.hook.clone(),
        ..HookReport::default()
    };

    // List newest first down to the floor.
    let mut deliveries: Vec<Delivery> = Vec::new();
    let mut url = Some(github.first_page());
    while let Some(page_url) = url.take() {
        if budget.spent() {
            report.stopped = Some("budget spent".into());
            break;
        }
        let page = match github.page(&page_url).await {
            Ok(page) => page,
            Err(e) => {
                stopping(e, &mut report)?;
                break;
            }
        };
        let older = page.deliveries.iter().any(|d| d.delivered_at_ms < floor);
        deliveries.extend(
            page.deliveries
                .into_iter()
                .filter(|d| d.delivered_at_ms >= floor),
        );
        url = page.next.filter(|_| !older);
    }
    report.seen = deliveries.len();
    if report.stopped.is_some() {
        return Ok(report);
    }

    let failed = plan::failed(&deliveries);
    report.failed = failed.len();
    let stored = stored_guids(config, conn, &keys, hook, &failed, now_ms).await?;
    let missing: Vec<&Failed> = failed
        .iter()
        .filter(|f| !stored.contains(&f.guid))
        .collect();
    report.stored = failed.len() - missing.len();

    let guid_keys: Vec<String> = missing
        .iter()
        .map(|f| keys.recover_guid(&hook.hook, &f.guid))
        .collect();
    let asked = recover::asked(conn, &guid_keys)
        .await
        .map_err(JobError::from)?;
    for ((failed, key), before) in missing.into_iter().zip(&guid_keys).zip(asked) {
        match plan::decide(failed, before, hook.max_attempts) {
            Decision::Waiting => report.waiting += 1,
            Decision::Exhausted => report.exhausted += 1,
            Decision::Ask if options.dry_run => report.asked.push(failed.clone()),
            Decision::Ask => {
                if budget.spent() {
                    report.stopped = Some("budget spent".into());
                    return Ok(report);
                }
                let outcome = match github.redeliver(failed.delivery).await {
                    Ok(()) => {
                        report.asked.push(failed.clone());
                        "requested"
                    }
                    Err(ApiError::Refused {
                        status, message, ..
                    }) => {
                        tracing::warn!(guid = %failed.guid, delivery = failed.delivery, %status, %message, "GitHub refused the redelivery");
                        report.refused += 1;
                        "refused"
                    }
                    Err(e) => {
                        stopping(e, &mut report)?;
                        return Ok(report);
                    }
                };
                metrics::counter!(names::RECOVER_REDELIVERIES, "outcome" => outcome).increment(1);
                let now = Asked {
                    count: before.count + 1,
                    delivery: failed.delivery,
                };
                recover::record_asked(conn, key, now, KEPT)
                    .await
                    .map_err(JobError::from)?;
            }
        }
    }
    if !options.dry_run
        && let Some(newest) = deliveries.iter().map(|d| d.delivered_at_ms).max()
    {
        recover::set_checkpoint(conn, &checkpoint_key, newest, KEPT)
            .await
            .map_err(JobError::from)?;
    }
    Ok(report)
}

/// Which of the `failed` guids hookline stored for the hook's source: the delivery ids of the
/// source's events in the hot and warm tiers over the span the failures cover.
async fn stored_guids(
    config: &Config,
    conn: &mut RedisConn,
    keys: &Keys,
    hook: &GithubHook,
    failed: &[Failed],
    now_ms: u64,
) -> Result<HashSet<String>, RecoverError> {
    let Some(oldest) = failed.iter().map(|f| f.delivered_at_ms).min() else {
        return Ok(HashSet::new());
    };
    let request = ReplayRequest {
        from_ms: oldest.saturating_sub(SKEW_MS),
        to_ms: now_ms + SKEW_MS,
        source: Some(hook.source.clone()),
        event_type: None,
        to_stream: None,
        dry_run: true,
        suspects: false,
    };
    let events = replay::matching(conn, keys, config.streams.partitions, None, &request).await?;
    Ok(events
        .into_iter()
        .map(|(_, event)| event.text("delivery_id").to_owned())
        .filter(|id| !id.is_empty())
        .collect())
}
