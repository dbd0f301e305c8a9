//! A destination's circuit-breaker state, shared by every consumer (`breaker.lua`: each
//! transition atomic, judged by Redis's own clock).

use std::sync::LazyLock;
use std::time::Duration;

use redis::{RedisResult, Script};

use super::{RedisConn, script};
use crate::streams::Keys;

static BREAKER: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("breaker.lua")));

/// What the breaker says after an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerState {
    /// Whether a call may go out (for `allow`).
    pub allowed: bool,
    /// `closed`, `open` or `half_open`.
    pub state: String,
    /// Consecutive failures recorded.
    pub failures: i64,
}

/// The breaker's settings, as the script takes them.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Failures that open the circuit.
    pub failures: u32,
    /// How long it stays open.
    pub open_for: Duration,
    /// How long a half-open probe may take before another is let through.
    pub probe_lease: Duration,
}

/// Runs `op` (`allow`, `success` or `failure`) on the breaker at `key`.
pub async fn transition(
    conn: &mut RedisConn,
    key: &str,
    op: &str,
    settings: BreakerSettings,
) -> RedisResult<BreakerState> {
    let mut call = script::evalsha(&BREAKER, &[key]);
    call.arg(op)
        .arg(settings.failures)
        .arg(settings.open_for.as_millis() as u64)
        .arg(settings.probe_lease.as_millis() as u64);
    let (allowed, state, failures): (i64, String, i64) = script::run(conn, &BREAKER, &call).await?;
    Ok(BreakerState {
        allowed: allowed == 1,
        state,
        failures,
    })
}

/// Closes `destination`'s circuit now (`hookline reset-circuit-breaker`) by deleting its
/// state; false when there was none (it was closed).
pub async fn reset(conn: &mut RedisConn, keys: &Keys, destination: &str) -> RedisResult<bool> {
    let removed: u64 = redis::cmd("DEL")
        .arg(keys.breaker(destination))
        .query_async(conn)
        .await?;
    Ok(removed > 0)
}
