//! `hookline dev`: the pipeline on one machine, for trying hookline out.
//!
//! Runs ingest, the configured consumer groups with the summary group, and the scheduler
//! (archiving to `--data-dir`/archive unless the config names an archive) in one process.
//! Uses the given config, or an embedded one (`dev.yaml`: a `log` group that logs every event,
//! jobs every minute). When the config names no Redis, dev starts a `redis-server` of its own
//! on a free loopback port, keeping its data (AOF) under `--data-dir`, and stops it on exit.
//! Prints a ready-to-paste `curl` that sends a correctly signed sample event.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use hookline_shared::config::{self, Config};
use hookline_shared::providers::ProviderKind;
use hookline_shared::redis::RedisConn;
use sha2::Sha256;
use tokio::process::{Child, Command};

const DEV_CONFIG: &str = include_str!("dev.yaml");
const SAMPLE_BODY: &str =
    r#"{"zen":"Keep it logically awesome.","hook_id":1,"repository":{"full_name":"octo/hello"}}"#;

/// Runs ingest against a configured or self-started Redis until Ctrl-C.
pub async fn run(flag: Option<PathBuf>, listen: SocketAddr, data_dir: &Path) -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok();
    let mut config = match config::ConfigSource::resolve(flag, env) {
        Ok(source) => config::load(&source, env)?,
        Err(_) => config::parse(DEV_CONFIG, env)?,
    };
    super::init_logs(&config);
    let _redis = if config.redis.url.is_none() && config.redis.urls.is_empty() {
        let (child, url) = start_redis(data_dir).await?;
        config.redis.url = Some(url);
        Some(child)
    } else {
        None
    };
    if config.lifecycle.archive.is_none() {
        let archive = std::path::absolute(data_dir.join("archive"))?;
        config.lifecycle.archive = Some(format!("file://{}", archive.display()));
    }
    let url = config.redis.nodes().join(", ");
    println!("hookline dev: Redis at {url}");
    println!(
        "hookline dev: archive at {}",
        config.lifecycle.archive.as_deref().unwrap_or("-")
    );
    println!("hookline dev: ingest on http://{listen}/webhooks/{{source}}");
    if let Some(curl) = sample_curl(&config, listen) {
        println!("\nSend a signed sample event:\n\n{curl}\n");
    }
    super::check_redis(&config).await?;
    let shutdown = super::serve::shutdown_token();
    let name = hookline_shared::consumer::consumer_name();
    let consumers = hookline_shared::consumer::run_with_summaries(&config, &name, shutdown.clone());
    let serve = async {
        let served = super::serve::run(&config, listen, shutdown.clone().cancelled_owned()).await;
        shutdown.cancel(); // a server that failed to start stops the others too
        served
    };
    let scheduler =
        hookline_jobs::schedule::run(Arc::new(config.clone()), name.clone(), shutdown.clone());
    let (served, consumed, scheduled) = tokio::join!(serve, consumers, scheduler);
    served
        .and(consumed.map_err(Into::into))
        .and(scheduled.map_err(Into::into))
}

/// Starts `redis-server` on a free loopback port and waits until it answers.
async fn start_redis(data_dir: &Path) -> anyhow::Result<(Child, String)> {
    let dir = data_dir.join("redis");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--appendonly",
            "yes",
        ])
        .args(["--save", "", "--maxmemory-policy", "noeviction"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context(
            "cannot start redis-server: install it (e.g. `apt-get install redis-server`, or run \
             scripts/dev.sh) or set redis.url in a config",
        )?;
    let url = format!("redis://127.0.0.1:{port}");
    let mut conn = RedisConn::open(&config::RedisConfig {
        url: Some(url.clone()),
        ..Default::default()
    })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while conn.ping().await.is_err() {
        if Instant::now() > deadline {
            bail!("redis-server did not answer on port {port} within 10s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((child, url))
}

/// A curl command for the first GitHub source (signed) or unsigned source, if any.
fn sample_curl(config: &Config, listen: SocketAddr) -> Option<String> {
    let url = |name: &str| format!("http://{listen}/webhooks/{name}");
    let github = config
        .sources
        .iter()
        .find(|(_, s)| s.provider == ProviderKind::Github);
    if let Some((name, source)) = github {
        let secret = source.secrets.first()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
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
