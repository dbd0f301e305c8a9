//! `lifecycle`: bytes per event in the hot tier (Redis `MEMORY USAGE` of the stream) and in
//! the warm tier (compressed segments) for the GitHub corpus appended as ingest stores it,
//! then the archive job's throughput to an S3-compatible server. Prints one JSON line.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use hookline_jobs::{Budget, archive, compact};
use hookline_shared::config::{self, RedisConfig};
use hookline_shared::event::{Encoding, Event};
use hookline_shared::redis::RedisConn;
use hookline_shared::streams::Keys;

/// Hot vs warm bytes per event on the corpus.
#[derive(Debug, Parser)]
struct Args {
    /// redis://host:port of a private, empty server.
    #[arg(long)]
    url: String,
    /// The GitHub corpus.
    #[arg(long)]
    corpus: PathBuf,
    /// How many times to append the corpus (repeats compress better than real traffic: keep 1
    /// for an honest ratio).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// An S3-compatible endpoint (e.g. moto_server) to archive to, bucket `bench`.
    #[arg(long)]
    s3_endpoint: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let groups: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&args.corpus)?)?;
    let corpus: Vec<(String, Vec<u8>)> = groups
        .iter()
        .flat_map(|g| {
            let name = g["name"].as_str().unwrap_or("unknown").to_owned();
            g["examples"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |e| (name.clone(), serde_json::to_vec(e).unwrap_or_default()))
        })
        .collect();
    let redis = RedisConfig {
        url: Some(args.url.clone()),
        ..Default::default()
    };
    let mut conn = RedisConn::open(&redis)?;
    let keys = Keys::new("hookline");
    let stream = keys.events(0);
    let old = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64 - 3 * 3_600_000;
    let mut count = 0u64;
    for round in 0..args.rounds {
        let mut pipe = redis::pipe();
        for (i, (event_type, body)) in corpus.iter().enumerate() {
            let event = Event {
                id: uuid::Uuid::now_v7(),
                tenant: "default".into(),
                source: "github".into(),
                provider: "github",
                event_type: event_type.clone(),
                delivery_id: Some(uuid::Uuid::now_v7().to_string()),
                received_at_ms: old,
                content_type: "application/json".into(),
                headers: format!(
                    r#"{{"x-github-event":"{event_type}","x-github-hook-id":"4242","user-agent":"GitHub-Hookshot/abc123"}}"#
                ),
                encoding: Encoding::Identity,
                payload: Bytes::from(body.clone()),
                traceparent: None,
            };
            let cmd = pipe
                .cmd("XADD")
                .arg(&stream)
                .arg(format!("{old}-{}", round * corpus.len() + i));
            let stored = event.stored_field_count();
            for (name, value) in event.fields().into_iter().take(stored) {
                cmd.arg(name).arg(&value[..]);
            }
            cmd.ignore();
            count += 1;
        }
        pipe.query_async::<()>(&mut conn)
            .await
            .context("append the corpus")?;
    }
    let hot: u64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&stream)
        .arg("SAMPLES")
        .arg(0)
        .query_async(&mut conn)
        .await?;
    // Nothing reads the benchmark's stream: no consumer group is required before compaction.
    let yaml = format!(
        "redis: {{url: \"{}\"}}\nconsumer: {{summaries: false}}",
        args.url
    );
    let config = config::parse(&yaml, |_| None)?;
    let now = old + 3 * 3_600_000;
    let report = compact::compact(
        &config,
        &mut conn,
        now,
        Budget::new(Duration::from_secs(600)),
    )
    .await?;
    let (segments, warm, _) = compact::warm_usage(&mut conn, &keys, 0).await?;

    let credentials = aws_sdk_s3::config::Credentials::new("bench", "bench", None, None, "bench");
    let s3 = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(&args.s3_endpoint)
        .force_path_style(true)
        .credentials_provider(credentials)
        .build();
    let client = aws_sdk_s3::Client::from_conf(s3);
    client
        .create_bucket()
        .bucket("bench")
        .send()
        .await
        .context("create the bucket")?;
    let store = hookline_shared::objects::S3Store::new(client, "bench", "hookline");
    let started = std::time::Instant::now();
    let archived = archive::archive(
        &config,
        &mut conn,
        &store,
        now + 25 * 3_600_000,
        Budget::new(Duration::from_secs(600)),
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "events": count,
            "moved": report.entries,
            "segments": segments,
            "hot_bytes_per_event": hot as f64 / count as f64,
            "warm_bytes_per_event": warm as f64 / count as f64,
            "ratio": hot as f64 / warm.max(1) as f64,
            "archived_events": archived.entries,
            "archive_objects": archived.objects,
            "archive_seconds": seconds,
            "archive_raw_mb_per_s": report.raw_bytes as f64 / 1e6 / seconds,
            "archive_written_mb_per_s": archived.bytes as f64 / 1e6 / seconds,
        })
    );
    Ok(())
}
