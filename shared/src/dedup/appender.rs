//! Adaptive batching of appends, one queue and one task per partition.
//!
//! A request hands its event to the partition's task and waits for the answer. The task
//! takes everything queued (up to [`MAX_BATCH`] events or [`MAX_BATCH_BYTES`] of payload),
//! sends it as one script call, answers each waiting request, and repeats. With one request
//! in flight a batch is one event, so latency stays one round trip; under load the batches
//! grow by themselves, which is how ingest gets past one Redis round trip per webhook.
//!
//! A request that stopped waiting (its timeout passed) before its batch was sent is dropped
//! from the batch; one whose batch was already sent may still be appended after the sender
//! got a 503, and its retry is then answered as a duplicate — never lost, never doubled.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{AppendOptions, Appended, Unique, append_unique};
use crate::clock::Clock;
use crate::config::ConfigError;
use crate::redis::{Redis, RedisConn};
use crate::streams::Keys;

/// Most events in one script call.
pub const MAX_BATCH: usize = 64;
/// Most payload bytes in one script call (a single larger event still goes alone).
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// Requests that may wait in one partition's queue before senders wait for room.
const QUEUE: usize = 4096;

/// Why an append did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    /// Redis failed or did not answer within the timeout.
    #[error("redis: {0}")]
    Redis(String),
    /// The wait passed the timeout.
    #[error("no answer from redis within {0:?}")]
    Timeout(Duration),
}

struct Job {
    unique: Unique,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// Appends events through per-partition batching tasks, started on first use.
#[derive(Debug)]
pub struct Appender {
    /// One connection per partition: the shared one, or with `redis.wait` one of the
    /// partition's own, so the `WAIT` after each batch blocks only that partition's batches.
    conns: Vec<RedisConn>,
    keys: Arc<Keys>,
    timeout: Duration,
    options: AppendOptions,
    clock: Clock,
    queues: Vec<OnceLock<mpsc::Sender<Job>>>,
}

impl Appender {
    /// An appender over `partitions` streams; each call waits at most `timeout`.
    pub fn new(
        redis: &Redis,
        keys: Keys,
        partitions: u16,
        timeout: Duration,
        options: AppendOptions,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        let conns = (0..partitions)
            .map(|_| match options.wait {
                Some(_) => redis.dedicated(),
                None => Ok(redis.shared()),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            conns,
            keys: Arc::new(keys),
            timeout,
            options,
            clock,
            queues: (0..partitions).map(|_| OnceLock::new()).collect(),
        })
    }

    /// Appends `unique` to `partition` unless it is a repeat inside its window. Must be
    /// called within a Tokio runtime.
    pub async fn append(&self, partition: u16, unique: Unique) -> Result<Appended, AppendError> {
        let queue = self.queues[usize::from(partition)].get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            let worker = Worker {
                conn: self.conns[usize::from(partition)].clone(),
                keys: self.keys.clone(),
                partition,
                timeout: self.timeout,
                options: self.options,
                clock: self.clock.clone(),
            };
            tokio::spawn(worker.run(rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let waited = tokio::time::timeout(self.timeout, async {
            queue
                .send(Job { unique, reply })
                .await
                .map_err(|_| AppendError::Redis("the partition's append task stopped".into()))?;
            answer
                .await
                .map_err(|_| AppendError::Redis("the append was dropped".into()))?
        });
        waited
            .await
            .unwrap_or(Err(AppendError::Timeout(self.timeout)))
    }
}

struct Worker {
    conn: RedisConn,
    keys: Arc<Keys>,
    partition: u16,
    timeout: Duration,
    options: AppendOptions,
    clock: Clock,
}

impl Worker {
    /// Sends batches, one at a time, until every sender is gone.
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.recv().await {
            let mut bytes = first.unique.event.payload.len();
            batch.push(first);
            while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(job) => {
                        bytes += job.unique.event.payload.len();
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            batch.retain(|job| !job.reply.is_closed());
            if !batch.is_empty() {
                self.send(&mut batch).await;
            }
            batch.clear();
        }
    }

    /// One script call for the batch; every waiting request gets its result or the error.
    async fn send(&mut self, batch: &mut Vec<Job>) {
        let events: Vec<&Unique> = batch.iter().map(|job| &job.unique).collect();
        let call = append_unique(
            &mut self.conn,
            &self.keys,
            self.partition,
            &events,
            &self.options,
            self.clock.now_ms(),
        );
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(results)) if results.len() == batch.len() => Ok(results),
            Ok(Ok(results)) => Err(AppendError::Redis(format!(
                "script answered {} results for {} events",
                results.len(),
                batch.len()
            ))),
            Ok(Err(e)) => Err(AppendError::Redis(e.to_string())),
            Err(_) => Err(AppendError::Timeout(self.timeout)),
        };
        match outcome {
            Ok(results) => {
                for (job, result) in batch.drain(..).zip(results) {
                    let _ = job.reply.send(Ok(result));
                }
            }
            Err(error) => {
                tracing::error!(partition = self.partition, events = batch.len(), %error, "append failed");
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(error.clone()));
                }
            }
        }
    }
}
