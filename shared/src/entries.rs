//! Reading stream entries: group reads, and raw replies (XRANGE, XREADGROUP, XCLAIM) parsed
//! keeping field order (redis-rs's stream types collect fields into a map).

use std::time::Duration;

use bytes::Bytes;
use redis::{RedisResult, Value};

use crate::event::StoredEvent;
use crate::redis::RedisConn;

/// Where a group read starts: [`NEW`] entries, or this consumer's own pending ones from the
/// start ([`OWN_PENDING`]).
pub const NEW: &str = ">";
/// See [`NEW`].
pub const OWN_PENDING: &str = "0";

/// Creates consumer group `group` on `stream` at id `start` (`0` or `$`), creating the
/// stream if needed; a group that already exists (`BUSYGROUP`) is success.
pub async fn create_group(
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

/// One consumer group read of up to `count` entries of `stream`, waiting at most `block`
/// for new ones: `XREADGROUP GROUP group consumer COUNT count BLOCK ms STREAMS stream from`.
pub async fn read_group(
    conn: &mut RedisConn,
    (group, consumer): (&str, &str),
    stream: &str,
    from: &str,
    count: usize,
    block: Duration,
) -> RedisResult<Vec<StoredEvent>> {
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
    Ok(from_read_reply(reply))
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

fn text(value: Value) -> Option<String> {
    bytes(value).and_then(|b| String::from_utf8(b.to_vec()).ok())
}
