//! Running the Lua scripts: `EVALSHA` built by the caller's typed wrapper, the script loaded
//! on `NOSCRIPT` (a restart or failover emptied the script cache) and the call sent again,
//! and, with `redis.wait`, a `WAIT` in the same pipeline so that the reply means "on the
//! master and on N replicas".

use redis::{Cmd, FromRedisValue, RedisResult, Script, ToRedisArgs};

use super::RedisConn;
use super::error::{Failure, not_replicated};
use crate::config::WaitConfig;

/// `EVALSHA sha numkeys keys…`; the caller appends the arguments.
pub(super) fn evalsha<K: ToRedisArgs>(script: &Script, keys: &[K]) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(keys.len()).arg(keys);
    cmd
}

/// Sends `call` (built by [`evalsha`]), loading `script` once on `NOSCRIPT`.
pub(super) async fn run<T: FromRedisValue>(
    conn: &mut RedisConn,
    script: &Script,
    call: &Cmd,
) -> RedisResult<T> {
    match call.query_async(conn).await {
        Err(e) if Failure::of(&e) == Failure::NoScript => {
            script.load_async(conn).await?;
            call.query_async(conn).await
        }
        other => other,
    }
}

/// Like [`run`], then, with `wait`, `WAIT replicas timeout` in the same pipeline (so on the
/// same connection and, in a cluster, the same node as the script's keys): fewer replicas in
/// time is an error ([`Failure::NotReplicated`]), and the connection is told its server may
/// not be the master any more.
pub(super) async fn run_replicated<T: FromRedisValue>(
    conn: &mut RedisConn,
    script: &Script,
    call: &Cmd,
    wait: Option<WaitConfig>,
) -> RedisResult<T> {
    let Some(wait) = wait else {
        return run(conn, script, call).await;
    };
    let mut pipe = redis::pipe();
    pipe.add_command(call.clone())
        .cmd("WAIT")
        .arg(wait.replicas)
        .arg(wait.timeout.get().as_millis() as u64);
    let sent: RedisResult<(T, u64)> = match pipe.query_async(conn).await {
        Err(e) if Failure::of(&e) == Failure::NoScript => {
            script.load_async(conn).await?;
            pipe.query_async(conn).await
        }
        other => other,
    };
    let (reply, replicas) = sent?;
    confirm(conn, replicas, wait)?;
    Ok(reply)
}

pub(super) fn confirm(conn: &RedisConn, replicas: u64, wait: WaitConfig) -> RedisResult<()> {
    if replicas >= u64::from(wait.replicas) {
        return Ok(());
    }
    conn.suspect_failover();
    Err(not_replicated(replicas, wait.replicas))
}
