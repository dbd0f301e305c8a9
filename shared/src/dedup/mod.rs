//! De-duplication: an event's identity, and the append that refuses repeats atomically.
//!
//! The identity is built only from what the signature covers, so a captured request replayed
//! with new unsigned headers (a fresh `X-GitHub-Delivery`) is still a repeat:
//! `source:EVENT_TYPE:EVENT_ID` where the signed bytes carry the sender's event id, else
//! `source:EVENT_TYPE:SHA256(body)`, with the event type as the signed bytes name it (empty
//! where they name none, as GitHub's body does). Inside the source's window a repeat is answered with the
//! original event's id, exactly: the check and the XADD are one Lua script (`append.lua`),
//! run as EVALSHA with a fallback to SCRIPT LOAD on NOSCRIPT (`crate::redis::append` sends it).
//! [`Appender`] gathers the appends that arrive while a partition's previous script call is
//! in flight into the next call, so under load one round trip carries many events.

mod appender;

use sha2::{Digest, Sha256};

use crate::providers::SignedIdentity;

pub use crate::redis::append::{AppendOptions, Appended, Unique, append_unique};
pub use appender::{AppendError, Appender};

/// The de-duplication identity of an event (see the module docs).
pub fn identity(source: &str, signed: &SignedIdentity, body: &[u8]) -> String {
    let event_type = signed.event_type.as_deref().unwrap_or("");
    match signed.id.as_deref() {
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

    fn signed(event_type: Option<&str>, id: Option<&str>) -> SignedIdentity {
        SignedIdentity {
            event_type: event_type.map(Into::into),
            id: id.map(Into::into),
        }
    }

    #[test]
    fn a_signed_event_id_is_the_identity() {
        let stripe = signed(Some("charge.succeeded"), Some("evt_1"));
        assert_eq!(
            identity("pay", &stripe, b"{}"),
            "pay:charge.succeeded:evt_1"
        );
    }

    #[test]
    fn without_one_the_body_hash_is_and_unsigned_headers_play_no_part() {
        let github = signed(None, None);
        let id = identity("gh", &github, b"body");
        assert_eq!(id, identity("gh", &signed(None, Some("")), b"body"));
        assert!(id.starts_with("gh::"));
        assert_eq!(id.len(), "gh::".len() + 64);
        assert_ne!(id, identity("gh", &github, b"other"));
    }
}
