//! The audit trail: one entry per operator action that changes what the pipeline holds or
//! does (a DLQ retry or purge, a replay, a forced compaction or archive, a circuit reset, a
//! claim of pending entries), in the stream `{prefix}:audit`, capped at about
//! [`MAX_ENTRIES`]. Fields: `at` (ms since the epoch), `actor`, `action`, `args` and `counts`
//! (JSON objects: what was asked, and what it touched), `outcome` (`ok`, or `failed: …`).
//! Never a payload or a secret: the arguments are an operator's filters and times.

use redis::RedisResult;
use serde::Serialize;

use crate::redis::{RedisConn, streams};
use crate::streams::Keys;

/// About how many entries the audit stream keeps (`MAXLEN ~`).
pub const MAX_ENTRIES: u64 = 1_000_000;

/// One recorded action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// Who: `--actor`, else the OS user.
    pub actor: String,
    /// The command, e.g. `dlq purge`.
    pub action: String,
    /// What was asked (a JSON object).
    pub args: serde_json::Value,
    /// What it touched (a JSON object of counts).
    pub counts: serde_json::Value,
    /// `ok`, or `failed: ` and why.
    pub outcome: String,
}

/// Appends `entry` to the audit stream.
pub async fn append(conn: &mut RedisConn, keys: &Keys, entry: &Entry) -> RedisResult<()> {
    redis::cmd("XADD")
        .arg(keys.audit())
        .arg("MAXLEN")
        .arg("~")
        .arg(MAX_ENTRIES)
        .arg("*")
        .arg("at")
        .arg(entry.at_ms)
        .arg("actor")
        .arg(&entry.actor)
        .arg("action")
        .arg(&entry.action)
        .arg("args")
        .arg(entry.args.to_string())
        .arg("counts")
        .arg(entry.counts.to_string())
        .arg("outcome")
        .arg(&entry.outcome)
        .query_async(conn)
        .await
}

/// The entries recorded at or after `since_ms`, oldest first.
pub async fn since(conn: &mut RedisConn, keys: &Keys, since_ms: u64) -> RedisResult<Vec<Entry>> {
    streams::scan_records(conn, &keys.audit(), since_ms, |fields| {
        let json = |name: &str| {
            fields
                .get(name)
                .and_then(|v| serde_json::from_str(v).ok())
                .unwrap_or_default()
        };
        Some(Entry {
            at_ms: fields.get("at")?.parse().ok()?,
            actor: fields.get("actor")?.clone(),
            action: fields.get("action")?.clone(),
            args: json("args"),
            counts: json("counts"),
            outcome: fields.get("outcome")?.clone(),
        })
    })
    .await
}

/// The OS user running this process (`USER`, else `LOGNAME`), or `unknown`.
pub fn os_user() -> String {
    ["USER", "LOGNAME"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}
