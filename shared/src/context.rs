//! What every role runs with: the validated configuration, the process's Redis handle and its
//! clock. Entry points (the `hookline` binary, the Lambda functions, tests) build one
//! [`Context`] and pass it down, so a test can give a role its own Redis and its own time.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::redis::{Redis, check_eviction_policy, connect, server};

/// The configuration, Redis and the clock of one process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Context {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// How the process reaches Redis.
    pub redis: Redis,
    /// Where the process reads the time.
    pub clock: Clock,
}

impl Context {
    /// A context over `config` with the system clock; Redis is not contacted yet.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        Self::with_clock(config, Clock::system())
    }

    /// A context over `config` reading the time from `clock`.
    pub fn with_clock(config: Config, clock: Clock) -> Result<Self, ConfigError> {
        let redis = Redis::open(&config.redis)?;
        Ok(Self {
            config: Arc::new(config),
            redis,
            clock,
        })
    }

    /// What a Lambda function does first: loads the config from the environment
    /// (`HOOKLINE_CONFIG_YAML` or `HOOKLINE_CONFIG`), starts JSON logs (and traces, as service
    /// `lambda`: each invocation calls [`crate::telemetry::flush`] before it returns), builds the context
    /// and checks Redis as every role does. A bad config is printed as `key.path: reason` and
    /// answered with exit code 2, for `main` to return.
    pub async fn lambda() -> Result<Self, std::process::ExitCode> {
        let started = async {
            let config = crate::config::from_env(None)?;
            crate::telemetry::init_with_traces(
                &config.observability,
                crate::config::LogFormat::Json,
                "lambda",
            )?;
            let ctx = Self::new(config)?;
            ctx.check_redis().await?;
            Ok::<_, ConfigError>(ctx)
        };
        started.await.map_err(|e| {
            eprintln!("{e}");
            std::process::ExitCode::from(2)
        })
    }

    /// What every role does before it works: says which Redis it reaches and how (never a
    /// password), and refuses a Redis that may evict events (a
    /// config error). A Redis that does not answer within `redis.response_timeout` is not
    /// held against the process: it starts, answers 503 and recovers when Redis is back.
    pub async fn check_redis(&self) -> Result<(), ConfigError> {
        let redis = &self.config.redis;
        tracing::info!(redis = %redis.describe(), "reaching Redis");
        let mut conn = self.redis.shared();
        let timeout = redis.response_timeout.get() + redis.connect_timeout.get();
        match tokio::time::timeout(timeout, server::ping(&mut conn)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                if let Some(problem) = connect::startup_problem(&e, redis) {
                    return Err(problem);
                }
                tracing::warn!(error = %e, "Redis does not answer yet; starting anyway (requests get 503 until it does)");
                return Ok(());
            }
            Err(_) => {
                tracing::warn!(
                    "Redis does not answer yet; starting anyway (requests get 503 until it does)"
                );
                return Ok(());
            }
        }
        let checked = tokio::time::timeout(
            redis.response_timeout.get(),
            check_eviction_policy(&mut conn),
        )
        .await;
        match checked {
            Ok(Err(unsafe_policy)) => Err(unsafe_policy.into()),
            _ => Ok(()),
        }
    }
}
