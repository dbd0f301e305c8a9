//! `--verify-redis`: every event answered 202 is in the pipeline's Redis exactly once — in a
//! partition stream or in a warm segment (compaction may have run meanwhile).

use std::collections::HashMap;

use anyhow::Context as _;
use hookline_jobs::segment;
use hookline_shared::config::RedisConfig;
use hookline_shared::redis::streams::{self, Entry};
use hookline_shared::redis::{RedisConn, segments, server};
use hookline_shared::streams::Keys;
use serde_json::json;

/// Entries read per page of a stream.
const PAGE: usize = 1000;

/// How many of the accepted events were found once, not at all, or more than once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// Events answered 202.
    pub accepted: usize,
    /// Found exactly once.
    pub once: usize,
    /// Not found.
    pub missing: usize,
    /// Found more than once.
    pub doubled: usize,
}

impl Verified {
    /// Whether every accepted event is stored exactly once.
    pub fn ok(&self) -> bool {
        self.once == self.accepted
    }

    /// One line for people.
    pub fn text(&self) -> String {
        format!(
            "verify-redis: {} accepted, {} stored once, {} missing, {} stored more than once",
            self.accepted, self.once, self.missing, self.doubled
        )
    }

    /// The same as JSON.
    pub fn json(&self) -> serde_json::Value {
        json!({"accepted": self.accepted, "once": self.once, "missing": self.missing,
            "doubled": self.doubled})
    }
}

/// Counts each of `accepted` (event ids) in the streams and warm segments under `prefix` of
/// the Redis at `url`.
pub async fn stored_once(url: &str, prefix: &str, accepted: &[String]) -> anyhow::Result<Verified> {
    let config = RedisConfig {
        url: Some(url.to_owned()),
        ..RedisConfig::default()
    };
    let mut conn = RedisConn::open(&config).context("--verify-redis")?;
    let keys = Keys::new(prefix);
    let mut seen: HashMap<&str, usize> = accepted.iter().map(|id| (id.as_str(), 0)).collect();
    let mut count = |id: &str| {
        if let Some(n) = seen.get_mut(id) {
            *n += 1;
        }
    };
    for partition in 0..partitions(&mut conn, prefix).await? {
        let stream = keys.events(partition);
        let mut start = "-".to_owned();
        loop {
            let bounds = (PAGE, streams::PAGE_BYTES);
            let page = streams::range_bounded(&mut conn, &stream, (&start, "+"), bounds)
                .await
                .with_context(|| format!("cannot read {stream}"))?;
            let Some(last) = page.last() else { break };
            start = format!("({}", last.id());
            for event in page.into_iter().filter_map(Entry::into_event) {
                count(event.text("id"));
            }
        }
        for member in segments::all(&mut conn, &keys, partition).await? {
            let Some(blob) = segments::read(&mut conn, &keys, partition, &member).await? else {
                continue;
            };
            let events = segment::decode(&blob)
                .with_context(|| format!("warm segment {member} of partition {partition}"))?;
            for event in &events {
                count(event.text("id"));
            }
        }
    }
    let mut verified = Verified {
        accepted: accepted.len(),
        ..Verified::default()
    };
    for n in seen.values() {
        match n {
            0 => verified.missing += 1,
            1 => verified.once += 1,
            _ => verified.doubled += 1,
        }
    }
    Ok(verified)
}

/// How many partitions the streams under `prefix` have: one more than the highest `{N}` of
/// an existing `{prefix}:events:{N}`.
async fn partitions(conn: &mut RedisConn, prefix: &str) -> anyhow::Result<u16> {
    let keys = server::scan(conn, &format!("{prefix}:events:{{*}}"))
        .await
        .context("cannot list the partition streams")?;
    let highest = keys
        .iter()
        .filter_map(|key| {
            key.rsplit_once('{')?
                .1
                .strip_suffix('}')?
                .parse::<u16>()
                .ok()
        })
        .max();
    Ok(highest.map_or(0, |n| n + 1))
}
