//! One consumer group on one partition stream: read, deliver, acknowledge, retry, claim,
//! dead-letter.
//!
//! - New entries come from `XREADGROUP … BLOCK` on a connection of this worker's own (a
//!   blocking read would stall every other command on a shared multiplexed connection), at
//!   most as many as there are free delivery slots (`concurrency`).
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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram};
use redis::RedisError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::acker::{Acker, InFlight, lock};
use super::backoff;
use crate::clock::Clock;
use crate::config::WaitConfig;
use crate::config::{GroupConfig, StartPosition};
use crate::event::StoredEvent;
use crate::metrics::{
    CONSUMER_DURATION, CONSUMER_LAG, CONSUMER_PROCESSED, DLQ_FILL, DLQ_TOTAL, GROUP_RECREATED,
};
use crate::redis::dead_letters::{self, Failed};
use crate::redis::{RedisConn, groups, streams};
use crate::sinks::{Sink, SinkError};
use crate::streams::Keys;
use crate::supervise::LoopHealth;

/// How long one XREADGROUP blocks; also bounds how late a due retry or a shutdown is noticed.
const BLOCK: Duration = Duration::from_millis(250);
/// How many pending entries one retry scan or claim looks at.
const SCAN: usize = 100;
/// How often pending entries are checked for due retries.
const RETRY_SCAN_EVERY: Duration = Duration::from_millis(50);
/// How often the lag gauge is refreshed.
const LAG_EVERY: Duration = Duration::from_secs(5);

/// What a worker needs, shared with its delivery tasks.
pub(super) struct Worker {
    /// Commands that do not block: claims, scans, dead-lettering.
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
    /// Metric handles, registered once.
    meters: Meters,
    /// Dates dead letters.
    clock: Clock,
    /// Replicas a dead letter must reach before its entry counts as moved.
    wait: Option<WaitConfig>,
    /// The dead-letter stream's cap.
    dlq_max_len: u64,
    /// Entries that failed, by entry id: when first, and how many calls the open circuit
    /// kept from being made.
    failures: Mutex<HashMap<String, Failures>>,
    /// The health of the worker's background loops.
    health: Health,
}

/// The worker's loops, each reporting its rounds (see [`crate::supervise`]).
#[derive(Debug)]
struct Health {
    read: LoopHealth,
    retry: LoopHealth,
    claim: LoopHealth,
    lag: LoopHealth,
}

/// The failures of one pending entry.
#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    /// When a call was first made and failed, ms.
    first_ms: Option<u64>,
    /// Deliveries that were no attempt (the circuit was open).
    skipped: u64,
}

