//! Writing schema-1 stream entries directly, for consumer tests that need events without
//! running ingest.

use crate::RedisServer;

/// The partition-0 stream under the default prefix.
pub const STREAM: &str = "hookline:events:{0}";

/// The schema-1 fields of an event, payload last.
fn fields<'a>(id: &'a str, event_type: &'a str, payload: &'a str) -> [(&'a str, &'a str); 12] {
    [
        ("v", "1"),
        ("id", id),
        ("tenant", "default"),
        ("source", "github"),
        ("provider", "github"),
        ("event_type", event_type),
        ("delivery_id", ""),
        ("received_at", "1732470000000"),
        ("content_type", "application/json"),
        ("headers", "{}"),
        ("encoding", "identity"),
        ("payload", payload),
    ]
}

/// Appends one entry to [`STREAM`] and returns its stream entry id.
pub fn append_entry(redis: &RedisServer, id: &str, event_type: &str, payload: &str) -> String {
    add(redis, &fields(id, event_type, payload))
}

/// [`append_entry`] with `received_at` now, as ingest stamps it: for what looks events up
/// by the time they were received (replay, `events list`).
pub fn append_entry_now(redis: &RedisServer, id: &str, event_type: &str, payload: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis()
        .to_string();
    let mut fields = fields(id, event_type, payload);
    fields[7].1 = &now;
    add(redis, &fields)
}

fn add(redis: &RedisServer, fields: &[(&str, &str)]) -> String {
    redis::cmd("XADD")
        .arg(STREAM)
        .arg("*")
        .arg(fields)
        .query(&mut redis.connection())
        .expect("XADD")
}

/// Appends `n` `push` entries with event ids `evt-0` … in one pipeline.
pub fn append_entries(redis: &RedisServer, n: usize) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        let (id, payload) = (format!("evt-{i}"), format!(r#"{{"n":{i}}}"#));
        pipe.cmd("XADD")
            .arg(STREAM)
            .arg("*")
            .arg(&fields(&id, "push", &payload))
            .ignore();
    }
    pipe.query::<()>(&mut redis.connection())
        .expect("pipelined XADD");
}

/// Entries of group `group` on [`STREAM`] delivered but not acknowledged.
pub fn pending(redis: &RedisServer, group: &str) -> usize {
    let summary: (usize, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(STREAM)
        .arg(group)
        .query(&mut redis.connection())
        .expect("XPENDING");
    summary.0
}

/// A config with one consumer group `app` posting to `sink_url`, with short test timings;
/// `extra` is appended to the group's keys (indented six spaces).
pub fn consumer_yaml(redis: &RedisServer, sink_url: &str, extra: &str) -> String {
    format!(
        r#"
redis: {{url: "{}"}}
consumer:
  groups:
    app:
      sink: {{type: http, url: "{sink_url}", secret: "{TEST_WHSEC}", timeout: 1s}}
      backoff: {{initial: 100ms, max: 1s}}
      claim_idle: 7s
{extra}
observability: {{log_format: json, log_level: warn}}
"#,
        redis.url()
    )
}

/// The Standard Webhooks key test sinks sign with.
pub const TEST_WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
