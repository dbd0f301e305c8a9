//! The `observability` section: logs, metrics and traces.

use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigError;

/// Logging, metrics and tracing settings.
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
    /// Where spans go: an OTLP/HTTP collector's base URL (e.g. `http://127.0.0.1:4318`);
    /// spans are POSTed as JSON to `{otlp_endpoint}/v1/traces`. Unset: no traces.
    pub otlp_endpoint: Option<String>,
    /// The share of traces kept, by trace id (0 to 1; default 1 when `otlp_endpoint` is set).
    /// The same trace id gets the same decision in every process, so a webhook's trace is
    /// kept whole or not at all; 0 exports nothing, whatever an incoming `traceparent` says.
    pub trace_sample_ratio: Option<f64>,
}

impl Default for ObservabilityConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Auto,
            log_level: "info".into(),
            listen: None,
            otlp_endpoint: None,
            trace_sample_ratio: None,
        }
    }
}

impl ObservabilityConfig {
    /// Checks the traces' endpoint and sample ratio.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(endpoint) = &self.otlp_endpoint {
            let url = url::Url::parse(endpoint).map_err(|e| {
                ConfigError::at("observability.otlp_endpoint", format!("not a URL: {e}"))
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(ConfigError::at(
                    "observability.otlp_endpoint",
                    "must be an http:// or https:// URL, e.g. http://127.0.0.1:4318",
                ));
            }
        }
        if let Some(ratio) = self.trace_sample_ratio
            && !(0.0..=1.0).contains(&ratio)
        {
            return Err(ConfigError::at(
                "observability.trace_sample_ratio",
                format!("must be between 0 and 1, not {ratio}"),
            ));
        }
        Ok(())
    }

    /// The share of traces kept: `trace_sample_ratio`, else all of them.
    pub fn sample_ratio(&self) -> f64 {
        self.trace_sample_ratio.unwrap_or(1.0)
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
