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
}

impl Event {
    /// The number of schema-1 stream fields.
    pub const FIELD_COUNT: usize = 12;

    /// The schema-1 stream fields, in a fixed order, as name/value pairs.
    pub fn fields(&self) -> [(&'static str, Cow<'_, [u8]>); Self::FIELD_COUNT] {
        let text = |s: &'_ str| Cow::Owned(s.as_bytes().to_vec());
        [
            ("v", Cow::Borrowed(SCHEMA_VERSION.as_bytes())),
            ("id", text(&self.id.hyphenated().to_string())),
            ("tenant", Cow::Borrowed(self.tenant.as_bytes())),
            ("source", Cow::Borrowed(self.source.as_bytes())),
            ("provider", Cow::Borrowed(self.provider.as_bytes())),
            ("event_type", Cow::Borrowed(self.event_type.as_bytes())),
            (
                "delivery_id",
                Cow::Borrowed(self.delivery_id.as_deref().unwrap_or("").as_bytes()),
            ),
            ("received_at", text(&self.received_at_ms.to_string())),
            ("content_type", Cow::Borrowed(self.content_type.as_bytes())),
            ("headers", Cow::Borrowed(self.headers.as_bytes())),
            ("encoding", Cow::Borrowed(self.encoding.as_str().as_bytes())),
            ("payload", Cow::Borrowed(&self.payload[..])),
        ]
    }
}
