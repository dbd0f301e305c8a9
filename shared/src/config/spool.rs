//! The `spool` section: where ingest keeps verified events while Redis cannot take them.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use super::units::Size;

/// The fallback spool (see `crate::spool`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// A directory on a local volume for `hookline serve`'s disk spool (created if missing).
    pub path: Option<PathBuf>,
    /// Most bytes the disk spool takes on disk; past it ingest answers 503 again.
    pub max_bytes: Size,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            path: None,
            max_bytes: Size::mib(1024),
        }
    }
}

impl SpoolConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes.bytes() < 1 << 20 {
            return Err(ConfigError::at("spool.max_bytes", "must be at least 1MiB"));
        }
        Ok(())
    }
}
