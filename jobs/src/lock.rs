//! A Redis lock that lets one process at a time run a job across replicas.
//!
//! `SET key token NX PX ttl` takes it; while the holder works, a background task extends the
//! expiry every third of the TTL, but only while the key still holds the holder's token; the
//! holder releases it with a compare-and-delete. A holder that dies stops renewing, so the
//! lock frees itself after one TTL and another replica takes over.

use std::time::Duration;

use hookline_shared::redis::RedisConn;
use redis::{RedisResult, Script};
use tokio::task::JoinHandle;

/// How long a job's lock outlives a holder that stopped renewing it (crashed).
pub const TTL: Duration = Duration::from_secs(30);

/// Extends the expiry if the caller still holds the lock: 1 if extended, else 0.
const EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Deletes the key if the caller still holds the lock: 1 if released, else 0.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// A held lock. Dropping it stops the renewal; [`Held::release`] also frees the key at once.
#[derive(Debug)]
pub struct Held {
    key: String,
    token: String,
    renewal: JoinHandle<()>,
}

/// Takes the lock at `key` for `ttl` (renewed while held), or `None` when another process
/// holds it.
pub async fn acquire(conn: &RedisConn, key: &str, ttl: Duration) -> RedisResult<Option<Held>> {
    let token = uuid::Uuid::new_v4().to_string();
    let ttl_ms = ttl.as_millis().max(1) as u64;
    let mut c = conn.clone();
    let taken: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(&token)
        .arg("NX")
        .arg("PX")
        .arg(ttl_ms)
        .query_async(&mut c)
        .await?;
    if taken.is_none() {
        return Ok(None);
    }
    let renewal = tokio::spawn(renew(c, key.to_owned(), token.clone(), ttl_ms));
    Ok(Some(Held {
        key: key.to_owned(),
        token,
        renewal,
    }))
}

/// Extends the lock every third of its TTL until aborted or the lock is lost.
async fn renew(mut conn: RedisConn, key: String, token: String, ttl_ms: u64) {
    let script = Script::new(EXTEND);
    let every = Duration::from_millis((ttl_ms / 3).max(1));
    loop {
        tokio::time::sleep(every).await;
        let extended: RedisResult<u8> = script
            .key(&key)
            .arg(&token)
            .arg(ttl_ms)
            .invoke_async(&mut conn)
            .await;
        match extended {
            Ok(1) => {}
            Ok(_) => {
                tracing::warn!(lock = %key, "lock lost: another process may run this job too");
                return;
            }
            // A blip is retried at the next beat; the TTL covers two more beats.
            Err(e) => tracing::warn!(lock = %key, error = %e, "cannot extend lock"),
        }
    }
}

impl Held {
    /// Stops renewing and deletes the key if this process still holds it.
    pub async fn release(self, conn: &RedisConn) -> RedisResult<()> {
        self.renewal.abort();
        let mut c = conn.clone();
        let _: u8 = Script::new(RELEASE)
            .key(&self.key)
            .arg(&self.token)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}
