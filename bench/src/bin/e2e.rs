//! `e2e`: end-to-end latency from sending a webhook to `hookline serve` to the consumer's
//! http sink calling back (the 202 is part of it: a delivery often arrives about as soon as
//! the 202 does). Sends GitHub-signed webhooks at a steady rate, receives the deliveries
//! itself (so both times come from one clock), and prints one JSON line with p50/p99 in ms.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sha2::Sha256;

/// End-to-end latency at a steady rate.
#[derive(Debug, Parser)]
struct Args {
    /// hookline serve's address.
    #[arg(long)]
    addr: SocketAddr,
    /// Where to receive the http sink's deliveries (the sink's URL is http://THIS/hook).
    #[arg(long)]
    listen: SocketAddr,
    /// The github source's secret.
    #[arg(long)]
    secret: String,
    /// Events per second.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// How long to send.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

type Times = Arc<Mutex<HashMap<String, Instant>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let accepted: Times = Arc::default();
    let delivered: Times = Arc::default();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(delivered.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .context("bind the receiver")?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let stream = tokio::net::TcpStream::connect(args.addr)
        .await
        .context("connect to hookline")?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / args.rate);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = u64::from(args.rate) * args.seconds;
    for n in 0..total {
        ticks.tick().await;
        let body = Bytes::from(format!(
            r#"{{"zen":"e2e","n":{n},"repository":{{"full_name":"octo/e2e"}}}}"#
        ));
        let mac = Hmac::<Sha256>::new_from_slice(args.secret.as_bytes())?.chain_update(&body);
        let request = hyper::Request::post(format!("http://{}/webhooks/github", args.addr))
            .header("host", args.addr.to_string())
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header(
                "x-github-delivery",
                format!("e2e-{n}-{}", std::process::id()),
            )
            .header(
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
            )
            .body(Full::new(body))?;
        sender.ready().await?;
        let at = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        let reply: serde_json::Value =
            serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
        anyhow::ensure!(status == StatusCode::ACCEPTED, "ingest answered {status}");
        let id = reply["id"].as_str().context("202 without id")?.to_owned();
        accepted.lock().expect("lock").insert(id, at);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered.lock().expect("lock").len() < total as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut histogram = Histogram::<u64>::new(3)?;
    let delivered = delivered.lock().expect("lock");
    for (id, sent) in accepted.lock().expect("lock").iter() {
        if let Some(got) = delivered.get(id) {
            histogram.record(got.saturating_duration_since(*sent).as_micros() as u64)?;
        }
    }
    let line = serde_json::json!({
        "rate": args.rate,
        "sent": total,
        "delivered": histogram.len(),
        "p50_ms": histogram.value_at_quantile(0.50) as f64 / 1000.0,
        "p99_ms": histogram.value_at_quantile(0.99) as f64 / 1000.0,
        "max_ms": histogram.max() as f64 / 1000.0,
    });
    println!("{line}");
    Ok(())
}

async fn receive(State(delivered): State<Times>, headers: HeaderMap) -> StatusCode {
    let at = Instant::now();
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        delivered
            .lock()
            .expect("lock")
            .entry(id.to_owned())
            .or_insert(at);
    }
    StatusCode::OK
}
