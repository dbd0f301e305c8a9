//! One consumer group on one partition stream: read ([`read`]), deliver and acknowledge
//! ([`deliver`]), retry and claim ([`pending`]), dead-letter ([`dead_letter`]).
//!
//! - New entries come from a read bounded in entries (`batch_size`) and in bytes (the
//!   process's [`ByteBudget`], `consumer.batch_bytes`); when there are none, from
//!   `XREADGROUP … BLOCK` on a connection of this worker's own (a blocking read would stall
//!   every other command on a shared multiplexed connection). Each entry holds its share of
//!   the budget until it is settled.
//! - An entry that is not an event (a field name that is not UTF-8) is acknowledged without
//!   delivery and counted (`outcome="unreadable"`); compaction moves it, raw, to the DLQ.
//! - An entry is acknowledged only after its sink succeeded (or the group's filter skips it).
//! - A failed entry stays pending. Its delivery count in the PEL is its attempt count, kept
//!   by Redis across restarts; the retry scan re-claims it with `XCLAIM` once it has been
//!   idle for its backoff, which bumps the count. Once `max_retries` retries are spent AND
//!   `retry_for` has passed since its first failed attempt it goes to the dead-letter stream
//!   and is acknowledged in one script (`dead_letter.lua`), so an outage shorter than
//!   `retry_for` dead-letters nothing. A call the destination's open circuit kept from being
//!   made is no attempt: it does not count towards `max_retries` (the half-open probe does).
//!   The first failure and the skipped calls are kept in the worker's memory: after a
//!   restart, an entry's `retry_for` starts again (it is retried longer, never shorter).
//! - Entries idle longer than `claim_idle` on other consumers (crashed ones) are taken over
//!   with `XAUTOCLAIM … JUSTID` and then retried like our own.
//! - `NOGROUP` (Redis restarted empty, stream deleted) recreates the group and carries on.
//! - On shutdown it stops reading and gives in-flight deliveries `shutdown_grace`; what is
//!   unfinished stays pending for another consumer.

mod dead_letter;
mod deliver;
mod pending;
mod read;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::acker::{Acker, InFlight, lock};
use super::budget::ByteBudget;
use crate::attempts::Recorder;
use crate::clock::Clock;
use crate::config::WaitConfig;
use crate::config::{GroupConfig, StartPosition};
use crate::metrics::{
    CONSUMER_DURATION, CONSUMER_LAG, CONSUMER_PROCESSED, DLQ_FILL, DLQ_TOTAL, GROUP_RECREATED,
};
use crate::redis::streams::Entry;
use crate::redis::{RedisConn, groups, streams};
use crate::sinks::Sink;
use crate::streams::Keys;
use crate::supervise::LoopHealth;
use deliver::Failures;

/// How often the lag gauge is refreshed.
const LAG_EVERY: Duration = Duration::from_secs(5);

/// What every worker of a consumer process shares.
#[derive(Debug, Clone)]
pub(super) struct Shared {
    /// Dates dead letters.
    pub clock: Clock,
    /// Replicas a dead letter must reach before its entry counts as moved.
    pub wait: Option<WaitConfig>,
    /// The dead-letter streams' cap.
    pub dlq_max_len: u64,
    /// The process's memory for entries.
    pub budget: ByteBudget,
    /// How long recorded attempts are kept (the hot + warm retention); `None` records none.
    pub attempts_retention_ms: Option<u64>,
}

/// What a worker needs, shared with its delivery tasks.
pub(super) struct Worker {
    /// Commands that do not block: bounded reads, claims, scans, dead-lettering.
    conn: RedisConn,
    /// The partition stream.
    stream: String,
    /// The partition's dead-letter stream.
    dlq: String,
    /// The partition number, for metric labels.
    partition: u16,
    /// The consumer group.
    group: String,
    /// This process's consumer name in the group.
    consumer: String,
    /// The group's settings.
    config: GroupConfig,
    /// Where events go.
    sink: Arc<dyn Sink>,
    /// Entries read and not yet settled, which the retry scan must leave alone.
    in_flight: InFlight,
    /// Batches acknowledgements.
    acker: Acker,
    /// Batches the records of delivery attempts, when they are recorded.
    recorder: Option<Recorder>,
    /// Metric handles, registered once.
    meters: Meters,
    /// Clock, replication, DLQ cap and byte budget.
    shared: Shared,
    /// Entries that failed, by entry id: when first, and how many calls the open circuit
    /// kept from being made.
    failures: Mutex<HashMap<String, Failures>>,
    /// The health of the worker's background loops.
    health: Health,
}

