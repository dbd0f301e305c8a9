//! Batched acknowledgements: deliveries hand their entry ids to one task per worker, which
//! acknowledges everything queued with a single `XACK`, so a busy group pays one round trip
//! per batch rather than per event.
//!
//! An entry stays marked in flight until its XACK returned, so the retry scan never picks up
//! an entry whose acknowledgement is still queued. A failed XACK leaves the entries pending:
//! they are delivered again (at-least-once), never lost.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

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

enum Msg {
    Ack(String),
    Flush(oneshot::Sender<()>),
}

/// The handle deliveries acknowledge through.
#[derive(Debug, Clone)]
pub(super) struct Acker {
    tx: mpsc::UnboundedSender<Msg>,
}

impl Acker {
    /// Starts the acknowledging task for one stream and group.
    pub fn start(conn: RedisConn, stream: String, group: String, in_flight: InFlight) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, conn, stream, group, in_flight));
        Self { tx }
    }

    /// Queues an acknowledgement.
    pub fn ack(&self, id: String) {
        let _ = self.tx.send(Msg::Ack(id));
    }

    /// Waits until everything queued so far is acknowledged (or failed).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Msg>,
    mut conn: RedisConn,
    stream: String,
    group: String,
    in_flight: InFlight,
) {
    let mut ids = Vec::new();
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Ack(id) => ids.push(id),
                Msg::Flush(done) => waiters.push(done),
            }
            next = if ids.len() < MAX_IDS {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !ids.is_empty() {
            let acked = groups::ack(&mut conn, &stream, &group, &ids).await;
            if let Err(e) = acked {
                tracing::warn!(%group, %stream, entries = ids.len(), error = %e, "ack failed; the entries will be redelivered");
            }
            let mut set = lock(&in_flight);
            for id in ids.drain(..) {
                set.remove(&id);
            }
        }
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
}
