//! De-duplication: an event's identity, and the append that refuses repeats atomically.
//!
//! The identity is `source:event_type:DELIVERY_ID` when the sender gives a delivery id, else
//! `source:event_type:SHA256(body)`. Inside the source's window a repeat is answered with the
//! original event's id, exactly: the check and the XADD are one Lua script (`append.lua`),
//! run as EVALSHA with a fallback to SCRIPT LOAD on NOSCRIPT (`crate::redis::append` sends it).
//! [`Appender`] gathers the appends that arrive while a partition's previous script call is
//! in flight into the next call, so under load one round trip carries many events.

mod appender;

use sha2::{Digest, Sha256};

pub use crate::redis::append::{AppendOptions, Appended, Unique, append_unique};
pub use appender::{AppendError, Appender};

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
