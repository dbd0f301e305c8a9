//! The `log` sink: one log line per event with its metadata, never its payload.

use super::{Delivered, Sink, SinkError};
use crate::event::StoredEvent;

/// Logs each event's id, tenant, source and type.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSink;

#[async_trait::async_trait]
impl Sink for LogSink {
    async fn deliver(&self, event: &StoredEvent) -> Result<Delivered, SinkError> {
        tracing::info!(
            event_id = event.text("id"),
            tenant = event.text("tenant"),
            source = event.text("source"),
            event_type = event.text("event_type"),
            entry = %event.entry_id,
            bytes = event.payload().len(),
            "event"
        );
        Ok(Delivered::default())
    }
}
