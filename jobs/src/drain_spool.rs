//! `drain-spool`: moves the SQS spool's records (`spool.sqs_queue_url`, where the Lambda
//! function keeps events while Redis cannot take them) into Redis through the
//! de-duplicating script, and deletes each message only after Redis acknowledged its event.
//!
//! The queue is FIFO with one message group per partition, so one partition's records come
//! in the order they were spooled, and while a message of a group is being drained, SQS hands
//! out no later message of that group. While Redis refuses, nothing is deleted: the messages
//! are made visible again at once and the next run retries them. A run killed
//! between the append and the delete appends those events again next time, and the script
//! answers them as duplicates. A message that is not a spool record is left alone (logged):
//! after the queue's `maxReceiveCount` SQS moves it to the dead-letter queue.

use std::time::Duration;

use hookline_shared::config::Config;
use hookline_shared::dedup::AppendOptions;
use hookline_shared::mirror::Mirror;
use hookline_shared::redis::RedisConn;
use hookline_shared::spool::drain::{Moved, Target};
use hookline_shared::spool::{SpoolError, Spooled, SqsSpool};
use hookline_shared::streams::Keys;

use crate::Budget;

/// How long a received message stays invisible while it is drained.
pub const VISIBILITY: Duration = Duration::from_secs(30);

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Events appended and deleted from the queue.
    pub moved: Moved,
    /// Messages that are not spool records (left for the dead-letter queue).
    pub unreadable: u64,
    /// Whether the run stopped because its budget was spent.
    pub budget_spent: bool,
}

/// Why a run stopped early; what it moved before stays moved.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    /// SQS (or the archive holding a large record) failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// Redis refused the append: the messages stay for the next run.
    #[error("redis refused the drained events (they stay spooled): {0}")]
    Redis(String),
}

/// Drains `spool` into Redis until the queue is empty or `budget` is spent; `now_ms` dates
/// the duplicates the script counts.
pub async fn drain_spool(
    config: &Config,
    conn: &mut RedisConn,
    spool: &SqsSpool,
    budget: Budget,
    now_ms: u64,
) -> Result<DrainReport, DrainError> {
    let mut target = Target {
        conn: conn.clone(),
        keys: Keys::new(config.streams.prefix.clone()),
        options: AppendOptions::from_config(config),
        mirror: Mirror::open(config).await,
    };
    let mut report = DrainReport::default();
    loop {
        if budget.spent() {
            report.budget_spent = true;
            return Ok(report);
        }
        let messages = spool
            .queue()
            .receive(10, Duration::from_secs(1), VISIBILITY)
            .await
            .map_err(|e| SpoolError::Store(e.to_string()))?;
        if messages.is_empty() {
            return Ok(report);
        }
        let mut records: Vec<Spooled> = Vec::with_capacity(messages.len());
        let mut drained = Vec::with_capacity(messages.len());
        for message in &messages {
            match spool.read(message).await {
                Ok(record) => {
                    records.push(record);
                    drained.push(message);
                }
                Err(e) => {
                    tracing::error!(error = %e, "not a spool record; left for the dead-letter queue");
                    report.unreadable += 1;
                }
            }
        }
        let batch: Vec<&Spooled> = records.iter().collect();
        let moved = match target.append(&batch, now_ms).await {
            Ok(moved) => moved,
            Err(e) => {
                let receipts: Vec<&str> = drained.iter().map(|m| m.receipt.as_str()).collect();
                if let Err(release) = spool.queue().release(&receipts).await {
                    tracing::warn!(error = %release, "cannot make the spooled messages visible again; they will be after their visibility timeout");
                }
                return Err(DrainError::Redis(e));
            }
        };
        spool.remove(&drained).await?;
        report.moved.new += moved.new;
        report.moved.duplicates += moved.duplicates;
    }
}
