//! De-duplication: an event's identity, and the append that refuses repeats atomically.
//!
//! The identity is `source:event_type:DELIVERY_ID` when the sender gives a delivery id, else
//! `source:event_type:SHA256(body)`. Inside the source's window a repeat is answered with the
//! original event's id, exactly: the check and the XADD are one Lua script (`append.lua`),
//! run as EVALSHA with a fallback to SCRIPT LOAD on NOSCRIPT (redis-rs's `Script` does both).
//! [`Appender`] gathers the appends that arrive while a partition's previous script call is
//! in flight into the next call, so under load one round trip carries many events.

mod appender;

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
}

/// Appends a batch of one partition's events in one script call, each unless its identity
/// was seen inside its window. Results are in the batch's order.
pub async fn append_unique(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    batch: &[&Unique],
) -> RedisResult<Vec<Appended>> {
    let mut call = APPEND.prepare_invoke();
    call.key(keys.events(partition));
    let field_args = Event::FIELD_COUNT * 2;
    call.arg(field_args);
    for unique in batch {
        call.key(keys.dedup(partition, &unique.identity));
        call.arg(unique.window.as_millis().max(1) as u64)
            .arg(unique.event.id.hyphenated().to_string());
        for (name, value) in unique.event.fields() {
            call.arg(name).arg(&value[..]);
        }
    }
    let flat: Vec<(i64, String)> = call.invoke_async(conn).await?;
    Ok(flat
        .into_iter()
        .map(|(appended, id)| match appended {
            1 => Appended::New { entry_id: id },
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
