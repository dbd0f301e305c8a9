//! Per-destination circuit breaker, its state in Redis so every consumer shares it:
//! closed → (N consecutive failures) → open → (after `open_for`) → half-open, where one
//! probe at a time is let through; its success closes the circuit, its failure re-opens it.
//!
//! While a destination is healthy the breaker costs no round trip: a "closed" answer is
//! trusted locally for [`TRUST_CLOSED`], so another consumer's opening is noticed within it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::CircuitBreaker;
use crate::metrics::CIRCUIT_STATE;
use crate::redis::RedisConn;
use crate::redis::breaker::{self, BreakerSettings, BreakerState};

/// How long a "closed, no failures" answer is trusted without asking Redis.
pub const TRUST_CLOSED: Duration = Duration::from_millis(250);

/// The shared breaker of one destination.
#[derive(Debug)]
pub struct Breaker {
    conn: RedisConn,
    key: String,
    destination: String,
    settings: CircuitBreaker,
    /// How long a half-open probe may run before another is allowed.
    probe_lease: Duration,
    /// Until when the circuit is known closed with no failures recorded.
    clean_until: Mutex<Option<Instant>>,
}

impl Breaker {
    /// A breaker for `destination` stored at `key`.
    pub fn new(
        conn: RedisConn,
        key: String,
        destination: String,
        settings: CircuitBreaker,
        probe_lease: Duration,
    ) -> Self {
        metrics::gauge!(CIRCUIT_STATE, "destination" => destination.clone()).set(0.0);
        Self {
            conn,
            key,
            destination,
            settings,
            probe_lease,
            clean_until: Mutex::new(None),
        }
    }

    /// Whether a call may go out now. Redis errors let the call through: the breaker protects
    /// the destination, it must not stop delivery when Redis hiccups.
    pub async fn allow(&self) -> bool {
        if self
            .clean_until()
            .is_some_and(|until| Instant::now() < until)
        {
            return true;
        }
        match self.call("allow").await {
            Some((allowed, state, failures)) => {
                self.set_clean(state == "closed" && failures == 0);
                allowed
            }
            None => true,
        }
    }

    /// Records a call's outcome.
    pub async fn record(&self, success: bool) {
        if success {
            if self.clean_until().is_none() {
                self.call("success").await;
                self.set_clean(true);
            }
        } else {
            self.set_clean(false);
            self.call("failure").await;
        }
    }

    async fn call(&self, op: &str) -> Option<(bool, String, i64)> {
        let settings = BreakerSettings {
            failures: self.settings.failures,
            open_for: self.settings.open_for.get(),
            probe_lease: self.probe_lease,
        };
        let reply = breaker::transition(&mut self.conn.clone(), &self.key, op, settings).await;
        match reply {
            Ok(BreakerState {
                allowed,
                state,
                failures,
            }) => {
                let gauge = match state.as_str() {
                    "closed" => 0.0,
                    "half_open" => 1.0,
                    _ => 2.0,
                };
                metrics::gauge!(CIRCUIT_STATE, "destination" => self.destination.clone())
                    .set(gauge);
                Some((allowed, state, failures))
            }
            Err(e) => {
                tracing::warn!(destination = %self.destination, error = %e, "circuit breaker state unavailable");
                None
            }
        }
    }

    fn clean_until(&self) -> Option<Instant> {
        *self.clean_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_clean(&self, clean: bool) {
        *self.clean_until.lock().unwrap_or_else(|p| p.into_inner()) =
            clean.then(|| Instant::now() + TRUST_CLOSED);
    }
}
