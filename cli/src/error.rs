//! Errors at the edge: [`AppError`] for the roles, [`CliError`] for the binary, whose kind
//! alone decides the exit code — 2 for configuration and usage, 1 for failures at run time.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use hookline_jobs::run::RunError;
use hookline_jobs::schedule::ScheduleError;
use hookline_shared::config::ConfigError;
use hookline_shared::consumer::ConsumerError;

/// Why a role (serve, consume, schedule, dev) could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listener cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The HTTP server failed while serving.
    #[error("server failed: {0}")]
    Serve(#[source] io::Error),
    /// The job scheduler failed.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// `hookline dev` could not start its own redis-server.
    #[error("{0}")]
    LocalRedis(String),
}

/// Binds `addr` for a role.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, AppError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Listen { addr, source })
}

/// How a command ended badly, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A configuration problem (exit 2), printed as `key.path: reason`.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A command line that cannot be carried out (exit 2).
    #[error("error: {0}")]
    Usage(String),
    /// A failure at run time (exit 1), printed as one line of causes.
    #[error("error: {}", one_line(.0))]
    Failed(#[from] anyhow::Error),
}

/// `e` and its causes as one line, each text once: a wrapper that prints its source (`redis:
/// {0}`) and also names it as its source would otherwise print the cause twice.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

impl CliError {
    /// 2 for configuration and usage, 1 for failures.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Config(_) | CliError::Usage(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::FAILURE,
        }
    }
}

impl From<AppError> for CliError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Config(e) => CliError::Config(e),
            other => CliError::Failed(other.into()),
        }
    }
}

impl From<RunError> for CliError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Store(why) => {
                CliError::Config(ConfigError::at("lifecycle.archive", why.to_string()))
            }
            other => CliError::Failed(other.into()),
        }
    }
}

impl From<ConsumerError> for CliError {
    fn from(e: ConsumerError) -> Self {
        match e {
            ConsumerError::Config(e) => CliError::Config(e),
            other => CliError::Failed(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_decides_the_exit_code_and_the_message_is_one_line() {
        let config = CliError::from(ConfigError::at("redis.url", "must start with redis://"));
        assert_eq!(config.exit_code(), ExitCode::from(2));
        assert_eq!(config.to_string(), "redis.url: must start with redis://");
        let failed = CliError::from(anyhow::anyhow!("connection refused").context("cannot read x"));
        assert_eq!(failed.exit_code(), ExitCode::FAILURE);
        assert_eq!(
            failed.to_string(),
            "error: cannot read x: connection refused"
        );
        let repeated = anyhow::anyhow!("connection refused")
            .context("redis: connection refused")
            .context("drain stopped");
        assert_eq!(
            CliError::from(repeated).to_string(),
            "error: drain stopped: redis: connection refused",
            "a cause its wrapper already printed is not repeated"
        );
        let store = CliError::from(RunError::Store(hookline_shared::objects::ArchiveUrlError));
        assert_eq!(store.exit_code(), ExitCode::from(2));
    }
}
