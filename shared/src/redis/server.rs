//! What the server is and how it is configured: `PING`, `ROLE` (is this the writable
//! master?), the eviction policy every role checks at start, memory use, and which keys exist.

use redis::{RedisResult, Value};

use super::RedisConn;

/// Sends `PING`.
pub async fn ping(conn: &mut RedisConn) -> RedisResult<()> {
    redis::cmd("PING").query_async::<()>(conn).await
}

/// Whether writes can go through `conn`: for one server or a Sentinel master, whether it
/// answers `ROLE` as a master (a demoted server still answers `PING`, and fails writes with
/// `READONLY`); for a Cluster, whether it answers at all (the client routes writes to the
/// slots' masters and follows them when they move).
pub async fn is_writable(conn: &mut RedisConn) -> RedisResult<bool> {
    if let RedisConn::Cluster(_) = conn {
        return ping(conn).await.map(|()| true);
    }
    let role: Value = redis::cmd("ROLE").query_async(conn).await?;
    Ok(match role {
        Value::Array(parts) => matches!(
            parts.first(),
            Some(Value::BulkString(role)) if role == b"master"
        ),
        _ => false,
    })
}

/// Redis's estimate of the bytes `key` takes (0 when it does not exist).
pub async fn memory_usage(conn: &mut RedisConn, key: &str) -> RedisResult<u64> {
    let bytes: Option<u64> = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(key)
        .query_async(conn)
        .await?;
    Ok(bytes.unwrap_or(0))
}

/// Why a Redis must not hold hookline's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "maxmemory-policy is {policy}: under memory pressure Redis would evict stream \
     entries and lose events; set maxmemory-policy noeviction (see infra/redis/redis.conf)"
)]
pub struct EvictionPolicyError {
    /// The offending policy, e.g. `allkeys-lru`.
    pub policy: String,
}

impl From<EvictionPolicyError> for crate::config::ConfigError {
    fn from(e: EvictionPolicyError) -> Self {
        Self::at("redis", e.to_string())
    }
}

/// Reads `maxmemory_policy` (from `INFO memory`, which managed services and restricted ACL
/// users allow where `CONFIG` is not) and refuses any `allkeys-*` policy (stream keys could
/// be evicted); warns on `volatile-*` (only keys with a TTL, such as dedup keys, can go:
/// duplicates, not losses). Where it cannot be read, it says so in the log and lets the
/// process start.
pub async fn check_eviction_policy(conn: &mut RedisConn) -> Result<(), EvictionPolicyError> {
    // One server answers with its text; a Cluster with every master's (a map or pairs).
    let reply: RedisResult<Value> = ::redis::cmd("INFO").arg("memory").query_async(conn).await;
    let policies = match reply {
        Ok(value) => {
            let mut texts = Vec::new();
            collect_texts(value, &mut texts);
            texts
                .iter()
                .filter_map(|text| maxmemory_policy(text).map(str::to_owned))
                .collect::<Vec<_>>()
        }
        Err(e) => {
            tracing::info!(error = %e, "cannot read maxmemory_policy (INFO refused?); make sure it is noeviction");
            return Ok(());
        }
    };
    let worst = policies
        .iter()
        .find(|p| p.starts_with("allkeys-"))
        .or_else(|| policies.iter().find(|p| p.starts_with("volatile-")));
    let Some(policy) = worst.cloned() else {
        return Ok(());
    };
    if policy.starts_with("allkeys-") {
        return Err(EvictionPolicyError { policy });
    }
    if policy.starts_with("volatile-") {
        tracing::warn!(%policy, "maxmemory-policy may evict de-duplication keys under memory pressure (duplicates could get through, no event is lost); noeviction is safer");
    }
    Ok(())
}

/// Every text in a reply (a string, or strings nested in arrays and maps).
fn collect_texts(value: Value, out: &mut Vec<String>) {
    match value {
        Value::BulkString(bytes) => out.push(String::from_utf8_lossy(&bytes).into_owned()),
        Value::VerbatimString { text, .. } | Value::SimpleString(text) => out.push(text),
        Value::Array(items) | Value::Set(items) => {
            items.into_iter().for_each(|item| collect_texts(item, out))
        }
        Value::Map(pairs) => pairs
            .into_iter()
            .for_each(|(_, item)| collect_texts(item, out)),
        _ => {}
    }
}

/// The `maxmemory_policy:` line of an `INFO memory` reply.
fn maxmemory_policy(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|line| line.strip_prefix("maxmemory_policy:"))
        .map(str::trim)
}

/// Every key matching the glob `pattern` (`SCAN … MATCH`, page by page; on a Cluster
/// connection, the keys of the node it reaches).
pub async fn scan(conn: &mut RedisConn, pattern: &str) -> RedisResult<Vec<String>> {
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        keys.extend(page);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_is_read_from_info_memory() {
        let info = "# Memory\r\nused_memory:1\r\nmaxmemory_policy:allkeys-lru\r\n";
        assert_eq!(super::maxmemory_policy(info), Some("allkeys-lru"));
        assert_eq!(super::maxmemory_policy("# Memory\r\n"), None);
    }
}
