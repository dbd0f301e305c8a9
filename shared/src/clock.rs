//! Wall-clock time since the Unix epoch, the unit of `received_at`, stream ids and
//! Standard Webhooks timestamps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the epoch, now (zero on a clock set before 1970).
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    now().as_millis() as u64
}
