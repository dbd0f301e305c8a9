//! `hookline dev`: the pipeline on one machine, for trying hookline out.
//!
//! Runs ingest, the configured consumer groups with the summary group, and the scheduler
//! (archiving to `--data-dir`/archive unless the config names an archive) in one process.
//! Uses the given config, or an embedded one (`dev.yaml`: a `log` group that logs every event,
//! jobs every minute). When the config names no Redis, dev starts a `redis-server` of its own
//! on a free loopback port, keeping its data (AOF) under `--data-dir`, and stops it on exit.
//! Prints a ready-to-paste `curl` that sends a correctly signed sample event.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hmac::{Hmac, Mac};
use hookline_shared::Context;
use hookline_shared::config::{self, Config};
use hookline_shared::consumer;
use hookline_shared::providers::ProviderKind;
use hookline_shared::redis::{RedisConn, server};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::{AppError, CliError, serve};

/// The configuration dev runs with when given none.
const DEV_CONFIG: &str = include_str!("dev.yaml");
const SAMPLE_BODY: &str =
    r#"{"zen":"Keep it logically awesome.","hook_id":1,"repository":{"full_name":"octo/hello"}}"#;

/// Runs ingest on `listener`, every consumer group with the summary group, and the scheduler
/// in one process until `shutdown`; a server that fails to run stops the others too.
pub async fn run(
    ctx: &Context,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    // Installed before any role registers its counters (at 0), whichever starts first.
    hookline_shared::metrics::prometheus();
    let name = consumer::consumer_name();
    let consumers = consumer::run_with_summaries(ctx, &name, shutdown.clone());
    let serve = async {
        let served = serve::run(ctx, listener, None, shutdown.clone()).await;
        shutdown.cancel();
        served
    };
    let scheduler = hookline_jobs::schedule::run(ctx, name.clone(), shutdown.clone());
    let (served, consumed, scheduled) = tokio::join!(serve, consumers, scheduler);
    served?;
    consumed?;
    scheduled?;
    Ok(())
}

/// What `hookline dev` does: the config named by `flag` or the environment, else the
/// embedded one; a redis-server of its own when it names no Redis; the archive under
/// `data_dir` unless it names one; then [`run`] on `listen` (else `server.listen`) until
/// SIGTERM or Ctrl-C.
pub async fn main(
    flag: Option<PathBuf>,
    listen: Option<SocketAddr>,
    data_dir: &Path,
) -> Result<(), CliError> {
    let env = |name: &str| std::env::var(name).ok();
    let mut config = match config::ConfigSource::resolve(flag, env) {
        Ok(source) => config::load(&source, env)?,
        Err(_) => config::parse(DEV_CONFIG, env)?,
    };
    crate::commands::init_telemetry(&config, "dev")?;
    let _redis = match config.redis.url.is_none() && config.redis.urls.is_empty() {
        true => {
            let redis = LocalRedis::start(data_dir).await?;
            config.redis.url = Some(redis.url.clone());
            Some(redis)
        }
        false => None,
    };
    if config.lifecycle.archive.is_none() {
        let archive = std::path::absolute(data_dir.join("archive"))
            .map_err(|e| anyhow::anyhow!("cannot resolve --data-dir: {e}"))?;
        config.lifecycle.archive = Some(format!("file://{}", archive.display()));
    }
    let listener = crate::error::bind(listen.unwrap_or(config.server.listen)).await?;
    let address = listener.local_addr().map_err(AppError::Serve)?;
    println!("hookline dev: Redis: {}", config.redis.describe());
    println!(
        "hookline dev: archive at {}",
        config.lifecycle.archive.as_deref().unwrap_or("-")
    );
    println!("hookline dev: ingest on http://{address}/webhooks/{{source}}");
    if let Some(curl) = sample_curl(&config, address) {
        println!("\nSend a signed sample event:\n\n{curl}\n");
    }
    let ctx = Context::new(config)?;
    ctx.check_redis().await?;
    run(&ctx, listener, crate::shutdown::on_signal()).await?;
    Ok(())
}

/// A redis-server dev started for itself on a free loopback port; killed when dropped.
#[derive(Debug)]
pub struct LocalRedis {
    _child: Child,
    url: String,
}

impl LocalRedis {
    /// Starts `redis-server` with its data (AOF) under `data_dir`/redis and waits until it
    /// answers. redis-server binds the port itself (port 0 is not possible), so a port taken
    /// between finding it free and binding it is retried with another.
    pub async fn start(data_dir: &Path) -> Result<Self, AppError> {
        let dir = data_dir.join("redis");
        std::fs::create_dir_all(&dir)
            .map_err(|e| AppError::LocalRedis(format!("cannot create {}: {e}", dir.display())))?;
        for _ in 0..5 {
            if let Some(started) = Self::try_start(&dir).await? {
                return Ok(started);
            }
        }
        Err(AppError::LocalRedis(
            "redis-server did not start on a free port (see its log under --data-dir/redis)".into(),
        ))
    }

    async fn try_start(dir: &Path) -> Result<Option<Self>, AppError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| AppError::LocalRedis(format!("no free loopback port: {e}")))?
            .port();
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--appendonly",
                "yes",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
            ])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                AppError::LocalRedis(format!(
                    "cannot start redis-server ({e}): install it (e.g. `apt-get install \
                     redis-server`, or run scripts/dev.sh) or set redis.url in a config"
                ))
            })?;
        let url = format!("redis://127.0.0.1:{port}");
        let mut conn = RedisConn::open(&config::RedisConfig {
            url: Some(url.clone()),
            ..Default::default()
        })?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(None); // it exited: most likely the port was taken meanwhile
            }
            if server::ping(&mut conn).await.is_ok() {
                return Ok(Some(Self { _child: child, url }));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(AppError::LocalRedis(format!(
            "redis-server did not answer on port {port} within 10s"
        )))
    }
}

/// A curl command for the first GitHub source (signed) or unsigned source, if any.
pub fn sample_curl(config: &Config, listen: SocketAddr) -> Option<String> {
    let url = |name: &str| format!("http://{listen}/webhooks/{name}");
    let github = config
        .sources
        .iter()
        .find(|(_, s)| s.provider == ProviderKind::Github);
    if let Some((name, source)) = github {
        let secret = source.secrets.first()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).ok()?;
        mac.update(SAMPLE_BODY.as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        let delivery = uuid::Uuid::now_v7();
        return Some(format!(
            "curl -i {} \\\n  -H 'Content-Type: application/json' \\\n  -H 'X-GitHub-Event: ping' \\\n  -H 'X-GitHub-Delivery: {delivery}' \\\n  -H 'X-Hub-Signature-256: sha256={signature}' \\\n  --data-binary '{SAMPLE_BODY}'",
            url(name)
        ));
    }
    let (name, _) = config
        .sources
        .iter()
        .find(|(_, s)| s.provider == ProviderKind::None)?;
    Some(format!(
        "curl -i {} -H 'Content-Type: application/json' --data-binary '{SAMPLE_BODY}'",
        url(name)
    ))
}
