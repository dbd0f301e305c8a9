//! The built-in summary consumer group: reads every partition and counts each event into its
//! day's hash, acknowledging in the same script call (`crate::redis::counts`).

use std::time::Duration;

use redis::RedisError;
use tokio_util::sync::CancellationToken;

use crate::supervise::LoopHealth;

use super::{FIRST, LAST, counts, date, day_of, field};
use crate::Context;
use crate::config::ConfigError;
use crate::consumer::budget::{ByteBudget, Held, Read};
use crate::redis::counts::{EntryCounts, count_and_ack};
use crate::redis::streams::Entry;
use crate::redis::{RedisConn, groups};
use crate::streams::Keys;

/// The built-in consumer group's name (config refuses it for user groups).
pub const GROUP: &str = crate::config::SUMMARY_GROUP;

/// Entries read per call at most (and at most the free part of the byte budget).
const BATCH: usize = 1000;
/// How long a read waits for new entries.
const BLOCK: Duration = Duration::from_secs(1);
/// Entries pending this long on another consumer are taken over (it died).
const CLAIM_IDLE: Duration = Duration::from_secs(60);

/// Counts every partition's events until `shutdown`, as consumer `consumer`; returns at once
/// when `consumer.summaries` is off.
pub async fn run(
    ctx: &Context,
    consumer: &str,
    shutdown: CancellationToken,
) -> Result<(), ConfigError> {
    let budget = ByteBudget::new(ctx.config.consumer.batch_bytes.bytes());
    run_within(ctx, consumer, &budget, shutdown).await
}

/// [`run`], taking entries out of `budget` (shared with the process's delivery groups).
pub(crate) async fn run_within(
    ctx: &Context,
    consumer: &str,
    budget: &ByteBudget,
    shutdown: CancellationToken,
) -> Result<(), ConfigError> {
    let config = &ctx.config;
    if !config.consumer.summaries {
        return Ok(());
    }
    let keys = Keys::new(config.streams.prefix.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for partition in 0..config.streams.partitions {
        let conn = crate::consumer::dedicated(ctx)?;
        let counter = Counter {
            conn,
            keys: keys.clone(),
            partition,
            stream: keys.events(partition),
            consumer: consumer.to_owned(),
            budget: budget.clone(),
            waiting: LoopHealth::new(
                "summary_wait",
                format!("{GROUP} on {}", keys.events(partition)),
            ),
            group_ready: false,
            own_pending: true,
            next_claim: tokio::time::Instant::now(),
        };
        tasks.spawn(counter.run(shutdown.clone()));
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

struct Counter {
    conn: RedisConn,
    keys: Keys,
    partition: u16,
    stream: String,
    consumer: String,
    budget: ByteBudget,
    /// The health of the blocking waits for new entries.
    waiting: LoopHealth,
    group_ready: bool,
    own_pending: bool,
    next_claim: tokio::time::Instant,
}

impl Counter {
    async fn run(mut self, shutdown: CancellationToken) {
        let health = LoopHealth::new("summary", format!("{GROUP} on {}", self.stream));
        while !shutdown.is_cancelled() {
            let read = tokio::select! {
                () = shutdown.cancelled() => break,
                read = self.next_batch() => read,
            };
            // Counting is not interrupted by shutdown: it is one short script call. The
            // entries' shares of the byte budget are given back after it.
            let outcome = match read {
                Ok(batch) => self.count(batch).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => health.succeeded(),
                Err(e) => {
                    // Redis restarted empty or the stream was deleted: create the group again.
                    self.group_ready &= e.code() != Some("NOGROUP");
                    health.failed(&e);
                    if !health.pause_unless(&shutdown).await {
                        break;
                    }
                }
            }
        }
    }

    /// The next entries to count, each with its share of the byte budget: this consumer's
    /// own pending entries first (left by a previous run under the same name, or taken over
    /// from others, which now and then are), else new entries, waiting up to [`BLOCK`] for
    /// one when there are none.
    async fn next_batch(&mut self) -> Result<Vec<(Entry, Held)>, RedisError> {
        if !self.group_ready {
            groups::create(&mut self.conn, &self.stream, GROUP, "0").await?;
            self.group_ready = true;
        }
        if tokio::time::Instant::now() >= self.next_claim {
            self.next_claim = tokio::time::Instant::now() + CLAIM_IDLE / 2;
            let who = (self.stream.as_str(), GROUP, self.consumer.as_str());
            let page = groups::take_over_ids(&mut self.conn, who, CLAIM_IDLE, "0-0", BATCH).await?;
            self.own_pending |= !page.taken.is_empty();
        }
        let from = match self.own_pending {
            true => groups::OWN_PENDING,
            false => groups::NEW,
        };
        let read = Read {
            stream: &self.stream,
            who: (GROUP, &self.consumer),
            from,
            count: BATCH,
            block: BLOCK,
            waiting: &self.waiting,
        };
        let batch = self
            .budget
            .read(&mut self.conn.clone(), &mut self.conn, read)
            .await?;
        self.own_pending &= !batch.is_empty();
        Ok(batch)
    }

    /// Counts and acknowledges the events of `batch` in one script call; acknowledges the
    /// entries that are not events uncounted (compaction moves them to the DLQ).
    async fn count(&mut self, batch: Vec<(Entry, Held)>) -> Result<(), RedisError> {
        let mut events = Vec::with_capacity(batch.len());
        let mut unreadable = Vec::new();
        for (entry, _) in &batch {
            match entry {
                Entry::Event(event) => events.push(event),
                Entry::Unreadable(raw) => unreadable.push(raw.entry_id.clone()),
            }
        }
        if !unreadable.is_empty() {
            tracing::warn!(stream = %self.stream, entries = unreadable.len(), "entries that are not events: acknowledged uncounted; compaction moves them to the dead-letter stream");
            groups::ack(&mut self.conn, &self.stream, GROUP, &unreadable).await?;
        }
        if events.is_empty() {
            return Ok(());
        }
        let mut days: Vec<i64> = Vec::new();
        let mut day_keys = Vec::new();
        let mut entries = Vec::with_capacity(events.len());
        for event in events {
            let at = event.received_at_ms();
            let day = day_of(at);
            let d = match days.iter().position(|&known| known == day) {
                Some(d) => d,
                None => {
                    days.push(day);
                    day_keys.push(self.keys.summary_counts(self.partition, &date(day)));
                    days.len() - 1
                }
            };
            let (tenant, source) = (event.text("tenant"), event.text("source"));
            entries.push(EntryCounts {
                entry_id: event.entry_id.clone(),
                day: d,
                received_at: at,
                first_field: field(tenant, source, FIRST, None),
                last_field: field(tenant, source, LAST, None),
                counts: counts(event)
                    .into_iter()
                    .map(|c| (field(tenant, source, c.counter, c.key.as_deref()), c.amount))
                    .collect(),
            });
        }
        let stream = (self.stream.as_str(), GROUP);
        count_and_ack(&mut self.conn, stream, &day_keys, &entries).await?;
        Ok(())
    }
}
