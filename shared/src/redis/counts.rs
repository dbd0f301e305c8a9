//! The daily summary counts: their hash layout, counting and acknowledging a batch in one
//! script (`count.lua`), reading a partition's counts of a day, and storing rendered
//! summaries.
//!
//! A count's hash field is `{tenant}\x1f{source}\x1f{counter}` or
//! `{tenant}\x1f{source}\x1f{counter}\x1f{key}` ([`field`]).

use std::sync::LazyLock;
use std::time::Duration;

use redis::{RedisResult, Script};

use super::{RedisConn, script};

static COUNT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("count.lua")));

/// How long a day's counts stay in Redis: long enough for late events and a late
/// `job summarize`.
pub const COUNTS_TTL: Duration = Duration::from_secs(4 * 86_400);

/// Counter of events (no key).
pub const EVENTS: &str = "events";
/// Counter of duplicates answered (no key).
pub const DUPLICATES: &str = "duplicates";
/// Earliest `received_at` (ms) of the day (no key; a minimum, not a sum).
pub const FIRST: &str = "first";
/// Latest `received_at` (ms) of the day (no key; a maximum, not a sum).
pub const LAST: &str = "last";

const SEPARATOR: char = '\x1f';

/// The hash field of a count.
pub fn field(tenant: &str, source: &str, counter: &str, key: Option<&str>) -> String {
    let mut field = format!("{tenant}{SEPARATOR}{source}{SEPARATOR}{counter}");
    if let Some(key) = key {
        field.push(SEPARATOR);
        field.push_str(key);
    }
    field
}

/// A field's parts: tenant, source, counter and key.
pub fn parse_field(field: &str) -> Option<(&str, &str, &str, Option<&str>)> {
    let mut parts = field.splitn(4, SEPARATOR);
    Some((parts.next()?, parts.next()?, parts.next()?, parts.next()))
}

/// One entry's part of a counting call.
#[derive(Debug, Clone)]
pub struct EntryCounts {
    /// The stream entry id (acknowledged by the call).
    pub entry_id: String,
    /// Which of the call's day keys the entry counts into (0-based).
    pub day: usize,
    /// Its `received_at`, ms.
    pub received_at: u64,
    /// The `first` field of its tenant and source.
    pub first_field: String,
    /// The `last` field of its tenant and source.
    pub last_field: String,
    /// `(field, increment)` pairs.
    pub counts: Vec<(String, i64)>,
}

/// Counts `entries` into the day hashes `day_keys` and acknowledges them in `group` of
/// `stream`, in one script call: an entry is counted exactly when this call acknowledges it.
/// Returns how many entries were counted.
pub async fn count_and_ack(
    conn: &mut RedisConn,
    (stream, group): (&str, &str),
    day_keys: &[String],
    entries: &[EntryCounts],
) -> RedisResult<u64> {
    let mut keys = vec![stream.to_owned()];
    keys.extend(day_keys.iter().cloned());
    let mut call = script::evalsha(&COUNT, &keys);
    call.arg(group).arg(COUNTS_TTL.as_secs());
    for e in entries {
        call.arg(&e.entry_id)
            .arg(e.day + 1)
            .arg(e.received_at)
            .arg(&e.first_field)
            .arg(&e.last_field)
            .arg(e.counts.len());
        for (field, amount) in &e.counts {
            call.arg(field).arg(*amount);
        }
    }
    script::run(conn, &COUNT, &call).await
}

/// A partition's counts of one day (`{prefix}:summary:{N}:{date}`): `(field, value)` pairs.
pub async fn read_day(conn: &mut RedisConn, key: &str) -> RedisResult<Vec<(String, String)>> {
    redis::cmd("HGETALL").arg(key).query_async(conn).await
}

/// Stores a day's rendered summaries (`name` → document) in `key`, kept for `keep`.
pub async fn store_rendered(
    conn: &mut RedisConn,
    key: &str,
    documents: &[(String, Vec<u8>)],
    keep: Duration,
) -> RedisResult<()> {
    let mut pipe = redis::pipe();
    for (name, document) in documents {
        pipe.hset(key, name, document).ignore();
    }
    pipe.expire(key, keep.as_secs() as i64).ignore();
    pipe.query_async(conn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let f = field("acme", "gh", "pushes", Some("octo/repo"));
        assert_eq!(
            parse_field(&f),
            Some(("acme", "gh", "pushes", Some("octo/repo")))
        );
        let f = field("acme", "gh", EVENTS, None);
        assert_eq!(parse_field(&f), Some(("acme", "gh", EVENTS, None)));
    }
}
