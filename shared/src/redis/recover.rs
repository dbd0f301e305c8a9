//! What `recover-github` keeps in Redis per watched hook: the checkpoint (the newest delivery
//! time the last complete run looked at) and, per guid it asked GitHub to redeliver, how often
//! and for which failed delivery last. All of one hook's keys share its hash tag.

use std::time::Duration;

use redis::RedisResult;

use super::RedisConn;

/// What was asked for one guid so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    /// Redeliveries asked for, over all runs.
    pub count: u32,
    /// The failed delivery (GitHub's delivery id) the last one was asked for.
    pub delivery: u64,
}

impl Asked {
    fn encode(self) -> String {
        format!("{} {}", self.count, self.delivery)
    }

    fn decode(text: &str) -> Option<Self> {
        let (count, delivery) = text.split_once(' ')?;
        Some(Self {
            count: count.parse().ok()?,
            delivery: delivery.parse().ok()?,
        })
    }
}

/// The checkpoint at `key` (ms), if a complete run set one.
pub async fn checkpoint(conn: &mut RedisConn, key: &str) -> RedisResult<Option<u64>> {
    redis::cmd("GET").arg(key).query_async(conn).await
}

/// Sets the checkpoint at `key` to `ms`, kept for `ttl`.
pub async fn set_checkpoint(
    conn: &mut RedisConn,
    key: &str,
    ms: u64,
    ttl: Duration,
) -> RedisResult<()> {
    redis::cmd("SET")
        .arg(key)
        .arg(ms)
        .arg("PX")
        .arg(ttl.as_millis() as u64)
        .query_async(conn)
        .await
}

/// What was asked for each of `keys` (one hook's guid keys, so one slot); unreadable records
/// count as none.
pub async fn asked(conn: &mut RedisConn, keys: &[String]) -> RedisResult<Vec<Asked>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(keys).query_async(conn).await?;
    Ok(values
        .iter()
        .map(|v| v.as_deref().and_then(Asked::decode).unwrap_or_default())
        .collect())
}

/// Records `asked` at `key`, kept for `ttl`.
pub async fn record_asked(
    conn: &mut RedisConn,
    key: &str,
    asked: Asked,
    ttl: Duration,
) -> RedisResult<()> {
    redis::cmd("SET")
        .arg(key)
        .arg(asked.encode())
        .arg("PX")
        .arg(ttl.as_millis() as u64)
        .query_async(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::Asked;

    #[test]
    fn records_round_trip_and_junk_reads_as_none() {
        let asked = Asked {
            count: 2,
            delivery: 12_077_215_967,
        };
        assert_eq!(Asked::decode(&asked.encode()), Some(asked));
        assert_eq!(Asked::decode("two 1"), None);
        assert_eq!(Asked::decode(""), None);
    }
}
