//! De-duplication: an event's identity, and the append that refuses repeats atomically.
//!
//! The identity is `source:event_type:DELIVERY_ID` when the sender gives a delivery id, else
//! `source:event_type:SHA256(body)`. Inside the source's window, [`append_unique`] answers a
//! repeat with the original event's id, exactly: the check and the XADD are one Lua script
//! (`append.lua`), run as EVALSHA with a fallback to SCRIPT LOAD on NOSCRIPT (redis-rs's
//! `Script` does both), so Redis is asked once per event.

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::{RedisResult, Script};
use sha2::{Digest, Sha256};

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

/// What [`append_unique`] did.
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

/// Appends `event` to its partition stream unless its identity was seen inside `window`.
pub async fn append_unique(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    identity: &str,
    window: Duration,
    event: &Event,
) -> RedisResult<Appended> {
    let mut call = APPEND.prepare_invoke();
    call.key(keys.events(partition))
        .key(keys.dedup(partition, identity))
        .arg(window.as_millis().max(1) as u64)
        .arg(event.id.hyphenated().to_string());
    for (name, value) in event.fields() {
        call.arg(name).arg(&value[..]);
    }
    let (appended, id): (i64, String) = call.invoke_async(conn).await?;
    Ok(if appended == 1 {
        Appended::New { entry_id: id }
    } else {
        Appended::Duplicate { original_id: id }
    })
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
