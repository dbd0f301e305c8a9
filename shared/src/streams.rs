//! Stream key names and partitioning: the one place that formats a Redis key.
//!
//! Every key of partition N carries the hash tag `{N}`, so a partition's stream, dedup keys
//! and (later) bloom filters and warm segments live in one Redis Cluster slot and a Lua
//! script may touch them together.

/// Key names under one prefix (`streams.prefix`, default `hookline`).
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// `{prefix}:events:{N}`: the partition's stream of hot events.
    pub fn events(&self, partition: u16) -> String {
        format!("{}:events:{{{partition}}}", self.prefix)
    }

    /// `{prefix}:dlq:{N}`: entries that exhausted their retries.
    pub fn dlq(&self, partition: u16) -> String {
        format!("{}:dlq:{{{partition}}}", self.prefix)
    }

    /// `{prefix}:audit`: the operators' actions ([`crate::audit`]).
    pub fn audit(&self) -> String {
        format!("{}:audit", self.prefix)
    }

    /// `{prefix}:console:session:{hash}`: a console session, by its cookie's SHA-256.
    pub fn console_session(&self, hash: &str) -> String {
        format!("{}:console:session:{hash}", self.prefix)
    }

    /// `{prefix}:attempts:{N}`: the partition's recorded delivery attempts.
    pub fn attempts(&self, partition: u16) -> String {
        format!("{}:attempts:{{{partition}}}", self.prefix)
    }

    /// `{prefix}:warm:{N}:seg:{first}-{last}`: one warm segment (`member` is `{first}-{last}`).
    pub fn warm_segment(&self, partition: u16, member: &str) -> String {
        format!("{}:warm:{{{partition}}}:seg:{member}", self.prefix)
    }

    /// `{prefix}:warm:{N}:index`: the partition's segments by their last entry's time.
    pub fn warm_index(&self, partition: u16) -> String {
        format!("{}:warm:{{{partition}}}:index", self.prefix)
    }

    /// `{prefix}:warm:{N}:raw`: each warm segment's uncompressed size, for the compression
    /// ratio.
    pub fn warm_raw_sizes(&self, partition: u16) -> String {
        format!("{}:warm:{{{partition}}}:raw", self.prefix)
    }

    /// `{prefix}:breaker:{destination}`: a destination's shared circuit-breaker state.
    pub fn breaker(&self, destination: &str) -> String {
        format!("{}:breaker:{destination}", self.prefix)
    }

    /// `{prefix}:bloom:{N}:{generation}`: one bloom filter generation (0 or 1), a bitmap.
    pub fn bloom(&self, partition: u16, generation: u8) -> String {
        format!("{}:bloom:{{{partition}}}:{generation}", self.prefix)
    }

    /// `{prefix}:bloom:{N}:current`: which generation (0 or 1) takes new identities; the
    /// other one is the previous generation, still checked.
    pub fn bloom_current(&self, partition: u16) -> String {
        format!("{}:bloom:{{{partition}}}:current", self.prefix)
    }

    /// `{prefix}:suspects:{N}`: bloom hits (probable repeats) kept for inspection and replay.
    pub fn suspects(&self, partition: u16) -> String {
        format!("{}:suspects:{{{partition}}}", self.prefix)
    }

    /// `{prefix}:summary:{N}:{date}`: the partition's running counts for a UTC day (hash).
    pub fn summary_counts(&self, partition: u16, date: &str) -> String {
        format!("{}:summary:{{{partition}}}:{date}", self.prefix)
    }

    /// `{prefix}:summaries:{date}`: the rendered summaries of a UTC day (hash of
    /// `tenant={tenant}/source={source}.json|.md` to the document).
    pub fn summaries(&self, date: &str) -> String {
        format!("{}:summaries:{date}", self.prefix)
    }

    /// `{prefix}:job:{name}:lock`: held by the one process running the job now.
    pub fn job_lock(&self, job: &str) -> String {
        format!("{}:job:{{{job}}}:lock", self.prefix)
    }

    /// `{prefix}:job:{name}:tick`: the newest schedule tick (ms) the job completed.
    pub fn job_tick(&self, job: &str) -> String {
        format!("{}:job:{{{job}}}:tick", self.prefix)
    }

    /// `{prefix}:job:{name}:last_success`: when the job last succeeded (seconds since the
    /// epoch), so every replica exports the same `hookline_job_last_success_timestamp_seconds`.
    pub fn job_last_success(&self, job: &str) -> String {
        format!("{}:job:{{{job}}}:last_success", self.prefix)
    }

    /// `{prefix}:replayed:{TAG}:{request}`: the originals a replay with one set of arguments
    /// (`request`, a digest of them) appended to `target`. TAG is the target's hash tag, or
    /// the whole target key, so the record lives in the target's slot.
    pub fn replayed(&self, target: &str, request: &str) -> String {
        let tag = hash_tag(target).unwrap_or(target);
        format!("{}:replayed:{{{tag}}}:{request}", self.prefix)
    }

    /// `{prefix}:job-runs`: a record of every job run (stream, capped).
    pub fn job_runs(&self) -> String {
        format!("{}:job-runs", self.prefix)
    }

    /// `{prefix}:recover:{HOOK}:checkpoint`: the newest delivery time (ms) the last complete
    /// `recover-github` run of a hook looked at.
    pub fn recover_checkpoint(&self, hook: &str) -> String {
        format!("{}:recover:{{{hook}}}:checkpoint", self.prefix)
    }

    /// `{prefix}:recover:{HOOK}:guid:{GUID}`: how often a redelivery of a delivery's guid was
    /// asked for, and for which failed delivery last (kept while GitHub keeps deliveries).
    pub fn recover_guid(&self, hook: &str, guid: &str) -> String {
        format!("{}:recover:{{{hook}}}:guid:{guid}", self.prefix)
    }

    /// `{prefix}:dedup:{N}:{identity}`: a short-window identity, set with a TTL.
    pub fn dedup(&self, partition: u16, identity: &str) -> String {
        format!("{}:dedup:{{{partition}}}:{identity}", self.prefix)
    }
}

