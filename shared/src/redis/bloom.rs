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
//!
//! The shape ([`BloomShape`]) is derived from the configuration; this module places an
//! identity's bits in it (the append script sets and checks them) and rotates generations.

use std::sync::LazyLock;

use redis::{RedisResult, Script};

use super::{RedisConn, script};
use crate::config::BloomShape;
use crate::streams::Keys;

/// KEYS: current, generation 0, generation 1. Empties the older generation and makes it
/// current; returns the new current generation.
static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local next = 1
if redis.call('GET', KEYS[1]) == '1' then
  next = 0
end
redis.call('UNLINK', KEYS[2 + next])
redis.call('SET', KEYS[1], next)
return next",
    )
});

/// The bit positions of `identity` in a filter of `shape`.
pub fn positions(shape: &BloomShape, identity: &str) -> impl Iterator<Item = u64> + use<> {
    let hash = xxhash_rust::xxh3::xxh3_128(identity.as_bytes());
    let (h1, h2) = (hash as u64, (hash >> 64) as u64 | 1);
    let bits = shape.bits;
    (0..u64::from(shape.hashes)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// Starts a new bloom generation on `partition` (the previous one is still checked), in one
/// script call so ingest always sees a consistent pair; returns the new current generation.
pub async fn rotate(conn: &mut RedisConn, keys: &Keys, partition: u16) -> RedisResult<u8> {
    let call = script::evalsha(
        &ROTATE,
        &[
            keys.bloom_current(partition),
            keys.bloom(partition, 0),
            keys.bloom(partition, 1),
        ],
    );
    script::run(conn, &ROTATE, &call).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_stable_distinct_and_in_range() {
        let shape = BloomShape::for_capacity(1000, 0.01);
        let a: Vec<u64> = positions(&shape, "gh:push:1").collect();
        assert_eq!(a, positions(&shape, "gh:push:1").collect::<Vec<_>>());
        assert_eq!(a.len(), shape.hashes as usize);
        assert!(a.iter().all(|&p| p < shape.bits));
        assert_ne!(a, positions(&shape, "gh:push:2").collect::<Vec<_>>());
    }
}
