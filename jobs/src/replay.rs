//! `replay`: re-append the events received in `[from, to)` — read from the warm segments and
//! the hot streams, in their original order — each as a new event carrying `replay_of` = the
//! original event id. Replays bypass de-duplication. Without a target stream each event goes
//! back to its own partition stream (and so to every consumer group).
//!
//! Matches are gathered in memory before appending, so a replay's range should fit in memory
//! (its events, not the whole tier). The cold tier joins when the archive job exists.

use hookline_shared::entries;
use hookline_shared::event::StoredEvent;
use hookline_shared::redis::RedisConn;
use hookline_shared::streams::Keys;
use redis::Value;

use crate::JobError;
use crate::segment;

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
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Events that matched.
    pub matched: u64,
    /// Events appended (0 on a dry run).
    pub appended: u64,
}

/// Replays over `partitions` partition streams; `progress` is called with the number appended
/// so far, every 1,000 events.
pub async fn replay(
    conn: &mut RedisConn,
    keys: &Keys,
    partitions: u16,
    request: &ReplayRequest,
    mut progress: impl FnMut(u64),
) -> Result<ReplayReport, JobError> {
    let mut matches: Vec<(u16, StoredEvent)> = Vec::new();
    for partition in 0..partitions {
        // Hot first, then warm: an entry compacted in between is then seen twice rather than
        // missed, and the entry id drops the second sighting.
        let mut seen = std::collections::HashSet::new();
        let hot = hot(conn, keys, partition, request).await?;
        for event in hot
            .into_iter()
            .chain(warm(conn, keys, partition, request).await?)
        {
            if admits(request, &event) && seen.insert(event.entry_id.clone()) {
                matches.push((partition, event));
            }
        }
    }
    matches.sort_by_key(|(_, e)| (received_at(e), parse(&e.entry_id)));
    let mut report = ReplayReport {
        matched: matches.len() as u64,
        appended: 0,
    };
    if request.dry_run {
        return Ok(report);
    }
    for (partition, event) in matches {
        let target = request
            .to_stream
            .clone()
            .unwrap_or_else(|| keys.events(partition));
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&target).arg("*");
        for (name, value) in &event.fields {
            match name.as_str() {
                "id" => cmd
                    .arg("id")
                    .arg(uuid::Uuid::now_v7().hyphenated().to_string()),
                "replay_of" => continue, // a replay of a replay points at the first original
                _ => cmd.arg(name).arg(&value[..]),
            };
        }
        let original = event
            .get("replay_of")
            .unwrap_or_else(|| event.get("id").unwrap_or_default());
        cmd.arg("replay_of").arg(original);
        cmd.query_async::<()>(conn).await?;
        report.appended += 1;
        if report.appended.is_multiple_of(1000) {
            progress(report.appended);
        }
    }
    Ok(report)
}

fn admits(request: &ReplayRequest, event: &StoredEvent) -> bool {
    let at = received_at(event);
    let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    at >= request.from_ms
        && at < request.to_ms
        && is(&request.source, event.text("source"))
        && is(&request.event_type, event.text("event_type"))
}

fn received_at(event: &StoredEvent) -> u64 {
    event.text("received_at").parse().unwrap_or(0)
}

fn parse(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// Entries of warm segments that may hold events of the range.
async fn warm(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    request: &ReplayRequest,
) -> Result<Vec<StoredEvent>, JobError> {
    // Index scores are each segment's last entry time; its member starts with the first id.
    let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(keys.warm_index(partition))
        .arg(request.from_ms.saturating_sub(SLACK_MS))
        .arg("+inf")
        .query_async(conn)
        .await?;
    let mut out = Vec::new();
    for member in members {
        if parse(&member).0 > request.to_ms + SLACK_MS {
            break;
        }
        let blob: Option<Vec<u8>> = redis::cmd("GET")
            .arg(keys.warm_segment(partition, &member))
            .query_async(conn)
            .await?;
        let Some(blob) = blob else { continue }; // archived meanwhile
        match segment::decode(&blob) {
            Ok(entries) => out.extend(entries),
            Err(e) => {
                tracing::error!(partition, segment = %member, error = %e, "unreadable warm segment skipped")
            }
        }
    }
    Ok(out)
}

/// Hot entries around the range.
async fn hot(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    request: &ReplayRequest,
) -> Result<Vec<StoredEvent>, JobError> {
    let reply: Value = redis::cmd("XRANGE")
        .arg(keys.events(partition))
        .arg(request.from_ms.saturating_sub(SLACK_MS))
        .arg(request.to_ms + SLACK_MS)
        .query_async(conn)
        .await?;
    Ok(entries::from_entry_list(reply))
}
