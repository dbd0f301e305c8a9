//! Operator access to the dead-letter streams: list, retry (re-append to the hot stream,
//! event id preserved; every group sees it again, and receivers de-duplicate on the id) and
//! purge, with filters. A retried event carries `dlq_retries` (how often it was retried); a
//! dead letter of an event retried before is left alone unless the operator says `again`,
//! so a bulk retry does not loop an event that keeps failing.

use redis::RedisResult;

use crate::event::StoredEvent;
use crate::redis::{RedisConn, dead_letters, streams};
use crate::streams::Keys;

/// Dead letters read per XRANGE page.
const PAGE: usize = 500;

/// Which dead letters an operation applies to.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DlqFilter {
    /// Only this partition.
    pub partition: Option<u16>,
    /// Only events of this source.
    pub source: Option<String>,
    /// Only events of this type.
    pub event_type: Option<String>,
    /// Only dead letters of this consumer group.
    pub group: Option<String>,
    /// Only dead letters of this event.
    pub event_id: Option<String>,
    /// At most this many (all when `None`).
    pub count: Option<usize>,
}

/// One entry of a dead-letter stream.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The partition.
    pub partition: u16,
    /// The dead letter's own entry id in `{prefix}:dlq:{N}`.
    pub dlq_entry_id: String,
    /// The original event, fields as stored (none for an unreadable entry).
    pub event: StoredEvent,
    /// An entry that was not an event, moved here raw by compaction: its `raw` field, the
    /// fields as `[[name_b64, value_b64], …]`. Never retried; purge it once inspected.
    pub raw: Option<String>,
    /// The last delivery error.
    pub error: String,
    /// Deliveries attempted.
    pub attempts: String,
    /// When it was dead-lettered, ms since the Unix epoch.
    pub failed_at: String,
    /// The consumer group that gave up.
    pub group: String,
}

impl DlqFilter {
    fn admits(&self, letter: &DeadLetter) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        is(&self.source, letter.event.text("source"))
            && is(&self.event_type, letter.event.text("event_type"))
            && is(&self.group, &letter.group)
            && is(&self.event_id, letter.event.text("id"))
    }
}

/// Dead letters matching `filter`, oldest first.
pub async fn list(
    conn: &mut RedisConn,
    keys: &Keys,
    partitions: u16,
    filter: &DlqFilter,
) -> RedisResult<Vec<DeadLetter>> {
    let limit = filter.count.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for partition in (0..partitions).filter(|p| filter.partition.is_none_or(|want| want == *p)) {
        let stream = keys.dlq(partition);
        let mut start = "-".to_owned();
        loop {
            let bounds = (PAGE, streams::PAGE_BYTES);
            let page = streams::range_bounded(conn, &stream, (&start, "+"), bounds).await?;
            let Some(last) = page.last() else { break };
            start = format!("({}", last.id());
            for entry in page.into_iter().filter_map(streams::Entry::into_event) {
                let Some(letter) = dead_letter(partition, entry) else {
                    continue;
                };
                if filter.admits(&letter) {
                    out.push(letter);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// What a retry did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Retried {
    /// Dead letters re-appended to their hot streams.
    pub moved: usize,
    /// Dead letters of events retried before, left in the DLQ (without `again`).
    pub retried_before: usize,
    /// Dead letters of entries that are not events, left in the DLQ.
    pub unreadable: usize,
}

/// The field a retried event carries: how often it was retried from the DLQ.
pub const RETRIES: &str = "dlq_retries";

/// Re-appends matching dead letters to their hot streams and removes them from the DLQ;
/// those of events retried before only with `again`, those of unreadable entries never.
pub async fn retry(
    conn: &mut RedisConn,
    keys: &Keys,
    partitions: u16,
    filter: &DlqFilter,
    again: bool,
) -> RedisResult<Retried> {
    let mut report = Retried::default();
    for letter in list(conn, keys, partitions, filter).await? {
        if letter.raw.is_some() {
            report.unreadable += 1;
            continue;
        }
        let before: u64 = letter.event.text(RETRIES).parse().unwrap_or(0);
        if before > 0 && !again {
            report.retried_before += 1;
            continue;
        }
        let streams = (keys.dlq(letter.partition), keys.events(letter.partition));
        let count = (before + 1).to_string();
        let fields = letter
            .event
            .fields
            .iter()
            .filter(|(n, _)| n != RETRIES)
            .map(|(n, v)| (n.as_str(), &v[..]))
            .chain([(RETRIES, count.as_bytes())]);
        let done =
            dead_letters::retry(conn, (&streams.0, &streams.1), &letter.dlq_entry_id, fields)
                .await?;
        report.moved += usize::from(done);
    }
    Ok(report)
}

/// Deletes matching dead letters.
pub async fn purge(
    conn: &mut RedisConn,
    keys: &Keys,
    partitions: u16,
    filter: &DlqFilter,
) -> RedisResult<usize> {
    let mut deleted = 0;
    for letter in list(conn, keys, partitions, filter).await? {
        let dlq = keys.dlq(letter.partition);
        deleted += streams::delete(conn, &dlq, &[&letter.dlq_entry_id]).await? as usize;
    }
    Ok(deleted)
}

fn dead_letter(partition: u16, entry: StoredEvent) -> Option<DeadLetter> {
    let entry_id = entry.text("entry_id").to_owned();
    let raw = entry
        .get("raw")
        .map(|raw| String::from_utf8_lossy(raw).into_owned());
    let event = match raw {
        Some(_) => StoredEvent {
            entry_id,
            fields: Vec::new(),
        },
        None => StoredEvent::from_json(entry_id, entry.text("event")).ok()?,
    };
    Some(DeadLetter {
        partition,
        event,
        raw,
        error: entry.text("error").to_owned(),
        attempts: entry.text("attempts").to_owned(),
        failed_at: entry.text("failed_at").to_owned(),
        group: entry.text("group").to_owned(),
        dlq_entry_id: entry.entry_id,
    })
}
