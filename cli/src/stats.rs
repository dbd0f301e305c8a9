//! `hookline stats`: per-partition stream statistics.

use anyhow::Context;
use hookline_shared::config::Config;
use hookline_shared::redis::RedisConn;
use hookline_shared::streams::Keys;
use serde_json::json;

/// Prints the length of every partition stream.
pub async fn run(config: &Config, as_json: bool) -> anyhow::Result<()> {
    let mut conn = RedisConn::open(&config.redis).context("cannot set up the Redis connection")?;
    let keys = Keys::new(config.streams.prefix.clone());
    let mut rows = Vec::new();
    for partition in 0..config.streams.partitions {
        let stream = keys.events(partition);
        let length: u64 = redis::cmd("XLEN")
            .arg(&stream)
            .query_async(&mut conn)
            .await
            .with_context(|| format!("cannot read {stream}"))?;
        rows.push((partition, stream, length));
    }
    if as_json {
        let rows: Vec<_> = rows
            .iter()
            .map(|(p, stream, length)| json!({"partition": p, "stream": stream, "length": length}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{:<10} {:<32} {:>12}", "PARTITION", "STREAM", "LENGTH");
        for (p, stream, length) in rows {
            println!("{p:<10} {stream:<32} {length:>12}");
        }
    }
    Ok(())
}
