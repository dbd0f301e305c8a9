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
    /// The shape that holds `capacity` identities at most at false-positive rate `p`
    /// (`0 < p < 1`, `capacity > 0`).
    pub fn for_capacity(capacity: u64, p: f64) -> Self {
        let hashes = (1.0 / p).log2().ceil().max(1.0) as u32;
        let bits = (capacity as f64 * f64::from(hashes) / std::f64::consts::LN_2).ceil() as u64;
        Self {
            bits: bits.max(8),
            hashes,
        }
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
        // ~14.4 bits per identity: 18 MB per generation for ten million identities.
        assert_eq!(shape.bits, 144_269_505);
        let expected_fp = 0.5f64.powi(shape.hashes as i32);
        assert!(expected_fp <= 0.001);
    }
}
