//! Consumer groups: creating them, group reads, acknowledgements, the pending entries list
//! (scans, claims, takeovers) and what `XINFO GROUPS` says about them.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use redis::{RedisResult, Script, Value};

use super::streams::{Entry, entries_of_list, entries_of_read_reply};
use super::{RedisConn, script};

static READ_BOUNDED: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("read_bounded.lua")));

/// Where a group read starts: [`NEW`] entries, or this consumer's own pending ones from the
/// start ([`OWN_PENDING`]).
pub const NEW: &str = ">";
/// See [`NEW`].
pub const OWN_PENDING: &str = "0";

/// Creates consumer group `group` on `stream` at id `start` (`0` or `$`), creating the
/// stream if needed; a group that already exists (`BUSYGROUP`) is success.
pub async fn create(
    conn: &mut RedisConn,
    stream: &str,
    group: &str,
    start: &str,
) -> RedisResult<()> {
    let created: RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg(start)
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() != Some("BUSYGROUP") => Err(e),
        _ => Ok(()),
    }
}

/// Whether `e` says the group (or its stream) does not exist (`NOGROUP`): Redis restarted
/// empty or the stream was deleted, and the group must be created again.
pub fn is_missing_group(e: &redis::RedisError) -> bool {
    e.code() == Some("NOGROUP")
}

/// One group read of up to `count` entries of `stream` as `(group, consumer)`, waiting at
/// most `block` for new ones: `XREADGROUP GROUP g c COUNT n BLOCK ms STREAMS stream from`.
pub async fn read(
    conn: &mut RedisConn,
    (group, consumer): (&str, &str),
    stream: &str,
    from: &str,
    count: usize,
    block: Duration,
) -> RedisResult<Vec<Entry>> {
    let reply: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(block.as_millis() as u64)
        .arg("STREAMS")
        .arg(stream)
        .arg(from)
        .query_async(conn)
        .await?;
    Ok(entries_of_read_reply(reply))
}

/// One group read that does not block, of at most `count` entries of `stream` as
/// `(group, consumer)` from `from` ([`NEW`] or [`OWN_PENDING`]) and at most `max_bytes` of
/// field names and values — unless the first entry alone is larger: it then comes alone
/// (`read_bounded.lua`).
pub async fn read_bounded(
    conn: &mut RedisConn,
    (group, consumer): (&str, &str),
    stream: &str,
    from: &str,
    (count, max_bytes): (usize, usize),
) -> RedisResult<Vec<Entry>> {
    let mut call = script::evalsha(&READ_BOUNDED, &[stream]);
    call.arg(group)
        .arg(consumer)
        .arg(from)
        .arg(count)
        .arg(max_bytes);
    let reply: Value = script::run(conn, &READ_BOUNDED, &call).await?;
    Ok(entries_of_list(reply))
}

/// Acknowledges `ids` in `group` (`XACK`).
pub async fn ack(
    conn: &mut RedisConn,
    stream: &str,
    group: &str,
    ids: &[String],
) -> RedisResult<()> {
    redis::cmd("XACK")
        .arg(stream)
        .arg(group)
        .arg(ids)
        .query_async(conn)
        .await
}

/// One entry of a group's pending entries list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The entry id.
    pub id: String,
    /// The consumer it was last delivered to.
    pub consumer: String,
    /// Time since it was last delivered.
    pub idle: Duration,
    /// How often it was delivered (Redis's delivery count: the attempts).
    pub deliveries: u64,
}

/// Up to `count` pending entries of `group`, oldest first, of `owner` only when given.
pub async fn pending(
    conn: &mut RedisConn,
    stream: &str,
    group: &str,
    owner: Option<&str>,
    count: usize,
) -> RedisResult<Vec<Pending>> {
    let mut scan = redis::cmd("XPENDING");
    scan.arg(stream).arg(group).arg("-").arg("+").arg(count);
    if let Some(owner) = owner {
        scan.arg(owner);
    }
    let rows: Vec<(String, String, u64, u64)> = scan.query_async(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(id, consumer, idle_ms, deliveries)| Pending {
            id,
            consumer,
            idle: Duration::from_millis(idle_ms),
            deliveries,
        })
        .collect())
}

/// How often entry `id` was delivered to `group` (its delivery count), while it is pending.
pub async fn deliveries_of(
    conn: &mut RedisConn,
    stream: &str,
    group: &str,
    id: &str,
) -> RedisResult<Option<u64>> {
    let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .arg(id)
        .arg(id)
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(rows.first().map(|(_, _, _, deliveries)| *deliveries))
}

