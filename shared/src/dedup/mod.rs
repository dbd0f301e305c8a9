//! De-duplication: an event's identity, and the append that refuses repeats atomically.
//!
//! The identity is `source:event_type:DELIVERY_ID` when the sender gives a delivery id, else
//! `source:event_type:SHA256(body)`. Inside the source's window a repeat is answered with the
//! original event's id, exactly: the check and the XADD are one Lua script (`append.lua`),
//! run as EVALSHA with a fallback to SCRIPT LOAD on NOSCRIPT (redis-rs's `Script` does both).
//! [`Appender`] gathers the appends that arrive while a partition's previous script call is
//! in flight into the next call, so under load one round trip carries many events.

mod appender;
pub mod bloom;

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::{RedisResult, Script};
use sha2::{Digest, Sha256};

pub use appender::{AppendError, Appender};

use crate::event::Event;
use crate::redis::RedisConn;
use crate::streams::Keys;

static APPEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("append.lua")));

/// The de-duplication identity of an event.
pub fn identity(source: &str, event_type: &str, delivery_id: Option<&str>, body: &[u8]) -> String {
    match delivery_id {
        Some(id) if !id.is_empty() => format!("{source}:{event_type}:{id}"),
        _ => format!(
            "{source}:{event_type}:{}",
            hex::encode(Sha256::digest(body))
        ),
    }
}

/// An event waiting to be appended, with what de-duplicates it.
#[derive(Debug)]
pub struct Unique {
    /// The event's identity ([`identity`]).
    pub identity: String,
    /// How long a repeat of it is refused.
    pub window: Duration,
    /// The event.
    pub event: Event,
}

/// What the append checks besides the window, the same for every event of a process.
#[derive(Debug, Clone, Copy)]
pub struct AppendOptions {
    /// The bloom filter's shape; `None` checks the window only.
    pub bloom: Option<crate::config::BloomShape>,
    /// How long bloom hits stay in the suspects stream.
    pub suspects_retention: Duration,
}

impl AppendOptions {
    /// The options `dedup` configures.
    pub fn from_config(dedup: &crate::config::DedupConfig) -> Self {
        Self {
            bloom: dedup.bloom.shape(),
            suspects_retention: dedup.bloom.suspects_retention.get(),
        }
    }
}

/// What the append did with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// The event is in the stream under this entry id.
    New {
        /// The stream entry id, e.g. `1732470000000-0`.
        entry_id: String,
    },
    /// An event with the same identity was appended inside the window.
    Duplicate {
        /// The original event's id.
        original_id: String,
    },
    /// The bloom filter has probably seen the event before the window: it went to the
    /// partition's suspects stream instead, under this entry id.
    Suspect {
        /// The suspects stream entry id.
        entry_id: String,
    },
}

/// Appends a batch of one partition's events in one script call, each unless it is a
/// repeat inside its window or a bloom hit; `now_ms` dates the duplicates counted and the
/// suspects' retention. Results are in the batch's order.
pub async fn append_unique(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    batch: &[&Unique],
    options: &AppendOptions,
    now_ms: u64,
) -> RedisResult<Vec<Appended>> {
    let day = crate::summary::day_of(now_ms);
    let mut call = APPEND.prepare_invoke();
    call.key(keys.events(partition))
        .key(keys.suspects(partition))
        .key(keys.bloom_current(partition))
        .key(keys.bloom(partition, 0))
        .key(keys.bloom(partition, 1))
        .key(keys.summary_counts(partition, &crate::summary::date(day)));
    let hashes = options.bloom.map_or(0, |shape| shape.hashes);
    let suspects_from = now_ms.saturating_sub(options.suspects_retention.as_millis() as u64);
    call.arg(Event::FIELD_COUNT * 2)
        .arg(hashes)
        .arg(suspects_from)
        .arg(crate::summary::COUNTS_TTL.as_secs());
    for unique in batch {
        let event = &unique.event;
        call.key(keys.dedup(partition, &unique.identity));
        call.arg(unique.window.as_millis().max(1) as u64)
            .arg(event.id.hyphenated().to_string())
            .arg(crate::summary::field(
                &event.tenant,
                &event.source,
                crate::summary::DUPLICATES,
                None,
            ));
        if let Some(shape) = options.bloom {
            for position in bloom::positions(&shape, &unique.identity) {
                call.arg(position);
            }
        }
        for (name, value) in event.fields() {
            call.arg(name).arg(&value[..]);
        }
    }
    let flat: Vec<(i64, String)> = call.invoke_async(conn).await?;
    Ok(flat
        .into_iter()
        .map(|(kind, id)| match kind {
            1 => Appended::New { entry_id: id },
            2 => Appended::Suspect { entry_id: id },
            _ => Appended::Duplicate { original_id: id },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_prefers_the_delivery_id() {
        assert_eq!(identity("gh", "push", Some("abc"), b"body"), "gh:push:abc");
    }

    #[test]
    fn identity_falls_back_to_the_body_hash() {
        let id = identity("gh", "push", None, b"body");
        assert_eq!(id, identity("gh", "push", Some(""), b"body"));
        assert!(id.starts_with("gh:push:"));
        assert_eq!(id.len(), "gh:push:".len() + 64);
        assert_ne!(id, identity("gh", "push", None, b"other"));
    }
}
