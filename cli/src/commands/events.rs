//! `hookline events list|show`: the events of a time range with their state, and where one
//! event is (hot stream or warm segment), its fields, each consumer group's state for it and
//! every recorded delivery attempt.
//!
//! The event id is a UUIDv7, so its first 48 bits date it: the hot stream, the warm index and
//! the attempts and dead-letter streams are all read from that time on (a second earlier, for
//! clock steps), not from their start. An id that is not a UUIDv7 is looked for from the start.

use std::collections::HashMap;

use anyhow::Context as _;
use clap::Subcommand;
use hookline_jobs::replay::{self, Located, ReplayRequest, Tier};
use hookline_shared::Context;
use hookline_shared::attempts::{self, Attempt};
use hookline_shared::config::{ConfigError, PrivacyConfig};
use hookline_shared::event::StoredEvent;
use hookline_shared::privacy::{Masker, Shown};
use hookline_shared::redis::streams::{Entry, entry_order};
use hookline_shared::redis::{RedisConn, groups, segments, streams};
use hookline_shared::streams::Keys;
use serde::Serialize;
use serde_json::json;

use super::audit::Auditor;
use super::rfc3339_ms;
use crate::CliError;

/// Hot entries read per round trip while looking.
const PAGE: usize = 500;

/// What to show.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// The events received in [--from, --to) (default: the last hour) in the hot and warm
    /// tiers (and cold with --cold), oldest first, each with its delivery state.
    List {
        /// Start, RFC 3339 (e.g. 2026-11-24T18:00:00Z), inclusive; default an hour ago.
        #[arg(long, value_parser = super::parse_time)]
        from: Option<u64>,
        /// End, RFC 3339, exclusive; default now.
        #[arg(long, value_parser = super::parse_time)]
        to: Option<u64>,
        /// Only events of this source.
        #[arg(long)]
        source: Option<String>,
        /// Only events of this type.
        #[arg(long)]
        event_type: Option<String>,
        /// Only events of this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only events in this state.
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// Also read the cold archive (lifecycle.archive).
        #[arg(long)]
        cold: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One event: its tier, fields, each group's state and its delivery attempts.
    Show {
        /// The event id (the `id` of the 202 answer).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also print the payload, its personal fields masked (privacy.mask and each
        /// provider's defaults; a body that is not JSON stays hidden).
        #[arg(long)]
        show_payload: bool,
        /// Print the payload as received, personal fields included (recorded in the audit
        /// trail).
        #[arg(long)]
        show_pii: bool,
    },
}

/// An event's state over all consumer groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Some group has not delivered it yet (pending or not read).
    Pending,
    /// Every group delivered it (or its filter skipped it).
    Delivered,
    /// Some group dead-lettered it.
    DeadLettered,
}

impl Status {
    fn of(states: &[(String, GroupState)]) -> Self {
        let any = |f: fn(&GroupState) -> bool| states.iter().any(|(_, s)| f(s));
        if any(|s| *s == GroupState::DeadLettered) {
            Self::DeadLettered
        } else if any(|s| matches!(s, GroupState::Pending { .. } | GroupState::Unread)) {
            Self::Pending
        } else {
            Self::Delivered
        }
    }

    /// The state as `--status` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

/// Where `events show` found an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "tier")]
pub enum Location {
    /// In the partition's stream.
    Hot,
    /// In a warm segment (compressed in Redis).
    Warm { segment: String },
}

/// A group's state for the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum GroupState {
    /// Read and not settled yet: delivered this many times so far.
    Pending { deliveries: u64 },
    /// Acknowledged: delivered, or skipped by the group's filter.
    Delivered,
    /// Its retries spent: in the partition's dead-letter stream.
    DeadLettered,
    /// Not read by the group yet.
    Unread,
}

/// How much of the payload to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// None of it.
    Omitted,
    /// Its personal fields masked (`hookline_shared::privacy`), or hidden when it is not JSON.
    Masked,
    /// As received (the caller records that in the audit trail).
    Whole,
}

