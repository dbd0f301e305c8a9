//! `replay`: re-append the events received in `[from, to)` — read from the hot streams, the
//! warm segments and the cold archive, in their original order — each as a new event carrying `replay_of` = the
//! original event id. Replays bypass de-duplication. Without a target stream each event goes
//! back to its own partition stream (and so to every consumer group). With `suspects` it
//! replays the bloom filter's suspects streams instead, for false positives.
//!
//! A replay is idempotent: each copy is appended together with its original's id in a record
//! of the replay's arguments ([`Keys::replayed`], kept [`RECORD_KEPT`]), in one script call,
//! so a replay killed at any point and run again, or run twice, appends each original once.
//! Replayed copies in the range (they keep the original's `received_at`) are never replayed.
//!
//! The tiers are read hot, then warm, then cold: an event that moves down a tier meanwhile is
//! then seen twice rather than missed, and its (partition, stream id) drops the second
//! sighting. Matches are gathered in memory before appending, so a replay's range should fit
//! in memory (its events, not the whole tier).

use hookline_shared::event::StoredEvent;
use hookline_shared::redis::{RedisConn, segments, streams};
use hookline_shared::streams::Keys;

use hookline_shared::objects::ArchiveStore;

use crate::archive::{ArchiveError, object};
use crate::{JobError, segment};

/// How long a replay remembers which originals it appended.
pub const RECORD_KEPT: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Stream ids are assigned at append time, a little after `received_at`; the hot and warm
/// tiers are searched this much wider, then filtered on `received_at` exactly.
const SLACK_MS: u64 = 60_000;

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    /// Start of the range on `received_at`, ms since the epoch (inclusive).
    pub from_ms: u64,
    /// End of the range (exclusive).
    pub to_ms: u64,
    /// Only this source.
    pub source: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// Append everything to this stream instead of the events' own partition streams.
    pub to_stream: Option<String>,
    /// Count only.
    pub dry_run: bool,
    /// Replay the bloom filter's suspects (probable repeats that were not appended) instead
    /// of the tiers: for a false positive, this delivers the event after all.
    pub suspects: bool,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Events that matched.
    pub matched: u64,
    /// Events appended (0 on a dry run).
    pub appended: u64,
    /// Events appended already, by an earlier run with the same arguments or earlier in this
    /// one (a dead letter's retried copy keeps its event's id: it is the same event).
    pub already: u64,
}

impl ReplayRequest {
    /// A digest of the arguments that name this replay (the dry-run flag aside).
    fn digest(&self) -> String {
        use sha2::Digest;
        let text = format!(
            "{}|{}|{:?}|{:?}|{:?}|{}",
            self.from_ms, self.to_ms, self.source, self.event_type, self.to_stream, self.suspects
        );
        hex::encode(&sha2::Sha256::digest(text.as_bytes())[..12])
    }
}

/// Replays over `partitions` partition streams; `progress` is called with the number appended
/// so far, every 1,000 events.
pub async fn replay(
    conn: &mut RedisConn,
    keys: &Keys,
    partitions: u16,
    archive: Option<&dyn ArchiveStore>,
    request: &ReplayRequest,
    mut progress: impl FnMut(u64),
) -> Result<ReplayReport, ArchiveError> {
    let matches = matching(conn, keys, partitions, archive, request).await?;
    let mut report = ReplayReport {
        matched: matches.len() as u64,
        ..ReplayReport::default()
    };
    let digest = request.digest();
    if request.dry_run {
        return Ok(report);
    }
    for (partition, event) in matches {
        let target = request
            .to_stream
            .clone()
            .unwrap_or_else(|| keys.events(partition));
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        let original = event.get("id").unwrap_or_default();
        let fields = event
            .fields
            .iter()
            .map(|(name, value)| match name.as_str() {
                "id" => ("id", id.as_bytes()),
                _ => (name.as_str(), &value[..]),
            })
            .chain([("replay_of", original)]);
        let record = keys.replayed(&target, &digest);
        if !streams::add_replayed(conn, (&target, &record), original, RECORD_KEPT, fields).await? {
            report.already += 1;
            continue;
        }
        report.appended += 1;
        if report.appended.is_multiple_of(1000) {
            progress(report.appended);
        }
    }
    Ok(report)
}

/// The events of `request`'s range (its source and event type, or the suspects), from
/// every tier, each once, in `received_at` order with their partition.
pub async fn matching(
    conn: &mut RedisConn,
    keys: &Keys,
    partitions: u16,
    archive: Option<&dyn ArchiveStore>,
    request: &ReplayRequest,
) -> Result<Vec<(u16, StoredEvent)>, ArchiveError> {
    let found = located(conn, keys, partitions, archive, request).await?;
    Ok(found.into_iter().map(|f| (f.partition, f.event)).collect())
}

/// A tier events are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// A partition stream (or, for suspects, a suspects stream).
    Hot,
    /// A warm segment.
    Warm,
    /// A cold archive object.
    Cold,
}

