//! A Redis lock that lets one process at a time run a job across replicas.
//!
//! `SET key token NX PX ttl` takes it; while the holder works, a background task extends the
//! expiry every third of the TTL, but only while the key still holds the holder's token; the
//! holder releases it with a compare-and-delete. A holder that dies stops renewing, so the
//! lock frees itself after one TTL and another replica takes over.

use std::time::Duration;

use hookline_shared::redis::{RedisConn, jobs};
use redis::RedisResult;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a job's lock outlives a holder that stopped renewing it (crashed).
pub const TTL: Duration = Duration::from_secs(30);

/// A held lock. Dropping it stops the renewal; [`Held::release`] also frees the key at once.
#[derive(Debug)]
pub struct Held {
    key: String,
    token: String,
    renewal: JoinHandle<()>,
    lost: CancellationToken,
}

/// Takes the lock at `key` for `ttl` (renewed while held), or `None` when another process
/// holds it.
pub async fn acquire(conn: &RedisConn, key: &str, ttl: Duration) -> RedisResult<Option<Held>> {
    let token = uuid::Uuid::new_v4().to_string();
    let mut c = conn.clone();
    if !jobs::lock(&mut c, key, &token, ttl).await? {
        return Ok(None);
    }
    let lost = CancellationToken::new();
    let renewal = tokio::spawn(renew(c, key.to_owned(), token.clone(), ttl, lost.clone()));
    Ok(Some(Held {
        key: key.to_owned(),
        token,
        renewal,
        lost,
    }))
}

/// Extends the lock every third of its TTL until aborted or the lock is lost, then cancels
/// `lost`: when the key holds another token, or when no extension succeeded for a whole TTL
/// (the key may have expired and been taken).
async fn renew(
    mut conn: RedisConn,
    key: String,
    token: String,
    ttl: Duration,
    lost: CancellationToken,
) {
    let every = (ttl / 3).max(Duration::from_millis(1));
    let mut extended = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(every).await;
        match jobs::extend_lock(&mut conn, &key, &token, ttl).await {
            Ok(true) => extended = tokio::time::Instant::now(),
            Ok(false) => {
                tracing::warn!(lock = %key, "lock lost: this run stops at its next safe point");
                lost.cancel();
                return;
            }
            // A blip is retried at the next beat; the TTL covers two more beats.
            Err(e) if extended.elapsed() < ttl => {
                tracing::warn!(lock = %key, error = %e, "cannot extend lock")
            }
            Err(e) => {
                tracing::warn!(lock = %key, error = %e, "lock not extended for a whole TTL: this run stops at its next safe point");
                lost.cancel();
                return;
            }
        }
    }
}

impl Held {
    /// Cancelled once the lock is lost; fence the run's [`crate::Budget`] with it.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// Stops renewing and deletes the key if this process still holds it.
    pub async fn release(self, conn: &RedisConn) -> RedisResult<()> {
        self.renewal.abort();
        jobs::unlock(&mut conn.clone(), &self.key, &self.token).await
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}
