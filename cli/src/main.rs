//! `hookline`: the container entry points and operator commands.
//!
//! Exit codes: 0 success, 2 bad usage or config (one line: `key.path: reason`), 1 failure.
#![forbid(unsafe_code)]

mod dev;
mod dlq;
mod serve;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hookline_jobs::run::{JobName, JobRun, RunError};
use hookline_shared::config::{self, Config, ConfigError};
use hookline_shared::consumer;

/// mimalloc: the request path allocates many small, short-lived buffers, which glibc's
/// allocator handled at ~15% of ingest CPU in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// hookline: verified, de-duplicated webhooks into Redis Streams.
#[derive(Debug, Parser)]
#[command(name = "hookline", version, about)]
struct Cli {
    /// The YAML config file (else HOOKLINE_CONFIG, else the YAML in HOOKLINE_CONFIG_YAML).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the ingest HTTP server (webhooks, /healthz, /readyz, /metrics).
    Serve {
        /// Address to listen on [default: server.listen, 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Run the whole pipeline locally: starts a redis-server when none is configured and
    /// prints a curl command that sends a signed sample event.
    Dev {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Where a redis-server started by dev keeps its data.
        #[arg(long, value_name = "DIR", default_value = ".hookline-dev")]
        data_dir: PathBuf,
    },
    /// Run the configured consumer groups and (unless `consumer.summaries: false`) the
    /// built-in summary group until SIGTERM.
    Consume,
    /// Run the lifecycle jobs on their `lifecycle.schedule` until SIGTERM; any number of
    /// replicas may run, a Redis lock lets one run each tick.
    Schedule,
    /// Run a lifecycle job once.
    Job {
        #[command(subcommand)]
        job: JobCommand,
    },
    /// Re-append the events received in [--from, --to), from the warm and hot tiers, in their
    /// original order, each with `replay_of` = the original event id (no de-duplication).
    Replay {
        /// Start, RFC 3339 (e.g. 2026-11-24T18:00:00Z), inclusive.
        #[arg(long, value_parser = parse_time)]
        from: u64,
        /// End, RFC 3339, exclusive.
        #[arg(long, value_parser = parse_time)]
        to: u64,
        /// Only events of this source.
        #[arg(long)]
        source: Option<String>,
        /// Only events of this type.
        #[arg(long)]
        event_type: Option<String>,
        /// Append to this stream instead of the events' own partition streams.
        #[arg(long)]
        to_stream: Option<String>,
        /// Count the matching events without appending.
        #[arg(long)]
        dry_run: bool,
        /// Replay the bloom filter's suspects (repeats answered as duplicates after the
        /// window) instead of the stored events: delivers a false positive after all.
        #[arg(long)]
        suspects: bool,
    },
    /// Inspect, retry or purge dead letters.
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
    /// Deliver now every entry that a consumer left pending longer than its group's
    /// claim_idle (e.g. after a crash), instead of waiting for a running consumer to claim it.
    ClaimPending,
    /// Close a destination's circuit breaker now (all consumers share its state).
    ResetCircuitBreaker {
        /// The destination: a sink URL or its origin, e.g. https://app.example.com:443.
        #[arg(long)]
        destination: String,
    },
    /// Validate the configuration and exit (0 when valid, 2 with `key.path: reason`).
    CheckConfig,
    /// Exit 0 when URL answers 2xx within --timeout, else 1: a container healthcheck for
    /// images without a shell or curl (e.g. `--url http://127.0.0.1:8080/readyz`).
    Healthcheck {
        /// The URL to GET.
        #[arg(long)]
        url: String,
        /// How long to wait for the answer.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        timeout: std::time::Duration,
    },
    /// Print per partition: stream length, DLQ length, and each group's consumers, pending and lag.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum JobCommand {
    /// Hot → warm: pack old entries that every group acknowledged into zstd segments.
    Compact {
        /// Stop at the next segment boundary after this long; the next run carries on.
        #[arg(long, default_value = "14m", value_parser = parse_duration)]
        budget: std::time::Duration,
    },
    /// Warm → cold: regroup old warm segments into verified `.jsonl.zst` objects in the archive.
    Archive {
        /// Stop at the next batch boundary after this long; the next run carries on.
        #[arg(long, default_value = "14m", value_parser = parse_duration)]
        budget: std::time::Duration,
    },
    /// Render a UTC day's summaries (JSON and Markdown) into the archive and Redis.
    Summarize {
        /// The day, YYYY-MM-DD [default: yesterday, UTC]; today gives a partial summary.
        #[arg(long, value_parser = hookline_jobs::summarize::parse_date)]
        date: Option<i64>,
    },
    /// Start a new bloom filter generation per partition (the previous one is still checked).
    RotateBloom,
}

impl JobCommand {
    fn run_and_budget(&self) -> (JobRun, std::time::Duration) {
        let default_budget = hookline_jobs::schedule::MAX_BUDGET;
        match *self {
            JobCommand::Compact { budget } => (JobRun::new(JobName::Compact), budget),
            JobCommand::Archive { budget } => (JobRun::new(JobName::Archive), budget),
            JobCommand::Summarize { date } => (
                JobRun {
                    job: JobName::Summarize,
                    day: Some(date.unwrap_or_else(|| {
                        hookline_jobs::summarize::day_of(hookline_shared::clock::now_ms()) - 1
                    })),
                },
                default_budget,
            ),
            JobCommand::RotateBloom => (JobRun::new(JobName::RotateBloom), default_budget),
        }
    }
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    text.parse::<config::units::Duration>().map(|d| d.get())
}

/// An RFC 3339 time as ms since the epoch.
fn parse_time(text: &str) -> Result<u64, String> {
    let at = humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("{e}; write e.g. 2026-11-24T18:00:00Z"))?;
    Ok(at
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as u64)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<ConfigError>() {
            Some(config_error) => {
                eprintln!("{config_error}");
                ExitCode::from(2)
            }
            None => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { listen } => {
            let config = start(cli.config).await?;
            let listen = listen.unwrap_or(config.server.listen);
            serve::run(&config, listen, serve::shutdown_token().cancelled_owned()).await
        }
        Command::Consume => {
            let config = start(cli.config).await?;
            let shutdown = serve::shutdown_token();
            if let Some(listen) = config.observability.listen {
                serve::spawn_ops(&config, listen, shutdown.clone()).await?;
            }
            consumer::run_with_summaries(&config, &consumer::consumer_name(), shutdown).await?;
            Ok(())
        }
        Command::Schedule => {
            let config = start(cli.config).await?;
            let shutdown = serve::shutdown_token();
            if let Some(listen) = config.observability.listen {
                serve::spawn_ops(&config, listen, shutdown.clone()).await?;
            }
            let runner = consumer::consumer_name();
            hookline_jobs::schedule::run(std::sync::Arc::new(config), runner, shutdown).await?;
            Ok(())
        }
        Command::Dev { listen, data_dir } => dev::run(cli.config, listen, &data_dir).await,
        Command::Job { job } => {
            let config = load(cli.config)?;
            init_logs(&config);
            let (run, budget) = job.run_and_budget();
            let mut conn = hookline_shared::redis::RedisConn::open(&config.redis)?;
            let now = hookline_shared::clock::now_ms();
            let line = hookline_jobs::run::run(
                &config,
                &mut conn,
                run,
                hookline_jobs::Budget::new(budget),
                now,
            )
            .await
            .map_err(|e| match e {
                RunError::Store(why) => ConfigError::at("lifecycle.archive", why).into(),
                other => anyhow::Error::from(other),
            })?;
            println!("{line}");
            Ok(())
        }
        Command::Replay {
            from,
            to,
            source,
            event_type,
            to_stream,
            dry_run,
            suspects,
        } => {
            let config = load(cli.config)?;
            init_logs(&config);
            anyhow::ensure!(from < to, "--from must be before --to");
            let mut conn = hookline_shared::redis::RedisConn::open(&config.redis)?;
            let keys = hookline_shared::streams::Keys::new(config.streams.prefix.clone());
            let request = hookline_jobs::replay::ReplayRequest {
                from_ms: from,
                to_ms: to,
                source,
                event_type,
                to_stream,
                dry_run,
                suspects,
            };
            let archive = hookline_jobs::archive::store_for(&config)
                .await
                .map_err(|why| ConfigError::at("lifecycle.archive", why))?;
            let report = hookline_jobs::replay::replay(
                &mut conn,
                &keys,
                config.streams.partitions,
                archive.as_deref(),
                &request,
                |n| {
                    eprintln!("replayed {n} events…");
                },
            )
            .await?;
            match dry_run {
                true => println!(
                    "{} event(s) match; nothing appended (dry run)",
                    report.matched
                ),
                false => println!(
                    "replayed {} of {} matching event(s)",
                    report.appended, report.matched
                ),
            }
            Ok(())
        }
        Command::Dlq { command } => dlq::run(&load(cli.config)?, command).await,
        Command::ClaimPending => {
            let config = load(cli.config)?;
            init_logs(&config);
            let taken = consumer::claim_pending(&config, &consumer::consumer_name())
                .await
                .map_err(|e| match e {
                    consumer::ConsumerError::Config(c) => anyhow::Error::from(c),
                    other => anyhow::Error::from(other),
                })?;
            println!("claimed and delivered {taken} pending entr(ies)");
            Ok(())
        }
        Command::ResetCircuitBreaker { destination } => {
            let config = load(cli.config)?;
            let destination = hookline_shared::sinks::destination(&destination)
                .map_err(|why| anyhow::anyhow!("--destination: {why}"))?;
            let key = hookline_shared::streams::Keys::new(config.streams.prefix.clone())
                .breaker(&destination);
            let mut conn = hookline_shared::redis::RedisConn::open(&config.redis)?;
            let removed: u64 = redis::cmd("DEL").arg(&key).query_async(&mut conn).await?;
            match removed {
                0 => println!("{destination}: circuit already closed"),
                _ => println!("{destination}: circuit reset to closed"),
            }
            Ok(())
        }
        Command::CheckConfig => {
            let config = load(cli.config)?;
            println!(
                "config OK: {} source(s) [{}], {} partition(s), {} consumer group(s)",
                config.sources.len(),
                config
                    .sources
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                config.streams.partitions,
                config.consumer.groups.len()
            );
            Ok(())
        }
        Command::Stats { json } => stats::run(&load(cli.config)?, json).await,
        Command::Healthcheck { url, timeout } => {
            let client = reqwest::Client::builder().timeout(timeout).build()?;
            let response = client
                .get(&url)
                .send()
                .await
                .with_context(|| format!("GET {url}"))?;
            let status = response.status();
            anyhow::ensure!(status.is_success(), "GET {url}: {status}");
            println!("{url}: {status}");
            Ok(())
        }
    }
}

/// Loads and validates the config named by the flag or the environment.
fn load(flag: Option<PathBuf>) -> Result<Config, ConfigError> {
    config::from_env(flag)
}

/// Loads the config, starts logging and checks that Redis cannot evict events: what every
/// long-running role does first.
async fn start(flag: Option<PathBuf>) -> anyhow::Result<Config> {
    let config = load(flag)?;
    init_logs(&config);
    check_redis(&config).await?;
    Ok(config)
}

/// Refuses a Redis that may evict events (a config error: exit 2); a Redis that does not
/// answer within `redis.response_timeout` is not held against the process here.
async fn check_redis(config: &Config) -> anyhow::Result<()> {
    let mut conn = hookline_shared::redis::RedisConn::open(&config.redis)?;
    let checked = tokio::time::timeout(
        config.redis.response_timeout.get(),
        hookline_shared::redis::check_eviction_policy(&mut conn),
    )
    .await;
    if let Ok(Err(unsafe_policy)) = checked {
        return Err(ConfigError::from(unsafe_policy).into());
    }
    Ok(())
}

fn init_logs(config: &Config) {
    let obs = &config.observability;
    hookline_shared::telemetry::init(obs.log_format, &obs.log_level);
}