/// The worker's metric handles (labels built once, not per event).
struct Meters {
    delivered: Counter,
    filtered: Counter,
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
        Self {
            delivered: processed("delivered"),
            filtered: processed("filtered"),
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
        config: GroupConfig,
        sink: Arc<dyn Sink>,
        (clock, wait, dlq_max_len): (Clock, Option<WaitConfig>, u64),
    ) -> Arc<Self> {
        let stream = keys.events(partition);
        let in_flight = InFlight::default();
        let acker = Acker::start(
            conn.clone(),
            stream.clone(),
            group.to_owned(),
            in_flight.clone(),
        );
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
            clock,
            wait,
            dlq_max_len,
            failures: Mutex::default(),
            health: {
                let at = format!("{group} on {}", keys.events(partition));
                Health {
                    read: LoopHealth::new("read", at.clone()),
                    retry: LoopHealth::new("retry", at.clone()),
                    claim: LoopHealth::new("claim", at.clone()),
                    lag: LoopHealth::new("lag", at),
                }
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
        self.ensure_group().await;
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
                next_retry = Instant::now() + RETRY_SCAN_EVERY;
            }
            if slots.available_permits() == 0 {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tasks.join_next() => continue,
                }
            }
            let read = tokio::select! {
                () = shutdown.cancelled() => break,
                read = self.read(&mut reader, self.config.batch_size) => read,
            };
            match read {
                Ok(events) => {
                    self.health.read.succeeded();
                    // The batch is marked in flight at once, so the retry scan leaves the
                    // entries still waiting for a delivery slot alone.
                    {
                        let mut marked = lock(&self.in_flight);
                        for event in &events {
                            marked.insert(event.entry_id.clone());
                        }
                    }
                    let mut events = events.into_iter();
                    for event in events.by_ref() {
                        let slot = tokio::select! {
                            () = shutdown.cancelled() => {
                                lock(&self.in_flight).remove(&event.entry_id);
                                break;
                            }
                            slot = slots.clone().acquire_owned() => slot,
                        };
                        let Ok(slot) = slot else { break };
                        tasks.spawn(self.clone().deliver(event, 1, slot));
                    }
                    // Not started because of shutdown: left pending for another consumer.
                    let mut marked = lock(&self.in_flight);
                    for event in events {
                        marked.remove(&event.entry_id);
                    }
                }
                Err(e) if groups::is_missing_group(&e) => {
                    tracing::warn!(group = %self.group, stream = %self.stream, "consumer group missing (Redis restarted empty or stream deleted); recreating it");
                    metrics::counter!(GROUP_RECREATED, "group" => self.group.clone()).increment(1);
                    self.ensure_group().await;
                }
                Err(e) => {
                    self.health.read.failed(&e);
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(self.health.read.pause()) => {}
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
        self.acker.flush().await;
    }

    /// Creates the group if it does not exist (`BUSYGROUP` is success), retrying until Redis
    /// answers.
    async fn ensure_group(&self) {
        let start = match self.config.start {
            StartPosition::Earliest => "0",
            StartPosition::Latest => "$",
        };
        let mut conn = self.conn.clone();
        while let Err(e) = groups::create(&mut conn, &self.stream, &self.group, start).await {
            tracing::warn!(group = %self.group, stream = %self.stream, error = %e, "cannot create the consumer group yet");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn read(
        &self,
        reader: &mut RedisConn,
        count: usize,
    ) -> Result<Vec<StoredEvent>, RedisError> {
        let group = (self.group.as_str(), self.consumer.as_str());
        groups::read(reader, group, &self.stream, groups::NEW, count, BLOCK).await
    }

    /// Delivers one entry on its `deliveries`-th attempt and settles it.
    async fn deliver(
        self: Arc<Self>,
        event: StoredEvent,
        deliveries: u64,
        _slot: OwnedSemaphorePermit,
    ) {
        let id = event.entry_id.clone();
        lock(&self.in_flight).insert(id.clone());
        let started = Instant::now();
        let filter = &self.config.filter;
        let outcome = if event.matches(&filter.tenants, &filter.sources, &filter.event_types) {
            self.sink.deliver(&event).await.map(|()| true)
        } else {
            Ok(false)
        };
        self.meters.duration.record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(delivered) => {
                let counter = if delivered {
                    &self.meters.delivered
                } else {
                    &self.meters.filtered
                };
                counter.increment(1);
                self.forget(&id);
                self.acker.ack(id); // leaves the in-flight set once acknowledged
                return;
            }
            Err(error) => {
                let now = self.clock.now_ms();
                let failures = {
                    let mut all = self.failures();
                    let failures = all.entry(id.clone()).or_default();
                    match error {
                        SinkError::CircuitOpen => failures.skipped += 1,
                        _ => {
                            failures.first_ms.get_or_insert(now);
                        }
                    }
                    *failures
                };
                let attempts = deliveries.saturating_sub(failures.skipped);
                let spent = attempts > u64::from(self.config.max_retries)
                    && failures.first_ms.is_some_and(|first| {
                        now.saturating_sub(first) >= self.config.retry_for.get().as_millis() as u64
                    });
                if spent {
                    self.dead_letter(&event, &error, attempts).await;
                    self.meters.dead_lettered.increment(1);
                } else {
                    tracing::debug!(group = %self.group, entry = %id, attempt = attempts, %error, "delivery failed; will retry");
                    self.meters.retry.increment(1);
                }
            }
        }
        lock(&self.in_flight).remove(&id);
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops what was remembered of a settled entry's failures.
    fn forget(&self, id: &str) {
        let mut failures = self.failures();
        if !failures.is_empty() {
            failures.remove(id);
        }
    }

    async fn dead_letter(&self, event: &StoredEvent, error: &SinkError, attempts: u64) {
        let failed_at = self.clock.now_ms();
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
            max_len: self.dlq_max_len,
        };
        let streams = (self.stream.as_str(), self.dlq.as_str());
        let moved = dead_letters::move_to_dlq(&mut conn, streams, failed, self.wait).await;
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

    /// Re-delivers our pending entries whose backoff has passed.
    async fn retry_due(self: &Arc<Self>, slots: &Arc<Semaphore>, tasks: &mut JoinSet<()>) {
        let backoff = self.config.backoff;
        let due = |id: &str, deliveries: u64, idle: Duration| {
            let wait = backoff::delay(&backoff, id, deliveries);
            (idle >= wait).then_some(wait)
        };
        let scanned = self
            .redeliver(Some(&self.consumer), due, slots, tasks)
            .await;
        self.health.retry.observe(scanned);
    }

    /// Delivers now, in this process, every entry of any consumer idle longer than
    /// `claim_idle` (`hookline claim-pending`), waiting for the deliveries; returns how many
    /// were taken.
    pub async fn claim_and_deliver(self: &Arc<Self>) -> Result<usize, RedisError> {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let mut tasks = JoinSet::new();
        let claim_idle = self.config.claim_idle.get();
        let mut taken = 0;
        loop {
            let due = |_: &str, _: u64, idle: Duration| (idle >= claim_idle).then_some(claim_idle);
            let n = self.redeliver(None, due, &slots, &mut tasks).await?;
            while tasks.join_next().await.is_some() {}
            self.acker.flush().await;
            if n == 0 {
                return Ok(taken);
            }
            taken += n;
        }
    }

    /// Scans pending entries (of `owner`, or of every consumer), and for each that `due`
    /// names a minimum idle time for, claims it with `XCLAIM` (which succeeds only if it is
    /// still that idle, so a consumer that took it meanwhile keeps it, and bumps its delivery
    /// count) and delivers it. Returns how many were claimed.
    async fn redeliver(
        self: &Arc<Self>,
        owner: Option<&str>,
        due: impl Fn(&str, u64, Duration) -> Option<Duration>,
        slots: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
    ) -> Result<usize, RedisError> {
        let mut conn = self.conn.clone();
        let pending = groups::pending(&mut conn, &self.stream, &self.group, owner, SCAN).await?;
        let mut claimed = 0;
        for entry in pending {
            if lock(&self.in_flight).contains(&entry.id) {
                continue;
            }
            let deliveries = entry.deliveries;
            let Some(min_idle) = due(&entry.id, deliveries, entry.idle) else {
                continue;
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                break;
            };
            let who = (
                self.stream.as_str(),
                self.group.as_str(),
                self.consumer.as_str(),
            );
            if let Some(event) = groups::claim(&mut conn, who, min_idle, &entry.id).await? {
                claimed += 1;
                tasks.spawn(self.clone().deliver(event, deliveries + 1, slot));
            }
        }
        Ok(claimed)
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
            .set(len as f64 / self.dlq_max_len as f64);
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

    /// Takes over entries that another consumer left idle for `claim_idle`.
    async fn claim_abandoned(&self) {
        let mut conn = self.conn.clone();
        let mut cursor = "0-0".to_owned();
        let who = (
            self.stream.as_str(),
            self.group.as_str(),
            self.consumer.as_str(),
        );
        let idle = self.config.claim_idle.get();
        for _ in 0..10 {
            match self
                .health
                .claim
                .observe(groups::take_over_ids(&mut conn, who, idle, &cursor, SCAN).await)
            {
                Some(page) => {
                    if !page.taken.is_empty() {
                        tracing::info!(group = %self.group, stream = %self.stream, entries = page.taken.len(), "claimed entries left by another consumer");
                    }
                    if page.next == "0-0" {
                        return;
                    }
                    cursor = page.next;
                }
                None => return,
            }
        }
    }
}