/// The worker's loops, each reporting its rounds (see [`crate::supervise`]).
#[derive(Debug)]
struct Health {
    group: LoopHealth,
    read: LoopHealth,
    wait: LoopHealth,
    retry: LoopHealth,
    claim: LoopHealth,
    lag: LoopHealth,
}

/// The worker's metric handles (labels built once, not per event).
struct Meters {
    delivered: Counter,
    filtered: Counter,
    unreadable: Counter,
    retry: Counter,
    dead_lettered: Counter,
    duration: Histogram,
}

impl Meters {
    fn new(group: &str) -> Self {
        let processed = |outcome: &'static str| metrics::counter!(CONSUMER_PROCESSED, "group" => group.to_owned(), "outcome" => outcome);
        // Counters that move rarely exist from the start at 0, so that rate() and increase()
        // see their first event.
        metrics::counter!(DLQ_TOTAL, "group" => group.to_owned()).increment(0);
        metrics::counter!(GROUP_RECREATED, "group" => group.to_owned()).increment(0);
        let unreadable = processed("unreadable");
        unreadable.increment(0);
        Self {
            delivered: processed("delivered"),
            filtered: processed("filtered"),
            unreadable,
            retry: processed("retry"),
            dead_lettered: processed("dead_lettered"),
            duration: metrics::histogram!(CONSUMER_DURATION, "group" => group.to_owned()),
        }
    }
}

impl Worker {
    /// A worker for `group` on `partition` as `consumer`; starts its acknowledging task.
    pub fn new(
        conn: RedisConn,
        keys: &Keys,
        (partition, group, consumer): (u16, &str, &str),
        (config, sink): (GroupConfig, Arc<dyn Sink>),
        shared: Shared,
    ) -> Arc<Self> {
        let stream = keys.events(partition);
        let in_flight = InFlight::default();
        let acker = Acker::start(
            conn.clone(),
            stream.clone(),
            group.to_owned(),
            in_flight.clone(),
        );
        let recorder = shared.attempts_retention_ms.map(|retention_ms| {
            Recorder::start(
                conn.clone(),
                keys.attempts(partition),
                retention_ms,
                shared.clock.clone(),
            )
        });
        let at = format!("{group} on {stream}");
        Arc::new(Self {
            conn,
            dlq: keys.dlq(partition),
            stream,
            partition,
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            meters: Meters::new(group),
            config,
            sink,
            in_flight,
            acker,
            recorder,
            shared,
            failures: Mutex::default(),
            health: Health {
                group: LoopHealth::new("group", at.clone()),
                read: LoopHealth::new("read", at.clone()),
                wait: LoopHealth::new("wait", at.clone()),
                retry: LoopHealth::new("retry", at.clone()),
                claim: LoopHealth::new("claim", at.clone()),
                lag: LoopHealth::new("lag", at),
            },
        })
    }

