//! `hookline stats`: per partition, the stream's length, its oldest entry's age and the old
//! entries held hot, the dead-letter and suspects streams' lengths, the warm tier's segments,
//! bytes and compression ratio, and each consumer group's consumers, pending entries and lag;
//! then the archive's objects of the last day. An archive that cannot be read is reported as
//! unavailable, with the reason, after every Redis figure: the command still exits 0.

use anyhow::Context as _;
use hookline_shared::Context;
use hookline_shared::config::Config;
use hookline_shared::redis::groups::{self, GroupStats};
use hookline_shared::redis::{RedisConn, streams};
use hookline_shared::spool::SpoolStatus;
use hookline_shared::streams::Keys;
use serde_json::json;

use crate::CliError;

/// What the cold tier looks like from here.
pub enum Cold {
    /// No `lifecycle.archive`.
    NotConfigured,
    /// Objects dated yesterday or today (UTC).
    Objects(usize),
    /// The archive cannot be listed, and why (one line).
    Unavailable(String),
}

/// One partition's figures.
#[derive(Debug, Clone)]
pub struct Row {
    /// The partition.
    pub partition: u16,
    /// Its hot stream's key.
    pub stream: String,
    /// Entries in the hot stream.
    pub length: u64,
    /// Entries in its dead-letter stream.
    pub dlq: u64,
    /// Entries in its suspects stream.
    pub suspects: u64,
    /// Warm segments.
    pub warm_segments: u64,
    /// Warm bytes, compressed.
    pub warm_bytes: u64,
    /// Warm bytes, uncompressed.
    pub warm_raw: u64,
    /// When the oldest hot entry was appended, ms.
    pub oldest_ms: Option<u64>,
    /// Hot entries older than `lifecycle.hot`, held by groups.
    pub held: u64,
    /// Its consumer groups.
    pub groups: Vec<GroupStats>,
}

/// Prints the statistics as a table, or as JSON.
pub async fn run(ctx: &Context, as_json: bool) -> Result<(), CliError> {
    let config = &ctx.config;
    let now = ctx.clock.now_ms();
    let rows = partitions(ctx).await?;
    let cold = cold_objects_last_day(config, now).await;
    let spool = config.spool.path.as_deref().map(SpoolStatus::read);
    if as_json {
        let rows: Vec<_> = rows.iter().map(|r| row_json(r, now)).collect();
        let mut report = json!({"partitions": rows});
        if let Some(status) = &spool {
            report["spool"] = json!({
                "events": status.as_ref().map(|s| s.events),
                "oldest_age_seconds": status.as_ref().and_then(|s| s.oldest_received_at_ms).map(|ms| now.saturating_sub(ms) / 1000),
                "bytes": status.as_ref().map(|s| s.bytes),
            });
        }
        match &cold {
            Cold::NotConfigured => report["cold_objects_last_day"] = json!(null),
            Cold::Objects(n) => report["cold_objects_last_day"] = json!(n),
            Cold::Unavailable(why) => {
                report["cold_objects_last_day"] = json!(null);
                report["cold_unavailable"] = json!(why);
            }
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot print JSON")?
        );
        return Ok(());
    }
    println!(
        "{:<5} {:<28} {:>8} {:>10} {:>7} {:>7} {:>8} {:>5} {:>11} {:>6}  {:<18} {:>9} {:>8} {:>8}",
        "PART",
        "STREAM",
        "LENGTH",
        "OLDEST",
        "HELD",
        "DLQ",
        "SUSPECTS",
        "WARM",
        "WARM BYTES",
        "RATIO",
        "GROUP",
        "CONSUMERS",
        "PENDING",
        "LAG"
    );
    for r in &rows {
        let oldest = r
            .oldest_ms
            .map_or_else(|| "-".to_owned(), |ms| age(now, ms));
        let ratio =
            ratio(r.warm_raw, r.warm_bytes).map_or_else(|| "-".to_owned(), |x| format!("{x:.1}x"));
        let head = format!(
            "{:<5} {:<28} {:>8} {:>10} {:>7} {:>7} {:>8} {:>5} {:>11} {:>6}",
            r.partition,
            r.stream,
            r.length,
            oldest,
            r.held,
            r.dlq,
            r.suspects,
            r.warm_segments,
            r.warm_bytes,
            ratio
        );
        if r.groups.is_empty() {
            println!("{head}  (no groups)");
        }
        for g in &r.groups {
            let lag = g.lag.map_or_else(|| "?".to_owned(), |l| l.to_string());
            println!(
                "{head}  {:<18} {:>9} {:>8} {:>8}",
                g.name, g.consumers, g.pending, lag
            );
        }
    }
    match cold {
        Cold::NotConfigured => {}
        Cold::Objects(n) => println!("cold: {n} object(s) dated yesterday or today (UTC)"),
        Cold::Unavailable(why) => println!("cold: unavailable: {why}"),
    }
    match spool {
        None => {}
        Some(None) => println!("spool: no status yet (no serve has opened spool.path here)"),
        Some(Some(status)) => {
            let oldest = status
                .oldest_received_at_ms
                .map_or_else(|| "-".to_owned(), |ms| age(now, ms));
            println!(
                "spool: {} event(s) waiting for Redis, oldest {oldest}, {} bytes on disk",
                status.events, status.bytes
            );
        }
    }
    println!(
        "OLDEST: age of the oldest hot entry; HELD: hot entries older than lifecycle.hot, held by \
         groups that have not acknowledged them (counted up to {}); SUSPECTS: bloom-filter hits \
         kept for inspection (hookline replay --suspects)",
        hookline_jobs::compact::HELD_CAP
    );
    Ok(())
}

