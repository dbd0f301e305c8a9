//! The warm tier in Redis: segments (compressed runs of consecutive entries) under
//! `{prefix}:warm:{N}:seg:{first}-{last}`, indexed by their newest entry's time in
//! `{prefix}:warm:{N}:index`, with their uncompressed sizes in `{prefix}:warm:{N}:raw`.
//! Writing a segment trims the stream in the same script (`compact.lua`); deleting a batch
//! of archived segments is one transaction. The segment format itself is the jobs' business.

use std::sync::LazyLock;

use redis::{RedisResult, Script};

use super::{RedisConn, script};
use crate::config::WaitConfig;
use crate::streams::Keys;

static COMPACT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("compact.lua")));

/// A segment to write, made of the stream's first entries.
#[derive(Debug, Clone, Copy)]
pub struct NewSegment<'a> {
    /// The index member, `{first}-{last}`.
    pub member: &'a str,
    /// The first entry's id: the stream must still start there.
    pub first_id: &'a str,
    /// The last entry's time, ms (the index score).
    pub last_ms: u64,
    /// The id just after the last entry: the stream is trimmed to ids ≥ it.
    pub trim_to: &'a str,
    /// The compressed segment.
    pub blob: &'a [u8],
    /// Its size before compression.
    pub raw_bytes: u64,
}

/// Writes `segment` and trims the stream's head it holds, atomically (confirmed by replicas
/// with `wait`); `None` when the stream no longer starts at its first entry (another run
/// compacted it meanwhile), else the entries trimmed.
pub async fn write(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    segment: NewSegment<'_>,
    wait: Option<WaitConfig>,
) -> RedisResult<Option<u64>> {
    let mut call = script::evalsha(
        &COMPACT,
        &[
            keys.events(partition),
            keys.warm_segment(partition, segment.member),
            keys.warm_index(partition),
            keys.warm_raw_sizes(partition),
        ],
    );
    call.arg(segment.first_id)
        .arg(segment.blob)
        .arg(segment.last_ms)
        .arg(segment.member)
        .arg(segment.trim_to)
        .arg(segment.raw_bytes);
    let trimmed: i64 = script::run_replicated(conn, &COMPACT, &call, wait).await?;
    Ok(u64::try_from(trimmed).ok())
}

/// Every segment of `partition`, oldest first.
pub async fn all(conn: &mut RedisConn, keys: &Keys, partition: u16) -> RedisResult<Vec<String>> {
    redis::cmd("ZRANGE")
        .arg(keys.warm_index(partition))
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
}

/// Up to `limit` segments whose newest entry is older than `cutoff_ms`, oldest first.
pub async fn older_than(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    cutoff_ms: u64,
    limit: usize,
) -> RedisResult<Vec<String>> {
    redis::cmd("ZRANGEBYSCORE")
        .arg(keys.warm_index(partition))
        .arg("-inf")
        .arg(format!("({cutoff_ms}"))
        .arg("LIMIT")
        .arg(0)
        .arg(limit)
        .query_async(conn)
        .await
}

/// The segments whose newest entry is at or after `from_ms`, oldest first.
pub async fn newer_than(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    from_ms: u64,
) -> RedisResult<Vec<String>> {
    redis::cmd("ZRANGEBYSCORE")
        .arg(keys.warm_index(partition))
        .arg(from_ms)
        .arg("+inf")
        .query_async(conn)
        .await
}

/// A segment's compressed bytes; `None` when it is gone (archived meanwhile).
pub async fn read(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    member: &str,
) -> RedisResult<Option<Vec<u8>>> {
    redis::cmd("GET")
        .arg(keys.warm_segment(partition, member))
        .query_async(conn)
        .await
}

/// A partition's warm tier: segments, compressed bytes, and their uncompressed size.
pub async fn usage(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
) -> RedisResult<(u64, u64, u64)> {
    let members = all(conn, keys, partition).await?;
    if members.is_empty() {
        return Ok((0, 0, 0));
    }
    let mut pipe = redis::pipe();
    for member in &members {
        pipe.cmd("STRLEN").arg(keys.warm_segment(partition, member));
    }
    let sizes: Vec<u64> = pipe.query_async(conn).await?;
    let raw: Vec<Option<u64>> = redis::cmd("HMGET")
        .arg(keys.warm_raw_sizes(partition))
        .arg(&members)
        .query_async(conn)
        .await?;
    Ok((
        members.len() as u64,
        sizes.iter().sum(),
        raw.into_iter().flatten().sum(),
    ))
}

/// Deletes `members` (segment, index entry, size) together, in one transaction (confirmed
/// by replicas with `wait`).
pub async fn delete(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    members: &[String],
    wait: Option<WaitConfig>,
) -> RedisResult<()> {
    // MULTI … EXEC written out rather than `atomic()`, so a WAIT can follow the EXEC in the
    // same pipeline: on the same connection and, in a cluster, on the node of the slot.
    let mut pipe = redis::pipe();
    pipe.cmd("MULTI");
    for member in members {
        pipe.cmd("DEL")
            .arg(keys.warm_segment(partition, member))
            .ignore()
            .cmd("ZREM")
            .arg(keys.warm_index(partition))
            .arg(member)
            .ignore()
            .cmd("HDEL")
            .arg(keys.warm_raw_sizes(partition))
            .arg(member)
            .ignore();
    }
    pipe.cmd("EXEC");
    if let Some(wait) = wait {
        pipe.cmd("WAIT")
            .arg(wait.replicas)
            .arg(wait.timeout.get().as_millis() as u64);
    }
    let replies: Vec<redis::Value> = pipe.query_async(conn).await?;
    match (wait, replies.last()) {
        (Some(wait), Some(redis::Value::Int(replicas))) => {
            script::confirm(conn, u64::try_from(*replicas).unwrap_or(0), wait)
        }
        (Some(wait), _) => script::confirm(conn, 0, wait),
        (None, _) => Ok(()),
    }
}
