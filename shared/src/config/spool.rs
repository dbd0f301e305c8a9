//! The `spool` section: where ingest keeps verified events while Redis cannot take them.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use super::units::Size;

/// The fallback spool (see `crate::spool`): a local directory for `hookline serve`, or an
/// SQS FIFO queue for the Lambda function.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// A directory on a local volume for `hookline serve`'s disk spool (created if missing).
    pub path: Option<PathBuf>,
    /// Most bytes the disk spool takes on disk; past it ingest answers 503 again.
    pub max_bytes: Size,
    /// An SQS FIFO queue (the Lambda function's spool), drained by `job drain-spool`.
    pub sqs_queue_url: Option<String>,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            path: None,
            max_bytes: Size::mib(1024),
            sqs_queue_url: None,
        }
    }
}

impl SpoolConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes.bytes() < 1 << 20 {
            return Err(ConfigError::at("spool.max_bytes", "must be at least 1MiB"));
        }
        if let Some(url) = &self.sqs_queue_url {
            if self.path.is_some() {
                return Err(ConfigError::at(
                    "spool.sqs_queue_url",
                    "set either spool.path (a disk spool) or spool.sqs_queue_url, not both",
                ));
            }
            super::check_queue_url("spool.sqs_queue_url", url)?;
            if !url.ends_with(".fifo") {
                return Err(ConfigError::at(
                    "spool.sqs_queue_url",
                    "must be a FIFO queue (its name ends in .fifo): the drain keeps each \
                     partition's order through the queue's message groups",
                ));
            }
        }
        Ok(())
    }
}
