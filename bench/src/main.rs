//! `loadgen`: drives `POST /webhooks/{source}` of a running hookline with GitHub-signed
//! bodies of a fixed size and unique delivery ids, over N persistent HTTP/1.1 connections,
//! and prints one JSON line: requests/s, p50 and p99 latency, and status counts.
//!
//! Bodies are a real payload from the GitHub corpus, padded (in an extra JSON field) to the
//! requested size, so the server parses what GitHub sends. Each request's body differs (a
//! counter in the padding) and is signed anew: GitHub's de-duplication identity is the
//! body's hash, so repeating one body would measure the duplicate path (200, no append).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sha2::Sha256;

/// Load generator for hookline's ingest benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// hookline's address.
    #[arg(long)]
    addr: SocketAddr,
    /// The source (a `provider: github` source) to post to.
    #[arg(long, default_value = "github")]
    source: String,
    /// The source's secret.
    #[arg(long)]
    secret: String,
    /// Concurrent connections, each sending one request at a time.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// How long to send.
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    seconds: u64,
    /// Body size in bytes.
    #[arg(long, default_value_t = 1024)]
    body_size: usize,
    /// The GitHub corpus (a JSON list of {name, examples}).
    #[arg(long)]
    corpus: PathBuf,
}

#[derive(Default)]
struct Tally {
    latencies: Option<Histogram<u64>>,
    statuses: BTreeMap<u16, u64>,
}

/// One thread, like redis-benchmark, so the two clients cost the shared cores alike.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (body, tag_at) = padded_body(&args.corpus, args.body_size)?;
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.connections {
        let (addr, source, secret, body) = (
            args.addr,
            args.source.clone(),
            args.secret.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            drive(addr, &source, &secret, (body, tag_at), worker, deadline).await
        }));
    }
    let mut all = Histogram::<u64>::new(3)?;
    let mut statuses = BTreeMap::new();
    for task in tasks {
        let tally = task.await??;
        if let Some(h) = tally.latencies {
            all.add(h)?;
        }
        for (status, n) in tally.statuses {
            *statuses.entry(status).or_insert(0) += n;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let line = serde_json::json!({
        "connections": args.connections,
        "requests": all.len(),
        "rps": all.len() as f64 / elapsed,
        "p50_ms": all.value_at_quantile(0.50) as f64 / 1000.0,
        "p99_ms": all.value_at_quantile(0.99) as f64 / 1000.0,
        "statuses": statuses,
    });
    println!("{line}");
    Ok(())
}

/// One connection: sequential requests until the deadline.
async fn drive(
    addr: SocketAddr,
    source: &str,
    secret: &str,
    (body, tag_at): (Bytes, usize),
    worker: usize,
    deadline: Instant,
) -> anyhow::Result<Tally> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .context("connect")?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut tally = Tally::default();
    let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
    let mut body = body.to_vec();
    let uri = format!("http://{addr}/webhooks/{source}");
    let mut n: u64 = 0;
    while Instant::now() < deadline {
        n += 1;
        let tag = format!("{:0width$}", (worker as u64) << 40 | n, width = TAG_LEN);
        body[tag_at..tag_at + TAG_LEN].copy_from_slice(tag.as_bytes());
        let signature = format!(
            "sha256={}",
            hex::encode(mac.clone().chain_update(&body).finalize().into_bytes())
        );
        let request = hyper::Request::post(&uri)
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header(
                "x-github-delivery",
                format!("bench-{worker}-{n}-{}", std::process::id()),
            )
            .header("x-hub-signature-256", &signature)
            .body(Full::new(Bytes::copy_from_slice(&body)))?;
        let sent = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        histogram.record(sent.elapsed().as_micros() as u64)?;
        *tally.statuses.entry(status).or_insert(0) += 1;
    }
    tally.latencies = Some(histogram);
    Ok(tally)
}

/// Digits of the per-request counter written into the padding.
const TAG_LEN: usize = 20;

/// The smallest corpus payload, with a padding field so it is exactly `size` bytes, and where
/// in the padding the per-request counter goes.
fn padded_body(corpus: &PathBuf, size: usize) -> anyhow::Result<(Bytes, usize)> {
    let text =
        std::fs::read_to_string(corpus).with_context(|| format!("read {}", corpus.display()))?;
    let groups: Vec<serde_json::Value> = serde_json::from_str(&text)?;
    let mut smallest: Option<Vec<u8>> = None;
    for group in &groups {
        for example in group["examples"].as_array().into_iter().flatten() {
            let mut example = example.clone();
            if let Some(map) = example.as_object_mut() {
                map.insert("hookline_pad".into(), "".into());
            }
            let bytes = serde_json::to_vec(&example)?;
            if smallest.as_ref().is_none_or(|s| bytes.len() < s.len()) {
                smallest = Some(bytes);
            }
        }
    }
    let base = smallest.context("empty corpus")?;
    if base.len() + TAG_LEN > size {
        bail!(
            "the smallest corpus payload is {} bytes: --body-size {size} leaves no room for \
             the {TAG_LEN}-digit counter",
            base.len()
        );
    }
    let pad = "x".repeat(size - base.len());
    let marker = br#""hookline_pad":"""#;
    let at = base
        .windows(marker.len())
        .position(|w| w == marker)
        .context("pad field")?
        + marker.len()
        - 1;
    let mut body = base[..at].to_vec();
    body.extend_from_slice(pad.as_bytes());
    body.extend_from_slice(&base[at..]);
    debug_assert_eq!(body.len(), size);
    Ok((Bytes::from(body), at))
}
