//! Delivery attempts, recorded: every call a consumer group makes to its sink — and every one
//! its destination's open circuit kept it from making — is one entry of the partition's
//! attempts stream `{prefix}:attempts:{N}`: the event id, the stream entry id, the group, the
//! attempt number, when, how long, the outcome, the HTTP status and the error (at most
//! [`MAX_ERROR`] bytes), never the payload. Each XADD trims the stream to the hot + warm
//! retention (`MINID ~`), so it holds the attempts of the events Redis still holds.
//!
//! [`Recorder`] batches one worker's attempts into one pipeline per batch off the delivery
//! path. Recording is best effort: a failed write is logged and counted
//! (`hookline_attempts_unrecorded_total`); the delivery itself is not affected.

use std::collections::HashMap;

use crate::batcher::Batcher;
use crate::clock::Clock;
use crate::metrics::ATTEMPTS_UNRECORDED;
use crate::redis::{RedisConn, streams};
use redis::RedisResult;
use serde::Serialize;

/// The longest error text kept, in bytes.
pub const MAX_ERROR: usize = 512;
/// Most attempts in one pipeline.
const MAX_BATCH: usize = 500;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The sink took the event.
    Delivered,
    /// The sink failed; the event stays pending (or is dead-lettered, its retries spent).
    Failed,
    /// The destination's circuit was open: no call was made.
    Skipped,
    /// The group's filter does not take the event: acknowledged without a call.
    Filtered,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Filtered => "filtered",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Delivered, Self::Failed, Self::Skipped, Self::Filtered]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// One delivery attempt of one event by one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The event's id (its `id` field).
    pub event_id: String,
    /// The event's stream entry id.
    pub entry_id: String,
    /// The consumer group.
    pub group: String,
    /// Which delivery of the entry this was (its delivery count), from 1.
    pub attempt: u64,
    /// When the call started, ms since the Unix epoch.
    pub at_ms: u64,
    /// How long the call took, µs.
    pub duration_us: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The destination's HTTP status, when it answered one.
    pub status: Option<u16>,
    /// Why it failed (at most [`MAX_ERROR`] bytes), never the payload.
    pub error: Option<String>,
}

impl Attempt {
    /// Adds the stream fields, in order, to `command` (an XADD), formatting nothing on the
    /// way: numbers go into the command's buffer as they are written.
    fn write_fields(&self, command: &mut redis::Cmd) {
        command
            .arg("event_id")
            .arg(&self.event_id)
            .arg("entry_id")
            .arg(&self.entry_id)
            .arg("group")
            .arg(&self.group)
            .arg("attempt")
            .arg(self.attempt)
            .arg("at")
            .arg(self.at_ms)
            .arg("duration_us")
            .arg(self.duration_us)
            .arg("outcome")
            .arg(self.outcome.as_str());
        if let Some(status) = self.status {
            command.arg("status").arg(status);
        }
        if let Some(error) = &self.error {
            command.arg("error").arg(capped(error));
        }
    }

    /// An attempt from its stream fields; `None` when one is missing or malformed.
    fn from_fields(fields: &HashMap<String, String>) -> Option<Self> {
        let text = |name: &str| fields.get(name).cloned();
        let number = |name: &str| fields.get(name)?.parse().ok();
        Some(Self {
            event_id: text("event_id")?,
            entry_id: text("entry_id")?,
            group: text("group")?,
            attempt: number("attempt")?,
            at_ms: number("at")?,
            duration_us: number("duration_us")?,
            outcome: Outcome::parse(fields.get("outcome")?)?,
            status: fields.get("status").and_then(|s| s.parse().ok()),
            error: text("error"),
        })
    }
}

/// `error` cut to at most [`MAX_ERROR`] bytes, at a character boundary.
fn capped(error: &str) -> &str {
    let mut end = error.len().min(MAX_ERROR);
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

/// The handle a worker records its attempts through.
#[derive(Debug, Clone)]
pub struct Recorder {
    batcher: Batcher<Attempt>,
}

impl Recorder {
    /// Starts the recording task for one partition's attempts stream `stream`; entries older
    /// than `retention_ms` by `clock` are trimmed as new ones are added.
    pub fn start(conn: RedisConn, stream: String, retention_ms: u64, clock: Clock) -> Self {
        let batcher = Batcher::start(MAX_BATCH, move |batch: Vec<Attempt>| {
            let mut conn = conn.clone();
            let min_id = clock.now_ms().saturating_sub(retention_ms);
            let mut pipe = redis::pipe();
            for attempt in &batch {
                let mut command = redis::cmd("XADD");
                command
                    .arg(&stream)
                    .arg("MINID")
                    .arg("~")
                    .arg(min_id)
                    .arg("*");
                attempt.write_fields(&mut command);
                pipe.add_command(command).ignore();
            }
            let stream = stream.clone();
            async move {
                if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                    metrics::counter!(ATTEMPTS_UNRECORDED).increment(batch.len() as u64);
                    tracing::warn!(%stream, attempts = batch.len(), error = %e, "could not record delivery attempts");
                }
            }
        });
        Self { batcher }
    }

    /// Queues an attempt to be recorded.
    pub fn record(&self, attempt: Attempt) {
        self.batcher.push(attempt);
    }

    /// Waits until everything queued so far is written (or failed).
    pub async fn flush(&self) {
        self.batcher.flush().await;
    }
}

/// The attempts recorded for `event_id` in `stream` from `from_ms` on, oldest first. Reads
/// the stream from that time: the cost grows with the attempts recorded since.
pub async fn of_event(
    conn: &mut RedisConn,
    stream: &str,
    event_id: &str,
    from_ms: u64,
) -> RedisResult<Vec<Attempt>> {
    streams::scan_records(conn, stream, from_ms, |fields| {
        if fields.get("event_id").is_some_and(|id| id == event_id) {
            Attempt::from_fields(fields)
        } else {
            None
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt() -> Attempt {
        Attempt {
            event_id: "01940000-0000-7000-8000-000000000001".into(),
            entry_id: "1732470000000-0".into(),
            group: "app".into(),
            attempt: 2,
            at_ms: 1_732_470_000_123,
            duration_us: 4_321,
            outcome: Outcome::Failed,
            status: Some(503),
            error: Some("destination answered 503".into()),
        }
    }

    #[test]
    fn an_attempt_round_trips_through_its_fields() {
        let original = attempt();
        let mut command = redis::cmd("XADD");
        original.write_fields(&mut command);
        let args: Vec<String> = command
            .args_iter()
            .skip(1) // XADD
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
                other => panic!("not a plain argument: {other:?}"),
            })
            .collect();
        let fields: HashMap<String, String> = args
            .chunks(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect();
        assert_eq!(Attempt::from_fields(&fields), Some(original));
    }

    #[test]
    fn errors_are_capped_at_a_character_boundary() {
        let long = "é".repeat(MAX_ERROR);
        let cut = capped(&long);
        assert!(cut.len() <= MAX_ERROR && cut.len() > MAX_ERROR - 2);
        assert!(long.starts_with(cut));
        assert_eq!(capped("short"), "short");
    }
}
