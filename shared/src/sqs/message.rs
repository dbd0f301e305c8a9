//! What hookline's SQS messages hold (docs/SPEC.md §3, "SQS messages").
//!
//! - The mirror format (`outputs.sqs`): body = the payload's bytes, or their base64 with the
//!   attribute `hookline-encoding: base64` when they are not text SQS accepts; string
//!   attributes `hookline-event-id`, `hookline-source`, `hookline-event-type`,
//!   `hookline-tenant`, `hookline-received-at` (ms since the epoch).
//! - A plain message (a legacy queue's raw webhook body, no hookline attributes), which
//!   `import sqs` turns into an event of the source it is told.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;

use super::{MAX_MESSAGE_BYTES, Outgoing, Received};
use crate::event::Event;

/// `hookline-event-id`: the event's id.
pub const EVENT_ID: &str = "hookline-event-id";
/// `hookline-source`.
pub const SOURCE: &str = "hookline-source";
/// `hookline-event-type`.
pub const EVENT_TYPE: &str = "hookline-event-type";
/// `hookline-tenant`.
pub const TENANT: &str = "hookline-tenant";
/// `hookline-received-at`: ms since the epoch.
pub const RECEIVED_AT: &str = "hookline-received-at";
/// `hookline-encoding: base64` when the body is the payload's base64.
pub const ENCODING: &str = "hookline-encoding";

/// An event too large for one SQS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} bytes: larger than an SQS message ({MAX_MESSAGE_BYTES} bytes)")]
pub struct TooLarge(pub usize);

/// `event` in the mirror format.
pub fn mirror(event: &Event) -> Result<Outgoing, TooLarge> {
    let mut attributes = vec![
        (EVENT_ID, event.id.hyphenated().to_string()),
        (SOURCE, event.source.clone()),
        (EVENT_TYPE, event.event_type.clone()),
        (TENANT, event.tenant.clone()),
        (RECEIVED_AT, event.received_at_ms.to_string()),
    ];
    let body = match std::str::from_utf8(&event.payload) {
        Ok(text) if sqs_accepts(text) => text.to_owned(),
        _ => {
            attributes.push((ENCODING, "base64".into()));
            BASE64.encode(&event.payload)
        }
    };
    let message = Outgoing {
        body,
        attributes,
        ..Outgoing::default()
    };
    match message.size() {
        size if size > MAX_MESSAGE_BYTES => Err(TooLarge(size)),
        _ => Ok(message),
    }
}

/// Whether SQS takes `text` as a body: it refuses empty bodies and characters outside
/// `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`.
fn sqs_accepts(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
                || c >= '\u{10000}'
        })
}

/// A received message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A message in the mirror format.
    Mirrored(Mirrored),
    /// Any other message: its body's bytes.
    Plain(Bytes),
}

/// The attributes and payload of a mirror-format message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirrored {
    /// The event's id.
    pub id: uuid::Uuid,
    /// Its source.
    pub source: String,
    /// Its event type.
    pub event_type: String,
    /// Its tenant.
    pub tenant: String,
    /// When hookline received it.
    pub received_at_ms: u64,
    /// The payload's bytes.
    pub payload: Bytes,
}

/// Why a message that claims the mirror format is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("message {message_id}: {reason}")]
pub struct BadMessage {
    /// SQS's id of the message.
    pub message_id: String,
    /// What is wrong.
    pub reason: String,
}

/// Reads `received`: the mirror format when it has `hookline-event-id`, else plain.
pub fn read(received: &Received) -> Result<Message, BadMessage> {
    let bad = |reason: &str| BadMessage {
        message_id: received.message_id.clone(),
        reason: reason.to_owned(),
    };
    let attribute = |name: &str| received.attributes.get(name).cloned();
    let Some(id) = attribute(EVENT_ID) else {
        return Ok(Message::Plain(Bytes::from(received.body.clone())));
    };
    let payload = match attribute(ENCODING).as_deref() {
        None => Bytes::from(received.body.clone()),
        Some("base64") => BASE64
            .decode(&received.body)
            .map_err(|_| bad("hookline-encoding is base64 but the body is not"))?
            .into(),
        Some(_) => return Err(bad("unknown hookline-encoding")),
    };
    Ok(Message::Mirrored(Mirrored {
        id: id
            .parse()
            .map_err(|_| bad("hookline-event-id is not a UUID"))?,
        source: attribute(SOURCE).ok_or_else(|| bad("no hookline-source"))?,
        event_type: attribute(EVENT_TYPE).unwrap_or_else(|| "unknown".into()),
        tenant: attribute(TENANT).unwrap_or_else(|| "default".into()),
        received_at_ms: attribute(RECEIVED_AT)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad("hookline-received-at is not ms since the epoch"))?,
        payload,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Encoding;

    fn event(payload: &'static [u8]) -> Event {
        Event {
            id: uuid::Uuid::now_v7(),
            tenant: "acme".into(),
            source: "gh".into(),
            provider: "github",
            event_type: "push".into(),
            delivery_id: None,
            received_at_ms: 1_764_000_000_123,
            content_type: "application/json".into(),
            headers: "{}".into(),
            encoding: Encoding::Identity,
            payload: Bytes::from_static(payload),
            traceparent: None,
        }
    }

    fn received(message: Outgoing) -> Received {
        Received {
            message_id: "m-1".into(),
            receipt: "r-1".into(),
            body: message.body,
            attributes: message
                .attributes
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect(),
            sent_at_ms: None,
        }
    }

    #[test]
    fn text_travels_as_itself_and_anything_else_as_base64() {
        for payload in [
            &b"{\"zen\":\"ok\"}"[..],
            b"\x00\x01binary\xff",
            b"ctl \x07 char",
            b"",
        ] {
            let e = event(payload);
            let message = mirror(&e).unwrap();
            let plain = message.attributes.iter().all(|(n, _)| *n != ENCODING);
            assert_eq!(plain, payload == b"{\"zen\":\"ok\"}", "{payload:?}");
            let Message::Mirrored(back) = read(&received(message)).unwrap() else {
                panic!("not read as the mirror format");
            };
            assert_eq!(back.payload, e.payload);
            assert_eq!((back.id, back.received_at_ms), (e.id, e.received_at_ms));
            assert_eq!(
                (back.source, back.event_type, back.tenant),
                ("gh".into(), "push".into(), "acme".into())
            );
        }
    }

    #[test]
    fn a_message_without_hookline_attributes_is_plain() {
        let message = Outgoing {
            body: "{\"legacy\":true}".into(),
            ..Outgoing::default()
        };
        assert_eq!(
            read(&received(message)).unwrap(),
            Message::Plain(Bytes::from_static(b"{\"legacy\":true}"))
        );
    }

    #[test]
    fn an_event_over_the_limit_is_refused() {
        let big: &'static [u8] = Box::leak(vec![b'a'; MAX_MESSAGE_BYTES].into_boxed_slice());
        assert!(matches!(mirror(&event(big)), Err(TooLarge(_))));
    }
}
