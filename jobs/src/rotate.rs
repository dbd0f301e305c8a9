//! `rotate-bloom`: per partition, empties the older bloom generation and makes it current, in
//! one script call, so ingest always sees a consistent pair (see
//! `hookline_shared::redis::bloom` for the design).

use hookline_shared::config::Config;
use hookline_shared::redis::{RedisConn, bloom};
use hookline_shared::streams::Keys;

use crate::JobError;

/// Rotates every partition's bloom filter; returns how many partitions rotated.
pub async fn rotate_bloom(config: &Config, conn: &mut RedisConn) -> Result<u16, JobError> {
    let keys = Keys::new(config.streams.prefix.clone());
    for partition in 0..config.streams.partitions {
        let generation = bloom::rotate(conn, &keys, partition).await?;
        tracing::info!(partition, generation, "bloom filter rotated");
    }
    Ok(config.streams.partitions)
}
