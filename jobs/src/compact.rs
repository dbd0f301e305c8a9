//! `compact`: hot → warm. Per partition, the head of the stream that is old enough
//! (`lifecycle.hot`) and that every consumer group has acknowledged — delivered and not
//! pending — is packed into zstd segments of consecutive entries and removed from the stream
//! in one atomic script per segment (`compact.lua`). An old entry that some group has not
//! acknowledged stays hot, and so does everything after it. A partition where one of the
//! required groups ([`Config::required_groups`]) does not exist yet is not compacted at all:
//! nobody has read its events yet, however old they are (`hookline_compaction_blocked`).
//!
//! Moves are exact: a segment holds the consecutive head entries it was encoded from and the
//! script trims exactly those. An entry at the head that is not an event (a field name that
//! is not UTF-8; consumers acknowledge such entries undelivered) goes, raw, to the
//! partition's dead-letter stream in a script of its own (`quarantine.lua`), and compaction
//! carries on behind it.
//!
//! Because only fully read entries are trimmed, `XINFO GROUPS` lag stays a number.

use hookline_shared::config::{Config, WaitConfig};
use hookline_shared::event::StoredEvent;
use hookline_shared::redis::dead_letters;
use hookline_shared::redis::groups::{self, GroupStats};
use hookline_shared::redis::segments::{self, NewSegment};
use hookline_shared::redis::streams::Entry;
use hookline_shared::redis::{RedisConn, streams};
use hookline_shared::streams::Keys;

use crate::{Budget, JobError, segment};

/// Entries per segment at most.
pub const SEGMENT_ENTRIES: usize = 500;
/// A segment's entries (field names and values) take at most this many bytes before
/// compression, unless one entry alone is larger (it then has a segment of its own): a burst
/// of large payloads neither builds a segment Redis cannot store nor holds hundreds of them
/// in memory. Reads are bounded the same way (`range_bounded.lua`).
pub const SEGMENT_BYTES: usize = 8 << 20;

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
    /// Partitions left hot because required groups do not exist there yet, with those groups.
    pub blocked: Vec<(u16, Vec<String>)>,
    /// Entries that are not events, moved raw to their partition's dead-letter stream.
    pub unreadable: u64,
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
    let wait = config.redis.wait;
    let dlq = (now_ms, config.consumer.dlq_max_len);
    let required = config.required_groups();
    for partition in 0..config.streams.partitions {
        let stream = keys.events(partition);
        let groups = groups::info(conn, &stream).await?;
        let missing: Vec<String> = required
            .iter()
            .filter(|r| !groups.iter().any(|g| &g.name == *r))
            .cloned()
            .collect();
        let blocked = metrics::gauge!(hookline_shared::metrics::COMPACTION_BLOCKED,
            "partition" => partition.to_string(), "reason" => "missing_group");
        if !missing.is_empty() {
            blocked.set(1.0);
            tracing::warn!(partition, groups = %missing.join(", "), "not compacting: required consumer group(s) do not exist on this partition yet, so its events may be unread");
            report.blocked.push((partition, missing));
            continue;
        }
        blocked.set(0.0);
        let bound = keep_from(conn, &stream, &groups, (cutoff, 0)).await?;
        let at = Partition {
            keys: &keys,
            partition,
            wait,
            dlq,
        };
        compact_partition(conn, at, bound, &budget, &mut report).await?;
        if budget.spent() {
            report.budget_spent = true;
            break;
        }
    }
    Ok(report)
}

/// The first id that must stay hot: the age cutoff, or an entry one of `groups` has not
/// acknowledged, whichever comes first.
async fn keep_from(
    conn: &mut RedisConn,
    stream: &str,
    groups: &[GroupStats],
    cutoff: Id,
) -> Result<Id, JobError> {
    let mut bound = cutoff;
    for group in groups {
        let first_unacked = match groups::first_pending(conn, stream, &group.name).await? {
            Some(min) => parse_id(&min)?,
            None => {
                let (ms, seq) = parse_id(&group.last_delivered_id)?;
                (ms, seq + 1)
            }
        };
        bound = bound.min(first_unacked);
    }
    Ok(bound)
}

