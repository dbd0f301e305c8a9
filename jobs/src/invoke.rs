//! A scheduled invocation, as the job Lambda function receives it: the event names the job
//! (`{"job": "compact" | "archive" | "summarize" | "rotate-bloom"}`, summarize may add
//! `"date": "YYYY-MM-DD"`; an EventBridge event carrying that object as `detail` works too).
//! The job runs under the same Redis lock as `hookline schedule` and `hookline job NAME`,
//! within the invocation's deadline, and its metrics are written as CloudWatch EMF lines.

use std::time::{Duration, Instant, SystemTime};

use hookline_shared::Context;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::emf;
use crate::run::{self, JobName, JobRun, Outcome};
use crate::{Budget, gauges};

/// Time left for the function to report after the job stops at its next safe point.
const MARGIN: Duration = Duration::from_secs(10);

/// The scheduled event's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobRequest {
    job: String,
    #[serde(default)]
    date: Option<String>,
}

/// Why an invocation failed (returned to the runtime, so Lambda counts an error).
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The event does not name a job this function runs.
    #[error("bad event: {0}")]
    BadEvent(String),
    /// The job ran and failed.
    #[error("{job} failed: {error}")]
    Failed {
        /// The job.
        job: JobName,
        /// Why, in one line.
        error: String,
    },
}

impl InvokeError {
    /// The error type Lambda records (`errorType`).
    pub fn error_type(&self) -> &'static str {
        match self {
            InvokeError::BadEvent(_) => "BadEvent",
            InvokeError::Failed { .. } => "JobFailed",
        }
    }
}

/// Where an invocation's metrics go: EMF lines on standard output in `namespace`.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// The CloudWatch namespace (`HOOKLINE_METRICS_NAMESPACE`, default `hookline`).
    pub namespace: String,
}

/// Runs the job `payload` names, under its lock, stopping at a safe point before
/// `deadline`; reports the run as EMF lines.
pub async fn handle(
    ctx: &Context,
    payload: Value,
    deadline: SystemTime,
    metrics: &Metrics,
) -> Result<Value, InvokeError> {
    let started = Instant::now();
    let run = parse(payload)?;
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let budget = left
        .saturating_sub(MARGIN)
        .clamp(Duration::from_secs(1), crate::schedule::MAX_BUDGET);
    let result = run::run_exclusive(ctx, run, Budget::new(budget)).await;
    let (outcome, detail) = match &result {
        Ok(Some(line)) => (Outcome::Success, line.clone()),
        Ok(None) => (
            Outcome::Skipped,
            "another run holds the job's lock".to_owned(),
        ),
        Err(e) => (Outcome::Failure, e.to_string()),
    };
    tracing::info!(job = %run.job, outcome = outcome.as_str(), "{detail}");
    report(ctx, metrics, run.job, outcome, started).await;
    match outcome {
        Outcome::Failure => Err(InvokeError::Failed {
            job: run.job,
            error: detail,
        }),
        _ => Ok(json!({"job": run.job.as_str(), "outcome": outcome.as_str(), "detail": detail})),
    }
}

/// The job request, given directly or as an EventBridge event's `detail`.
fn parse(payload: Value) -> Result<JobRun, InvokeError> {
    let request = match payload.get("detail") {
        Some(detail) if detail.is_object() => detail.clone(),
        _ => payload,
    };
    let request: JobRequest = serde_json::from_value(request).map_err(|e| {
        InvokeError::BadEvent(format!(
            "{e}; expected {{\"job\": \"compact|archive|summarize|rotate-bloom|drain-spool|recover-github\"}}"
        ))
    })?;
    let job: JobName = request
        .job
        .parse()
        .map_err(|e: run::UnknownJob| InvokeError::BadEvent(e.to_string()))?;
    let day = match request.date {
        Some(date) if job == JobName::Summarize => Some(
            crate::summarize::parse_date(&date)
                .map_err(|e| InvokeError::BadEvent(e.to_string()))?,
        ),
        Some(_) => return Err(InvokeError::BadEvent("only summarize takes a date".into())),
        None => None,
    };
    Ok(JobRun {
        day,
        ..JobRun::new(job)
    })
}

/// Writes the run's metrics and the pipeline gauges as EMF lines.
async fn report(
    ctx: &Context,
    metrics: &Metrics,
    job: JobName,
    outcome: Outcome,
    started: Instant,
) {
    let now = ctx.clock.now_ms();
    let print =
        |metric: emf::Metric<'_>| println!("{}", emf::line(&metrics.namespace, now, &metric));
    let dims = [("job", job.as_str()), ("outcome", outcome.as_str())];
    print(emf::Metric {
        name: hookline_shared::metrics::JOB_RUNS,
        unit: "Count",
        value: 1.0,
        dimensions: &dims,
    });
    print(emf::Metric {
        name: hookline_shared::metrics::JOB_DURATION,
        unit: "Seconds",
        value: started.elapsed().as_secs_f64(),
        dimensions: &dims[..1],
    });
    let gauges = match gauges::sample(&ctx.config, &mut ctx.redis.shared()).await {
        Ok(gauges) => gauges,
        Err(e) => {
            tracing::warn!(error = %e, "cannot sample the DLQ and lag gauges");
            return;
        }
    };
    print(emf::Metric {
        name: "hookline_dlq_length",
        unit: "Count",
        value: gauges.dlq_length as f64,
        dimensions: &[],
    });
    for (group, lag) in &gauges.lag {
        print(emf::Metric {
            name: hookline_shared::metrics::CONSUMER_LAG,
            unit: "Count",
            value: *lag as f64,
            dimensions: &[("group", group)],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_come_direct_or_as_eventbridge_detail() {
        let direct = parse(json!({"job": "compact"})).unwrap();
        assert_eq!(direct, JobRun::new(JobName::Compact));
        let wrapped =
            parse(json!({"detail-type": "Scheduled Event", "detail": {"job": "rotate-bloom"}}));
        assert_eq!(wrapped.unwrap().job, JobName::RotateBloom);
        let dated = parse(json!({"job": "summarize", "date": "2026-11-24"})).unwrap();
        assert_eq!(
            dated.day,
            Some(crate::summarize::parse_date("2026-11-24").unwrap())
        );
    }

    #[test]
    fn bad_requests_say_what_is_expected() {
        let unknown = parse(json!({"job": "vacuum"})).unwrap_err().to_string();
        assert!(unknown.contains("expected compact, archive"), "{unknown}");
        let missing = parse(json!({"task": "compact"})).unwrap_err().to_string();
        assert!(missing.contains("expected {\"job\""), "{missing}");
        let date = parse(json!({"job": "compact", "date": "2026-11-24"})).unwrap_err();
        assert!(date.to_string().contains("only summarize"));
    }
}
