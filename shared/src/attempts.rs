//! Delivery attempts, recorded: every call a consumer group makes to its sink — and every one
//! its destination's open circuit kept it from making — is recorded in the partition's
//! attempts stream `{prefix}:attempts:{N}`: the event id, the stream entry id, the group, the
//! attempt number, when, how long, the outcome, the HTTP status and the error (at most
//! [`MAX_ERROR`] bytes), never the payload.
//!
//! One stream entry holds a batch of attempts: each is a field named by its event id whose
//! value is the rest, separated by U+001F (`entry_id␟group␟attempt␟at␟duration_us␟outcome␟
//! status␟error`, status and error empty when there are none). One XADD per batch instead of
//! one per attempt is what keeps recording cheap next to the deliveries themselves. Each XADD
//! trims the stream to the hot + warm retention (`MINID ~`), so it holds the attempts of the
//! events Redis still holds.
//!
//! [`Recorder`] batches one worker's attempts off the delivery path. Recording is best
//! effort: a failed write is logged and counted (`hookline_attempts_unrecorded_total`); the
//! delivery itself is not affected.

use crate::batcher::Batcher;
use crate::clock::Clock;
use crate::metrics::ATTEMPTS_UNRECORDED;
use crate::redis::RedisConn;
use redis::RedisResult;
use serde::Serialize;

/// The longest error text kept, in bytes.
pub const MAX_ERROR: usize = 512;
/// Most attempts in one stream entry.
const MAX_BATCH: usize = 500;
/// Stream entries read per round trip by [`of_event`].
const READ_PAGE: usize = 20;
/// Separates the parts of an attempt's value.
const SEPARATOR: char = '\u{1f}';

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
    /// The stream field's value: everything but the event id, which names the field.
    fn value(&self) -> String {
        use std::fmt::Write;
        let mut value = String::with_capacity(96);
        let _ = write!(
            value,
            "{}{SEPARATOR}{}{SEPARATOR}{}{SEPARATOR}{}{SEPARATOR}{}{SEPARATOR}{}{SEPARATOR}",
            self.entry_id,
            self.group,
            self.attempt,
            self.at_ms,
            self.duration_us,
            self.outcome.as_str()
        );
        if let Some(status) = self.status {
            let _ = write!(value, "{status}");
        }
        value.push(SEPARATOR);
        if let Some(error) = &self.error {
            value.push_str(capped(error));
        }
        value
    }

    /// The attempt of `event_id` recorded as `value`; `None` when it is malformed.
    fn parse(event_id: &str, value: &str) -> Option<Self> {
        let mut parts = value.splitn(8, SEPARATOR);
        let mut next = || parts.next();
        let entry_id = next()?.to_owned();
        let group = next()?.to_owned();
        let attempt = next()?.parse().ok()?;
        let at_ms = next()?.parse().ok()?;
        let duration_us = next()?.parse().ok()?;
        let outcome = Outcome::parse(next()?)?;
        let status = match next()? {
            "" => None,
            status => Some(status.parse().ok()?),
        };
        let error = next().filter(|e| !e.is_empty()).map(str::to_owned);
        Some(Self {
            event_id: event_id.to_owned(),
            entry_id,
            group,
            attempt,
            at_ms,
            duration_us,
            outcome,
            status,
            error,
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
            let mut command = redis::cmd("XADD");
            command
                .arg(&stream)
                .arg("MINID")
                .arg("~")
                .arg(min_id)
                .arg("*");
            for attempt in &batch {
                command.arg(&attempt.event_id).arg(attempt.value());
            }
            let stream = stream.clone();
            async move {
                if let Err(e) = command.query_async::<()>(&mut conn).await {
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
    let mut found = Vec::new();
    let mut start = from_ms.to_string();
    loop {
        let page: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(READ_PAGE)
            .query_async(conn)
            .await?;
        for (_, fields) in &page {
            found.extend(
                fields
                    .chunks_exact(2)
                    .filter(|pair| pair[0] == event_id)
                    .filter_map(|pair| Attempt::parse(event_id, &pair[1])),
            );
        }
        match page.last() {
            Some((last, _)) if page.len() == READ_PAGE => start = format!("({last}"),
            _ => return Ok(found),
        }
    }
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
    fn an_attempt_round_trips_through_its_value() {
        let original = attempt();
        let value = original.value();
        assert_eq!(
            value,
            "1732470000000-0\u{1f}app\u{1f}2\u{1f}1732470000123\u{1f}4321\u{1f}failed\u{1f}503\u{1f}\
             destination answered 503"
        );
        assert_eq!(Attempt::parse(&original.event_id, &value), Some(original));
        let quiet = Attempt {
            outcome: Outcome::Delivered,
            status: None,
            error: None,
            ..attempt()
        };
        assert_eq!(Attempt::parse(&quiet.event_id, &quiet.value()), Some(quiet));
        assert_eq!(Attempt::parse("x", "1-0\u{1f}app\u{1f}two"), None);
    }

    #[test]
    fn an_error_with_the_separator_in_it_stays_whole() {
        let odd = Attempt {
            error: Some("a\u{1f}b".into()),
            ..attempt()
        };
        assert_eq!(Attempt::parse(&odd.event_id, &odd.value()), Some(odd));
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
