//! Stream entries in and out: ranges, lengths, appends of stored events and of replayed
//! copies (`replay_append.lua`), deletes; and the parsing of raw entry replies, keeping field
//! order (redis-rs's stream types collect fields into a map, which would reorder them) and
//! keeping entries that are not events ([`Entry::Unreadable`]) where the caller must move
//! them rather than skip them.

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;
use redis::{RedisResult, Script, Value};

use super::{RedisConn, script};
use crate::event::StoredEvent;

static REPLAY_APPEND: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("replay_append.lua")));
static RANGE_BOUNDED: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("range_bounded.lua")));

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

/// A stream entry id (`ms-seq`) as a pair that orders like Redis orders ids (a malformed part
/// counts as 0).
pub fn entry_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// Entries of `stream` from `start` on, at most `count`, oldest first, keeping those that are
/// not events ([`Entry::Unreadable`]), so a caller paging on can tell a short page.
pub async fn entries_from(
    conn: &mut RedisConn,
    stream: &str,
    start: &str,
    count: usize,
) -> RedisResult<Vec<Entry>> {
    let reply: Value = redis::cmd("XRANGE")
        .arg(stream)
        .arg(start)
        .arg("+")
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await?;
    Ok(entries_of_list(reply))
}

/// What `keep` makes of every entry of `stream` with an id at or after `start_ms`, oldest
/// first: the entries are read in pages of [`SCAN_PAGE`] as maps of text fields, for small
/// streams of records (attempts, dead letters), not for events.
pub async fn scan_records<T>(
    conn: &mut RedisConn,
    stream: &str,
    start_ms: u64,
    mut keep: impl FnMut(&HashMap<String, String>) -> Option<T>,
) -> RedisResult<Vec<T>> {
    let mut kept = Vec::new();
    let mut start = start_ms.to_string();
    loop {
        let page: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(SCAN_PAGE)
            .query_async(conn)
            .await?;
        kept.extend(page.iter().filter_map(|(_, fields)| keep(fields)));
        match page.last() {
            Some((last, _)) if page.len() == SCAN_PAGE => start = format!("({last}"),
            _ => return Ok(kept),
        }
    }
}

/// Entries per round trip of [`scan_records`].
pub const SCAN_PAGE: usize = 1000;

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

/// How many entries were ever added to `stream` (`XINFO STREAM`'s `entries-added`, Redis 7;
/// its length where Redis does not tell; 0 when it does not exist): a counter that trimming
/// and compaction do not lower, for rates.
pub async fn entries_added(conn: &mut RedisConn, stream: &str) -> RedisResult<u64> {
    let reply: RedisResult<HashMap<String, Value>> = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(stream)
        .query_async(conn)
        .await;
    let info = match reply {
        Ok(info) => info,
        Err(e) if e.to_string().contains("no such key") => return Ok(0),
        Err(e) => return Err(e),
    };
    let int = |k: &str| match info.get(k) {
        Some(Value::Int(n)) => u64::try_from(*n).ok(),
        _ => None,
    };
    Ok(int("entries-added").or_else(|| int("length")).unwrap_or(0))
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

/// The bytes one page of an operator command or a job's paged read takes at most (with
/// [`range_bounded`]), unless one entry alone is larger.
pub const PAGE_BYTES: usize = 16 << 20;

/// Entries of `stream` in `[start, end]` like [`range`], unreadable ones included, in stream
/// order: at most `count`, and at most `max_bytes` of field names and values unless the first
/// entry alone is larger (it then comes alone) — `range_bounded.lua`.
pub async fn range_bounded(
    conn: &mut RedisConn,
    stream: &str,
    (start, end): (&str, &str),
    (count, max_bytes): (usize, usize),
) -> RedisResult<Vec<Entry>> {
    let mut call = script::evalsha(&RANGE_BOUNDED, &[stream]);
    call.arg(start).arg(end).arg(count).arg(max_bytes);
    let reply: Value = script::run(conn, &RANGE_BOUNDED, &call).await?;
    Ok(entries_of_list(reply))
}

/// A stream entry as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An entry whose field names are text: an event, as far as the stream can tell.
    Event(StoredEvent),
    /// An entry with a field name that is not UTF-8. hookline never writes one (it was added
    /// by hand or damaged); it is kept byte for byte so that it is moved aside, never dropped.
    Unreadable(RawEntry),
}

impl Entry {
    /// The stream entry id.
    pub fn id(&self) -> &str {
        match self {
            Self::Event(event) => &event.entry_id,
            Self::Unreadable(raw) => &raw.entry_id,
        }
    }

    /// The event, unless it is not one.
    pub fn into_event(self) -> Option<StoredEvent> {
        match self {
            Self::Event(event) => Some(event),
            Self::Unreadable(_) => None,
        }
    }

    /// Its field names and values, in bytes: what it costs to hold in memory.
    pub fn size(&self) -> usize {
        match self {
            Self::Event(event) => event.fields.iter().map(|(n, v)| n.len() + v.len()).sum(),
            Self::Unreadable(raw) => raw.fields.iter().map(|(n, v)| n.len() + v.len()).sum(),
        }
    }
}

