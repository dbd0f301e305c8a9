//! What came back: latencies (from each request's planned send time), status counts,
//! transport errors, and the event ids of the 202s; a progress line per second and the final
//! summary.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

/// Latencies are recorded in microseconds, up to an hour.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// The answers of one stretch of the run.
#[derive(Debug)]
pub struct Tally {
    latency: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    /// The first transport error, as a reason (never a body).
    first_error: Option<String>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            latency: histogram(),
            statuses: BTreeMap::new(),
            errors: 0,
            first_error: None,
        }
    }
}

impl Tally {
    /// An answer with `status` after `latency`.
    pub fn answered(&mut self, status: u16, latency: Duration) {
        self.record(latency);
        *self.statuses.entry(status).or_default() += 1;
    }

    /// A request that got no answer (connection refused, reset, timed out).
    pub fn failed(&mut self, latency: Duration, reason: String) {
        self.record(latency);
        self.errors += 1;
        self.first_error.get_or_insert(reason);
    }

    fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(micros.max(1));
    }

    /// Requests answered or failed.
    pub fn count(&self) -> u64 {
        self.latency.len()
    }

    /// Adds `other` (a finished stretch) to this one.
    pub fn absorb(&mut self, other: &Tally) {
        self.latency.add(&other.latency).expect("same bounds");
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn statuses_line(&self) -> String {
        let mut parts: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect();
        if self.errors > 0 {
            parts.push(format!("errors: {}", self.errors));
        }
        parts.join("  ")
    }

    /// The progress line of second `at` (this tally holds that second's answers), with
    /// `total` answers so far.
    pub fn progress_line(&self, at: u64, total: u64) -> String {
        format!(
            "{at:>4}s  {:>6} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {}  ({total} so far)",
            self.count(),
            self.ms(0.5),
            self.ms(0.99),
            self.statuses_line()
        )
    }

    /// The summary of a run of `seconds` that sent `sent` requests.
    pub fn summary(&self, sent: u64, seconds: f64) -> Summary {
        Summary {
            sent,
            answered: self.count() - self.errors,
            seconds,
            rate: self.count() as f64 / seconds.max(f64::EPSILON),
            latency_ms: [0.5, 0.9, 0.99, 1.0].map(|q| self.ms(q)),
            statuses: self.statuses.clone(),
            errors: self.errors,
            first_error: self.first_error.clone(),
        }
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Summary {
    sent: u64,
    answered: u64,
    seconds: f64,
    rate: f64,
    /// p50, p90, p99, max.
    latency_ms: [f64; 4],
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Summary {
    /// Human-readable lines.
    pub fn text(&self) -> String {
        let [p50, p90, p99, max] = self.latency_ms;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, n)| format!("{status} x {n}"))
            .collect();
        let mut text = format!(
            "sent {} requests in {:.1} s ({:.1} req/s answered), {} answered\n\
             latency from the planned send time: p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms\n\
             statuses: {}",
            self.sent,
            self.seconds,
            self.rate,
            self.answered,
            if statuses.is_empty() {
                "none".to_owned()
            } else {
                statuses.join(", ")
            }
        );
        if self.errors > 0 {
            text.push_str(&format!(
                "\nno answer: {} (first: {})",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        text
    }

    /// The same as JSON.
    pub fn json(&self) -> serde_json::Value {
        let [p50, p90, p99, max] = self.latency_ms;
        let statuses: serde_json::Map<String, serde_json::Value> = self
            .statuses
            .iter()
            .map(|(status, n)| (status.to_string(), json!(n)))
            .collect();
        json!({
            "sent": self.sent, "answered": self.answered, "seconds": self.seconds,
            "rate": self.rate,
            "latency_ms": {"p50": p50, "p90": p90, "p99": p99, "max": max},
            "statuses": statuses, "errors": self.errors, "first_error": self.first_error,
        })
    }
}
