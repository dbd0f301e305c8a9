//! The `observability` section: logs and metrics.

use std::net::SocketAddr;

use serde::Deserialize;

/// Logging and metrics settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObservabilityConfig {
    /// `auto` (JSON unless standard error is a terminal), `json` or `text`.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `hookline=debug,info`; `RUST_LOG` overrides it.
    pub log_level: String,
    /// Address for `/healthz`, `/readyz` and `/metrics` of roles without an HTTP server of
    /// their own (`consume`, `schedule`).
    pub listen: Option<SocketAddr>,
}

impl Default for ObservabilityConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Auto,
            log_level: "info".into(),
            listen: None,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when not on a terminal, readable text on one.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}
