//! The de-duplicating append (`append.lua`): a batch of one partition's events appended in
//! one script call, each unless it is a repeat inside its window or a bloom hit; and the
//! rotation of the bloom filters' generations. `crate::dedup` decides identities and
//! batches; this module sends.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{RedisResult, Script};

use super::{RedisConn, bloom, counts, script};
use crate::clock;
use crate::config::{BloomShape, WaitConfig};
use crate::event::Event;
use crate::streams::Keys;

static APPEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("append.lua")));

/// An event waiting to be appended, with what de-duplicates it.
#[derive(Debug, Clone)]
pub struct Unique {
    /// The event's identity ([`identity`]).
    pub identity: String,
    /// How long a repeat of it is refused.
    pub window: Duration,
    /// The event.
    pub event: Event,
}

/// What the append checks besides the window, the same for every event of a process.
#[derive(Debug, Clone, Copy)]
pub struct AppendOptions {
    /// The bloom filter's shape; `None` checks the window only.
    pub bloom: Option<crate::config::BloomShape>,
    /// How long bloom hits stay in the suspects stream.
    pub suspects_retention: Duration,
    /// Whether bloom hits are appended (flagged `suspected_duplicate`) instead of held.
    pub deliver_suspects: bool,
    /// Replicas each batch must reach before its results count (`redis.wait`).
    pub wait: Option<WaitConfig>,
}

impl AppendOptions {
    /// The options `dedup` and `redis.wait` configure.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            bloom: config.dedup.bloom.shape(),
            suspects_retention: config.dedup.bloom.suspects_retention.get(),
            deliver_suspects: config.dedup.bloom.on_hit == crate::config::OnHit::Deliver,
            wait: config.redis.wait,
        }
    }
}

/// What the append did with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// The event is in the stream under this entry id.
    New {
        /// The stream entry id, e.g. `1732470000000-0`.
        entry_id: String,
    },
    /// An event with the same identity was appended inside the window.
    Duplicate {
        /// The original event's id.
        original_id: String,
    },
    /// The bloom filter has probably seen the event before the window: it went to the
    /// partition's suspects stream instead, under this entry id.
    Suspect {
        /// The suspects stream entry id.
        entry_id: String,
    },
    /// A bloom hit appended all the same (`on_hit: deliver`), flagged
    /// `suspected_duplicate`, under this stream entry id.
    SuspectDelivered {
        /// The stream entry id.
        entry_id: String,
    },
}

/// Appends a batch of one partition's events in one script call, each unless it is a
/// repeat inside its window or a bloom hit; `now_ms` dates the duplicates counted and the
/// suspects' retention. Results are in the batch's order.
pub async fn append_unique(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    batch: &[&Unique],
    options: &AppendOptions,
    now_ms: u64,
) -> RedisResult<Vec<Appended>> {
    let date = clock::date(clock::day_of(now_ms));
    let mut script_keys = vec![
        keys.events(partition),
        keys.suspects(partition),
        keys.bloom_current(partition),
        keys.bloom(partition, 0),
        keys.bloom(partition, 1),
        keys.summary_counts(partition, &date),
    ];
    script_keys.extend(batch.iter().map(|u| keys.dedup(partition, &u.identity)));
    let mut call = script::evalsha(&APPEND, &script_keys);
    let hashes = options.bloom.map_or(0, |shape| shape.hashes);
    let suspects_from = now_ms.saturating_sub(options.suspects_retention.as_millis() as u64);
    // `traceparent` is sent (empty for the events without one) only when an event of the
    // batch has one, so a process that exports no traces stores and sends what it did before.
    let fields = batch
        .iter()
        .map(|u| u.event.stored_field_count())
        .max()
        .unwrap_or(Event::REQUIRED_FIELD_COUNT);
    call.arg(fields)
        .arg(hashes)
        .arg(suspects_from)
        .arg(counts::COUNTS_TTL.as_secs())
        .arg(u8::from(options.deliver_suspects))
        .arg(&Event::FIELD_NAMES[..fields]);
    for unique in batch {
        let event = &unique.event;
        call.arg(unique.window.as_millis().max(1) as u64)
            .arg(event.id.hyphenated().to_string())
            .arg(counts::field(
                &event.tenant,
                &event.source,
                counts::DUPLICATES,
                None,
            ));
        if let Some(shape) = options.bloom {
            let placement = bloom::placement(&shape, &unique.identity);
            call.arg(placement.block_byte)
                .arg(placement.block_byte + BloomShape::BLOCK_BITS / 8 - 1)
                .arg(placement.packed());
        }
        for value in event.values().iter().take(fields) {
            call.arg(&value[..]);
        }
    }
    let flat: Vec<(i64, String)> =
        script::run_replicated(conn, &APPEND, &call, options.wait).await?;
    Ok(flat
        .into_iter()
        .map(|(kind, id)| match kind {
            1 => Appended::New { entry_id: id },
            2 => Appended::Suspect { entry_id: id },
            3 => Appended::SuspectDelivered { entry_id: id },
            _ => Appended::Duplicate { original_id: id },
        })
        .collect())
}
