//! Batched acknowledgements: deliveries hand their entry ids to one task per worker, which
//! acknowledges everything queued with a single `XACK`, so a busy group pays one round trip
//! per batch rather than per event.
//!
//! An entry stays marked in flight until its XACK returned, so the retry scan never picks up
//! an entry whose acknowledgement is still queued. A failed XACK leaves the entries pending:
//! they are delivered again (at-least-once), never lost.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::batcher::Batcher;
use crate::redis::{RedisConn, groups};

/// Entry ids being delivered or acknowledged now.
pub(super) type InFlight = Arc<Mutex<HashSet<String>>>;

/// Locks the in-flight set, surviving a poisoned lock (the set stays consistent: every
/// operation on it is a single insert or remove).
pub(super) fn lock(in_flight: &InFlight) -> std::sync::MutexGuard<'_, HashSet<String>> {
    in_flight
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Most ids in one XACK.
const MAX_IDS: usize = 1000;

/// The handle deliveries acknowledge through.
#[derive(Debug, Clone)]
pub(super) struct Acker {
    batcher: Batcher<String>,
}

impl Acker {
    /// Starts the acknowledging task for one stream and group.
    pub fn start(conn: RedisConn, stream: String, group: String, in_flight: InFlight) -> Self {
        let batcher = Batcher::start(MAX_IDS, move |ids: Vec<String>| {
            let (mut conn, stream, group, in_flight) = (
                conn.clone(),
                stream.clone(),
                group.clone(),
                in_flight.clone(),
            );
            async move {
                let acked = groups::ack(&mut conn, &stream, &group, &ids).await;
                if let Err(e) = acked {
                    tracing::warn!(%group, %stream, entries = ids.len(), error = %e, "ack failed; the entries will be redelivered");
                }
                let mut set = lock(&in_flight);
                for id in &ids {
                    set.remove(id);
                }
            }
        });
        Self { batcher }
    }

    /// Queues an acknowledgement.
    pub fn ack(&self, id: String) {
        self.batcher.push(id);
    }

    /// Waits until everything queued so far is acknowledged (or failed).
    pub async fn flush(&self) {
        self.batcher.flush().await;
    }
}
