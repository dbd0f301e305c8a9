//! The health of a background loop (a partition reader, the retry scan, claiming, lag
//! reporting, the summary counter): a loop reports each round's outcome here, which logs
//! "failed: reason" once when the loop starts failing and "recovered" once when it stops —
//! never a line per attempt — counts every failure in
//! `hookline_background_errors_total{loop}`, and gives the pause before the next try
//! (exponential, capped).

use std::fmt::Display;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::metrics::BACKGROUND_ERRORS;

/// The first pause after a failure; it doubles per consecutive failure up to [`MAX_PAUSE`].
pub const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between tries of a failing loop.
pub const MAX_PAUSE: Duration = Duration::from_secs(5);

/// One loop's health.
#[derive(Debug)]
pub struct LoopHealth {
    name: &'static str,
    /// Where the loop works (e.g. `app on hookline:events:{0}`), for its log lines.
    place: String,
    /// Consecutive failures.
    failures: AtomicU32,
    errors: metrics::Counter,
}

impl LoopHealth {
    /// The health of loop `name` working at `place`; registers its error counter at 0.
    pub fn new(name: &'static str, place: impl Into<String>) -> Self {
        let errors = metrics::counter!(BACKGROUND_ERRORS, "loop" => name);
        errors.increment(0);
        Self {
            name,
            place: place.into(),
            failures: AtomicU32::new(0),
            errors,
        }
    }

    /// Records a round's `outcome`: the value on success, `None` on failure.
    pub fn observe<T, E: Display>(&self, outcome: Result<T, E>) -> Option<T> {
        match outcome {
            Ok(value) => {
                self.succeeded();
                Some(value)
            }
            Err(error) => {
                self.failed(&error);
                None
            }
        }
    }

    /// A round that failed with `error`.
    pub fn failed(&self, error: &dyn Display) {
        self.errors.increment(1);
        if self.failures.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::error!(r#loop = self.name, at = %self.place, %error, "background loop failed; retrying with backoff");
        }
    }

    /// A round that succeeded.
    pub fn succeeded(&self) {
        let failures = self.failures.swap(0, Ordering::Relaxed);
        if failures > 0 {
            tracing::info!(r#loop = self.name, at = %self.place, failures, "background loop recovered");
        }
    }

    /// Sleeps [`pause`](Self::pause), unless `shutdown` comes first: then false.
    pub async fn pause_unless(&self, shutdown: &tokio_util::sync::CancellationToken) -> bool {
        tokio::select! {
            () = shutdown.cancelled() => false,
            () = tokio::time::sleep(self.pause()) => true,
        }
    }

    /// How long to pause before the next try: nothing while healthy, else
    /// [`FIRST_PAUSE`] doubled per consecutive failure, at most [`MAX_PAUSE`].
    pub fn pause(&self) -> Duration {
        match self.failures.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            n => FIRST_PAUSE
                .saturating_mul(1 << (n - 1).min(16))
                .min(MAX_PAUSE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_per_failure_up_to_the_cap_and_resets_on_success() {
        let health = LoopHealth::new("test", "here");
        assert_eq!(health.pause(), Duration::ZERO);
        let pauses: Vec<Duration> = (0..7)
            .map(|_| {
                health.failed(&"boom");
                health.pause()
            })
            .collect();
        assert_eq!(pauses[0], FIRST_PAUSE);
        assert_eq!(pauses[1], FIRST_PAUSE * 2);
        assert_eq!(pauses[6], MAX_PAUSE);
        assert_eq!(health.observe(Ok::<_, &str>(7)), Some(7));
        assert_eq!(health.pause(), Duration::ZERO);
    }
}
