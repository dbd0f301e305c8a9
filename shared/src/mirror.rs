//! `outputs.sqs` (mode `mirror`): every event appended to Redis is sent once more to an
//! existing SQS queue in the mirror format ([`crate::sqs::message`]), so legacy SQS workers
//! keep running while a migration to hookline is under way. A failure of the mirror never
//! fails the ingest: it counts `hookline_mirror_failures_total{source}` and logs when the
//! mirror starts and stops failing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::event::Event;
use crate::metrics::MIRROR_FAILURES;
use crate::sqs::{Queue, message};

/// The mirror; cheap to clone.
#[derive(Debug, Clone)]
pub struct Mirror {
    queue: Queue,
    failing: Arc<AtomicBool>,
}

impl Mirror {
    /// The mirror `outputs.sqs` configures, if any.
    pub async fn open(config: &Config) -> Option<Self> {
        let output = config.outputs.sqs.as_ref()?;
        Some(Self::new(Queue::connect(&output.queue_url).await))
    }

    /// A mirror into `queue`.
    pub fn new(queue: Queue) -> Self {
        Self {
            queue,
            failing: Arc::default(),
        }
    }

    /// Sends `event` to the queue; a failure is counted, never returned.
    pub async fn copy(&self, event: &Event) {
        let sent = match message::mirror(event) {
            Ok(message) => self.queue.send(message).await.map_err(|e| e.to_string()),
            Err(too_large) => Err(too_large.to_string()),
        };
        match sent {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        queue = self.queue.url(),
                        "the SQS mirror takes events again"
                    );
                }
            }
            Err(error) => {
                metrics::counter!(MIRROR_FAILURES, "source" => event.source.clone()).increment(1);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(queue = self.queue.url(), %error, "the SQS mirror failed; events stay in Redis only (hookline_mirror_failures_total)");
                }
            }
        }
    }
}