impl Tier {
    /// `hot`, `warm` or `cold`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hot => "hot",
            Self::Warm => "warm",
            Self::Cold => "cold",
        }
    }
}

/// An event of a range, with where it was read.
#[derive(Debug, Clone)]
pub struct Located {
    /// Its partition.
    pub partition: u16,
    /// The tier it was read from.
    pub tier: Tier,
    /// The event.
    pub event: StoredEvent,
}

/// [`matching`], with the tier each event was read from.
pub async fn located(
    conn: &mut RedisConn,
    keys: &Keys,
    partitions: u16,
    archive: Option<&dyn ArchiveStore>,
    request: &ReplayRequest,
) -> Result<Vec<Located>, ArchiveError> {
    let mut matches: Vec<Located> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut keep = |partition: u16, tier: Tier, event: StoredEvent| {
        if admits(request, &event) && seen.insert((partition, event.entry_id.clone())) {
            matches.push(Located {
                partition,
                tier,
                event,
            });
        }
    };
    if request.suspects {
        for partition in 0..partitions {
            for event in around(conn, &keys.suspects(partition), request).await? {
                keep(partition, Tier::Hot, event);
            }
        }
    } else {
        for partition in 0..partitions {
            for event in around(conn, &keys.events(partition), request).await? {
                keep(partition, Tier::Hot, event);
            }
        }
        for partition in 0..partitions {
            for event in warm(conn, keys, partition, request).await? {
                keep(partition, Tier::Warm, event);
            }
        }
        if let Some(store) = archive {
            for (partition, event) in cold(store, request).await? {
                keep(partition, Tier::Cold, event);
            }
        }
    }
    matches.sort_by_key(|f| {
        (
            f.event.received_at_ms(),
            streams::entry_order(&f.event.entry_id),
        )
    });
    Ok(matches)
}

/// Whether `event` is one `request` asks for: in its range and filters, and not itself a
/// replayed copy (its original is in the range too, or was).
fn admits(request: &ReplayRequest, event: &StoredEvent) -> bool {
    let at = event.received_at_ms();
    let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    event.get("replay_of").is_none()
        && at >= request.from_ms
        && at < request.to_ms
        && is(&request.source, event.text("source"))
        && is(&request.event_type, event.text("event_type"))
}

/// Entries of warm segments that may hold events of the range.
async fn warm(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    request: &ReplayRequest,
) -> Result<Vec<StoredEvent>, JobError> {
    // Index scores are each segment's last entry time; its member starts with the first id.
    let from = request.from_ms.saturating_sub(SLACK_MS);
    let members = segments::newer_than(conn, keys, partition, from).await?;
    let mut out = Vec::new();
    for member in members {
        if streams::entry_order(&member).0 > request.to_ms + SLACK_MS {
            break;
        }
        let Some(blob) = segments::read(conn, keys, partition, &member).await? else {
            continue; // archived meanwhile
        };
        match segment::decode(&blob) {
            Ok(entries) => out.extend(entries),
            Err(e) => {
                tracing::error!(partition, segment = %member, error = %e, "unreadable warm segment skipped")
            }
        }
    }
    Ok(out)
}

/// Entries of `stream` (a partition's hot stream or its suspects) around the range.
async fn around(
    conn: &mut RedisConn,
    stream: &str,
    request: &ReplayRequest,
) -> Result<Vec<StoredEvent>, JobError> {
    let (from, to) = (
        request.from_ms.saturating_sub(SLACK_MS),
        request.to_ms + SLACK_MS,
    );
    Ok(streams::range(conn, stream, &from.to_string(), &to.to_string(), None).await?)
}

/// Events of cold objects whose hour may hold events of the range, with their partition.
async fn cold(
    store: &dyn ArchiveStore,
    request: &ReplayRequest,
) -> Result<Vec<(u16, StoredEvent)>, ArchiveError> {
    let hour = |ms: u64| {
        let stamp = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
        );
        let stamp = stamp.to_string();
        format!("date={}/hour={}", &stamp[..10], &stamp[11..13])
    };
    // Keys sort by date and hour within a tenant and source, so the hour strings compare.
    let (first, last) = (
        hour(request.from_ms.saturating_sub(SLACK_MS)),
        hour(request.to_ms + SLACK_MS),
    );
    let mut out = Vec::new();
    for key in store.list("").await? {
        let Some(name) = key.strip_suffix(".jsonl.zst") else {
            continue;
        };
        let parts: Vec<&str> = name.split('/').collect();
        let [_, _, date, hour_part, file] = parts[..] else {
            continue;
        };
        let slot = format!("{date}/{hour_part}");
        if slot < first || slot > last {
            continue;
        }
        let Some(partition) = file.split('-').next().and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        let Some(body) = store.get(&key).await? else {
            continue;
        };
        match object::read(&body) {
            Ok(events) => out.extend(events.into_iter().map(|e| (partition, e))),
            Err(e) => tracing::error!(object = %key, error = %e, "unreadable cold object skipped"),
        }
    }
    Ok(out)
}
