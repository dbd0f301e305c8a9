//! `hookline`: the container entry points and operator commands — clap and dispatch; the
//! work is done by the `hookline_cli` library.
//!
//! Exit codes: 0 success, 2 bad usage or config (one line: `key.path: reason`), 1 failure.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hookline_cli::commands::audit::Auditor;
use hookline_cli::commands::import::ImportRequest;
use hookline_cli::commands::parity::ParityRequest;
use hookline_cli::commands::{
    self, admin, audit, dlq, events, import, jobs, parity, parse_time, stats,
};
use hookline_cli::{CliError, console, consume, dev, schedule, serve, shutdown};
use hookline_jobs::replay::ReplayRequest;
use hookline_jobs::run::{JobName, JobRun};
use hookline_shared::clock::Clock;
use hookline_shared::config;

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
    /// Who runs this command, for the audit trail [default: the OS user].
    #[arg(long, global = true, env = "HOOKLINE_ACTOR", value_name = "NAME")]
    actor: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// The recorded actions, oldest first.
    List {
        /// From this time, RFC 3339 [default: 7 days ago].
        #[arg(long, value_parser = parse_time)]
        since: Option<u64>,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
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
        /// Address to listen on [default: server.listen, 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Where a redis-server started by dev keeps its data.
        #[arg(long, value_name = "DIR", default_value = ".hookline-dev")]
        data_dir: PathBuf,
    },
    /// Run the web operator console (log in with console.token, or behind an auth proxy with
    /// console.trusted_user_header).
    Console {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
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
    /// Re-append the events received in [--from, --to), from whichever tier holds them (hot,
    /// warm or cold), in their original order, each with `replay_of` = the original event id
    /// (no de-duplication).
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
    /// Import an existing queue's backlog into the pipeline (migrating from SQS).
    Import {
        #[command(subcommand)]
        from: ImportCommand,
    },
    /// Compare what the SQS mirror queue (`outputs.sqs`) and Redis received in [--from, --to)
    /// and print the event ids only one side has (exit 1 when there is one).
    Parity {
        /// The mirror queue's URL.
        #[arg(long, value_name = "URL")]
        sqs_queue_url: String,
        /// Start, RFC 3339 (e.g. 2026-11-24T18:00:00Z), inclusive.
        #[arg(long, value_parser = parse_time)]
        from: u64,
        /// End, RFC 3339, exclusive.
        #[arg(long, value_parser = parse_time)]
        to: u64,
        /// How long each read message stays invisible to the queue's other readers.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        visibility_timeout: Duration,
    },
    /// Inspect, retry or purge dead letters.
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
    /// Operators' recorded actions (DLQ retries and purges, replays, forced moves, circuit
    /// resets, claims).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Look up events: where one is, each group's state for it, its delivery attempts.
    Events {
        #[command(subcommand)]
        command: events::EventsCommand,
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
        timeout: Duration,
    },
    /// Send signed webhooks with real payloads to a running hookline at a fixed rate or over
    /// N connections, print progress every second and a summary (the pre-launch check).
    Loadtest(hookline_cli::loadtest::LoadtestArgs),
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
        budget: Duration,
        /// Compact what is older than this instead of lifecycle.hot (`0s` under memory
        /// pressure: everything every group has read; an unread entry never moves).
        #[arg(long, value_parser = parse_duration)]
        older_than: Option<Duration>,
    },
    /// Warm → cold: regroup old warm segments into verified `.jsonl.zst` objects in the archive.
    Archive {
        /// Stop at the next batch boundary after this long; the next run carries on.
        #[arg(long, default_value = "14m", value_parser = parse_duration)]
        budget: Duration,
        /// Archive warm segments older than this instead of lifecycle.warm (`0s`: all of
        /// them).
        #[arg(long, value_parser = parse_duration)]
        older_than: Option<Duration>,
    },
    /// Render a UTC day's summaries (JSON and Markdown) into the archive and Redis.
    Summarize {
        /// The day, YYYY-MM-DD [default: yesterday, UTC]; today gives a partial summary.
        #[arg(long, value_parser = hookline_jobs::summarize::parse_date)]
        date: Option<i64>,
    },
    /// Start a new bloom filter generation per partition (the previous one is still checked).
    RotateBloom,
    /// SQS spool → Redis: append what the Lambda function spooled (`spool.sqs_queue_url`)
    /// while Redis could not take it, deleting each message once Redis has its event.
    DrainSpool {
        /// Stop after this long; the next run carries on.
        #[arg(long, default_value = "14m", value_parser = parse_duration)]
        budget: Duration,
    },
    /// Ask GitHub to redeliver what it failed to deliver to hookline and hookline did not
    /// store (the hooks of `recover.github`), each failure once, at most max_attempts times.
    RecoverGithub {
        /// How far back to look (GitHub keeps deliveries for 3 days).
        #[arg(long, default_value = "3d", value_parser = parse_duration)]
        since: Duration,
        /// List what would be asked for; ask for nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stop after this long; the next run carries on.
        #[arg(long, default_value = "14m", value_parser = parse_duration)]
        budget: Duration,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Import an SQS queue: messages in hookline's mirror format keep their attributes;
    /// plain messages (raw webhook bodies) become events of --source with --event-type and
    /// the SQS message id as their de-duplication identity. Stops when the queue has no
    /// message this run has not seen; rerun, it stores nothing twice.
    Sqs {
        /// The queue's URL.
        #[arg(long, value_name = "URL")]
        queue_url: String,
        /// The configured source plain messages belong to.
        #[arg(long)]
        source: String,
        /// The event type of plain messages.
        #[arg(long, default_value = "unknown")]
        event_type: String,
        /// Delete each message once Redis has its event.
        #[arg(long)]
        delete: bool,
        /// How long each received message stays invisible to the queue's other readers.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        visibility_timeout: Duration,
    },
}

