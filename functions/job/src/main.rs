//! The scheduled-job Lambda function: EventBridge schedules invoke it with
//! `{"job": "compact" | "archive" | "summarize" | "rotate-bloom"}` (summarize may add
//! `"date": "YYYY-MM-DD"`); an EventBridge event carrying that object as `detail` works too.
//! It runs the same job code as `hookline job NAME` and `hookline schedule`, under the same
//! Redis lock, within the invocation's deadline, and writes its metrics as CloudWatch EMF
//! lines (namespace `HOOKLINE_METRICS_NAMESPACE`, default `hookline`). Config comes from
//! `HOOKLINE_CONFIG_YAML` (or `HOOKLINE_CONFIG`), as for the ingest function.
#![forbid(unsafe_code)]

mod emf;

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use hookline_jobs::Budget;
use hookline_jobs::run::{self, JobName, JobRun, Outcome};
use hookline_shared::config::Config;
use hookline_shared::redis::RedisConn;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
enum InvokeError {
    #[error("bad event: {0}")]
    BadEvent(String),
    #[error("{job} failed: {error}")]
    Failed { job: JobName, error: String },
}

impl From<InvokeError> for lambda_runtime::Diagnostic {
    fn from(e: InvokeError) -> Self {
        let error_type = match e {
            InvokeError::BadEvent(_) => "BadEvent",
            InvokeError::Failed { .. } => "JobFailed",
        };
        Self {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match hookline_shared::telemetry::start_lambda() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let conn = match RedisConn::open(&config.redis) {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("redis: cannot set up the connection: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(unsafe_policy) =
        hookline_shared::redis::check_eviction_policy(&mut conn.clone()).await
    {
        eprintln!(
            "{}",
            hookline_shared::config::ConfigError::from(unsafe_policy)
        );
        return ExitCode::from(2);
    }
    let namespace =
        std::env::var("HOOKLINE_METRICS_NAMESPACE").unwrap_or_else(|_| "hookline".into());
    let (config, namespace) = (&config, namespace.as_str());
    let handler = service_fn(|event: LambdaEvent<Value>| {
        let conn = conn.clone();
        async move { invoke(config, conn, namespace, event).await }
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "job function failed");
            ExitCode::FAILURE
        }
    }
}

/// Runs the named job once and reports it.
async fn invoke(
    config: &Config,
    mut conn: RedisConn,
    namespace: &str,
    event: LambdaEvent<Value>,
) -> Result<Value, InvokeError> {
    let started = Instant::now();
    let run = parse(event.payload)?;
    let left = event
        .context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let budget = left
        .saturating_sub(MARGIN)
        .clamp(Duration::from_secs(1), hookline_jobs::schedule::MAX_BUDGET);
    let now_ms = hookline_shared::clock::now_ms();
    let result = run::run_exclusive(config, &mut conn, run, Budget::new(budget), now_ms).await;
    let (outcome, detail) = match &result {
        Ok(Some(line)) => (Outcome::Success, line.clone()),
        Ok(None) => (
            Outcome::Skipped,
            "another run holds the job's lock".to_owned(),
        ),
        Err(e) => (Outcome::Failure, e.to_string()),
    };
    tracing::info!(job = %run.job, outcome = outcome.as_str(), "{detail}");
    report(config, &mut conn, namespace, run.job, outcome, started).await;
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
            "{e}; expected {{\"job\": \"compact|archive|summarize|rotate-bloom\"}}"
        ))
    })?;
    let job: JobName = request.job.parse().map_err(InvokeError::BadEvent)?;
    let day = match request.date {
        Some(date) if job == JobName::Summarize => {
            Some(hookline_jobs::summarize::parse_date(&date).map_err(InvokeError::BadEvent)?)
        }
        Some(_) => return Err(InvokeError::BadEvent("only summarize takes a date".into())),
        None => None,
    };
    Ok(JobRun { job, day })
}

/// Writes the run's metrics and the pipeline gauges as EMF lines.
async fn report(
    config: &Config,
    conn: &mut RedisConn,
    namespace: &str,
    job: JobName,
    outcome: Outcome,
    started: Instant,
) {
    let now = hookline_shared::clock::now_ms();
    let print = |metric: emf::Metric<'_>| println!("{}", emf::line(namespace, now, &metric));
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
    let gauges = match hookline_jobs::gauges::sample(config, conn).await {
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
            Some(hookline_jobs::summarize::parse_date("2026-11-24").unwrap())
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