/// What Redis Cluster hashes of `key`: the text inside its first `{…}`, if not empty.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let len = key[open + 1..].find('}')?;
    (len > 0).then(|| &key[open + 1..open + 1 + len])
}

/// The partition of an event: `xxh3(tenant, source, entity) mod partitions`.
///
/// The entity is the provider's ordering key (GitHub repository, Stripe account) or else the
/// source, so one entity's events stay in order in one stream. xxh3 is a fixed, published
/// function, so programs in other languages can compute the same partition.
pub fn partition_of(tenant: &str, source: &str, entity: Option<&str>, partitions: u16) -> u16 {
    if partitions <= 1 {
        return 0;
    }
    let entity = entity.unwrap_or(source);
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in [tenant, source, entity] {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    (hasher.digest() % u64::from(partitions)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_partition_hash_tag() {
        let keys = Keys::new("hookline");
        assert_eq!(keys.events(3), "hookline:events:{3}");
        assert_eq!(
            keys.dedup(0, "gh:push:abc"),
            "hookline:dedup:{0}:gh:push:abc"
        );
    }

    #[test]
    fn partitioning_is_stable_and_spreads_entities() {
        assert_eq!(partition_of("t", "github", Some("o/r"), 1), 0);
        let a = partition_of("t", "github", Some("octo/one"), 16);
        assert_eq!(a, partition_of("t", "github", Some("octo/one"), 16));
        let used: std::collections::HashSet<u16> = (0..200)
            .map(|i| partition_of("t", "github", Some(&format!("octo/repo{i}")), 16))
            .collect();
        assert_eq!(
            used.len(),
            16,
            "200 repositories should reach all 16 partitions"
        );
        assert_eq!(
            partition_of("t", "github", None, 16),
            partition_of("t", "github", Some("github"), 16),
            "no entity means the source is the entity"
        );
    }
}