impl JobCommand {
    /// The run and its budget; `clock` picks summarize's default day.
    fn run_and_budget(&self, clock: &Clock) -> (JobRun, Duration) {
        let default_budget = hookline_jobs::schedule::MAX_BUDGET;
        match *self {
            JobCommand::Compact { budget, older_than }
            | JobCommand::Archive { budget, older_than } => {
                let job = match self {
                    JobCommand::Compact { .. } => JobName::Compact,
                    _ => JobName::Archive,
                };
                let run = JobRun {
                    older_than,
                    ..JobRun::new(job)
                };
                (run, budget)
            }
            JobCommand::Summarize { date } => {
                let yesterday = || hookline_jobs::summarize::day_of(clock.now_ms()) - 1;
                let run = JobRun {
                    day: Some(date.unwrap_or_else(yesterday)),
                    ..JobRun::new(JobName::Summarize)
                };
                (run, default_budget)
            }
            JobCommand::RotateBloom => (JobRun::new(JobName::RotateBloom), default_budget),
            JobCommand::DrainSpool { budget } => (JobRun::new(JobName::DrainSpool), budget),
            JobCommand::RecoverGithub {
                since,
                dry_run,
                budget,
            } => {
                let run = JobRun {
                    recover: hookline_jobs::recover_github::RecoverOptions { since, dry_run },
                    ..JobRun::new(JobName::RecoverGithub)
                };
                (run, budget)
            }
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    text.parse::<config::units::Duration>()
        .map(|d| d.get())
        .map_err(|e| e.to_string())
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
    let outcome = runtime.block_on(run(cli));
    // The spans still in the exporter's queue, sent before the process goes (outside the
    // runtime: the exporter blocks).
    hookline_shared::telemetry::shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let flag = cli.config;
    let auditor = &Auditor::new(cli.actor);
    match cli.command {
        Command::Serve { listen } => {
            let ctx = commands::connect_as(flag, "serve").await?;
            let listener =
                hookline_cli::error::bind(listen.unwrap_or(ctx.config.server.listen)).await?;
            let ops = ops_listener(&ctx).await?;
            serve::run(&ctx, listener, ops, shutdown::on_signal()).await?;
        }
        Command::Console { listen } => {
            let ctx = commands::connect(flag).await?;
            let listener = hookline_cli::error::bind(listen).await?;
            console::run(ctx, listener, shutdown::on_signal()).await?;
        }
        Command::Consume => {
            let ctx = commands::connect_as(flag, "consume").await?;
            let ops = ops_listener(&ctx).await?;
            consume::run(&ctx, ops, shutdown::on_signal()).await?;
        }
        Command::Schedule => {
            let ctx = commands::connect_as(flag, "schedule").await?;
            let ops = ops_listener(&ctx).await?;
            schedule::run(&ctx, ops, shutdown::on_signal()).await?;
        }
        Command::Dev { listen, data_dir } => dev::main(flag, listen, &data_dir).await?,
        Command::Loadtest(args) => hookline_cli::loadtest::run(args).await?,
        Command::Job { job } => {
            let ctx = commands::connect_as(flag, "job").await?;
            let (run, budget) = job.run_and_budget(&ctx.clock);
            jobs::job(&ctx, run, budget, auditor).await?;
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
            let ctx = commands::connect(flag).await?;
            let request = ReplayRequest {
                from_ms: from,
                to_ms: to,
                source,
                event_type,
                to_stream,
                dry_run,
                suspects,
            };
            jobs::replay(&ctx, request, auditor).await?;
        }
        Command::Import {
            from:
                ImportCommand::Sqs {
                    queue_url,
                    source,
                    event_type,
                    delete,
                    visibility_timeout,
                },
        } => {
            let request = ImportRequest {
                queue_url,
                source,
                event_type,
                delete,
                visibility: visibility_timeout,
            };
            import::import_sqs(&commands::connect(flag).await?, &request).await?;
        }
        Command::Parity {
            sqs_queue_url,
            from,
            to,
            visibility_timeout,
        } => {
            let request = ParityRequest {
                queue_url: sqs_queue_url,
                from_ms: from,
                to_ms: to,
                visibility: visibility_timeout,
            };
            parity::parity(&commands::connect(flag).await?, &request).await?;
        }
        Command::Dlq { command } => {
            dlq::run(&commands::connect(flag).await?, command, auditor).await?
        }
        Command::Audit {
            command: AuditCommand::List { since, json },
        } => {
            let ctx = commands::connect(flag).await?;
            let since = since.unwrap_or(ctx.clock.now_ms().saturating_sub(7 * 86_400_000));
            audit::list(&ctx, since, json).await?
        }
        Command::Events { command } => {
            events::run(&commands::connect(flag).await?, command, auditor).await?
        }
        Command::ClaimPending => {
            admin::claim_pending(&commands::connect(flag).await?, auditor).await?
        }
        Command::ResetCircuitBreaker { destination } => {
            admin::reset_circuit_breaker(&commands::connect(flag).await?, &destination, auditor)
                .await?
        }
        Command::CheckConfig => admin::check_config(&commands::load(flag)?),
        Command::Stats { json } => stats::run(&commands::connect(flag).await?, json).await?,
        Command::Healthcheck { url, timeout } => admin::healthcheck(&url, timeout).await?,
    }
    Ok(())
}

/// The listener of `observability.listen`, when set.
async fn ops_listener(
    ctx: &hookline_shared::Context,
) -> Result<Option<tokio::net::TcpListener>, CliError> {
    match ctx.config.observability.listen {
        Some(addr) => Ok(Some(hookline_cli::error::bind(addr).await?)),
        None => Ok(None),
    }
}
