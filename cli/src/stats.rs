//! `hookline stats`: per partition, the stream's length, the dead-letter stream's length,
//! the warm tier's segments and bytes, and each consumer group's consumers, pending entries
//! and lag.

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
    groups: Vec<GroupStats>,
}

/// Prints the statistics as a table, or as JSON.
pub async fn run(config: &Config, as_json: bool) -> anyhow::Result<()> {
    let mut conn = RedisConn::open(&config.redis).context("cannot set up the Redis connection")?;
    let keys = Keys::new(config.streams.prefix.clone());
    let mut rows = Vec::new();
    for partition in 0..config.streams.partitions {
        let stream = keys.events(partition);
        let length = xlen(&mut conn, &stream).await?;
        let dlq = xlen(&mut conn, &keys.dlq(partition)).await?;
        let (warm_segments, warm_bytes) =
            hookline_jobs::compact::warm_usage(&mut conn, &keys, partition).await?;
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
                    "warm_segments": r.warm_segments, "warm_bytes": r.warm_bytes, "groups": groups})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<5} {:<28} {:>10} {:>8} {:>9} {:>12}  {:<16} {:>9} {:>9} {:>9}",
        "PART",
        "STREAM",
        "LENGTH",
        "DLQ",
        "WARM SEGS",
        "WARM BYTES",
        "GROUP",
        "CONSUMERS",
        "PENDING",
        "LAG"
    );
    for r in rows {
        let head = format!(
            "{:<5} {:<28} {:>10} {:>8} {:>9} {:>12}",
            r.partition, r.stream, r.length, r.dlq, r.warm_segments, r.warm_bytes
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
    Ok(())
}

async fn xlen(conn: &mut RedisConn, key: &str) -> anyhow::Result<u64> {
    redis::cmd("XLEN")
        .arg(key)
        .query_async(conn)
        .await
        .with_context(|| format!("cannot read {key}"))
}
