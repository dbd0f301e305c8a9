//! The event as stored: a stream entry of schema 1.
//!
//! Field names and meanings are part of the external contract (docs/SPEC.md §5): other
//! programs, in any language, read these streams.

use std::borrow::Cow;

use bytes::Bytes;
use uuid::Uuid;

/// Value of the `v` field.
pub const SCHEMA_VERSION: &str = "1";

/// How `payload` is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The body's bytes exactly as received.
    Identity,
}

impl Encoding {
    /// The `encoding` field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
        }
    }

    /// The encoding named `name` ([`as_str`](Self::as_str)).
    pub fn from_name(name: &str) -> Option<Self> {
        (name == Self::Identity.as_str()).then_some(Self::Identity)
    }
}

/// A verified webhook, ready to append.
#[derive(Debug, Clone)]
pub struct Event {
    /// The event id (UUIDv7, so ids sort by time).
    pub id: Uuid,
    /// The source's tenant.
    pub tenant: String,
    /// The source name (URL path segment).
    pub source: String,
    /// The provider name, e.g. `github`.
    pub provider: &'static str,
    /// The provider's event type, or `unknown`.
    pub event_type: String,
    /// The sender's delivery id, if it sends one.
    pub delivery_id: Option<String>,
    /// When hookline received it, ms since the Unix epoch.
    pub received_at_ms: u64,
    /// The request's `Content-Type`, or empty.
    pub content_type: String,
    /// JSON object of the retained headers (never signature or token headers).
    pub headers: String,
    /// How `payload` is encoded.
    pub encoding: Encoding,
    /// The body.
    pub payload: Bytes,
    /// The W3C `traceparent` of the request's `ingest` span, when the event belongs to a
    /// trace (traces exported, `observability.otlp_endpoint`); its delivery continues it.
    pub traceparent: Option<String>,
}

impl Event {
    /// The number of schema-1 stream fields, the optional `traceparent` included.
    pub const FIELD_COUNT: usize = 13;

    /// The fields every event is stored with: all but the last, `traceparent`, which is
    /// stored only by events that belong to a trace (or share an append with one).
    pub const REQUIRED_FIELD_COUNT: usize = 12;

    /// The names of the schema-1 stream fields, in their fixed order (`traceparent` last).
    pub const FIELD_NAMES: [&'static str; Self::FIELD_COUNT] = [
        "v",
        "id",
        "tenant",
        "source",
        "provider",
        "event_type",
        "delivery_id",
        "received_at",
        "content_type",
        "headers",
        "encoding",
        "payload",
        "traceparent",
    ];

    /// How many of [`Event::FIELD_NAMES`] this event is stored with: all of them when it has
    /// a `traceparent`, else the required ones.
    pub fn stored_field_count(&self) -> usize {
        match self.traceparent {
            Some(_) => Self::FIELD_COUNT,
            None => Self::REQUIRED_FIELD_COUNT,
        }
    }

    /// The schema-1 stream fields, in a fixed order, as name/value pairs (`traceparent`
    /// empty when the event has none).
    pub fn fields(&self) -> [(&'static str, Cow<'_, [u8]>); Self::FIELD_COUNT] {
        let mut values = self.values().into_iter();
        Self::FIELD_NAMES.map(|name| (name, values.next().unwrap_or_default()))
    }

    /// The schema-1 field values, in the order of [`Event::FIELD_NAMES`].
    pub fn values(&self) -> [Cow<'_, [u8]>; Self::FIELD_COUNT] {
        let text = |s: &'_ str| Cow::Owned(s.as_bytes().to_vec());
        [
            Cow::Borrowed(SCHEMA_VERSION.as_bytes()),
            text(&self.id.hyphenated().to_string()),
            Cow::Borrowed(self.tenant.as_bytes()),
            Cow::Borrowed(self.source.as_bytes()),
            Cow::Borrowed(self.provider.as_bytes()),
            Cow::Borrowed(self.event_type.as_bytes()),
            Cow::Borrowed(self.delivery_id.as_deref().unwrap_or("").as_bytes()),
            text(&self.received_at_ms.to_string()),
            Cow::Borrowed(self.content_type.as_bytes()),
            Cow::Borrowed(self.headers.as_bytes()),
            Cow::Borrowed(self.encoding.as_str().as_bytes()),
            Cow::Borrowed(&self.payload[..]),
            Cow::Borrowed(self.traceparent.as_deref().unwrap_or("").as_bytes()),
        ]
    }
}

