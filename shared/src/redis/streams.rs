//! Stream entries in and out: ranges, lengths, appends of stored events and of replayed
//! copies (`replay_append.lua`), deletes; and the
//! parsing of raw entry replies, keeping field order (redis-rs's stream types collect fields
//! into a map, which would reorder them).

use std::sync::LazyLock;

use bytes::Bytes;
use redis::{RedisResult, Script, Value};

use super::{RedisConn, script};
use crate::event::StoredEvent;

static REPLAY_APPEND: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("replay_append.lua")));

/// Entries of `stream` with ids in `[start, end]` (`-`, `+` and `(id` exclusive bounds
/// allowed), oldest first, at most `count` (all with `None`).
pub async fn range(
    conn: &mut RedisConn,
    stream: &str,
    start: &str,
    end: &str,
    count: Option<usize>,
) -> RedisResult<Vec<StoredEvent>> {
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(stream).arg(start).arg(end);
    if let Some(count) = count {
        cmd.arg("COUNT").arg(count);
    }
    let reply: Value = cmd.query_async(conn).await?;
    Ok(from_entry_list(reply))
}

/// The ids of `stream`'s entries in `[start, end]`, oldest first, at most `count` (the
/// entries' fields are read but not kept).
pub async fn range_ids(
    conn: &mut RedisConn,
    stream: &str,
    start: &str,
    end: &str,
    count: usize,
) -> RedisResult<Vec<String>> {
    let entries = range(conn, stream, start, end, Some(count)).await?;
    Ok(entries.into_iter().map(|e| e.entry_id).collect())
}

/// The number of entries in `stream` (0 when it does not exist).
pub async fn length(conn: &mut RedisConn, stream: &str) -> RedisResult<u64> {
    redis::cmd("XLEN").arg(stream).query_async(conn).await
}

/// Appends `fields` as a new entry of `stream` (`XADD stream * …`); returns its id.
pub async fn add<'a>(
    conn: &mut RedisConn,
    stream: &str,
    fields: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> RedisResult<String> {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream).arg("*");
    for (name, value) in fields {
        cmd.arg(name).arg(value);
    }
    cmd.query_async(conn).await
}

/// Appends `fields` to `target` as the replayed copy of `original`, unless the replay whose
/// record is `record` already did (`replay_append.lua`); true when appended. The record is
/// kept for `keep`.
pub async fn add_replayed<'a>(
    conn: &mut RedisConn,
    (target, record): (&str, &str),
    original: &[u8],
    keep: std::time::Duration,
    fields: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> RedisResult<bool> {
    let mut call = script::evalsha(&REPLAY_APPEND, &[target, record]);
    call.arg(original).arg(keep.as_millis() as u64);
    for (name, value) in fields {
        call.arg(name).arg(value);
    }
    let appended: i64 = script::run(conn, &REPLAY_APPEND, &call).await?;
    Ok(appended == 1)
}

/// Deletes the entries `ids` of `stream`; returns how many existed.
pub async fn delete(conn: &mut RedisConn, stream: &str, ids: &[&str]) -> RedisResult<u64> {
    redis::cmd("XDEL")
        .arg(stream)
        .arg(ids)
        .query_async(conn)
        .await
}

/// Entries of an `[[id, [field, value, …]], …]` reply (XRANGE, XCLAIM); nil or malformed
/// items (entries deleted meanwhile) are skipped.
pub fn from_entry_list(value: Value) -> Vec<StoredEvent> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items.into_iter().filter_map(entry).collect()
}

/// Entries of an XREADGROUP reply for one stream (`[[key, [entries…]]]`, or nil on timeout).
pub fn from_read_reply(value: Value) -> Vec<StoredEvent> {
    let Value::Array(streams) = value else {
        return Vec::new();
    };
    streams
        .into_iter()
        .filter_map(|stream| match stream {
            Value::Array(mut parts) if parts.len() == 2 => parts.pop(),
            _ => None,
        })
        .flat_map(from_entry_list)
        .collect()
}

fn entry(item: Value) -> Option<StoredEvent> {
    let Value::Array(mut parts) = item else {
        return None;
    };
    if parts.len() != 2 {
        return None;
    }
    let Value::Array(flat) = parts.pop()? else {
        return None;
    };
    let entry_id = text(parts.pop()?)?;
    let mut fields = Vec::with_capacity(flat.len() / 2);
    let mut flat = flat.into_iter();
    while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
        fields.push((text(name)?, bytes(value)?));
    }
    Some(StoredEvent { entry_id, fields })
}

fn bytes(value: Value) -> Option<Bytes> {
    match value {
        Value::BulkString(b) => Some(Bytes::from(b)),
        Value::SimpleString(s) => Some(Bytes::from(s)),
        _ => None,
    }
}

pub(super) fn text(value: Value) -> Option<String> {
    bytes(value).and_then(|b| String::from_utf8(b.to_vec()).ok())
}
