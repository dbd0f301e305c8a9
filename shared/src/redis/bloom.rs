//! Long-term de-duplication: per-partition bloom filters stored as plain Redis bitmaps, so
//! they work on any Redis (ElastiCache included, no module needed) and inside the append
//! script's single round trip.
//!
//! Each partition has two generations, `{prefix}:bloom:{N}:0` and `…:1`; the key
//! `…:current` says which one takes new identities. Both are checked. `rotate-bloom` empties
//! the older one and makes it current, so an identity is remembered for one to two rotation
//! periods.
//!
//! Blocked: all `k = ceil(log2(1/p))` bits of an identity lie in one 512-bit block (a cache
//! line), so testing a generation is one 64-byte `GETRANGE` and inserting one `SETRANGE`, the
//! bits tested and set in Lua — instead of a `GETBIT` per bit tested and `k` `SETBIT`s. Blocks
//! fill unevenly, so the filter takes somewhat more bits than a classic one for the same rate;
//! [`BloomShape::for_capacity`] sizes it so the rate at capacity stays at or under `p`. One
//! 128-bit xxh3 hash places an identity: its low half picks the block, its high half seeds
//! the `k` bit indices in it (nine bits each, from a splitmix64 sequence).
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

/// Where an identity's bits lie in a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The block's first byte in the bitmap.
    pub block_byte: u64,
    /// The bits in the block (0 = the most significant bit of its first byte, as `SETBIT`
    /// counts), `k` of them (rarely, one repeats).
    pub bits: Vec<u16>,
}

impl Placement {
    /// The bits as the append script takes them: for each byte of the block that holds
    /// any, ascending, its offset in the block and the mask of its bits (bit 0 is a byte's
    /// most significant bit).
    pub fn packed(&self) -> Vec<u8> {
        let mut masks = [0u8; (BloomShape::BLOCK_BITS / 8) as usize];
        for &bit in &self.bits {
            masks[usize::from(bit / 8)] |= 0x80 >> (bit % 8);
        }
        (0u8..)
            .zip(masks)
            .filter(|&(_, mask)| mask != 0)
            .flat_map(|(at, mask)| [at, mask])
            .collect()
    }
}

/// Where `identity`'s bits lie in a filter of `shape`.
pub fn placement(shape: &BloomShape, identity: &str) -> Placement {
    let hash = xxhash_rust::xxh3::xxh3_128(identity.as_bytes());
    let (low, mut state) = (hash as u64, (hash >> 64) as u64);
    let blocks = (shape.bits / BloomShape::BLOCK_BITS).max(1);
    // Nine bits per bit index (512 = 2^9), seven from each 64-bit word of a splitmix64
    // sequence seeded by the hash's high half: independent indices, as the sizing assumes
    // (double hashing modulo 512 measured a rate well above the model's).
    let (mut word, mut left) = (0u64, 0);
    let bits = (0..shape.hashes)
        .map(|_| {
            if left < 9 {
                word = splitmix64(&mut state);
                left = 64;
            }
            let index = (word & 511) as u16;
            (word, left) = (word >> 9, left - 9);
            index
        })
        .collect();
    Placement {
        block_byte: (low % blocks) * BloomShape::BLOCK_BITS / 8,
        bits,
    }
}

/// The next output of splitmix64 (Steele, Lea, Flood 2014) from `state`.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The absolute bit positions of `identity` in a filter of `shape` (as `GETBIT` counts).
pub fn positions(shape: &BloomShape, identity: &str) -> impl Iterator<Item = u64> + use<> {
    let placement = placement(shape, identity);
    let first = placement.block_byte * 8;
    placement
        .bits
        .into_iter()
        .map(move |b| first + u64::from(b))
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
    fn positions_are_stable_in_range_and_in_one_block() {
        let shape = BloomShape::for_capacity(1000, 0.01);
        let a: Vec<u64> = positions(&shape, "gh:push:1").collect();
        assert_eq!(a, positions(&shape, "gh:push:1").collect::<Vec<_>>());
        assert_eq!(a.len(), shape.hashes as usize);
        assert!(a.iter().all(|&p| p < shape.bits));
        let block = a[0] / BloomShape::BLOCK_BITS;
        assert!(a.iter().all(|&p| p / BloomShape::BLOCK_BITS == block));
        assert_ne!(a, positions(&shape, "gh:push:2").collect::<Vec<_>>());
    }

    #[test]
    fn packed_bits_are_one_mask_per_byte_in_ascending_order() {
        let placement = Placement {
            block_byte: 64,
            bits: vec![511, 0, 7, 9, 1],
        };
        assert_eq!(placement.packed(), [0, 0b1100_0001, 1, 0b0100_0000, 63, 1]);
    }

    #[test]
    fn blocked_filters_are_sized_for_the_configured_rate_at_capacity() {
        for (capacity, p) in [
            (1_000, 0.01),
            (100_000, 0.001),
            (10_000_000, 0.001),
            (5, 0.5),
        ] {
            let shape = BloomShape::for_capacity(capacity, p);
            let rate = shape.false_positive_rate(capacity);
            assert!(
                rate <= 0.5f64.powi(shape.hashes as i32) && rate <= p,
                "{capacity} {p}"
            );
            assert_eq!(shape.bits % BloomShape::BLOCK_BITS, 0);
            let classic = capacity as f64 * f64::from(shape.hashes) / std::f64::consts::LN_2;
            println!(
                "capacity {capacity} at {p}: k = {}, {:.2}x the classic bits",
                shape.hashes,
                shape.bits as f64 / classic
            );
            assert!(
                (shape.bits as f64) < classic * 1.6 + 512.0,
                "{capacity} {p}: {shape:?}"
            );
        }
    }
}
