//! A connection that follows the master: one server's multiplexed, reconnecting connection
//! (redis-rs's `ConnectionManager`), replaced by a fresh one when the server we reach turns
//! out not to be the writable master any more.
//!
//! redis-rs's manager reconnects after a dropped connection, but always to the address it
//! started with, and not at all after `READONLY` (redis-rs issue #1438): after a failover it
//! would keep talking to the demoted server. So every failed command is classified
//! ([`Failure`]); when the server is no longer the master (`READONLY`, `MASTERDOWN`, a `WAIT`
//! that came back short) — and, with Sentinel, whenever the connection is lost — the master
//! is found again, in the background, and the next commands go to it:
//!
//! - one server (a managed primary endpoint): a new connection to the same URL, whose name
//!   is resolved again, so a DNS name that moved to the new primary is followed;
//! - Sentinel: the sentinels are asked for the current master (`SENTINEL MASTERS`, then
//!   `ROLE` on the candidate), first at the first command and again on each such failure.
//!
//! The command that failed fails (ingest answers 503 + `Retry-After`, consumers and jobs
//! retry); a replacement is at most every [`REPLACE_EVERY`], so an outage does not turn
//! into a storm of reconnections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::SentinelClient;
use redis::{Client, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use super::error::Failure;

/// The shortest time between two replacements of the connection.
pub const REPLACE_EVERY: Duration = Duration::from_millis(250);

/// Where the master is found.
pub(super) enum Source {
    /// Always this server (its name resolved again on every connect).
    Direct(Client),
    /// Whichever server the sentinels name master now.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

/// A shared connection to the current master. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct MasterConn {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    config: ConnectionManagerConfig,
    /// How long finding the master may take before the command waiting for it fails.
    resolve_timeout: Duration,
    current: ArcSwapOption<ConnectionManager>,
    /// Serializes finding the master; holds when it was last replaced.
    replacing: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for MasterConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shape = match self.inner.source {
            Source::Direct(_) => "direct",
            Source::Sentinel(_) => "sentinel",
        };
        write!(f, "MasterConn({shape})")
    }
}

impl MasterConn {
    /// A connection to the master `source` names, connecting at the first command.
    pub(super) fn new(
        source: Source,
        config: ConnectionManagerConfig,
        resolve_timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                config,
                resolve_timeout,
                current: ArcSwapOption::empty(),
                replacing: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The connection to use now, found first if there is none yet.
    async fn current(&self) -> RedisResult<Arc<ConnectionManager>> {
        if let Some(current) = self.inner.current.load_full() {
            return Ok(current);
        }
        let resolved = tokio::time::timeout(self.inner.resolve_timeout, self.inner.replace(None));
        match resolved.await {
            Ok(result) => result,
            Err(_) => Err(RedisError::from((
                ErrorKind::Io,
                "no master found in time",
                format!("{:?}", self.inner.resolve_timeout),
            ))),
        }
    }

    /// Says that the server behind the current connection may not be the master any more
    /// (e.g. `WAIT` came back short); the master is found again in the background.
    pub fn suspect(&self) {
        self.replace_in_background(self.inner.current.load_full());
    }

    /// Finds the master again in a task of its own; a failure is logged and the next command
    /// tries again.
    fn replace_in_background(&self, failed: Option<Arc<ConnectionManager>>) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            if let Err(e) = inner.replace(failed).await {
                tracing::warn!(error = %e, "cannot find the Redis master yet; the next command tries again");
            }
        });
    }

    fn after(&self, result: &RedisResult<impl Sized>, used: Arc<ConnectionManager>) {
        let Err(e) = result else { return };
        let failure = Failure::of(e);
        let sentinel = matches!(self.inner.source, Source::Sentinel(_));
        if failure.wants_new_master() || (sentinel && failure == Failure::ConnectionLost) {
            tracing::warn!(error = %e, "the Redis server is not the writable master (or is gone); finding the master again");
            self.replace_in_background(Some(used));
        }
    }
}

impl Inner {
    /// Finds the master and swaps in a new connection to it — unless `failed` is no longer
    /// the current connection (another task replaced it already) or the last replacement
    /// was less than [`REPLACE_EVERY`] ago.
    async fn replace(
        &self,
        failed: Option<Arc<ConnectionManager>>,
    ) -> RedisResult<Arc<ConnectionManager>> {
        let mut last = self.replacing.lock().await;
        if let Some(current) = self.current.load_full() {
            let stale = failed.as_ref().is_some_and(|f| Arc::ptr_eq(f, &current));
            let recent = last.is_some_and(|at| at.elapsed() < REPLACE_EVERY);
            if !stale || recent {
                return Ok(current);
            }
        }
        let client = match &self.source {
            Source::Direct(client) => client.clone(),
            Source::Sentinel(sentinels) => sentinels.lock().await.async_get_client().await?,
        };
        let manager = Arc::new(ConnectionManager::new_lazy_with_config(
            client,
            self.config.clone(),
        )?);
        self.current.store(Some(manager.clone()));
        *last = Some(Instant::now());
        tracing::info!("connected to the Redis master");
        Ok(manager)
    }
}

impl ConnectionLike for MasterConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let used = self.current().await?;
            let result = (*used).clone().req_packed_command(cmd).await;
            self.after(&result, used);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let used = self.current().await?;
            let result = (*used)
                .clone()
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.after(&result, used);
            result
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}