/// Runs one events command; `auditor` records a payload shown with its personal data.
pub async fn run(ctx: &Context, command: EventsCommand, auditor: &Auditor) -> Result<(), CliError> {
    match command {
        EventsCommand::Show {
            id,
            json,
            show_payload,
            show_pii,
        } => {
            let payload = match (show_pii, show_payload) {
                (true, _) => Payload::Whole,
                (false, true) => Payload::Masked,
                (false, false) => Payload::Omitted,
            };
            show(ctx, &id, json, payload, auditor).await
        }
        EventsCommand::List {
            from,
            to,
            source,
            event_type,
            tenant,
            status,
            cold,
            count,
            json,
        } => {
            let now = ctx.clock.now_ms();
            let request = ReplayRequest {
                from_ms: from.unwrap_or(now.saturating_sub(3_600_000)),
                to_ms: to.unwrap_or(now + 1),
                source,
                event_type,
                to_stream: None,
                dry_run: true,
                suspects: false,
            };
            if request.from_ms >= request.to_ms {
                return Err(CliError::Usage("--from must be before --to".into()));
            }
            let filter = ListFilter {
                tenant,
                status,
                skip: 0,
                count,
            };
            let rows = query(ctx, &request, &filter, cold).await?;
            print_rows(&rows, json);
            Ok(())
        }
    }
}

/// What `events list` keeps of the events of its range.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only events of this tenant.
    pub tenant: Option<String>,
    /// Only events in this state.
    pub status: Option<Status>,
    /// Matching events passed over first (a page's offset).
    pub skip: usize,
    /// At most this many.
    pub count: usize,
}

/// One event of a range, with where it is and its state.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// Its partition.
    pub partition: u16,
    /// The tier it was read from.
    pub tier: Tier,
    /// Its state over all consumer groups.
    pub status: Status,
    /// The stored event.
    pub event: StoredEvent,
}

impl EventRow {
    /// When it was received, ms since the epoch.
    pub fn received_ms(&self) -> u64 {
        self.event.received_at_ms()
    }
}

/// The events of `request`'s range that `filter` keeps, oldest first, from the hot and warm
/// tiers (and the cold one with `cold`).
pub async fn query(
    ctx: &Context,
    request: &ReplayRequest,
    filter: &ListFilter,
    cold: bool,
) -> Result<Vec<EventRow>, CliError> {
    let config = &ctx.config;
    let keys = Keys::new(config.streams.prefix.clone());
    let mut conn = ctx.redis.shared();
    let archive = match cold {
        true => hookline_shared::objects::store_for(config)
            .await
            .map_err(|why| ConfigError::at("lifecycle.archive", why.to_string()))?,
        false => None,
    };
    if cold && archive.is_none() {
        return Err(CliError::Usage(
            "--cold needs lifecycle.archive in the config".into(),
        ));
    }
    let found = replay::located(
        &mut conn,
        &keys,
        config.streams.partitions,
        archive.as_deref(),
        request,
    )
    .await
    .context("read the tiers")?;
    let mut views: HashMap<u16, PartitionView> = HashMap::new();
    let mut rows = Vec::new();
    let mut skipped = 0;
    for Located {
        partition,
        tier,
        event,
    } in found
    {
        if rows.len() == filter.count {
            break;
        }
        if filter
            .tenant
            .as_deref()
            .is_some_and(|t| t != event.text("tenant"))
        {
            continue;
        }
        let view = match views.entry(partition) {
            std::collections::hash_map::Entry::Occupied(view) => view.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => slot
                .insert(PartitionView::load(&mut conn, &keys, partition, request.from_ms).await?),
        };
        let states = view.states(&mut conn, &event, tier == Tier::Hot).await?;
        let status = Status::of(&states);
        if filter.status.is_some_and(|want| want != status) {
            continue;
        }
        if skipped < filter.skip {
            skipped += 1;
            continue;
        }
        rows.push(EventRow {
            partition,
            tier,
            status,
            event,
        });
    }
    Ok(rows)
}

fn print_rows(rows: &[EventRow], json: bool) {
    if !json {
        println!(
            "{:<24}  {:<36}  {:<4}  {:>4}  {:<13}  {:<12}  {:<16}  {:<20}  {:>8}",
            "received", "id", "tier", "part", "state", "tenant", "source", "event type", "bytes"
        );
    }
    for row @ EventRow {
        partition,
        tier,
        status,
        event,
    } in rows
    {
        let received = row.received_ms();
        if json {
            let line = json!({
                "id": event.text("id"),
                "received_at": received,
                "tier": tier.as_str(),
                "partition": partition,
                "entry_id": event.entry_id,
                "status": status,
                "tenant": event.text("tenant"),
                "source": event.text("source"),
                "event_type": event.text("event_type"),
                "payload_bytes": event.payload().len(),
            });
            println!("{line}");
        } else {
            println!(
                "{:<24}  {:<36}  {:<4}  {:>4}  {:<13}  {:<12}  {:<16}  {:<20}  {:>8}",
                rfc3339_ms(received),
                event.text("id"),
                tier.as_str(),
                partition,
                status.as_str(),
                event.text("tenant"),
                event.text("source"),
                event.text("event_type"),
                event.payload().len()
            );
        }
    }
}

