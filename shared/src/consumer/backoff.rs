//! Exponential backoff with full jitter, computed rather than remembered.
//!
//! The delay before retry `n` (after `n` failed deliveries) is a fraction of
//! `min(max, initial * 2^(n-1))`; the fraction comes from a hash of the entry id and `n`, so
//! every consumer, before and after a restart, agrees on when an entry is due without storing
//! anything: the attempt count itself is the PEL's delivery count.

use std::time::Duration;

use crate::config::Backoff;

/// The largest delay before retry `failures` (≥ 1).
pub fn cap(backoff: &Backoff, failures: u64) -> Duration {
    let shift = failures.saturating_sub(1).min(32) as u32;
    let grown = backoff.initial.get().saturating_mul(1u32 << shift.min(31));
    grown.min(backoff.max.get())
}

/// The delay before retry `failures` of entry `entry_id`: full jitter in `[0, cap]`.
pub fn delay(backoff: &Backoff, entry_id: &str, failures: u64) -> Duration {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(entry_id.as_bytes());
    hasher.update(&failures.to_le_bytes());
    let fraction = (hasher.digest() >> 11) as f64 / (1u64 << 53) as f64;
    cap(backoff, failures).mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::Duration as D;

    fn backoff() -> Backoff {
        Backoff {
            initial: D::millis(100),
            max: D::secs(2),
        }
    }

    #[test]
    fn caps_double_until_the_maximum() {
        let caps: Vec<u128> = (1..=7).map(|n| cap(&backoff(), n).as_millis()).collect();
        assert_eq!(caps, vec![100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(cap(&backoff(), 1000), Duration::from_secs(2));
    }

    #[test]
    fn delays_are_jittered_within_the_cap_and_repeatable() {
        for n in 1..10 {
            let d = delay(&backoff(), "1-0", n);
            assert!(d <= cap(&backoff(), n));
            assert_eq!(
                d,
                delay(&backoff(), "1-0", n),
                "same entry, same attempt, same delay"
            );
        }
        let spread: std::collections::HashSet<u128> = (0..50)
            .map(|i| delay(&backoff(), &format!("{i}-0"), 3).as_micros())
            .collect();
        assert!(spread.len() > 40, "full jitter spreads entries");
    }
}
