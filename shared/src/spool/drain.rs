//! The drainer: appends spooled events to Redis, oldest first, through the de-duplicating
//! script, and removes each batch from the spool once Redis acknowledged it. It waits while
//! the spool is empty and backs off (up to 5 s) while Redis refuses, saying so once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::DiskSpool;
use crate::clock::Clock;
use crate::dedup::{AppendOptions, Unique, append_unique};
use crate::metrics::{SPOOL_DRAINED, SPOOL_EVENTS, SPOOL_OLDEST_AGE};
use crate::redis::RedisConn;
use crate::streams::Keys;

/// Records taken per round.
const BATCH: usize = 64;

/// What the drainer appends with.
pub struct Drainer {
    /// The spool.
    pub spool: DiskSpool,
    /// Where events go.
    pub conn: RedisConn,
    /// Key names.
    pub keys: Keys,
    /// The append's options (bloom, suspects, wait).
    pub options: AppendOptions,
    /// Dates the duplicates the script counts.
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
        // In order, one partition's consecutive run per script call.
        let mut done = Vec::with_capacity(records.len());
        let mut run: Vec<(u64, &Unique)> = Vec::new();
        let mut partition = records[0].1.partition;
        for (key, record) in &records {
            if record.partition != partition {
                self.append(partition, &run).await?;
                done.extend(run.drain(..).map(|(k, _)| k));
                partition = record.partition;
            }
            run.push((*key, &record.unique));
        }
        self.append(partition, &run).await?;
        done.extend(run.drain(..).map(|(k, _)| k));
        let moved = done.len();
        self.spool.remove(done).await.map_err(|e| e.to_string())?;
        metrics::counter!(SPOOL_DRAINED).increment(moved as u64);
        Ok(moved)
    }

    async fn append(&mut self, partition: u16, run: &[(u64, &Unique)]) -> Result<(), String> {
        let batch: Vec<&Unique> = run.iter().map(|(_, u)| *u).collect();
        let now = self.clock.now_ms();
        append_unique(
            &mut self.conn,
            &self.keys,
            partition,
            &batch,
            &self.options,
            now,
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}
