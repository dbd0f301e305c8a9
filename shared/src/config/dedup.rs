//! The `dedup` section: the exact window's default and the bloom filters' sizing.

use serde::Deserialize;

use super::{ConfigError, units::Duration};

/// De-duplication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// Exact de-duplication window of sources that set none.
    pub default_window: Duration,
    /// Long-term probabilistic de-duplication.
    pub bloom: BloomConfig,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            default_window: Duration::secs(300),
            bloom: BloomConfig::default(),
        }
    }
}

/// Bloom filter sizing, per partition and generation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BloomConfig {
    /// Whether repeats after the window are caught at all (default true).
    pub enabled: bool,
    /// Identities one generation holds at the configured false-positive rate.
    pub capacity: u64,
    /// Probability that a new event is taken for a repeat, at capacity.
    pub false_positive_rate: f64,
    /// How long bloom hits are kept in the suspects stream for inspection.
    pub suspects_retention: Duration,
    /// What a bloom hit (a probable repeat after the window) becomes.
    pub on_hit: OnHit,
}

/// `dedup.bloom.on_hit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnHit {
    /// Kept in the suspects stream, answered `200 duplicate`, not delivered (replayable with
    /// `hookline replay --suspects`).
    #[default]
    Hold,
    /// Appended like a new event with `suspected_duplicate: 1`; the HTTP sink sends
    /// `hookline-suspected-duplicate: true`, so the receiver decides.
    Deliver,
}

impl Default for BloomConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            capacity: 10_000_000,
            false_positive_rate: 0.001,
            suspects_retention: Duration::secs(7 * 86_400),
            on_hit: OnHit::Hold,
        }
    }
}

/// A bloom filter's shape: bits and hash functions, derived from `capacity` and
/// `false_positive_rate` (the sizing argument is in `crate::dedup`'s bloom module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BloomShape {
    /// Bits per generation.
    pub bits: u64,
    /// Bit positions per identity.
    pub hashes: u32,
}

impl BloomShape {
    /// Bits per block: all of an identity's bits lie in one block of this many bits (one
    /// 64-byte `GETRANGE` to test, one `SETRANGE` to insert).
    pub const BLOCK_BITS: u64 = 512;

    /// The shape that holds `capacity` identities at most at false-positive rate `p`
    /// (`0 < p < 1`, `capacity > 0`): `k = ceil(log2(1/p))` bits per identity, and as many
    /// blocks as keep the blocked filter's expected rate at capacity
    /// ([`Self::false_positive_rate`]) at or under `2^-k ≤ p`, as a classic filter's — from
    /// the classic `n·k / ln 2` bits up, by 2% steps (blocks fill unevenly, so a blocked
    /// filter needs more bits than a classic one for the same rate).
    pub fn for_capacity(capacity: u64, p: f64) -> Self {
        let hashes = (1.0 / p).log2().ceil().clamp(1.0, 64.0) as u32;
        let classic = capacity as f64 * f64::from(hashes) / std::f64::consts::LN_2;
        let mut blocks = ((classic / Self::BLOCK_BITS as f64).ceil() as u64).max(1);
        let mut shape = Self {
            bits: blocks * Self::BLOCK_BITS,
            hashes,
        };
        // The classic sizing's expected rate, `2^-k`, which is at most `p`: the margin keeps
        // a measured rate (a sample) under `p` too.
        let target = 0.5f64.powi(hashes as i32);
        while shape.false_positive_rate(capacity) > target {
            blocks += (blocks / 50).max(1);
            shape.bits = blocks * Self::BLOCK_BITS;
        }
        shape
    }

    /// The expected false-positive rate with `n` identities in: an identity's block holds a
    /// Poisson-distributed number of others (mean `n / blocks`), each having set `k` of its
    /// bits; a fresh identity is a false positive when its `k` bits are all set.
    pub fn false_positive_rate(&self, n: u64) -> f64 {
        let blocks = (self.bits / Self::BLOCK_BITS).max(1) as f64;
        let lambda = n as f64 / blocks;
        let k = f64::from(self.hashes);
        let clear = 1.0 - 1.0 / Self::BLOCK_BITS as f64;
        let upper = (lambda + 12.0 * lambda.sqrt() + 20.0).ceil() as u64;
        let (mut pmf, mut rate) = ((-lambda).exp(), 0.0);
        for x in 0..=upper {
            let set = 1.0 - clear.powf(k * x as f64);
            rate += pmf * set.powf(k);
            pmf *= lambda / (x + 1) as f64;
        }
        rate
    }

    /// Bytes one generation takes in Redis when full-sized.
    pub fn bytes(&self) -> u64 {
        self.bits.div_ceil(8)
    }
}

impl BloomConfig {
    /// The filter's shape; `None` when the bloom filter is disabled.
    pub fn shape(&self) -> Option<BloomShape> {
        self.enabled
            .then(|| BloomShape::for_capacity(self.capacity, self.false_positive_rate))
    }
}

/// Redis strings are at most 512 MiB, so one bloom generation is too.
const MAX_BLOOM_BYTES: u64 = 512 * 1024 * 1024;

impl DedupConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.default_window.get().as_millis() == 0 {
            return Err(ConfigError::at(
                "dedup.default_window",
                "must be at least 1ms",
            ));
        }
        let bloom = &self.bloom;
        let p = bloom.false_positive_rate;
        if !(p > 0.0 && p < 1.0) {
            return Err(ConfigError::at(
                "dedup.bloom.false_positive_rate",
                "must be between 0 and 1 (exclusive)",
            ));
        }
        if bloom.capacity == 0 {
            return Err(ConfigError::at(
                "dedup.bloom.capacity",
                "must be at least 1",
            ));
        }
        let bytes = BloomShape::for_capacity(bloom.capacity, p).bytes();
        if bytes > MAX_BLOOM_BYTES {
            return Err(ConfigError::at(
                "dedup.bloom.capacity",
                format!(
                    "needs {} MiB per generation at this false-positive rate; a Redis string \
                     holds at most 512 MiB",
                    bytes >> 20
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_meets_the_rate_with_the_fewest_hashes_that_can() {
        let shape = BloomShape::for_capacity(10_000_000, 0.001);
        assert_eq!(shape.hashes, 10);
        // ~15.6 bits per identity (a classic filter: 14.4): 19.5 MB per generation for ten
        // million identities.
        assert_eq!(shape.bits / BloomShape::BLOCK_BITS, 305_003);
        assert_eq!(shape.bytes(), 19_520_192);
        assert!(shape.false_positive_rate(10_000_000) <= 0.5f64.powi(10));
    }
}
