//! The `outputs` section: where appended events are copied besides Redis.

use serde::Deserialize;

use super::ConfigError;

/// Copies of appended events.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputsConfig {
    /// Dual-write to an existing SQS queue while migrating from SQS.
    pub sqs: Option<SqsOutput>,
}

/// `outputs.sqs`: every appended event is also sent to this queue (docs/SPEC.md §3 has the
/// message format); its failures never fail the ingest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsOutput {
    /// The queue's URL.
    pub queue_url: String,
    /// How the queue is written; `mirror` (the only mode) sends each appended event once.
    #[serde(default)]
    pub mode: OutputMode,
}

/// How an output is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// Every event appended to Redis is sent once more to the output.
    #[default]
    Mirror,
}

impl OutputsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match &self.sqs {
            Some(sqs) => super::check_queue_url("outputs.sqs.queue_url", &sqs.queue_url),
            None => Ok(()),
        }
    }
}
