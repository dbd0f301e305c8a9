//! A spooled event: everything its append needs later — the partition, the de-duplication
//! identity and window, and the event's schema-1 fields (its id and `received_at` included, so
//! a drained event is the event the sender was told about) — in a small self-describing
//! binary form: a version byte, then length-prefixed parts (u32, little endian). The last
//! part, `traceparent`, may be missing (records written before it was stored).

use std::time::Duration;

use bytes::Bytes;

use crate::event::{Encoding, Event};
use crate::redis::append::Unique;

/// The format's version byte.
const VERSION: u8 = 1;

/// A verified event waiting for Redis.
#[derive(Debug)]
pub struct Spooled {
    /// Its partition.
    pub partition: u16,
    /// The event with its de-duplication identity and window.
    pub unique: Unique,
}

/// Why bytes are not a spooled event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a spooled event of format {VERSION}")]
pub struct RecordError;

impl Spooled {
    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let event = &self.unique.event;
        let mut out = Vec::with_capacity(event.payload.len() + 512);
        out.push(VERSION);
        out.extend_from_slice(&self.partition.to_le_bytes());
        out.extend_from_slice(&(self.unique.window.as_millis() as u64).to_le_bytes());
        put(&mut out, self.unique.identity.as_bytes());
        for (_, value) in event.fields() {
            put(&mut out, &value);
        }
        out
    }

    /// Reads a record back.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader { rest: bytes };
        if r.take(1)? != [VERSION] {
            return Err(RecordError);
        }
        let partition = u16::from_le_bytes(r.take(2)?.try_into().map_err(|_| RecordError)?);
        let window = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| RecordError)?);
        let identity = r.text()?;
        // The fields in `Event::fields` order.
        let (_v, id, tenant, source, provider) =
            (r.part()?, r.text()?, r.text()?, r.text()?, r.text()?);
        let (event_type, delivery_id, received_at) = (r.text()?, r.text()?, r.text()?);
        let (content_type, headers, encoding, payload) =
            (r.text()?, r.text()?, r.text()?, r.part()?);
        // Records spooled before traces were stored end with the payload.
        let traceparent = match r.rest.is_empty() {
            true => String::new(),
            false => r.text()?,
        };
        let event = Event {
            id: id.parse().map_err(|_| RecordError)?,
            tenant,
            source,
            provider: crate::providers::ProviderKind::from_name(&provider)
                .ok_or(RecordError)?
                .as_str(),
            event_type,
            delivery_id: (!delivery_id.is_empty()).then_some(delivery_id),
            received_at_ms: received_at.parse().map_err(|_| RecordError)?,
            content_type,
            headers,
            encoding: Encoding::from_name(&encoding).ok_or(RecordError)?,
            payload: Bytes::copy_from_slice(payload),
            traceparent: (!traceparent.is_empty()).then_some(traceparent),
        };
        Ok(Self {
            partition,
            unique: Unique {
                identity,
                window: Duration::from_millis(window),
                event,
            },
        })
    }
}

fn put(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&(part.len() as u32).to_le_bytes());
    out.extend_from_slice(part);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.rest.len() < n {
            return Err(RecordError);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn part(&mut self) -> Result<&'a [u8], RecordError> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| RecordError)?);
        self.take(len as usize)
    }

    fn text(&mut self) -> Result<String, RecordError> {
        String::from_utf8(self.part()?.to_vec()).map_err(|_| RecordError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Spooled {
        let event = Event {
            id: uuid::Uuid::now_v7(),
            tenant: "acme".into(),
            source: "gh".into(),
            provider: "github",
            event_type: "push".into(),
            delivery_id: Some("d-1".into()),
            received_at_ms: 1_764_000_000_123,
            content_type: "application/json".into(),
            headers: r#"{"x-github-event":"push"}"#.into(),
            encoding: Encoding::Identity,
            payload: Bytes::from_static(b"\x00binary\xffpayload"),
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        };
        Spooled {
            partition: 3,
            unique: Unique {
                identity: "gh::abc".into(),
                window: Duration::from_secs(300),
                event,
            },
        }
    }

    #[test]
    fn a_record_reads_back_as_the_event_it_was() {
        let spooled = sample();
        let back = Spooled::decode(&spooled.encode()).unwrap();
        assert_eq!(back.partition, 3);
        assert_eq!(back.unique.identity, "gh::abc");
        assert_eq!(back.unique.window, Duration::from_secs(300));
        let (a, b) = (&spooled.unique.event, &back.unique.event);
        assert_eq!(
            a.fields().map(|(n, v)| (n, v.into_owned())),
            b.fields().map(|(n, v)| (n, v.into_owned()))
        );
        assert!(Spooled::decode(&spooled.encode()[..20]).is_err());
    }

    #[test]
    fn a_record_spooled_before_traces_reads_back_without_one() {
        let mut spooled = Spooled::decode(&sample().encode()).unwrap();
        spooled.unique.event.traceparent = None;
        let mut old = spooled.encode();
        old.truncate(old.len() - 4); // the empty traceparent's length: what old records lack
        let back = Spooled::decode(&old).unwrap();
        assert_eq!(back.unique.event.traceparent, None);
        assert_eq!(back.unique.event.payload, spooled.unique.event.payload);
    }
}
