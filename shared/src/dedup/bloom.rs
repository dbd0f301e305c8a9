//! Long-term de-duplication: per-partition bloom filters stored as plain Redis bitmaps, so
//! they work on any Redis (ElastiCache included, no module needed) and inside the append
//! script's single round trip.
//!
//! Each partition has two generations, `{prefix}:bloom:{N}:0` and `…:1`; the key
//! `…:current` says which one takes new identities. Both are checked. `rotate-bloom` empties
//! the older one and makes it current, so an identity is remembered for one to two rotation
//! periods.
//!
//! Sizing: `k = ceil(log2(1/p))` hash functions and `m = ceil(n·k / ln 2)` bits give, at
//! `n` identities, a false-positive rate of about `2^-k ≤ p`. Bit positions come from one
//! 128-bit xxh3 hash split into two 64-bit halves (double hashing, Kirsch–Mitzenmacher), so
//! an identity costs one hash, a few `GETBIT`s (a new identity usually stops at its first
//! clear bit) and `k` `SETBIT`s.

/// A bloom filter's shape: bits and hash functions.
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

    /// The bit positions of `identity`.
    pub fn positions(&self, identity: &str) -> impl Iterator<Item = u64> + use<> {
        let hash = xxhash_rust::xxh3::xxh3_128(identity.as_bytes());
        let (h1, h2) = (hash as u64, (hash >> 64) as u64 | 1);
        let bits = self.bits;
        (0..u64::from(self.hashes)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
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

    #[test]
    fn positions_are_stable_distinct_and_in_range() {
        let shape = BloomShape::for_capacity(1000, 0.01);
        let a: Vec<u64> = shape.positions("gh:push:1").collect();
        assert_eq!(a, shape.positions("gh:push:1").collect::<Vec<_>>());
        assert_eq!(a.len(), shape.hashes as usize);
        assert!(a.iter().all(|&p| p < shape.bits));
        assert_ne!(a, shape.positions("gh:push:2").collect::<Vec<_>>());
    }
}
