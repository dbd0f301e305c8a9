//! `hookline events show ID`: where one event is (hot stream or warm segment), its fields,
//! each consumer group's state for it, and every recorded delivery attempt.
//!
//! The event id is a UUIDv7, so its first 48 bits date it: the hot stream, the warm index and
//! the attempts and dead-letter streams are all read from that time on (a second earlier, for
//! clock steps), not from their start. An id that is not a UUIDv7 is looked for from the start.

use anyhow::Context as _;
use clap::Subcommand;
use hookline_shared::Context;
use hookline_shared::attempts::{self, Attempt};
use hookline_shared::event::StoredEvent;
use hookline_shared::redis::streams::Entry;
use hookline_shared::redis::{RedisConn, groups, segments, streams};
use hookline_shared::streams::Keys;
use serde::Serialize;
use serde_json::json;

use crate::CliError;

/// Hot entries read per round trip while looking.
const PAGE: usize = 500;

/// What to show.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// One event: its tier, fields, each group's state and its delivery attempts.
    Show {
        /// The event id (the `id` of the 202 answer).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also print the payload (as text where it is UTF-8, else base64).
        #[arg(long)]
        show_payload: bool,
    },
}

/// Where an event was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "tier")]
enum Tier {
    /// In the partition's stream.
    Hot,
    /// In a warm segment (compressed in Redis).
    Warm { segment: String },
}

/// A group's state for the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
enum GroupState {
    /// Read and not settled yet: delivered this many times so far.
    Pending { deliveries: u64 },
    /// Acknowledged: delivered, or skipped by the group's filter.
    Delivered,
    /// Its retries spent: in the partition's dead-letter stream.
    DeadLettered,
    /// Not read by the group yet.
    Unread,
}

/// Runs one events command.
pub async fn run(ctx: &Context, command: EventsCommand) -> Result<(), CliError> {
    let EventsCommand::Show {
        id,
        json,
        show_payload,
    } = command;
    let keys = Keys::new(ctx.config.streams.prefix.clone());
    let mut conn = ctx.redis.shared();
    let from_ms = uuid_v7_ms(&id).map_or(0, |ms| ms.saturating_sub(1000));
    for partition in 0..ctx.config.streams.partitions {
        let Some((tier, event)) = find(&mut conn, &keys, partition, &id, from_ms).await? else {
            continue;
        };
        let groups = group_states(&mut conn, &keys, partition, &event, &tier, from_ms).await?;
        let attempts = attempts::of_event(&mut conn, &keys.attempts(partition), &id, from_ms)
            .await
            .context("read the attempts stream")?;
        let shown = Shown {
            partition,
            tier,
            event: &event,
            groups,
            attempts,
            show_payload,
        };
        if json {
            println!("{}", shown.to_json());
        } else {
            print!("{}", shown.to_text());
        }
        return Ok(());
    }
    Err(anyhow::anyhow!("no event {id} in the hot or warm tier of any partition").into())
}

/// The first 48 bits of a UUIDv7: its time, ms since the Unix epoch.
fn uuid_v7_ms(id: &str) -> Option<u64> {
    let uuid = uuid::Uuid::parse_str(id).ok()?;
    (uuid.get_version_num() == 7).then(|| {
        let bytes = uuid.as_bytes();
        bytes[..6]
            .iter()
            .fold(0u64, |ms, &b| (ms << 8) | u64::from(b))
    })
}

/// The event `id` in `partition`'s hot stream, else in its warm segments.
async fn find(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    id: &str,
    from_ms: u64,
) -> Result<Option<(Tier, StoredEvent)>, CliError> {
    let stream = keys.events(partition);
    let mut start = from_ms.to_string();
    loop {
        let page = streams::entries_from(conn, &stream, &start, PAGE)
            .await
            .context("read the hot stream")?;
        let last = page.last().map(|e| e.id().to_owned());
        let full = page.len() == PAGE;
        let found = page.into_iter().find_map(|entry| match entry {
            Entry::Event(event) if event.text("id") == id => Some(event),
            _ => None,
        });
        if let Some(event) = found {
            return Ok(Some((Tier::Hot, event)));
        }
        match last {
            Some(last) if full => start = format!("({last}"),
            _ => break,
        }
    }
    let candidates = segments::newer_than(conn, keys, partition, from_ms)
        .await
        .context("read the warm index")?;
    for segment in candidates {
        let Some(compressed) = segments::read(conn, keys, partition, &segment)
            .await
            .context("read a warm segment")?
        else {
            continue; // archived meanwhile
        };
        let events = hookline_jobs::segment::decode(&compressed)
            .with_context(|| format!("decode warm segment {segment}"))?;
        if let Some(event) = events.into_iter().find(|e| e.text("id") == id) {
            return Ok(Some((Tier::Warm { segment }, event)));
        }
    }
    Ok(None)
}

/// Each group of the partition's stream, with its state for `event`.
async fn group_states(
    conn: &mut RedisConn,
    keys: &Keys,
    partition: u16,
    event: &StoredEvent,
    tier: &Tier,
    from_ms: u64,
) -> Result<Vec<(String, GroupState)>, CliError> {
    let stream = keys.events(partition);
    let dead = dead_lettered_by(conn, &keys.dlq(partition), &event.entry_id, from_ms).await?;
    let mut states = Vec::new();
    for group in groups::info(conn, &stream)
        .await
        .context("read the stream's groups")?
    {
        let state = if dead.contains(&group.name) {
            GroupState::DeadLettered
        } else if *tier != Tier::Hot {
            // Compaction moves only what every group acknowledged.
            GroupState::Delivered
        } else if let Some(deliveries) =
            groups::deliveries_of(conn, &stream, &group.name, &event.entry_id)
                .await
                .context("read the group's pending entries")?
        {
            GroupState::Pending { deliveries }
        } else if entry_order(&event.entry_id) <= entry_order(&group.last_delivered_id) {
            GroupState::Delivered
        } else {
            GroupState::Unread
        };
        states.push((group.name, state));
    }
    Ok(states)
}

