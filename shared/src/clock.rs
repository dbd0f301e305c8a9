//! Where hookline reads the time: wall-clock time since the Unix epoch, the unit of
//! `received_at`, stream ids, summary days and schedule ticks; and UTC days.
//!
//! Every role takes a [`Clock`] instead of reading the system clock itself, so a test can run
//! a day's summary or a midnight tick at a time it chooses instead of waiting for it. A
//! shifted clock keeps running at the system clock's pace, so timeouts, TTLs and schedules
//! behave as in production; only the reading is moved.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time source of a process: the system clock, optionally shifted by an offset that the
/// owner may change. Cheap to clone; clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system clock's reading (0 for [`Clock::system`]).
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that reads `at` now and runs on from there at the system clock's pace.
    pub fn starting_at(at: Duration) -> Self {
        let clock = Self::system();
        clock.set(at);
        clock
    }

    /// Moves the clock so that it reads `at` now.
    pub fn set(&self, at: Duration) {
        let offset = at.as_millis() as i64 - system_ms() as i64;
        self.offset_ms.store(offset, Ordering::Relaxed);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }

    /// Time since the epoch (zero before 1970).
    pub fn now(&self) -> Duration {
        Duration::from_millis(self.now_ms())
    }

    /// Milliseconds since the epoch.
    pub fn now_ms(&self) -> u64 {
        let offset = self.offset_ms.load(Ordering::Relaxed);
        (system_ms() as i64).saturating_add(offset).max(0) as u64
    }
}

/// The UTC day (days since the epoch) of a time in ms.
pub fn day_of(ms: u64) -> i64 {
    (ms / 86_400_000) as i64
}

/// A UTC day as `YYYY-MM-DD`.
pub fn date(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "invalid-date".to_owned())
}

/// A date that is not `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a YYYY-MM-DD date: {reason}")]
pub struct DateError {
    /// What was given.
    pub text: String,
    /// Why it is not a date.
    pub reason: chrono::ParseError,
}

/// The UTC day of a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<i64, DateError> {
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|reason| DateError {
        text: text.to_owned(),
        reason,
    })?;
    Ok(date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp() / 86_400)
        .unwrap_or_default())
}

/// The system clock in ms since the epoch (zero on a clock set before 1970).
fn system_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(date(day_of(1_764_028_800_000)), "2025-11-25");
        assert_eq!(parse_date("2025-11-25").unwrap(), day_of(1_764_028_800_000));
        assert!(parse_date("25.11.2025").is_err());
    }

    #[test]
    fn a_shifted_clock_reads_what_it_was_set_to_and_runs_on() {
        let noon = Duration::from_secs(20_000 * 86_400 + 43_200);
        let clock = Clock::starting_at(noon);
        let read = clock.now();
        assert!(
            read >= noon && read < noon + Duration::from_secs(5),
            "{read:?}"
        );
        let shared = clock.clone();
        shared.advance(Duration::from_secs(3600));
        assert!(clock.now() >= noon + Duration::from_secs(3600));
    }

    #[test]
    fn the_system_clock_is_not_shifted() {
        let before = system_ms();
        let read = Clock::system().now_ms();
        assert!(read >= before && read < before + 5_000);
    }
}
