//! Metric names (docs/SPEC.md §9) and the Prometheus recorder.
//!
//! Code records through the `metrics` facade with the names below; a process that exposes
//! `/metrics` installs the Prometheus recorder once with [`prometheus`].

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Counter of ingest requests by `source` and `status`.
pub const INGEST_REQUESTS: &str = "hookline_ingest_requests_total";
/// Histogram of ingest request durations.
pub const INGEST_DURATION: &str = "hookline_ingest_duration_seconds";
/// Counter of duplicates answered, by `source` and `kind` (`window` or `bloom`).
pub const DEDUP_HITS: &str = "hookline_dedup_hits_total";
/// Counter of bloom-filter hits (probable repeats past the window), by `source` and `on_hit`
/// (`hold`: kept in the suspects stream; `deliver`: appended flagged).
pub const BLOOM_HITS: &str = "hookline_bloom_hits_total";
/// Gauge: entries in the suspects streams (bloom hits held), over every partition.
pub const SUSPECTS: &str = "hookline_suspects";

/// Counter of consumed entries by `group` and `outcome` (delivered, filtered, unreadable,
/// retry, dead_lettered).
pub const CONSUMER_PROCESSED: &str = "hookline_consumer_processed_total";
/// Gauge of entries not yet delivered to a group, by `group` and `partition`.
pub const CONSUMER_LAG: &str = "hookline_consumer_lag";
/// Histogram of sink call durations by `group`.
pub const CONSUMER_DURATION: &str = "hookline_consumer_duration_seconds";
/// Counter of delivery attempts that could not be recorded in the attempts stream.
pub const ATTEMPTS_UNRECORDED: &str = "hookline_attempts_unrecorded_total";
/// Counter of entries moved to a dead-letter stream, by `group`.
pub const DLQ_TOTAL: &str = "hookline_dlq_total";
/// Counter of bytes written to a tier, by `tier` (`warm`, `cold`).
pub const LIFECYCLE_BYTES: &str = "hookline_lifecycle_bytes_total";
/// Gauge per `destination`: 0 closed, 1 half-open, 2 open.
pub const CIRCUIT_STATE: &str = "hookline_circuit_state";
/// Counter of consumer groups recreated after `NOGROUP`, by `group`.
pub const GROUP_RECREATED: &str = "hookline_consumer_group_recreated_total";

/// Counter of job runs by `job` and `outcome` (success, failure, skipped).
pub const JOB_RUNS: &str = "hookline_job_runs_total";
/// Histogram of job run durations by `job`.
pub const JOB_DURATION: &str = "hookline_job_duration_seconds";
/// Gauge per `job`: when it last succeeded, in seconds since the epoch.
pub const JOB_LAST_SUCCESS: &str = "hookline_job_last_success_timestamp_seconds";
/// Gauge per `job`: its schedule's period in seconds, set by the scheduler.
pub const JOB_INTERVAL: &str = "hookline_job_interval_seconds";
/// Gauge: 1 while this process reaches Redis, else 0.
pub const REDIS_UP: &str = "hookline_redis_up";
/// Gauge per `tier` (`hot`, `warm`): bytes held in Redis.
pub const TIER_BYTES: &str = "hookline_tier_bytes";

/// Counter of events answered 202 from the spool (Redis could not take them), by `source`.
pub const SPOOLED: &str = "hookline_spooled_total";
/// Gauge: events waiting in this process's spool.
pub const SPOOL_EVENTS: &str = "hookline_spool_events";
/// Gauge: how long the oldest spooled event has waited, in seconds (0 when empty).
pub const SPOOL_OLDEST_AGE: &str = "hookline_spool_oldest_age_seconds";
/// Counter of spooled events appended to Redis.
pub const SPOOL_DRAINED: &str = "hookline_spool_drained_total";
/// Counter of appended events the SQS mirror (`outputs.sqs`) could not send, by source.
pub const MIRROR_FAILURES: &str = "hookline_mirror_failures_total";
/// Counter of GitHub redeliveries `recover-github` asked for, by outcome (`requested`: GitHub
/// answered 202; `refused`: any other answer).
pub const RECOVER_REDELIVERIES: &str = "hookline_recover_redeliveries_total";
/// Gauge: failed GitHub delivery guids hookline has not stored, found by the last run, by hook.
pub const RECOVER_FAILED_GUIDS: &str = "hookline_recover_failed_guids";
/// Gauge: 1 while compaction skips a partition, by partition and reason (`missing_group`: a
/// required consumer group does not exist there yet), else 0.
pub const COMPACTION_BLOCKED: &str = "hookline_compaction_blocked";
/// Gauge: a partition's dead-letter stream length over `consumer.dlq_max_len` (at 1 the
/// oldest dead letters are trimmed), by partition.
pub const DLQ_FILL: &str = "hookline_dlq_fill_ratio";
/// Counter of failed rounds of background loops (readers, retry scans, claiming, lag, the
/// summary counter), by loop.
pub const BACKGROUND_ERRORS: &str = "hookline_background_errors_total";

/// Label value used for requests to unconfigured sources, so that arbitrary URL paths cannot
/// create unbounded label sets.
pub const UNKNOWN_SOURCE: &str = "unknown";

/// Histogram buckets in seconds: from 100µs (a local Redis round trip) to 10s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Installs the process-wide Prometheus recorder on first call and returns its handle.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("bucket list is non-empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding program); then
            // this handle renders only what it records, which is empty, and says so by being
            // empty rather than by failing the process.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
