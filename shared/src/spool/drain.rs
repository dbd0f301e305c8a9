//! Appending spooled records to Redis ([`Target`]), shared by both spools' drains, and the
//! disk spool's [`Drainer`]: it appends the oldest records through the de-duplicating
//! script and removes each batch from the spool once Redis acknowledged it. It waits while
//! the spool is empty and backs off (up to 5 s) while Redis refuses, saying so once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{DiskSpool, Spooled};
use crate::clock::Clock;
use crate::dedup::{AppendOptions, Appended, Unique, append_unique};
use crate::metrics::{SPOOL_DRAINED, SPOOL_EVENTS, SPOOL_OLDEST_AGE};
use crate::mirror::Mirror;
use crate::redis::RedisConn;
use crate::streams::Keys;

/// Records taken per round.
const BATCH: usize = 64;

/// Where drained records go: Redis, and the mirror when `outputs.sqs` is set.
pub struct Target {
    /// The connection appends go through.
    pub conn: RedisConn,
    /// Key names.
    pub keys: Keys,
    /// The append's options (bloom, suspects, wait).
    pub options: AppendOptions,
    /// `outputs.sqs`.
    pub mirror: Option<Mirror>,
}

/// What appending a batch of records did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// Appended as new events.
    pub new: u64,
    /// Already in Redis (drained before, or repeats spooled meanwhile).
    pub duplicates: u64,
}

impl Target {
    /// Appends `records` (oldest first) in order, one partition's consecutive run per script
    /// call; `now_ms` dates the duplicates the script counts. On an error, runs before the
    /// failing one stay appended (a later drain answers them as duplicates).
    pub async fn append(&mut self, records: &[&Spooled], now_ms: u64) -> Result<Moved, String> {
        let mut moved = Moved::default();
        for run in records.chunk_by(|a, b| a.partition == b.partition) {
            let batch: Vec<&Unique> = run.iter().map(|r| &r.unique).collect();
            let results = append_unique(
                &mut self.conn,
                &self.keys,
                run[0].partition,
                &batch,
                &self.options,
                now_ms,
            )
            .await
            .map_err(|e| e.to_string())?;
            for (unique, appended) in batch.iter().zip(results) {
                match appended {
                    Appended::New { .. } | Appended::SuspectDelivered { .. } => {
                        moved.new += 1;
                        if let Some(mirror) = &self.mirror {
                            mirror.copy(&unique.event).await;
                        }
                    }
                    _ => moved.duplicates += 1,
                }
            }
        }
        Ok(moved)
    }
}

/// Drains a disk spool into a [`Target`] until shut down.
pub struct Drainer {
    /// The spool.
    pub spool: DiskSpool,
    /// Where records go.
    pub target: Target,
    /// Dates the duplicates the script counts, and the oldest record's age.
    pub clock: Clock,
}

impl Drainer {
    /// Drains until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut failing = false;
        loop {
            let depth = self.spool.depth();
            metrics::gauge!(SPOOL_EVENTS).set(depth as f64);
            let pause = match self.round().await {
                Ok(0) => Duration::from_millis(200),
                Ok(_) => {
                    if failing {
                        tracing::info!("draining the spool into Redis again");
                        failing = false;
                    }
                    backoff = Duration::from_millis(100);
                    Duration::ZERO
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, spooled = depth, "cannot drain the spool yet; retrying");
                        failing = true;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Appends the oldest batch; how many records it moved.
    async fn round(&mut self) -> Result<usize, String> {
        let records = self.spool.oldest(BATCH).await.map_err(|e| e.to_string())?;
        let Some((_, oldest)) = records.first() else {
            metrics::gauge!(SPOOL_OLDEST_AGE).set(0.0);
            return Ok(0);
        };
        let age = self
            .clock
            .now_ms()
            .saturating_sub(oldest.unique.event.received_at_ms);
        metrics::gauge!(SPOOL_OLDEST_AGE).set(age as f64 / 1000.0);
        let batch: Vec<&Spooled> = records.iter().map(|(_, r)| r).collect();
        self.target.append(&batch, self.clock.now_ms()).await?;
        let keys: Vec<u64> = records.iter().map(|(k, _)| *k).collect();
        let moved = keys.len();
        self.spool.remove(keys).await.map_err(|e| e.to_string())?;
        metrics::counter!(SPOOL_DRAINED).increment(moved as u64);
        Ok(moved)
    }
}
