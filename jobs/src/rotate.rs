//! `rotate-bloom`: per partition, empties the older bloom generation and makes it current, in
//! one script call, so ingest always sees a consistent pair (see
//! `hookline_shared::dedup::bloom` for the design).

use std::sync::LazyLock;

use hookline_shared::config::Config;
use hookline_shared::redis::RedisConn;
use hookline_shared::streams::Keys;
use redis::Script;

use crate::JobError;

/// KEYS: current, generation 0, generation 1. Returns the new current generation.
const ROTATE: &str = r"
local next = 1
if redis.call('GET', KEYS[1]) == '1' then
  next = 0
end
redis.call('UNLINK', KEYS[2 + next])
redis.call('SET', KEYS[1], next)
return next";

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ROTATE));

/// Rotates every partition's bloom filter; returns how many partitions rotated.
pub async fn rotate_bloom(config: &Config, conn: &mut RedisConn) -> Result<u16, JobError> {
    let keys = Keys::new(config.streams.prefix.clone());
    for partition in 0..config.streams.partitions {
        let generation: u8 = SCRIPT
            .key(keys.bloom_current(partition))
            .key(keys.bloom(partition, 0))
            .key(keys.bloom(partition, 1))
            .invoke_async(conn)
            .await?;
        tracing::info!(partition, generation, "bloom filter rotated");
    }
    Ok(config.streams.partitions)
}