/// The groups whose dead letters in `dlq` (from `from_ms` on) are of entry `entry_id`.
async fn dead_lettered_by(
    conn: &mut RedisConn,
    dlq: &str,
    entry_id: &str,
    from_ms: u64,
) -> Result<Vec<String>, CliError> {
    let groups = streams::scan_records(conn, dlq, from_ms, |fields| {
        if fields.get("entry_id").is_some_and(|id| id == entry_id) {
            fields.get("group").cloned()
        } else {
            None
        }
    })
    .await
    .context("read the dead-letter stream")?;
    Ok(groups)
}

/// A stream entry id (`ms-seq`) as a pair that orders like Redis does.
fn entry_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// What `events show` prints.
struct Shown<'a> {
    partition: u16,
    tier: Tier,
    event: &'a StoredEvent,
    groups: Vec<(String, GroupState)>,
    attempts: Vec<Attempt>,
    show_payload: bool,
}

impl Shown<'_> {
    /// The event's fields except its payload, as text.
    fn fields(&self) -> Vec<(&str, String)> {
        self.event
            .fields
            .iter()
            .filter(|(name, _)| name != "payload")
            .map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value).into_owned()))
            .collect()
    }

    fn payload(&self) -> Option<String> {
        self.show_payload
            .then(|| match std::str::from_utf8(self.event.payload()) {
                Ok(text) => text.to_owned(),
                Err(_) => {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.encode(self.event.payload())
                }
            })
    }

    fn to_json(&self) -> serde_json::Value {
        let fields: serde_json::Map<String, serde_json::Value> = self
            .fields()
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.into()))
            .collect();
        let groups: Vec<serde_json::Value> = self
            .groups
            .iter()
            .map(|(name, state)| {
                let mut value = serde_json::to_value(state).unwrap_or_default();
                value["group"] = name.clone().into();
                value
            })
            .collect();
        let mut shown = json!({
            "id": self.event.text("id"),
            "partition": self.partition,
            "entry_id": self.event.entry_id,
            "location": self.tier,
            "fields": fields,
            "payload_bytes": self.event.payload().len(),
            "groups": groups,
            "attempts": self.attempts,
        });
        if let Some(payload) = self.payload() {
            shown["payload"] = payload.into();
        }
        shown
    }

    fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let tier = match &self.tier {
            Tier::Hot => "hot (the partition's stream)".to_owned(),
            Tier::Warm { segment } => format!("warm (segment {segment})"),
        };
        let _ = writeln!(out, "event      {}", self.event.text("id"));
        let _ = writeln!(out, "tier       {tier}");
        let _ = writeln!(
            out,
            "partition  {}  entry {}",
            self.partition, self.event.entry_id
        );
        for (name, value) in self.fields() {
            if name != "id" {
                let _ = writeln!(out, "  {name:<13}{value}");
            }
        }
        let _ = writeln!(
            out,
            "  {:<13}{} bytes",
            "payload",
            self.event.payload().len()
        );
        let _ = writeln!(out, "groups");
        if self.groups.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for (name, state) in &self.groups {
            let state = match state {
                GroupState::Pending { deliveries } => {
                    format!("pending, delivered {deliveries} time(s) so far")
                }
                GroupState::Delivered => "delivered".to_owned(),
                GroupState::DeadLettered => "dead-lettered".to_owned(),
                GroupState::Unread => "not read yet".to_owned(),
            };
            let _ = writeln!(out, "  {name:<13}{state}");
        }
        let _ = writeln!(out, "attempts   {}", self.attempts.len());
        for a in &self.attempts {
            let status = a.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
            let _ = writeln!(
                out,
                "  {}  {}  #{}  {:<9}  {:>3}  {:>8.1} ms  {}",
                humantime::format_rfc3339_millis(
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(a.at_ms)
                ),
                a.group,
                a.attempt,
                a.outcome.as_str(),
                status,
                a.duration_us as f64 / 1000.0,
                a.error.as_deref().unwrap_or("")
            );
        }
        if let Some(payload) = self.payload() {
            let _ = writeln!(out, "payload\n{payload}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_v7_is_dated_and_other_ids_are_not() {
        let id = uuid::Uuid::now_v7().to_string();
        let now = hookline_shared::clock::Clock::system().now_ms();
        let ms = uuid_v7_ms(&id).unwrap();
        assert!(now.abs_diff(ms) < 5_000, "{ms} vs {now}");
        assert_eq!(uuid_v7_ms("evt-1"), None);
        assert_eq!(
            uuid_v7_ms("b9a8e7c2-3f4d-4e5a-9b6c-7d8e9f0a1b2c"),
            None,
            "a v4"
        );
    }

    #[test]
    fn entry_ids_order_by_time_then_sequence() {
        assert!(entry_order("1-10") > entry_order("1-9"));
        assert!(entry_order("2-0") > entry_order("1-99"));
        assert_eq!(entry_order("5-1"), (5, 1));
    }
}