/// Where a partition's entries go, and how.
#[derive(Clone, Copy)]
struct Partition<'a> {
    keys: &'a Keys,
    partition: u16,
    wait: Option<WaitConfig>,
    /// Dead letters' `failed_at` and the DLQ cap.
    dlq: (u64, u64),
}

/// Moves the partition's entries before `bound` to the warm tier (those that are not events
/// to the dead-letter stream).
async fn compact_partition(
    conn: &mut RedisConn,
    at: Partition<'_>,
    bound: Id,
    budget: &Budget,
    report: &mut CompactReport,
) -> Result<(), JobError> {
    let (keys, partition) = (at.keys, at.partition);
    let stream = keys.events(partition);
    while !budget.spent() {
        let end = format!("({}", format_id(bound));
        let bounds = (SEGMENT_ENTRIES, SEGMENT_BYTES);
        let read = streams::range_bounded(conn, &stream, ("-", &end), bounds).await?;
        let Some(head) = read.first() else {
            return Ok(());
        };
        if let Entry::Unreadable(raw) = head {
            let dlq = keys.dlq(partition);
            if !dead_letters::quarantine(conn, (&stream, &dlq), raw, at.dlq, at.wait).await? {
                return Ok(()); // another run is compacting this partition
            }
            report.unreadable += 1;
            tracing::warn!(partition, entry = %raw.entry_id, reason = streams::RawEntry::REASON, "not an event: moved raw to the dead-letter stream");
            continue;
        }
        // The events up to the next entry that is not one, if any: it goes next round.
        let events: Vec<StoredEvent> = read.into_iter().map_while(Entry::into_event).collect();
        if !write_segment(conn, at, &events, report).await? {
            return Ok(()); // another run is compacting this partition
        }
    }
    report.budget_spent = true;
    Ok(())
}

/// Writes `entries`, the head of the partition, as one segment and trims exactly them; false
/// when the stream no longer starts with them.
async fn write_segment(
    conn: &mut RedisConn,
    at: Partition<'_>,
    entries: &[StoredEvent],
    report: &mut CompactReport,
) -> Result<bool, JobError> {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Ok(true);
    };
    let (first_id, last_id) = (parse_id(&first.entry_id)?, parse_id(&last.entry_id)?);
    let member = format!("{}-{}", first.entry_id, last.entry_id);
    let blob = segment::encode(entries);
    let raw_bytes = entries.iter().map(segment::raw_size).sum::<usize>() as u64;
    let written = NewSegment {
        member: &member,
        first_id: &format_id(first_id),
        last_ms: last_id.0,
        trim_to: &format_id((last_id.0, last_id.1 + 1)),
        blob: &blob,
        raw_bytes,
    };
    if segments::write(conn, at.keys, at.partition, written, at.wait)
        .await?
        .is_none()
    {
        return Ok(false);
    }
    report.segments += 1;
    report.entries += entries.len() as u64;
    report.raw_bytes += raw_bytes;
    report.warm_bytes += blob.len() as u64;
    metrics::counter!(hookline_shared::metrics::LIFECYCLE_BYTES, "tier" => "warm")
        .increment(blob.len() as u64);
    tracing::info!(
        partition = at.partition,
        entries = entries.len(),
        bytes = blob.len(),
        "segment written"
    );
    Ok(true)
}

/// A partition's warm tier: segments, compressed bytes, and their uncompressed size.
pub async fn warm_usage(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
) -> Result<(u64, u64, u64), JobError> {
    Ok(segments::usage(conn, keys, partition).await?)
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
    let head = streams::range_ids(conn, &stream, "-", "+", 1).await?;
    let Some(first) = head.first() else {
        return Ok((None, 0));
    };
    let oldest = parse_id(first)?.0;
    let end = format!("({cutoff_ms}-0");
    let held = streams::range_ids(conn, &stream, "-", &end, HELD_CAP).await?;
    Ok((Some(oldest), held.len() as u64))
}
