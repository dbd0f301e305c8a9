//! The built-in summary consumer group: reads every partition and counts each event into its
//! day's hash, acknowledging in the same script call (`aggregate.lua`).

use std::sync::LazyLock;
use std::time::Duration;

use redis::{RedisError, Script, Value};
use tokio_util::sync::CancellationToken;

use super::{COUNTS_TTL, FIRST, LAST, counts, date, day_of, field};
use crate::Context;
use crate::config::ConfigError;
use crate::entries;
use crate::event::StoredEvent;
use crate::redis::RedisConn;
use crate::streams::Keys;

/// The built-in consumer group's name (config refuses it for user groups).
pub const GROUP: &str = crate::config::SUMMARY_GROUP;

static AGGREGATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("aggregate.lua")));

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
        let mut failing = false;
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
                Ok(()) => failing = false,
                Err(e) => {
                    // Redis restarted empty or the stream was deleted: create the group again.
                    self.group_ready &= e.code() != Some("NOGROUP");
                    if !failing {
                        tracing::error!(stream = %self.stream, group = GROUP, error = %e, "summary counting failed; retrying");
                        failing = true;
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
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
            entries::create_group(&mut self.conn, &self.stream, GROUP, "0").await?;
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
            true => entries::OWN_PENDING,
            false => entries::NEW,
        };
        let read = self.read(from).await?;
        self.own_pending &= !read.is_empty();
        Ok(read)
    }

    async fn read(&mut self, from: &str) -> Result<Vec<StoredEvent>, RedisError> {
        let group = (GROUP, self.consumer.as_str());
        entries::read_group(&mut self.conn, group, &self.stream, from, BATCH, BLOCK).await
    }

    /// Takes over entries another consumer left pending past [`CLAIM_IDLE`].
    async fn claim(&mut self) -> Result<Vec<StoredEvent>, RedisError> {
        let (_next, claimed, _deleted): (String, Value, Value) = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(CLAIM_IDLE.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(BATCH)
            .query_async(&mut self.conn)
            .await?;
        Ok(entries::from_entry_list(claimed))
    }

    /// Counts and acknowledges `events` in one script call.
    async fn count(&mut self, events: &[StoredEvent]) -> Result<(), RedisError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut call = AGGREGATE.prepare_invoke();
        call.key(&self.stream);
        call.arg(GROUP).arg(COUNTS_TTL.as_secs());
        let mut days: Vec<i64> = Vec::new();
        for event in events {
            let at: u64 = event.text("received_at").parse().unwrap_or_default();
            let day = day_of(at);
            let d = match days.iter().position(|&known| known == day) {
                Some(d) => d,
                None => {
                    days.push(day);
                    call.key(self.keys.summary_counts(self.partition, &date(day)));
                    days.len() - 1
                }
            };
            let (tenant, source) = (event.text("tenant"), event.text("source"));
            let counts = counts(event);
            call.arg(&event.entry_id)
                .arg(d + 1)
                .arg(at)
                .arg(field(tenant, source, FIRST, None))
                .arg(field(tenant, source, LAST, None))
                .arg(counts.len());
            for count in counts {
                call.arg(field(tenant, source, count.counter, count.key.as_deref()))
                    .arg(count.amount);
            }
        }
        let _counted: u64 = call.invoke_async(&mut self.conn).await?;
        Ok(())
    }
}
