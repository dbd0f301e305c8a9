//! Set-up shared by the job tests: time, entries written under controlled ids, config.

use std::time::{SystemTime, UNIX_EPOCH};

use hookline_shared::config::{self, Config, RedisConfig};
use hookline_shared::redis::RedisConn;
use hookline_tests::{RedisServer, STREAM};

/// One hour in ms.
pub const HOUR: u64 = 3_600_000;

/// Now, in ms since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Appends `payloads` (event type, body) as schema-1 entries of tenant `acme`, source
/// `github`: the i-th under stream id and `received_at` t = `start_ms + i * step_ms`, with
/// event id `evt-{t}`. Returns the stream ids.
pub fn append_spaced(
    redis: &RedisServer,
    start_ms: u64,
    step_ms: u64,
    payloads: &[(String, Vec<u8>)],
) -> Vec<String> {
    let mut conn = redis.connection();
    payloads
        .iter()
        .enumerate()
        .map(|(i, (event_type, body))| {
            let at = start_ms + i as u64 * step_ms;
            redis::cmd("XADD")
                .arg(STREAM)
                .arg(format!("{at}-0"))
                .arg(&[
                    ("v", "1"),
                    ("id", &format!("evt-{at}")),
                    ("tenant", "acme"),
                    ("source", "github"),
                ])
                .arg(&[
                    ("event_type", event_type.as_str()),
                    ("received_at", &at.to_string()),
                ])
                .arg("payload")
                .arg(body)
                .query(&mut conn)
                .unwrap()
        })
        .collect()
}

/// A config for `redis` with the given extra YAML, and a connection. No consumer reads
/// these streams (the tests write the entries they compact), so no group is required before
/// compaction.
pub fn setup(redis: &RedisServer, extra: &str) -> (Config, RedisConn) {
    let config = config::parse(
        &format!(
            "redis: {{url: \"{}\"}}\nconsumer: {{summaries: false}}\n{extra}",
            redis.url()
        ),
        |_| None,
    )
    .unwrap();
    let conn = RedisConn::open(&RedisConfig {
        url: Some(redis.url()),
        ..Default::default()
    })
    .unwrap();
    (config, conn)
}
