//! `compact`: hot → warm. Per partition, the head of the stream that is old enough
//! (`lifecycle.hot`) and that every consumer group has acknowledged — delivered and not
//! pending — is packed into zstd segments of consecutive entries and removed from the stream
//! in one atomic script per segment (`compact.lua`). An old entry that some group has not
//! acknowledged stays hot, and so does everything after it.
//!
//! Because only fully read entries are trimmed, `XINFO GROUPS` lag stays a number.

use std::sync::LazyLock;

use hookline_shared::config::Config;
use hookline_shared::consumer::stats;
use hookline_shared::entries;
use hookline_shared::redis::RedisConn;
use hookline_shared::streams::Keys;
use redis::{Script, Value};

use crate::{Budget, JobError, segment};

static COMPACT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("compact.lua")));

/// Entries per segment.
pub const SEGMENT_ENTRIES: usize = 500;

/// What a compaction run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Segments written.
    pub segments: u64,
    /// Entries moved from hot to warm.
    pub entries: u64,
    /// Their size before compression.
    pub raw_bytes: u64,
    /// Their size in the warm tier.
    pub warm_bytes: u64,
    /// Whether the run stopped because its budget was spent (the next run carries on).
    pub budget_spent: bool,
}

/// A stream entry id.
type Id = (u64, u64);

fn parse_id(text: &str) -> Result<Id, JobError> {
    let bad = || JobError::BadId(text.to_owned());
    let (ms, seq) = text.split_once('-').ok_or_else(bad)?;
    Ok((
        ms.parse().map_err(|_| bad())?,
        seq.parse().map_err(|_| bad())?,
    ))
}

fn format_id((ms, seq): Id) -> String {
    format!("{ms}-{seq}")
}

/// Compacts every partition; `now_ms` is the current time (tests set it).
pub async fn compact(
    config: &Config,
    conn: &mut RedisConn,
    now_ms: u64,
    budget: Budget,
) -> Result<CompactReport, JobError> {
    let keys = Keys::new(config.streams.prefix.clone());
    let cutoff = now_ms.saturating_sub(config.lifecycle.hot.get().as_millis() as u64);
    let mut report = CompactReport::default();
    for partition in 0..config.streams.partitions {
        compact_partition(conn, &keys, partition, (cutoff, 0), budget, &mut report).await?;
        if budget.spent() {
            report.budget_spent = true;
            break;
        }
    }
    Ok(report)
}

/// The first id that must stay hot: the age cutoff, or an entry some group has not
/// acknowledged, whichever comes first.
async fn keep_from(conn: &mut RedisConn, stream: &str, cutoff: Id) -> Result<Id, JobError> {
    let mut bound = cutoff;
    for group in stats::groups(conn, stream).await? {
        let summary: (u64, Option<String>, Value, Value) = redis::cmd("XPENDING")
            .arg(stream)
            .arg(&group.name)
            .query_async(conn)
            .await?;
        let first_unacked = match summary {
            (n, Some(min), _, _) if n > 0 => parse_id(&min)?,
            _ => {
                let (ms, seq) = parse_id(&group.last_delivered_id)?;
                (ms, seq + 1)
            }
        };
        bound = bound.min(first_unacked);
    }
    Ok(bound)
}

async fn compact_partition(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    cutoff: Id,
    budget: Budget,
    report: &mut CompactReport,
) -> Result<(), JobError> {
    let stream = keys.events(partition);
    let bound = keep_from(conn, &stream, cutoff).await?;
    while !budget.spent() {
        let page: Value = redis::cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg(format!("({}", format_id(bound)))
            .arg("COUNT")
            .arg(SEGMENT_ENTRIES)
            .query_async(conn)
            .await?;
        let entries = entries::from_entry_list(page);
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(());
        };
        let (first_id, last_id) = (parse_id(&first.entry_id)?, parse_id(&last.entry_id)?);
        let member = format!("{}-{}", first.entry_id, last.entry_id);
        let blob = segment::encode(&entries);
        let raw_bytes = entries.iter().map(segment::raw_size).sum::<usize>() as u64;
        let trimmed: i64 = COMPACT
            .key(&stream)
            .key(keys.warm_segment(partition, &member))
            .key(keys.warm_index(partition))
            .key(keys.warm_raw_sizes(partition))
            .arg(format_id(first_id))
            .arg(&blob)
            .arg(last_id.0)
            .arg(&member)
            .arg(format_id((last_id.0, last_id.1 + 1)))
            .arg(raw_bytes)
            .invoke_async(conn)
            .await?;
        if trimmed < 0 {
            return Ok(()); // another run is compacting this partition
        }
        report.segments += 1;
        report.entries += entries.len() as u64;
        report.raw_bytes += raw_bytes;
        report.warm_bytes += blob.len() as u64;
        metrics::counter!(hookline_shared::metrics::LIFECYCLE_BYTES, "tier" => "warm")
            .increment(blob.len() as u64);
        tracing::info!(
            partition,
            entries = entries.len(),
            bytes = blob.len(),
            "segment written"
        );
    }
    report.budget_spent = true;
    Ok(())
}

/// A partition's warm tier: segments, compressed bytes, and their uncompressed size.
pub async fn warm_usage(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
) -> Result<(u64, u64, u64), JobError> {
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(keys.warm_index(partition))
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await?;
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

/// Old entries counted at most, per partition, by [`hot_usage`].
pub const HELD_CAP: usize = 10_000;

/// The oldest hot entry's time (ms), and how many hot entries are older than
/// `lifecycle.hot` — held back because some group has not acknowledged them (at most
/// [`HELD_CAP`] are counted).
pub async fn hot_usage(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    cutoff_ms: u64,
) -> Result<(Option<u64>, u64), JobError> {
    let stream = keys.events(partition);
    let head: Vec<(String, Value)> = redis::cmd("XRANGE")
        .arg(&stream)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    let Some((first, _)) = head.first() else {
        return Ok((None, 0));
    };
    let oldest = parse_id(first)?.0;
    let held: Vec<(String, Value)> = redis::cmd("XRANGE")
        .arg(&stream)
        .arg("-")
        .arg(format!("({cutoff_ms}-0"))
        .arg("COUNT")
        .arg(HELD_CAP)
        .query_async(conn)
        .await?;
    Ok((Some(oldest), held.len() as u64))
}