/// An entry that is not an event ([`Entry::Unreadable`]), fields as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The stream entry id.
    pub entry_id: String,
    /// Field names and values in stream order.
    pub fields: Vec<(Bytes, Bytes)>,
}

impl RawEntry {
    /// Why it is not an event, for the `error` of its dead letter.
    pub const REASON: &'static str = "unreadable entry: a field name is not UTF-8";

    /// The fields as a JSON array of `[name, value]` pairs, each in standard base64, in
    /// stream order: the `raw` field of its dead letter (docs/SPEC.md §5).
    pub fn to_json(&self) -> String {
        use base64::Engine;
        let b64 = |b: &Bytes| base64::engine::general_purpose::STANDARD.encode(b);
        let pairs: Vec<[String; 2]> = self
            .fields
            .iter()
            .map(|(name, value)| [b64(name), b64(value)])
            .collect();
        serde_json::to_string(&pairs).expect("strings serialize")
    }
}

/// Events of an `[[id, [field, value, …]], …]` reply (XRANGE, XCLAIM); nil or malformed
/// items (entries deleted meanwhile) and unreadable entries are skipped.
pub fn from_entry_list(value: Value) -> Vec<StoredEvent> {
    events(entries_of_list(value))
}

/// Events of an XREADGROUP reply for one stream (`[[key, [entries…]]]`, or nil on timeout).
pub fn from_read_reply(value: Value) -> Vec<StoredEvent> {
    events(entries_of_read_reply(value))
}

fn events(entries: Vec<Entry>) -> Vec<StoredEvent> {
    entries.into_iter().filter_map(Entry::into_event).collect()
}

/// Entries of an `[[id, [field, value, …]], …]` reply, unreadable ones included; nil or
/// malformed items (entries deleted meanwhile) are skipped.
pub fn entries_of_list(value: Value) -> Vec<Entry> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items.into_iter().filter_map(entry).collect()
}

/// Entries of an XREADGROUP reply for one stream, unreadable ones included.
pub fn entries_of_read_reply(value: Value) -> Vec<Entry> {
    let Value::Array(streams) = value else {
        return Vec::new();
    };
    streams
        .into_iter()
        .filter_map(|stream| match stream {
            Value::Array(mut parts) if parts.len() == 2 => parts.pop(),
            _ => None,
        })
        .flat_map(entries_of_list)
        .collect()
}

fn entry(item: Value) -> Option<Entry> {
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
    // One pass, names taken as the reply's own buffers (no copy): the hot path of every read.
    let mut fields = Vec::with_capacity(flat.len() / 2);
    let mut flat = flat.into_iter();
    while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
        let value = bytes(value)?;
        match String::from_utf8(owned(name)?) {
            Ok(name) => fields.push((name, value)),
            Err(not_text) => {
                // Not an event: every field is kept byte for byte.
                let mut raw: Vec<(Bytes, Bytes)> = fields
                    .into_iter()
                    .map(|(name, value)| (Bytes::from(name), value))
                    .collect();
                raw.push((Bytes::from(not_text.into_bytes()), value));
                while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                    raw.push((bytes(name)?, bytes(value)?));
                }
                return Some(Entry::Unreadable(RawEntry {
                    entry_id,
                    fields: raw,
                }));
            }
        }
    }
    Some(Entry::Event(StoredEvent { entry_id, fields }))
}

/// A bulk or simple string reply's bytes, as the reply's own buffer.
fn owned(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

fn bytes(value: Value) -> Option<Bytes> {
    owned(value).map(Bytes::from)
}

pub(super) fn text(value: Value) -> Option<String> {
    String::from_utf8(owned(value)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(id: &str, flat: &[&[u8]]) -> Value {
        let fields = flat.iter().map(|b| Value::BulkString(b.to_vec())).collect();
        Value::Array(vec![Value::Array(vec![
            Value::BulkString(id.as_bytes().to_vec()),
            Value::Array(fields),
        ])])
    }

    #[test]
    fn entry_ids_order_by_time_then_sequence() {
        assert!(entry_order("1-10") > entry_order("1-9"));
        assert!(entry_order("2-0") > entry_order("1-99"));
        assert_eq!(entry_order("5-1"), (5, 1));
    }

    #[test]
    fn entries_keep_field_order_and_one_with_a_binary_name_is_kept_whole() {
        let event = entries_of_list(reply("1-0", &[b"v", b"1", b"payload", b"\xff{"]));
        assert_eq!(
            event,
            [Entry::Event(StoredEvent {
                entry_id: "1-0".into(),
                fields: vec![
                    ("v".into(), Bytes::from_static(b"1")),
                    ("payload".into(), Bytes::from_static(b"\xff{")),
                ],
            })]
        );
        let flat: [&[u8]; 6] = [b"v", b"1", b"\xfe", b"x", b"z", b"\x00"];
        let raw = entries_of_list(reply("2-0", &flat));
        let want: Vec<(Bytes, Bytes)> = flat
            .chunks(2)
            .map(|p| (Bytes::copy_from_slice(p[0]), Bytes::copy_from_slice(p[1])))
            .collect();
        assert_eq!(
            raw,
            [Entry::Unreadable(RawEntry {
                entry_id: "2-0".into(),
                fields: want,
            })]
        );
    }
}