/// Every partition's figures, in partition order.
pub async fn partitions(ctx: &Context) -> Result<Vec<Row>, CliError> {
    let config = &ctx.config;
    let mut conn = ctx.redis.shared();
    let keys = Keys::new(config.streams.prefix.clone());
    let now = ctx.clock.now_ms();
    let cutoff = now.saturating_sub(config.lifecycle.hot.get().as_millis() as u64);
    let mut rows = Vec::new();
    for partition in 0..config.streams.partitions {
        let stream = keys.events(partition);
        let length = xlen(&mut conn, &stream).await?;
        let dlq = xlen(&mut conn, &keys.dlq(partition)).await?;
        let suspects = xlen(&mut conn, &keys.suspects(partition)).await?;
        let (warm_segments, warm_bytes, warm_raw) =
            hookline_jobs::compact::warm_usage(&mut conn, &keys, partition)
                .await
                .with_context(|| format!("cannot read the warm tier of partition {partition}"))?;
        let (oldest_ms, held) =
            hookline_jobs::compact::hot_usage(&mut conn, &keys, partition, cutoff)
                .await
                .with_context(|| format!("cannot read {stream}"))?;
        let groups = groups::info(&mut conn, &stream)
            .await
            .with_context(|| format!("cannot read the groups of {stream}"))?;
        rows.push(Row {
            partition,
            stream,
            length,
            dlq,
            suspects,
            warm_segments,
            warm_bytes,
            warm_raw,
            oldest_ms,
            held,
            groups,
        });
    }
    Ok(rows)
}

fn row_json(r: &Row, now: u64) -> serde_json::Value {
    let groups: Vec<_> = r
        .groups
        .iter()
        .map(|g| json!({"name": g.name, "consumers": g.consumers, "pending": g.pending, "lag": g.lag}))
        .collect();
    json!({
        "partition": r.partition, "stream": r.stream, "length": r.length, "dlq": r.dlq,
        "suspects": r.suspects,
        "oldest_hot_age_seconds": r.oldest_ms.map(|ms| now.saturating_sub(ms) / 1000),
        "held_hot": r.held, "warm_segments": r.warm_segments, "warm_bytes": r.warm_bytes,
        "compression_ratio": ratio(r.warm_raw, r.warm_bytes), "groups": groups,
    })
}

/// `now - ms` as whole seconds, humanly.
pub fn age(now: u64, ms: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(
        now.saturating_sub(ms) / 1000,
    ))
    .to_string()
}

/// Uncompressed over compressed size, when there is anything compressed.
pub fn ratio(raw: u64, compressed: u64) -> Option<f64> {
    (compressed > 0).then(|| raw as f64 / compressed as f64)
}

/// Objects in the archive dated yesterday or today (UTC), when an archive is configured.
pub async fn cold_objects_last_day(config: &Config, now_ms: u64) -> Cold {
    let store = match hookline_shared::objects::store_for(config).await {
        Ok(Some(store)) => store,
        Ok(None) => return Cold::NotConfigured,
        Err(why) => return Cold::Unavailable(format!("lifecycle.archive {why}")),
    };
    let day = |ms: u64| {
        let stamp = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
        )
        .to_string();
        format!("/date={}/", &stamp[..10])
    };
    let (today, yesterday) = (day(now_ms), day(now_ms.saturating_sub(86_400_000)));
    match store.list("").await {
        Ok(keys) => Cold::Objects(
            keys.iter()
                .filter(|k| {
                    k.ends_with(".jsonl.zst") && (k.contains(&today) || k.contains(&yesterday))
                })
                .count(),
        ),
        Err(e) => Cold::Unavailable(e.reason),
    }
}

async fn xlen(conn: &mut RedisConn, key: &str) -> anyhow::Result<u64> {
    streams::length(conn, key)
        .await
        .with_context(|| format!("cannot read {key}"))
}
