//! The samples behind the overview's charts: every `console.sample_every`, the events ever
//! appended (summed over the partitions) and the entries the groups ever read (over groups
//! and partitions), the lag summed likewise, and the dead letters; the last six hours are kept
//! in memory. The charts therefore start when the console does (Prometheus and the Grafana
//! dashboard in `infra/` keep the long history).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline_shared::Context;
use hookline_shared::redis::{groups, streams};
use hookline_shared::streams::Keys;
use redis::RedisResult;
use tokio_util::sync::CancellationToken;

/// How far back the charts reach.
const KEPT: Duration = Duration::from_secs(6 * 3600);

/// One sample of the pipeline's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When it was taken, ms since the epoch.
    pub at_ms: u64,
    /// Events ever appended to the hot streams.
    pub ingested: u64,
    /// Entries ever read by the groups (each read is a delivery).
    pub read: u64,
    /// Entries not yet read, over every group and partition.
    pub lag: u64,
    /// Entries in the dead-letter streams.
    pub dlq: u64,
}

/// The samples so far, shared with the sampling task.
pub struct History {
    samples: Arc<Mutex<VecDeque<Sample>>>,
    /// The sampling period.
    pub every: Duration,
}

impl History {
    /// Starts sampling `ctx`'s Redis (a sample now, then every `console.sample_every`) until
    /// `shutdown`. A failed sample is skipped and logged.
    pub fn spawn(ctx: &Context, shutdown: CancellationToken) -> Self {
        let every = ctx.config.console.sample_every.get();
        let cap = (KEPT.as_secs() / every.as_secs().max(1)) as usize;
        let samples: Arc<Mutex<VecDeque<Sample>>> = Arc::default();
        let (ctx, kept) = (ctx.clone(), samples.clone());
        tokio::spawn(async move {
            let keys = Keys::new(ctx.config.streams.prefix.clone());
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match take(&ctx, &keys).await {
                    Ok(sample) => {
                        let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                        if kept.len() == cap {
                            kept.pop_front();
                        }
                        kept.push_back(sample);
                    }
                    Err(e) => tracing::warn!(error = %e, "console sample skipped"),
                }
            }
        });
        Self { samples, every }
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        let kept = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().copied().collect()
    }
}

async fn take(ctx: &Context, keys: &Keys) -> RedisResult<Sample> {
    let mut conn = ctx.redis.shared();
    let mut sample = Sample {
        at_ms: ctx.clock.now_ms(),
        ingested: 0,
        read: 0,
        lag: 0,
        dlq: 0,
    };
    for partition in 0..ctx.config.streams.partitions {
        let stream = keys.events(partition);
        sample.ingested += streams::entries_added(&mut conn, &stream).await?;
        sample.dlq += streams::length(&mut conn, &keys.dlq(partition)).await?;
        for group in groups::info(&mut conn, &stream).await? {
            sample.read += group.entries_read.unwrap_or(0);
            sample.lag += group.lag.unwrap_or(0);
        }
    }
    Ok(sample)
}

/// Per second between consecutive samples of `counter`: `(at_ms, rate)` for each later sample.
pub fn rates(samples: &[Sample], counter: fn(&Sample) -> u64) -> Vec<(u64, f64)> {
    samples
        .windows(2)
        .map(|pair| {
            let seconds = pair[1].at_ms.saturating_sub(pair[0].at_ms).max(1) as f64 / 1000.0;
            let grown = counter(&pair[1]).saturating_sub(counter(&pair[0]));
            (pair[1].at_ms, grown as f64 / seconds)
        })
        .collect()
}

/// `gauge` of every sample, as `(at_ms, value)`.
pub fn levels(samples: &[Sample], gauge: fn(&Sample) -> u64) -> Vec<(u64, f64)> {
    samples.iter().map(|s| (s.at_ms, gauge(s) as f64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at_ms: u64, ingested: u64) -> Sample {
        Sample {
            at_ms,
            ingested,
            read: 0,
            lag: 0,
            dlq: 0,
        }
    }

    #[test]
    fn rates_are_per_second_between_samples_and_never_negative() {
        let samples = [at(0, 0), at(10_000, 50), at(20_000, 40)];
        assert_eq!(
            rates(&samples, |s| s.ingested),
            [(10_000, 5.0), (20_000, 0.0)]
        );
        assert!(rates(&samples[..1], |s| s.ingested).is_empty());
    }
}
