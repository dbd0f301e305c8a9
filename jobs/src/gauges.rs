//! What operators watch between job runs: bytes per tier, dead letters and consumer lag,
//! sampled after every scheduled run and exported as Prometheus gauges (scheduler) or
//! CloudWatch EMF (Lambda).

use std::collections::BTreeMap;

use hookline_shared::config::Config;
use hookline_shared::metrics as names;
use hookline_shared::redis::{RedisConn, groups, segments, server, streams};
use hookline_shared::streams::Keys;

use crate::JobError;

/// One sample over every partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Bytes of the hot streams (Redis's `MEMORY USAGE` estimate).
    pub hot_bytes: u64,
    /// Bytes of the warm segments.
    pub warm_bytes: u64,
    /// Entries in the dead-letter streams.
    pub dlq_length: u64,
    /// Entries in the suspects streams (bloom hits held).
    pub suspects: u64,
    /// Per consumer group, the largest lag over the partitions (entries not yet delivered).
    pub lag: BTreeMap<String, u64>,
}

/// Samples every partition.
pub async fn sample(config: &Config, conn: &mut RedisConn) -> Result<Gauges, JobError> {
    let keys = Keys::new(config.streams.prefix.clone());
    let mut g = Gauges::default();
    for partition in 0..config.streams.partitions {
        let stream = keys.events(partition);
        // MEMORY may be refused (a restricted ACL user): the gauge then stays 0.
        g.hot_bytes += server::memory_usage(conn, &stream).await.unwrap_or(0);
        g.warm_bytes += segments::usage(conn, &keys, partition).await?.1;
        g.dlq_length += streams::length(conn, &keys.dlq(partition)).await?;
        g.suspects += streams::length(conn, &keys.suspects(partition)).await?;
        for group in groups::info(conn, &stream).await? {
            let lag = g.lag.entry(group.name).or_default();
            *lag = (*lag).max(group.lag.unwrap_or(0));
        }
    }
    Ok(g)
}

impl Gauges {
    /// Sets the tier-size gauges (consumer lag is reported by the consumers themselves).
    pub fn record(&self) {
        metrics::gauge!(names::TIER_BYTES, "tier" => "hot").set(self.hot_bytes as f64);
        metrics::gauge!(names::TIER_BYTES, "tier" => "warm").set(self.warm_bytes as f64);
        metrics::gauge!(names::SUSPECTS).set(self.suspects as f64);
    }
}
