//! Dead-lettering an entry whose retries are spent: moved to the partition's dead-letter
//! stream and acknowledged in one script (`dead_letter.lua`).

use super::Worker;
use crate::event::StoredEvent;
use crate::metrics::DLQ_TOTAL;
use crate::redis::dead_letters::{self, Failed};
use crate::sinks::SinkError;

impl Worker {
    /// Moves `event` to the dead-letter stream after `attempts` failed with `error`; a
    /// failure to move it leaves it pending, to be retried and moved later.
    pub(super) async fn dead_letter(&self, event: &StoredEvent, error: &SinkError, attempts: u64) {
        let failed_at = self.shared.clock.now_ms();
        let mut conn = self.conn.clone();
        let json = event.to_json();
        let error_text = error.to_string();
        let failed = Failed {
            group: &self.group,
            entry_id: &event.entry_id,
            event_json: &json,
            error: &error_text,
            attempts,
            failed_at,
            max_len: self.shared.dlq_max_len,
        };
        let streams = (self.stream.as_str(), self.dlq.as_str());
        let moved = dead_letters::move_to_dlq(&mut conn, streams, failed, self.shared.wait).await;
        match moved {
            Ok(true) => {
                self.forget(&event.entry_id);
                metrics::counter!(DLQ_TOTAL, "group" => self.group.clone()).increment(1);
                tracing::warn!(group = %self.group, entry = %event.entry_id, attempts, %error, "dead-lettered");
            }
            Ok(false) => self.forget(&event.entry_id), // another consumer settled it
            Err(e) => {
                tracing::warn!(group = %self.group, entry = %event.entry_id, error = %e, "dead-lettering failed; will try again")
            }
        }
    }
}
