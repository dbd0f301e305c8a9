//! The operator commands: what `hookline` runs besides the long-running roles.
//!
//! Each takes the config flag and its arguments, and returns a [`CliError`] whose kind is the
//! exit code. Every command that talks to Redis starts like the roles do ([`connect`]).

pub mod admin;
pub mod audit;
pub mod dlq;
pub mod events;
pub mod import;
pub mod jobs;
pub mod parity;
pub mod stats;

use std::path::PathBuf;

use hookline_shared::Context;
use hookline_shared::config::{self, Config, ConfigError};

use crate::CliError;

/// An RFC 3339 time as ms since the epoch (a `--from`/`--to` argument).
pub fn parse_time(text: &str) -> Result<u64, String> {
    let at = humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("{e}; write e.g. 2026-11-24T18:00:00Z"))?;
    let since_epoch = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "before 1970".to_owned())?;
    Ok(since_epoch.as_millis() as u64)
}

/// `ms` since the epoch as RFC 3339 with milliseconds.
pub fn rfc3339_ms(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

/// Loads and validates the config named by the flag or the environment.
pub fn load(flag: Option<PathBuf>) -> Result<Config, ConfigError> {
    config::from_env(flag)
}

/// Starts logging as the config says.
pub fn init_logs(config: &Config) {
    let obs = &config.observability;
    hookline_shared::telemetry::init(obs.log_format, &obs.log_level);
}

/// Starts logging, and traces as service `role` when `observability.otlp_endpoint` is set
/// (`main` calls [`hookline_shared::telemetry::shutdown`] as the process exits).
pub fn init_telemetry(config: &Config, role: &str) -> Result<(), ConfigError> {
    let obs = &config.observability;
    hookline_shared::telemetry::init_with_traces(obs, obs.log_format, role)
}

/// What every role and command that uses Redis does first: loads the config, starts logging,
/// builds the context and checks that Redis cannot evict events.
pub async fn connect(flag: Option<PathBuf>) -> Result<Context, CliError> {
    let config = load(flag)?;
    init_logs(&config);
    started(config).await
}

/// [`connect`] for a role whose work is traced (`serve`, `consume`, `schedule`, `job`):
/// traces go out as service `role`.
pub async fn connect_as(flag: Option<PathBuf>, role: &str) -> Result<Context, CliError> {
    let config = load(flag)?;
    init_telemetry(&config, role)?;
    started(config).await
}

/// The context over `config`, its Redis checked.
async fn started(config: Config) -> Result<Context, CliError> {
    let ctx = Context::new(config)?;
    ctx.check_redis().await?;
    Ok(ctx)
}
