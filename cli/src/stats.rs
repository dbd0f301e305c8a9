//! `hookline stats`: per partition, the stream's length, its oldest entry's age and the old
//! entries held hot, the dead-letter stream's length, the warm tier's segments and bytes, and
//! each consumer group's consumers, pending entries and lag.

use anyhow::Context;
use hookline_shared::config::Config;
use hookline_shared::consumer::stats::{self, GroupStats};
use hookline_shared::redis::RedisConn;
use hookline_shared::streams::Keys;
use serde_json::json;

struct Row {
    partition: u16,
    stream: String,
    length: u64,
    dlq: u64,
    warm_segments: u64,
    warm_bytes: u64,
    oldest_ms: Option<u64>,
    held: u64,
    groups: Vec<GroupStats>,
}

/// Prints the statistics as a table, or as JSON.
pub async fn run(config: &Config, as_json: bool) -> anyhow::Result<()> {
    let mut conn = RedisConn::open(&config.redis).context("cannot set up the Redis connection")?;
    let keys = Keys::new(config.streams.prefix.clone());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let cutoff = now.saturating_sub(config.lifecycle.hot.get().as_millis() as u64);
    let mut rows = Vec::new();
    for partition in 0..config.streams.partitions {
        let stream = keys.events(partition);
        let length = xlen(&mut conn, &stream).await?;
        let dlq = xlen(&mut conn, &keys.dlq(partition)).await?;
        let (warm_segments, warm_bytes) =
            hookline_jobs::compact::warm_usage(&mut conn, &keys, partition).await?;
        let (oldest_ms, held) =
            hookline_jobs::compact::hot_usage(&mut conn, &keys, partition, cutoff).await?;
        let groups = stats::groups(&mut conn, &stream)
            .await
            .with_context(|| format!("cannot read the groups of {stream}"))?;
        rows.push(Row {
            partition,
            stream,
            length,
            dlq,
            warm_segments,
            warm_bytes,
            oldest_ms,
            held,
            groups,
        });
    }
    if as_json {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| {
                let groups: Vec<_> = r
                    .groups
                    .iter()
                    .map(|g| json!({"name": g.name, "consumers": g.consumers, "pending": g.pending, "lag": g.lag}))
                    .collect();
                json!({"partition": r.partition, "stream": r.stream, "length": r.length, "dlq": r.dlq,
                    "warm_segments": r.warm_segments, "warm_bytes": r.warm_bytes,
                    "oldest_hot_age_seconds": r.oldest_ms.map(|ms| now.saturating_sub(ms) / 1000),
                    "held_hot": r.held, "groups": groups})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<5} {:<28} {:>10} {:>10} {:>8} {:>8} {:>9} {:>12}  {:<16} {:>9} {:>9} {:>9}",
        "PART",
        "STREAM",
        "LENGTH",
        "OLDEST",
        "HELD",
        "DLQ",
        "WARM SEGS",
        "WARM BYTES",
        "GROUP",
        "CONSUMERS",
        "PENDING",
        "LAG"
    );
    for r in rows {
        let oldest = r.oldest_ms.map_or_else(
            || "-".to_owned(),
            |ms| {
                humantime::format_duration(std::time::Duration::from_secs(
                    now.saturating_sub(ms) / 1000,
                ))
                .to_string()
            },
        );
        let head = format!(
            "{:<5} {:<28} {:>10} {:>10} {:>8} {:>8} {:>9} {:>12}",
            r.partition, r.stream, r.length, oldest, r.held, r.dlq, r.warm_segments, r.warm_bytes
        );
        if r.groups.is_empty() {
            println!("{head}  (no groups)");
        }
        for g in r.groups {
            let lag = g.lag.map_or_else(|| "?".to_owned(), |l| l.to_string());
            println!(
                "{head}  {:<16} {:>9} {:>9} {:>9}",
                g.name, g.consumers, g.pending, lag
            );
        }
    }
    println!(
        "OLDEST: age of the oldest hot entry; HELD: hot entries older than lifecycle.hot (held by unacknowledged groups; counted up to {})",
        hookline_jobs::compact::HELD_CAP
    );
    Ok(())
}

async fn xlen(conn: &mut RedisConn, key: &str) -> anyhow::Result<u64> {
    redis::cmd("XLEN")
        .arg(key)
        .query_async(conn)
        .await
        .with_context(|| format!("cannot read {key}"))
}