/// The oldest pending entry id of `group`, if anything is pending.
pub async fn first_pending(
    conn: &mut RedisConn,
    stream: &str,
    group: &str,
) -> RedisResult<Option<String>> {
    let summary: (u64, Option<String>, Value, Value) = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query_async(conn)
        .await?;
    Ok(match summary {
        (n, Some(min), _, _) if n > 0 => Some(min),
        _ => None,
    })
}

/// Claims entry `id` for `consumer` if it is still idle for `min_idle` (`XCLAIM`, which
/// bumps its delivery count); the entry, when claimed and not deleted meanwhile.
pub async fn claim(
    conn: &mut RedisConn,
    (stream, group, consumer): (&str, &str, &str),
    min_idle: Duration,
    id: &str,
) -> RedisResult<Option<Entry>> {
    let reply: Value = redis::cmd("XCLAIM")
        .arg(stream)
        .arg(group)
        .arg(consumer)
        .arg(min_idle.as_millis() as u64)
        .arg(id)
        .query_async(conn)
        .await?;
    Ok(entries_of_list(reply).into_iter().next())
}

/// A page of `XAUTOCLAIM`: what was taken over, and where the next page starts (`0-0` when
/// the scan is complete).
#[derive(Debug, Clone, Default)]
pub struct Takeover {
    /// The cursor of the next page; `0-0` at the end.
    pub next: String,
    /// The ids of the entries now owned by the claiming consumer.
    pub taken: Vec<String>,
}

/// Takes over, for `consumer`, up to `count` entries idle for `min_idle` from `cursor` on,
/// returning their ids only (`XAUTOCLAIM … JUSTID`, which leaves delivery counts alone).
pub async fn take_over_ids(
    conn: &mut RedisConn,
    (stream, group, consumer): (&str, &str, &str),
    min_idle: Duration,
    cursor: &str,
    count: usize,
) -> RedisResult<Takeover> {
    let (next, taken, _deleted): (String, Vec<String>, Value) =
        autoclaim((stream, group, consumer), min_idle, cursor, count)
            .arg("JUSTID")
            .query_async(conn)
            .await?;
    Ok(Takeover { next, taken })
}

/// `XAUTOCLAIM stream group consumer min-idle cursor COUNT count`.
fn autoclaim(
    (stream, group, consumer): (&str, &str, &str),
    min_idle: Duration,
    cursor: &str,
    count: usize,
) -> redis::Cmd {
    let mut cmd = redis::cmd("XAUTOCLAIM");
    cmd.arg(stream)
        .arg(group)
        .arg(consumer)
        .arg(min_idle.as_millis() as u64)
        .arg(cursor)
        .arg("COUNT")
        .arg(count);
    cmd
}

/// One consumer group of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStats {
    /// The group's name.
    pub name: String,
    /// Consumers the group knows.
    pub consumers: u64,
    /// Entries delivered and not yet acknowledged.
    pub pending: u64,
    /// Entries not yet delivered to the group; `None` where Redis cannot tell (before 7.0, or
    /// after entries the group never read were deleted).
    pub lag: Option<u64>,
    /// The last entry id delivered to the group.
    pub last_delivered_id: String,
    /// Entries the group has read so far (Redis 7's `entries-read`; `None` before).
    pub entries_read: Option<u64>,
}

/// The groups of `stream` (none when the stream does not exist).
pub async fn info(conn: &mut RedisConn, stream: &str) -> RedisResult<Vec<GroupStats>> {
    let reply: RedisResult<Vec<HashMap<String, Value>>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await;
    let groups = match reply {
        Ok(groups) => groups,
        Err(e) if e.to_string().contains("no such key") => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(groups
        .into_iter()
        .map(|g| {
            let int = |k: &str| match g.get(k) {
                Some(Value::Int(n)) => u64::try_from(*n).ok(),
                _ => None,
            };
            let text = |k: &str| match g.get(k) {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            };
            GroupStats {
                name: text("name"),
                last_delivered_id: text("last-delivered-id"),
                consumers: int("consumers").unwrap_or(0),
                pending: int("pending").unwrap_or(0),
                lag: int("lag"),
                entries_read: int("entries-read"),
            }
        })
        .collect())
}