    /// Runs until `shutdown`, then drains within `shutdown_grace`.
    pub async fn run(self: Arc<Self>, mut reader: RedisConn, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let mut tasks = JoinSet::new();
        let claim_every = (self.config.claim_idle.get() / 2).max(Duration::from_millis(100));
        let mut next_claim = Instant::now();
        let mut next_lag = Instant::now();
        let mut next_retry = Instant::now();
        if !self.ensure_group(&shutdown).await {
            return;
        }
        while !shutdown.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            if Instant::now() >= next_claim {
                self.claim_abandoned().await;
                next_claim = Instant::now() + claim_every;
            }
            if Instant::now() >= next_lag {
                self.report_lag().await;
                next_lag = Instant::now() + LAG_EVERY;
            }
            if Instant::now() >= next_retry {
                self.retry_due(&slots, &mut tasks).await;
                next_retry = Instant::now() + pending::RETRY_SCAN_EVERY;
            }
            if slots.available_permits() == 0 {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tasks.join_next() => continue,
                }
            }
            let read = tokio::select! {
                () = shutdown.cancelled() => break,
                read = self.next_batch(&mut reader, self.config.batch_size) => read,
            };
            match read {
                Ok(batch) => {
                    self.health.read.succeeded();
                    // The batch is marked in flight at once, so the retry scan leaves the
                    // entries still waiting for a delivery slot alone.
                    {
                        let mut marked = lock(&self.in_flight);
                        for (entry, _) in &batch {
                            marked.insert(entry.id().to_owned());
                        }
                    }
                    let mut batch = batch.into_iter();
                    for (entry, bytes) in batch.by_ref() {
                        let event = match entry {
                            Entry::Event(event) => event,
                            Entry::Unreadable(raw) => {
                                self.pass_unreadable(&raw);
                                continue;
                            }
                        };
                        let slot = tokio::select! {
                            () = shutdown.cancelled() => {
                                lock(&self.in_flight).remove(&event.entry_id);
                                break;
                            }
                            slot = slots.clone().acquire_owned() => slot,
                        };
                        let Ok(slot) = slot else { break };
                        tasks.spawn(self.clone().deliver(event, 1, (slot, bytes)));
                    }
                    // Not started because of shutdown: left pending for another consumer.
                    let mut marked = lock(&self.in_flight);
                    for (entry, _) in batch {
                        marked.remove(entry.id());
                    }
                }
                Err(e) if groups::is_missing_group(&e) => {
                    tracing::warn!(group = %self.group, stream = %self.stream, "consumer group missing (Redis restarted empty or stream deleted); recreating it");
                    metrics::counter!(GROUP_RECREATED, "group" => self.group.clone()).increment(1);
                    if !self.ensure_group(&shutdown).await {
                        break;
                    }
                }
                Err(e) => {
                    self.health.read.failed(&e);
                    if !self.health.read.pause_unless(&shutdown).await {
                        break;
                    }
                }
            }
        }
        let grace = self.config.shutdown_grace.get();
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!(group = %self.group, stream = %self.stream, "deliveries still running after the shutdown grace; leaving them pending");
            tasks.abort_all();
        }
        self.settle().await;
    }

    /// Waits until the acknowledgements and attempt records queued so far are written.
    async fn settle(&self) {
        self.acker.flush().await;
        if let Some(recorder) = &self.recorder {
            recorder.flush().await;
        }
    }

    /// Creates the group if it does not exist (`BUSYGROUP` is success), retrying with backoff
    /// until Redis answers; false when `shutdown` came first.
    async fn ensure_group(&self, shutdown: &CancellationToken) -> bool {
        let start = match self.config.start {
            StartPosition::Earliest => "0",
            StartPosition::Latest => "$",
        };
        let mut conn = self.conn.clone();
        loop {
            match groups::create(&mut conn, &self.stream, &self.group, start).await {
                Ok(()) => {
                    self.health.group.succeeded();
                    return true;
                }
                Err(e) => self.health.group.failed(&e),
            }
            if !self.health.group.pause_unless(shutdown).await {
                return false;
            }
        }
    }

    /// Sets `hookline_consumer_lag{group,partition}` from `XINFO GROUPS`, and the partition's
    /// `hookline_dlq_fill_ratio`.
    async fn report_lag(&self) {
        let mut conn = self.conn.clone();
        let Some(len) = self
            .health
            .lag
            .observe(streams::length(&mut conn, &self.dlq).await)
        else {
            return;
        };
        metrics::gauge!(DLQ_FILL, "partition" => self.partition.to_string())
            .set(len as f64 / self.shared.dlq_max_len as f64);
        let Some(stats) = self
            .health
            .lag
            .observe(groups::info(&mut conn, &self.stream).await)
        else {
            return;
        };
        if let Some(lag) = stats
            .iter()
            .find(|g| g.name == self.group)
            .and_then(|g| g.lag)
        {
            metrics::gauge!(CONSUMER_LAG, "group" => self.group.clone(), "partition" => self.partition.to_string())
                .set(lag as f64);
        }
    }
}
