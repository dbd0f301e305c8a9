//! Per-source request rate limits, held in this process (per instance, not fleet-wide).
//!
//! A GCRA limiter (governor) admits `count` requests per period with a burst of `count`;
//! when it refuses, the answer carries the whole seconds until the next admission as
//! `Retry-After`.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::units::Rate;

/// One source's limiter.
#[derive(Debug)]
pub struct SourceLimiter {
    limiter: DefaultDirectRateLimiter,
}

impl SourceLimiter {
    /// A limiter admitting `rate`.
    pub fn new(rate: Rate) -> Self {
        let count = NonZeroU32::new(rate.count).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(rate.per / count.get())
            .unwrap_or_else(|| Quota::per_second(count))
            .allow_burst(count);
        Self {
            limiter: RateLimiter::direct(quota),
        }
    }

    /// `Ok` if a request may pass now, else the seconds to wait (at least 1).
    pub fn check(&self) -> Result<(), u64> {
        self.limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }
}
