//! The Lambda function's spool: an SQS FIFO queue (`spool.sqs_queue_url`), drained by
//! `hookline job drain-spool` (the job function's schedule in SAM).
//!
//! A record is one message: its group is the partition, so one partition's records are
//! received in the order they were sent; its de-duplication id is the event id; its body the
//! record's base64. A record too large for a message goes to the archive
//! (`lifecycle.archive`, key `spool/{event id}.rec`) and the message carries that key in
//! `hookline-spool-object` instead. SQS answers a send only once it stored the message
//! durably (across availability zones), so a `202` after it is as safe as after Redis.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{SpoolError, Spooled};
use crate::config::Config;
use crate::objects::{self, ArchiveStore};
use crate::sqs::message::{EVENT_ID, SOURCE};
use crate::sqs::{MAX_MESSAGE_BYTES, Outgoing, Queue, Received};

/// The attribute naming the archive object that holds a large record.
pub const OBJECT: &str = "hookline-spool-object";

/// The SQS spool.
#[derive(Debug)]
pub struct SqsSpool {
    queue: Queue,
    /// Where records too large for a message go.
    store: Option<Box<dyn ArchiveStore>>,
}

impl SqsSpool {
    /// The spool of `config` (`spool.sqs_queue_url`, and `lifecycle.archive` for large records).
    pub async fn open(url: &str, config: &Config) -> Result<Self, SpoolError> {
        let store = objects::store_for(config)
            .await
            .map_err(|e| SpoolError::Open("lifecycle.archive".into(), e.to_string()))?;
        Ok(Self::new(Queue::connect(url).await, store))
    }

    /// A spool over `queue`, keeping large records in `store`.
    pub fn new(queue: Queue, store: Option<Box<dyn ArchiveStore>>) -> Self {
        Self { queue, store }
    }

    /// The queue.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Sends `record`; `Ok` once SQS (and for a large record the archive) has it.
    pub async fn put(&self, record: &Spooled) -> Result<(), SpoolError> {
        let event = &record.unique.event;
        let id = event.id.hyphenated().to_string();
        let bytes = record.encode();
        let mut attributes = vec![(EVENT_ID, id.clone()), (SOURCE, event.source.clone())];
        let mut body = BASE64.encode(&bytes);
        if body.len() + 256 > MAX_MESSAGE_BYTES {
            let store = self.store.as_ref().ok_or(SpoolError::TooLarge)?;
            let key = format!("spool/{id}.rec");
            store
                .put(&key, bytes)
                .await
                .map_err(|e| SpoolError::Store(e.to_string()))?;
            body = key.clone();
            attributes.push((OBJECT, key));
        }
        self.queue
            .send(Outgoing {
                body,
                attributes,
                group: Some(record.partition.to_string()),
                dedup_id: Some(id),
            })
            .await
            .map_err(|e| SpoolError::Store(e.to_string()))
    }

    /// The record a received message holds.
    pub async fn read(&self, message: &Received) -> Result<Spooled, SpoolError> {
        let bytes = match message.attributes.get(OBJECT) {
            None => BASE64.decode(&message.body).map_err(|_| {
                SpoolError::Store(format!("message {}: not base64", message.message_id))
            })?,
            Some(key) => {
                let store = self.store.as_ref().ok_or_else(|| {
                    SpoolError::Store(format!("{key}: lifecycle.archive is not set"))
                })?;
                store
                    .get(key)
                    .await
                    .map_err(|e| SpoolError::Store(e.to_string()))?
                    .ok_or_else(|| SpoolError::Store(format!("{key}: no such object")))?
            }
        };
        Spooled::decode(&bytes)
            .map_err(|e| SpoolError::Store(format!("message {}: {e}", message.message_id)))
    }

    /// Deletes drained messages, then the objects of the large ones (a crash in between
    /// leaves an object whose message is gone: harmless, and never the other way round).
    pub async fn remove(&self, messages: &[&Received]) -> Result<(), SpoolError> {
        for chunk in messages.chunks(10) {
            let receipts: Vec<&str> = chunk.iter().map(|m| m.receipt.as_str()).collect();
            self.queue
                .delete(&receipts)
                .await
                .map_err(|e| SpoolError::Store(e.to_string()))?;
        }
        for key in messages.iter().filter_map(|m| m.attributes.get(OBJECT)) {
            if let Some(store) = &self.store
                && let Err(e) = store.delete(key).await
            {
                tracing::warn!(error = %e, "cannot delete a drained spool object");
            }
        }
        Ok(())
    }
}