async fn show(
    ctx: &Context,
    id: &str,
    json: bool,
    payload: Payload,
    auditor: &Auditor,
) -> Result<(), CliError> {
    let Some(detail) = lookup(ctx, id).await? else {
        return Err(
            anyhow::anyhow!("no event {id} in the hot or warm tier of any partition").into(),
        );
    };
    if payload == Payload::Whole {
        audit_pii_shown(ctx, auditor, id).await?;
    }
    let shown = detail.payload_shown(&ctx.config.privacy, payload);
    if json {
        println!("{}", detail.to_json(shown));
    } else {
        print!("{}", detail.to_text(shown));
    }
    Ok(())
}

/// Records that `auditor`'s actor was shown event `id`'s personal data.
pub async fn audit_pii_shown(ctx: &Context, auditor: &Auditor, id: &str) -> Result<(), CliError> {
    let shown: Result<(), CliError> = Ok(());
    auditor
        .record(
            ctx,
            "events show --show-pii",
            json!({ "id": id }),
            shown,
            |_| json!({"payloads": 1}),
        )
        .await
}

/// The event `id` with its tier, each group's state and its attempts; `None` when no
/// partition's hot or warm tier holds it.
pub async fn lookup(ctx: &Context, id: &str) -> Result<Option<EventDetail>, CliError> {
    let keys = Keys::new(ctx.config.streams.prefix.clone());
    let mut conn = ctx.redis.shared();
    let from_ms = uuid_v7_ms(id).map_or(0, |ms| ms.saturating_sub(1000));
    for partition in 0..ctx.config.streams.partitions {
        let Some((location, event)) = find(&mut conn, &keys, partition, id, from_ms).await? else {
            continue;
        };
        let mut view = PartitionView::load(&mut conn, &keys, partition, from_ms).await?;
        let groups = view
            .states(&mut conn, &event, location == Location::Hot)
            .await?;
        let attempts = attempts::of_event(&mut conn, &keys.attempts(partition), id, from_ms)
            .await
            .context("read the attempts stream")?;
        return Ok(Some(EventDetail {
            partition,
            location,
            event,
            groups,
            attempts,
        }));
    }
    Ok(None)
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
) -> Result<Option<(Location, StoredEvent)>, CliError> {
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
            return Ok(Some((Location::Hot, event)));
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
            return Ok(Some((Location::Warm { segment }, event)));
        }
    }
    Ok(None)
}

/// What a partition's groups and dead letters say about its events, read once per partition.
struct PartitionView {
    stream: String,
    groups: Vec<groups::GroupStats>,
    /// The groups that dead-lettered each entry id (dead letters from the range's start on).
    dead: HashMap<String, Vec<String>>,
}

impl PartitionView {
    async fn load(
        conn: &mut RedisConn,
        keys: &Keys,
        partition: u16,
        from_ms: u64,
    ) -> Result<Self, CliError> {
        let stream = keys.events(partition);
        let groups = groups::info(conn, &stream)
            .await
            .context("read the stream's groups")?;
        let letters = streams::scan_records(conn, &keys.dlq(partition), from_ms, |fields| {
            Some((
                fields.get("entry_id")?.clone(),
                fields.get("group")?.clone(),
            ))
        })
        .await
        .context("read the dead-letter stream")?;
        let mut dead: HashMap<String, Vec<String>> = HashMap::new();
        for (entry, group) in letters {
            dead.entry(entry).or_default().push(group);
        }
        Ok(Self {
            stream,
            groups,
            dead,
        })
    }

