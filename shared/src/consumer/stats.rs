//! What `XINFO GROUPS` says about a stream's consumer groups, and a stream's length, for
//! `hookline stats` and the lag gauge.

use std::collections::HashMap;

use redis::{RedisResult, Value};

use crate::redis::RedisConn;

/// The number of entries in `stream` (0 when it does not exist).
pub async fn length(conn: &mut RedisConn, stream: &str) -> RedisResult<u64> {
    redis::cmd("XLEN").arg(stream).query_async(conn).await
}

/// One consumer group of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStats {
    /// The group's name.
    pub name: String,
    /// Consumers the group knows.
    pub consumers: u64,
    /// Entries delivered and not yet acknowledged.
    pub pending: u64,
    /// Entries not yet delivered to the group; `None` where Redis cannot tell (before 7.0, or
    /// after entries the group never read were deleted).
    pub lag: Option<u64>,
    /// The last entry id delivered to the group.
    pub last_delivered_id: String,
}

/// The groups of `stream` (none when the stream does not exist).
pub async fn groups(conn: &mut RedisConn, stream: &str) -> RedisResult<Vec<GroupStats>> {
    let reply: RedisResult<Vec<HashMap<String, Value>>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await;
    let groups = match reply {
        Ok(groups) => groups,
        Err(e) if e.to_string().contains("no such key") => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(groups
        .into_iter()
        .map(|g| {
            let int = |k: &str| match g.get(k) {
                Some(Value::Int(n)) => u64::try_from(*n).ok(),
                _ => None,
            };
            let text = |k: &str| match g.get(k) {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            };
            GroupStats {
                name: text("name"),
                last_delivered_id: text("last-delivered-id"),
                consumers: int("consumers").unwrap_or(0),
                pending: int("pending").unwrap_or(0),
                lag: int("lag"),
            }
        })
        .collect())
}
