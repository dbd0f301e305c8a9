//! The dead-letter streams: moving an entry there and acknowledging it in one step
//! (`dead_letter.lua`), moving an entry that is not an event there raw (`quarantine.lua`),
//! and moving a dead letter back to its hot stream (`dlq_retry.lua`).
//! Listing and purging read and delete entries with [`super::streams`].

use std::sync::LazyLock;

use redis::{RedisResult, Script};

use super::streams::RawEntry;
use super::{RedisConn, script};
use crate::config::WaitConfig;

static DEAD_LETTER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("dead_letter.lua")));
static RETRY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("dlq_retry.lua")));
static QUARANTINE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("quarantine.lua")));

/// What went wrong with an entry that is dead-lettered.
#[derive(Debug, Clone, Copy)]
pub struct Failed<'a> {
    /// The consumer group giving up.
    pub group: &'a str,
    /// The entry's id in the partition stream.
    pub entry_id: &'a str,
    /// The entry as JSON (payload as `payload_b64`).
    pub event_json: &'a str,
    /// The last error.
    pub error: &'a str,
    /// Deliveries attempted.
    pub attempts: u64,
    /// When, ms since the epoch.
    pub failed_at: u64,
    /// The dead-letter stream's cap.
    pub max_len: u64,
}

/// Acknowledges `failed` in its group of `stream` and adds it to `dlq`, atomically (and,
/// with `wait`, confirmed by replicas); false when it was no longer pending.
pub async fn move_to_dlq(
    conn: &mut RedisConn,
    (stream, dlq): (&str, &str),
    failed: Failed<'_>,
    wait: Option<WaitConfig>,
) -> RedisResult<bool> {
    let mut call = script::evalsha(&DEAD_LETTER, &[stream, dlq]);
    call.arg(failed.group)
        .arg(failed.entry_id)
        .arg(failed.event_json)
        .arg(failed.error)
        .arg(failed.attempts)
        .arg(failed.failed_at)
        .arg(failed.max_len);
    let moved: i64 = script::run_replicated(conn, &DEAD_LETTER, &call, wait).await?;
    Ok(moved == 1)
}

/// Moves `raw`, the head of `stream` and not an event, to `dlq` byte for byte (its `raw`
/// field), atomically and, with `wait`, confirmed by replicas; false when the stream no
/// longer starts with it.
pub async fn quarantine(
    conn: &mut RedisConn,
    (stream, dlq): (&str, &str),
    raw: &RawEntry,
    (failed_at, max_len): (u64, u64),
    wait: Option<WaitConfig>,
) -> RedisResult<bool> {
    let mut call = script::evalsha(&QUARANTINE, &[stream, dlq]);
    call.arg(&raw.entry_id)
        .arg(raw.to_json())
        .arg(RawEntry::REASON)
        .arg(failed_at)
        .arg(max_len);
    let moved: i64 = script::run_replicated(conn, &QUARANTINE, &call, wait).await?;
    Ok(moved == 1)
}

/// Deletes dead letter `dlq_entry_id` from `dlq` and appends `fields` (the original event,
/// id unchanged) to `stream`, atomically; false when the dead letter was already gone.
pub async fn retry<'a>(
    conn: &mut RedisConn,
    (dlq, stream): (&str, &str),
    dlq_entry_id: &str,
    fields: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> RedisResult<bool> {
    let mut call = script::evalsha(&RETRY, &[dlq, stream]);
    call.arg(dlq_entry_id);
    for (name, value) in fields {
        call.arg(name).arg(value);
    }
    let moved: i64 = script::run(conn, &RETRY, &call).await?;
    Ok(moved == 1)
}