/// An event read back from a stream entry: its entry id and its fields as stored, so it can
/// be delivered, dead-lettered and re-appended without loss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The stream entry id, e.g. `1732470000000-0`.
    pub entry_id: String,
    /// Field names and values in stream order.
    pub fields: Vec<(String, Bytes)>,
}

impl StoredEvent {
    /// A field's raw value.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| &v[..])
    }

    /// A text field, or `""` when absent or not UTF-8.
    pub fn text(&self, name: &str) -> &str {
        self.get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or("")
    }

    /// Whether the event's tenant, source and type are each in the matching list; an empty
    /// list matches everything (consumer filters and routing rules).
    pub fn matches(&self, tenants: &[String], sources: &[String], event_types: &[String]) -> bool {
        let hit = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        hit(tenants, self.text("tenant"))
            && hit(sources, self.text("source"))
            && hit(event_types, self.text("event_type"))
    }

    /// When ingest received it (`received_at`), ms since the epoch; 0 when missing or malformed.
    pub fn received_at_ms(&self) -> u64 {
        self.text("received_at").parse().unwrap_or(0)
    }

    /// The body bytes (`payload`).
    pub fn payload(&self) -> &[u8] {
        self.get("payload").unwrap_or_default()
    }

    /// The body as a cheap, shared handle on the same bytes (no copy of a large payload).
    pub fn payload_bytes(&self) -> Bytes {
        self.fields
            .iter()
            .find(|(n, _)| n == "payload")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The fields as one JSON object of strings, with `payload` written as `payload_b64`
    /// (bodies need not be UTF-8). [`StoredEvent::from_json`] reads it back exactly.
    pub fn to_json(&self) -> String {
        use base64::Engine;
        let mut object = serde_json::Map::new();
        for (name, value) in &self.fields {
            if name == "payload" {
                let encoded = base64::engine::general_purpose::STANDARD.encode(value);
                object.insert("payload_b64".into(), encoded.into());
            } else {
                object.insert(
                    name.clone(),
                    String::from_utf8_lossy(value).into_owned().into(),
                );
            }
        }
        serde_json::Value::Object(object).to_string()
    }

    /// Reads fields written by [`StoredEvent::to_json`].
    pub fn from_json(entry_id: String, json: &str) -> Result<Self, EventJsonError> {
        use base64::Engine;
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).map_err(EventJsonError::NotAnObject)?;
        let mut fields = Vec::with_capacity(object.len());
        for (name, value) in object {
            let Some(text) = value.as_str() else {
                return Err(EventJsonError::NotAString(name));
            };
            if name == "payload_b64" {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|_| EventJsonError::NotBase64)?;
                fields.push(("payload".to_owned(), Bytes::from(bytes)));
            } else {
                fields.push((name, Bytes::from(text.to_owned())));
            }
        }
        Ok(Self { entry_id, fields })
    }
}

/// Why a JSON form of an event ([`StoredEvent::to_json`]) cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum EventJsonError {
    /// Not a JSON object.
    #[error("event is not a JSON object: {0}")]
    NotAnObject(serde_json::Error),
    /// A field whose value is not a string.
    #[error("field {0} is not a string")]
    NotAString(String),
    /// `payload_b64` that is not base64.
    #[error("payload_b64 is not base64")]
    NotBase64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_events_survive_a_json_round_trip_byte_for_byte() {
        let event = StoredEvent {
            entry_id: "1-0".into(),
            fields: vec![
                ("v".into(), Bytes::from_static(b"1")),
                ("source".into(), Bytes::from_static(b"github")),
                (
                    "payload".into(),
                    Bytes::from_static(&[0, 159, 146, 150, b'{']),
                ),
            ],
        };
        let back = StoredEvent::from_json("1-0".into(), &event.to_json()).unwrap();
        let mut expected = event.fields.clone();
        expected.sort();
        let mut got = back.fields.clone();
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(back.payload(), &[0, 159, 146, 150, b'{']);
        assert_eq!(back.text("source"), "github");
    }
}
