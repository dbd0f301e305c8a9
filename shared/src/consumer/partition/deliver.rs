//! Delivering an entry and settling it: acknowledged on success (or when the group's filter
//! skips it), left pending for a retry on failure, dead-lettered once its retries are spent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use tracing::field::Empty;

use super::Worker;
use crate::attempts::{Attempt, Outcome as AttemptOutcome};
use crate::consumer::acker::lock;
use crate::consumer::budget::Held;
use crate::event::StoredEvent;
use crate::redis::streams::RawEntry;
use crate::sinks::{Delivered, SinkError};
use crate::telemetry;

/// The failures of one pending entry.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Failures {
    /// When a call was first made and failed, ms.
    first_ms: Option<u64>,
    /// Deliveries that were no attempt (the circuit was open).
    skipped: u64,
}

/// The record of one delivery attempt of `event` by `group` and how it ended (`None`: the
/// group's filter skipped it).
fn attempt(
    event: &StoredEvent,
    group: &str,
    deliveries: u64,
    at_ms: u64,
    took: Duration,
    outcome: &Result<Option<Delivered>, SinkError>,
) -> Attempt {
    Attempt {
        event_id: event.text("id").to_owned(),
        entry_id: event.entry_id.clone(),
        group: group.to_owned(),
        attempt: deliveries,
        at_ms,
        duration_us: took.as_micros() as u64,
        outcome: outcome_of(outcome),
        status: status_of(outcome),
        error: outcome.as_ref().err().map(ToString::to_string),
    }
}

/// How a delivery ended, as its attempt record names it.
fn outcome_of(outcome: &Result<Option<Delivered>, SinkError>) -> AttemptOutcome {
    match outcome {
        Ok(Some(_)) => AttemptOutcome::Delivered,
        Ok(None) => AttemptOutcome::Filtered,
        Err(SinkError::CircuitOpen) => AttemptOutcome::Skipped,
        Err(_) => AttemptOutcome::Failed,
    }
}

/// The destination's HTTP status, when it answered.
fn status_of(outcome: &Result<Option<Delivered>, SinkError>) -> Option<u16> {
    match outcome {
        Ok(delivered) => delivered.and_then(|d| d.status),
        Err(SinkError::Status(status)) => Some(*status),
        Err(_) => None,
    }
}

impl Worker {
    /// Delivers one entry on its `deliveries`-th attempt and settles it, holding its delivery
    /// slot and its share of the byte budget until then.
    pub(super) async fn deliver(
        self: Arc<Self>,
        event: StoredEvent,
        deliveries: u64,
        _held: (OwnedSemaphorePermit, Held),
    ) {
        let id = event.entry_id.clone();
        lock(&self.in_flight).insert(id.clone());
        // The delivery continues the trace the event was ingested in.
        let span = tracing::info_span!(
            "deliver",
            otel.kind = "consumer",
            group = %self.group,
            partition = self.partition,
            event_id = event.text("id"),
            attempt = deliveries,
            outcome = Empty,
            status = Empty,
        );
        telemetry::continue_trace(&span, event.text(telemetry::TRACEPARENT));
        let at_ms = self.shared.clock.now_ms();
        let started = Instant::now();
        let filter = &self.config.filter;
        let outcome = if event.matches(&filter.tenants, &filter.sources, &filter.event_types) {
            telemetry::traced(&span, || self.sink.deliver(&event))
                .await
                .map(Some)
        } else {
            Ok(None)
        };
        let took = started.elapsed();
        self.meters.duration.record(took.as_secs_f64());
        span.record("outcome", outcome_of(&outcome).as_str());
        if let Some(status) = status_of(&outcome) {
            span.record("status", status);
        }
        if let Some(recorder) = &self.recorder {
            recorder.record(attempt(
                &event,
                &self.group,
                deliveries,
                at_ms,
                took,
                &outcome,
            ));
        }
        let error = match outcome {
            Ok(delivered) => {
                let counter = if delivered.is_some() {
                    &self.meters.delivered
                } else {
                    &self.meters.filtered
                };
                counter.increment(1);
                self.forget(&id);
                self.acker.ack(id); // leaves the in-flight set once acknowledged
                return;
            }
            Err(error) => error,
        };
        let now = self.shared.clock.now_ms();
        let failures = {
            let mut all = self.failures();
            let failures = all.entry(id.clone()).or_default();
            match error {
                SinkError::CircuitOpen => failures.skipped += 1,
                _ => {
                    failures.first_ms.get_or_insert(now);
                }
            }
            *failures
        };
        let attempts = deliveries.saturating_sub(failures.skipped);
        let spent = attempts > u64::from(self.config.max_retries)
            && failures.first_ms.is_some_and(|first| {
                now.saturating_sub(first) >= self.config.retry_for.get().as_millis() as u64
            });
        if spent {
            self.dead_letter(&event, &error, attempts).await;
            self.meters.dead_lettered.increment(1);
        } else {
            tracing::debug!(group = %self.group, entry = %id, attempt = attempts, %error, "delivery failed; will retry");
            self.meters.retry.increment(1);
        }
        lock(&self.in_flight).remove(&id);
    }

    /// Acknowledges an entry that is not an event without delivering it (it cannot be):
    /// compaction moves it, raw, to the dead-letter stream. Its id must be in flight.
    pub(super) fn pass_unreadable(&self, raw: &RawEntry) {
        tracing::warn!(group = %self.group, stream = %self.stream, entry = %raw.entry_id, reason = RawEntry::REASON, "entry is not an event: acknowledged without delivery; compaction moves it to the dead-letter stream");
        self.meters.unreadable.increment(1);
        self.acker.ack(raw.entry_id.clone());
    }

    pub(super) fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops what was remembered of a settled entry's failures.
    pub(super) fn forget(&self, id: &str) {
        let mut failures = self.failures();
        if !failures.is_empty() {
            failures.remove(id);
        }
    }
}
