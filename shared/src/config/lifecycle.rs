//! The `lifecycle` section: when events move from hot to warm to cold, and where cold lives.

use serde::Deserialize;

use super::ConfigError;
use super::units::Duration;

/// Tier ages, the archive location and the job schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// Entries older than this (and acknowledged by every group) move to the warm tier.
    pub hot: Duration,
    /// Warm segments older than this move to the archive.
    pub warm: Duration,
    /// `s3://bucket/prefix` or `file:///path`; without it events stay warm.
    pub archive: Option<String>,
    /// S3 client settings, for S3-compatible servers.
    pub s3: S3Config,
    /// When each job runs.
    pub schedule: Schedule,
    /// The consumer groups that must exist on a partition before it is compacted (see
    /// [`super::Config::required_groups`] for the default).
    pub required_groups: Option<Vec<String>>,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            hot: Duration::secs(2 * 3600),
            warm: Duration::secs(24 * 3600),
            archive: None,
            s3: S3Config::default(),
            schedule: Schedule::default(),
            required_groups: None,
        }
    }
}

/// Optional S3 client overrides; credentials come from the usual AWS chain.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint of an S3-compatible server (MinIO, LocalStack, moto).
    pub endpoint: Option<String>,
    /// Region; default from the AWS environment.
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need.
    pub force_path_style: bool,
}

/// Cron expressions with seconds, in UTC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// Hot → warm.
    pub compact: String,
    /// Warm → cold.
    pub archive: String,
    /// Daily summaries.
    pub summarize: String,
    /// Bloom filter generation swap.
    pub rotate_bloom: String,
    /// SQS spool → Redis (only scheduled with `spool.sqs_queue_url`).
    pub drain_spool: String,
    /// Failed GitHub deliveries → redelivery requests (only scheduled with `recover.github`).
    pub recover_github: String,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            compact: "0 */5 * * * *".into(),
            archive: "0 15 * * * *".into(),
            summarize: "0 5 0 * * *".into(),
            rotate_bloom: "0 0 0 * * *".into(),
            drain_spool: "*/30 * * * * *".into(),
            recover_github: "0 */15 * * * *".into(),
        }
    }
}

impl LifecycleConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.hot >= self.warm {
            return Err(ConfigError::at(
                "lifecycle.warm",
                "must be longer than lifecycle.hot",
            ));
        }
        if let Some(archive) = &self.archive {
            let rest = archive
                .strip_prefix("s3://")
                .or_else(|| archive.strip_prefix("file://"))
                .ok_or_else(|| {
                    ConfigError::at(
                        "lifecycle.archive",
                        "must be s3://bucket/prefix or file:///path",
                    )
                })?;
            if rest.is_empty() || rest.starts_with('/') && archive.starts_with("s3://") {
                return Err(ConfigError::at(
                    "lifecycle.archive",
                    "names no bucket or directory",
                ));
            }
        }
        if let Some(i) = self
            .required_groups
            .iter()
            .flatten()
            .position(|g| g.is_empty() || g.contains(char::is_whitespace))
        {
            return Err(ConfigError::at(
                format!("lifecycle.required_groups[{i}]"),
                "must be a consumer group name (non-empty, no spaces)",
            ));
        }
        let schedule = &self.schedule;
        for (key, expr) in [
            ("compact", &schedule.compact),
            ("archive", &schedule.archive),
            ("summarize", &schedule.summarize),
            ("rotate_bloom", &schedule.rotate_bloom),
            ("drain_spool", &schedule.drain_spool),
            ("recover_github", &schedule.recover_github),
        ] {
            cron(expr).map_err(|why| {
                ConfigError::at(format!("lifecycle.schedule.{key}"), why.to_string())
            })?;
        }
        Ok(())
    }
}

/// Parses a schedule's cron expression as the scheduler reads it: six fields with seconds
/// (`sec min hour day month weekday`), in UTC.
pub fn cron(expr: &str) -> Result<croner::Cron, CronError> {
    let fields = expr.split_whitespace().count();
    if fields != 6 {
        return Err(CronError::Fields(fields));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(CronError::Invalid)
}

/// Why a schedule is not a cron expression the scheduler reads.
#[derive(Debug, thiserror::Error)]
pub enum CronError {
    /// Not six fields.
    #[error("needs 6 cron fields (sec min hour day month weekday), has {0}")]
    Fields(usize),
    /// Six fields that do not parse.
    #[error("is not a valid cron expression: {0}")]
    Invalid(croner::errors::CronError),
}
