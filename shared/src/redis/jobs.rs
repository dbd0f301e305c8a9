//! What the lifecycle jobs keep in Redis besides the data: each job's lock (one holder at a
//! time across replicas, renewed while held, released by compare-and-delete), the tick it
//! last completed, when it last succeeded, and the `{prefix}:job-runs` record of every run.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{RedisResult, Script};

use super::{RedisConn, script};
use crate::streams::Keys;

/// Extends the expiry if the caller still holds the lock: 1 if extended, else 0.
static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0",
    )
});

/// Deletes the key if the caller still holds the lock: 1 if released, else 0.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

/// Records kept in `{prefix}:job-runs` (approximately).
const RUNS_KEPT: u64 = 10_000;

/// Takes the lock at `key` with `token` for `ttl` (`SET NX PX`); false when held by another.
pub async fn lock(
    conn: &mut RedisConn,
    key: &str,
    token: &str,
    ttl: Duration,
) -> RedisResult<bool> {
    let taken: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(token)
        .arg("NX")
        .arg("PX")
        .arg(ttl.as_millis().max(1) as u64)
        .query_async(conn)
        .await?;
    Ok(taken.is_some())
}

/// Extends the lock at `key` to `ttl` if `token` still holds it; false when it was lost.
pub async fn extend_lock(
    conn: &mut RedisConn,
    key: &str,
    token: &str,
    ttl: Duration,
) -> RedisResult<bool> {
    let mut call = script::evalsha(&EXTEND, &[key]);
    call.arg(token).arg(ttl.as_millis().max(1) as u64);
    let extended: u8 = script::run(conn, &EXTEND, &call).await?;
    Ok(extended == 1)
}

/// Deletes the lock at `key` if `token` still holds it.
pub async fn unlock(conn: &mut RedisConn, key: &str, token: &str) -> RedisResult<()> {
    let mut call = script::evalsha(&RELEASE, &[key]);
    call.arg(token);
    let _released: u8 = script::run(conn, &RELEASE, &call).await?;
    Ok(())
}

/// The newest tick (ms) `job` completed, if any.
pub async fn completed_tick(
    conn: &mut RedisConn,
    keys: &Keys,
    job: &str,
) -> RedisResult<Option<i64>> {
    redis::cmd("GET")
        .arg(keys.job_tick(job))
        .query_async(conn)
        .await
}

/// One run of a job, as `{prefix}:job-runs` records it.
#[derive(Debug, Clone, Copy)]
pub struct RunRecord<'a> {
    /// The job's name.
    pub job: &'a str,
    /// The tick it ran for, ms.
    pub tick_ms: i64,
    /// The replica that ran it.
    pub runner: &'a str,
    /// `success`, `failure` or `skipped`.
    pub outcome: &'a str,
    /// How long it took.
    pub duration: Duration,
    /// Its one-line report or error.
    pub detail: &'a str,
    /// When it succeeded (seconds since the epoch), for a success: the tick is then done.
    pub succeeded_at: Option<f64>,
}

/// Records `run`, and for a success the completed tick and the time of success (the job's
/// keys share its hash tag; the record stream is elsewhere in a cluster, so it is a second
/// round trip).
pub async fn record_run(conn: &mut RedisConn, keys: &Keys, run: RunRecord<'_>) -> RedisResult<()> {
    if let Some(at) = run.succeeded_at {
        let mut pipe = redis::pipe();
        pipe.set(keys.job_tick(run.job), run.tick_ms)
            .ignore()
            .set(keys.job_last_success(run.job), at)
            .ignore();
        pipe.query_async::<()>(conn).await?;
    }
    redis::cmd("XADD")
        .arg(keys.job_runs())
        .arg("MAXLEN")
        .arg("~")
        .arg(RUNS_KEPT)
        .arg("*")
        .arg("job")
        .arg(run.job)
        .arg("tick")
        .arg(run.tick_ms)
        .arg("runner")
        .arg(run.runner)
        .arg("outcome")
        .arg(run.outcome)
        .arg("duration_ms")
        .arg(run.duration.as_millis() as u64)
        .arg("detail")
        .arg(run.detail)
        .query_async(conn)
        .await
}

/// When `job` last succeeded (seconds since the epoch).
pub async fn last_success(
    conn: &mut RedisConn,
    keys: &Keys,
    job: &str,
) -> RedisResult<Option<f64>> {
    redis::cmd("GET")
        .arg(keys.job_last_success(job))
        .query_async(conn)
        .await
}
