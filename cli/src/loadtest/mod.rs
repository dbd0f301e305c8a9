//! `hookline loadtest`: the pre-launch check. Sends signed webhooks with bodies from the
//! project's real payload corpus to a running hookline — at a fixed rate (open loop: a slow
//! answer does not slow the sending, and latency counts from each request's planned send
//! time, so a stall shows) or over N connections (closed loop) — prints a progress line every
//! second and a summary, and with `--verify-redis` checks that every 202 is stored once.

mod requests;
mod tally;
mod verify;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::CliError;
pub use requests::Provider;
use requests::{Request, Requests};
use tally::Tally;

/// Requests in flight at most in the open loop (beyond it, sending waits: that shows as
/// latency, since it counts from the planned time).
const MAX_IN_FLIGHT: usize = 10_000;

/// What to send, how, and where.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("load").required(true).args(["rate", "connections"])))]
pub struct LoadtestArgs {
    /// hookline's base URL, e.g. http://127.0.0.1:8080; requests go to URL/webhooks/SOURCE.
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// The source to post to.
    #[arg(long, value_name = "NAME")]
    pub source: String,
    /// How the source's sender signs and shapes its webhooks.
    #[arg(long, value_enum, value_name = "PROVIDER")]
    pub provider: Provider,
    /// The source's secret (`whsec_…` for standard).
    #[arg(long, env = "HOOKLINE_LOADTEST_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Requests per second, sent on schedule whatever the answers take (open loop).
    #[arg(long, value_name = "R")]
    pub rate: Option<u32>,
    /// Connections, each sending its next request once the last was answered (closed loop).
    #[arg(long, value_name = "N")]
    pub connections: Option<usize>,
    /// How long to send.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// How long one request may take before it counts as unanswered.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// After the run, check in this Redis (hookline's) that every event answered 202 is
    /// stored exactly once; exit 1 when one is not.
    #[arg(long, value_name = "URL")]
    pub verify_redis: Option<String>,
    /// The streams' key prefix (`streams.prefix`), for --verify-redis.
    #[arg(long, default_value = "hookline")]
    pub prefix: String,
}

/// What every request task shares.
struct Shared {
    client: reqwest::Client,
    url: String,
    /// This second's answers, taken by the progress line.
    second: Mutex<Tally>,
    /// The event ids of the 202s (kept only for --verify-redis).
    accepted: Option<Mutex<Vec<String>>>,
}

/// Runs the load test; its report goes to standard output, progress to standard error.
pub async fn run(args: LoadtestArgs) -> Result<(), CliError> {
    let requests = Arc::new(
        Requests::new(args.provider, &args.secret).map_err(|e| CliError::Usage(e.to_string()))?,
    );
    let url = format!(
        "{}/webhooks/{}",
        args.target.trim_end_matches('/'),
        args.source
    );
    reqwest::Url::parse(&url).map_err(|e| CliError::Usage(format!("--target: {e}")))?;
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .pool_max_idle_per_host(args.connections.unwrap_or(1024))
        .build()
        .context("cannot build the HTTP client")?;
    let shared = Arc::new(Shared {
        client,
        url,
        second: Mutex::default(),
        accepted: args.verify_redis.as_ref().map(|_| Mutex::default()),
    });
    let started = Instant::now();
    let mut total = Tally::default();
    let sending = send_all(&shared, &requests, &args, started);
    tokio::pin!(sending);
    let mut ticks =
        tokio::time::interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
    let sent = loop {
        tokio::select! {
            sent = &mut sending => break sent,
            _ = ticks.tick() => {
                let second = std::mem::take(&mut *lock(&shared.second));
                let at = started.elapsed().as_secs();
                eprintln!("{}", second.progress_line(at, total.count() + second.count()));
                total.absorb(&second);
            }
        }
    };
    total.absorb(&lock(&shared.second));
    let summary = total.summary(sent, started.elapsed().as_secs_f64());
    let verified = match (&args.verify_redis, &shared.accepted) {
        (Some(redis), Some(accepted)) => {
            let accepted = std::mem::take(&mut *lock(accepted));
            Some(verify::stored_once(redis, &args.prefix, &accepted).await?)
        }
        _ => None,
    };
    if args.json {
        let mut json = summary.json();
        if let Some(v) = &verified {
            json["verify_redis"] = v.json();
        }
        println!("{json}");
    } else {
        println!("{}", summary.text());
        if let Some(v) = &verified {
            println!("{}", v.text());
        }
    }
    match verified {
        Some(v) if !v.ok() => Err(anyhow::anyhow!("{}", v.text()).into()),
        _ => Ok(()),
    }
}

/// Sends for `args.duration`, at `args.rate` or over `args.connections`, and waits for the
/// answers; returns how many requests were sent.
async fn send_all(
    shared: &Arc<Shared>,
    requests: &Arc<Requests>,
    args: &LoadtestArgs,
    started: Instant,
) -> u64 {
    let end = started + args.duration;
    let mut tasks = JoinSet::new();
    let mut sent = 0;
    if let Some(rate) = args.rate {
        let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        loop {
            let planned = started + period.mul_f64(sent as f64);
            if planned >= end {
                break;
            }
            tokio::time::sleep_until(planned).await;
            let permit = in_flight
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            let request = requests.build(sent as usize, unix_now());
            let shared = shared.clone();
            tasks.spawn(async move {
                send(&shared, request, planned).await;
                drop(permit);
            });
            sent += 1;
            while tasks.try_join_next().is_some() {}
        }
    } else {
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        for _ in 0..args.connections.unwrap_or(1) {
            let (shared, counter, requests) = (shared.clone(), counter.clone(), requests.clone());
            tasks.spawn(async move {
                while Instant::now() < end {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let request = requests.build(n as usize, unix_now());
                    send(&shared, request, Instant::now()).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        sent = counter.load(std::sync::atomic::Ordering::Relaxed);
    }
    while tasks.join_next().await.is_some() {}
    sent
}

/// Sends one request planned for `planned` and records its answer.
async fn send(shared: &Shared, request: Request, planned: Instant) {
    let mut post = shared
        .client
        .post(&shared.url)
        .header("content-type", "application/json");
    for (name, value) in request.headers {
        post = post.header(name, value);
    }
    let answer = post.body(request.body).send().await;
    let (status, id) = match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            // The body is read either way, so the connection can be reused.
            let body = response.bytes().await.unwrap_or_default();
            let id = (status == 202 && shared.accepted.is_some())
                .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
                .flatten()
                .and_then(|reply| reply["id"].as_str().map(str::to_owned));
            (Ok(status), id)
        }
        Err(e) => (Err(reason(&e)), None),
    };
    let latency = planned.elapsed();
    match status {
        Ok(status) => lock(&shared.second).answered(status, latency),
        Err(reason) => lock(&shared.second).failed(latency, reason),
    }
    if let (Some(id), Some(accepted)) = (id, &shared.accepted) {
        lock(accepted).push(id);
    }
}

/// Why a request got no answer, in one line of causes (no request data in it).
fn reason(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