    /// Each group with its state for `event`; `hot` when it was read from the stream.
    async fn states(
        &mut self,
        conn: &mut RedisConn,
        event: &StoredEvent,
        hot: bool,
    ) -> Result<Vec<(String, GroupState)>, CliError> {
        let dead = self.dead.get(&event.entry_id);
        let mut states = Vec::new();
        for group in &self.groups {
            let state = if dead.is_some_and(|groups| groups.contains(&group.name)) {
                GroupState::DeadLettered
            } else if !hot {
                // Compaction moves only what every group acknowledged.
                GroupState::Delivered
            } else if let Some(deliveries) =
                groups::deliveries_of(conn, &self.stream, &group.name, &event.entry_id)
                    .await
                    .context("read the group's pending entries")?
            {
                GroupState::Pending { deliveries }
            } else if entry_order(&event.entry_id) <= entry_order(&group.last_delivered_id) {
                GroupState::Delivered
            } else {
                GroupState::Unread
            };
            states.push((group.name.clone(), state));
        }
        Ok(states)
    }
}

/// One event as `events show` prints it.
#[derive(Debug, Clone)]
pub struct EventDetail {
    /// Its partition.
    pub partition: u16,
    /// The tier that holds it.
    pub location: Location,
    /// The stored event.
    pub event: StoredEvent,
    /// Each consumer group with its state for the event.
    pub groups: Vec<(String, GroupState)>,
    /// Its recorded delivery attempts, oldest first.
    pub attempts: Vec<Attempt>,
}

impl EventDetail {
    /// The event's fields except its payload, as text.
    pub fn fields(&self) -> Vec<(&str, String)> {
        self.event
            .fields
            .iter()
            .filter(|(name, _)| name != "payload")
            .map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value).into_owned()))
            .collect()
    }

    /// The payload as `payload` says to show it (`None`: not at all).
    pub fn payload_shown(&self, privacy: &PrivacyConfig, payload: Payload) -> Option<String> {
        match payload {
            Payload::Omitted => None,
            Payload::Whole => Some(self.payload_text()),
            Payload::Masked => Some(
                match Masker::for_provider(privacy, self.event.text("provider"))
                    .mask(self.event.payload())
                {
                    Shown::Json(text) => text,
                    Shown::Hidden(bytes) => format!(
                        "[not JSON: {bytes} bytes hidden, its personal fields cannot be told \
                         apart; --show-pii shows it]"
                    ),
                },
            ),
        }
    }

    /// The payload as text where it is UTF-8, else as base64.
    pub fn payload_text(&self) -> String {
        match std::str::from_utf8(self.event.payload()) {
            Ok(text) => text.to_owned(),
            Err(_) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(self.event.payload())
            }
        }
    }

    fn to_json(&self, payload: Option<String>) -> serde_json::Value {
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
            "location": self.location,
            "fields": fields,
            "payload_bytes": self.event.payload().len(),
            "groups": groups,
            "attempts": self.attempts,
        });
        if let Some(payload) = payload {
            shown["payload"] = payload.into();
        }
        shown
    }

    fn to_text(&self, payload: Option<String>) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let tier = self.location.describe();
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
        let width = self
            .groups
            .iter()
            .map(|(n, _)| n.len() + 2)
            .max()
            .unwrap_or(0);
        for (name, state) in &self.groups {
            let _ = writeln!(out, "  {name:<width$}{}", state.describe());
        }
        let _ = writeln!(out, "attempts   {}", self.attempts.len());
        for a in &self.attempts {
            let status = a.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
            let _ = writeln!(
                out,
                "  {}  {}  #{}  {:<9}  {:>3}  {:>8.1} ms  {}",
                rfc3339_ms(a.at_ms),
                a.group,
                a.attempt,
                a.outcome.as_str(),
                status,
                a.duration_us as f64 / 1000.0,
                a.error.as_deref().unwrap_or("")
            );
        }
        if let Some(payload) = payload {
            let _ = writeln!(out, "payload\n{payload}");
        }
        out
    }
}

impl Location {
    /// The tier in words, e.g. `warm (segment 1-2)`.
    pub fn describe(&self) -> String {
        match self {
            Location::Hot => "hot (the partition's stream)".to_owned(),
            Location::Warm { segment } => format!("warm (segment {segment})"),
        }
    }
}

impl GroupState {
    /// The state in words, e.g. `pending, delivered 2 time(s) so far`.
    pub fn describe(&self) -> String {
        match self {
            GroupState::Pending { deliveries } => {
                format!("pending, delivered {deliveries} time(s) so far")
            }
            GroupState::Delivered => "delivered".to_owned(),
            GroupState::DeadLettered => "dead-lettered".to_owned(),
            GroupState::Unread => "not read yet".to_owned(),
        }
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
}
