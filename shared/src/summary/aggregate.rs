//! The built-in summary consumer group: reads every partition and counts each event into its
//! day's hash, acknowledging in the same script call (`crate::redis::counts`).

use std::time::Duration;

use redis::RedisError;
use tokio_util::sync::CancellationToken;

use crate::supervise::LoopHealth;

use super::{FIRST, LAST, counts, date, day_of, field};
use crate::Context;
use crate::config::ConfigError;
use crate::event::StoredEvent;
use crate::redis::counts::{EntryCounts, count_and_ack};
use crate::redis::{RedisConn, groups};
use crate::streams::Keys;

/// The built-in consumer group's name (config refuses it for user groups).
pub const GROUP: &str = crate::config::SUMMARY_GROUP;

/// Entries read per call.
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
            // Counting is not interrupted by shutdown: it is one short script call.
            let outcome = match read {
                Ok(events) => self.count(&events).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => health.succeeded(),
                Err(e) => {
                    // Redis restarted empty or the stream was deleted: create the group again.
                    self.group_ready &= e.code() != Some("NOGROUP");
                    health.failed(&e);
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(health.pause()) => {}
                    }
                }
            }
        }
    }

    /// The next entries to count: this consumer's own pending entries first (left by a
    /// previous run under the same name), then now and then entries abandoned by others,
    /// else new entries.
    async fn next_batch(&mut self) -> Result<Vec<StoredEvent>, RedisError> {
        if !self.group_ready {
            groups::create(&mut self.conn, &self.stream, GROUP, "0").await?;
            self.group_ready = true;
        }
        if tokio::time::Instant::now() >= self.next_claim {
            self.next_claim = tokio::time::Instant::now() + CLAIM_IDLE / 2;
            let claimed = self.claim().await?;
            if !claimed.is_empty() {
                return Ok(claimed);
            }
        }
        let from = match self.own_pending {
            true => groups::OWN_PENDING,
            false => groups::NEW,
        };
        let read = self.read(from).await?;
        self.own_pending &= !read.is_empty();
        Ok(read)
    }

    async fn read(&mut self, from: &str) -> Result<Vec<StoredEvent>, RedisError> {
        let group = (GROUP, self.consumer.as_str());
        groups::read(&mut self.conn, group, &self.stream, from, BATCH, BLOCK).await
    }

    /// Takes over entries another consumer left pending past [`CLAIM_IDLE`].
    async fn claim(&mut self) -> Result<Vec<StoredEvent>, RedisError> {
        let who = (self.stream.as_str(), GROUP, self.consumer.as_str());
        let page = groups::take_over(&mut self.conn, who, CLAIM_IDLE, "0-0", BATCH).await?;
        Ok(page.taken)
    }

    /// Counts and acknowledges `events` in one script call.
    async fn count(&mut self, events: &[StoredEvent]) -> Result<(), RedisError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut days: Vec<i64> = Vec::new();
        let mut day_keys = Vec::new();
        let mut entries = Vec::with_capacity(events.len());
        for event in events {
            let at: u64 = event.text("received_at").parse().unwrap_or_default();
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
