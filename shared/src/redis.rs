//! How hookline reaches Redis: one small connection type over single-server and Redis
//! Cluster deployments, and the per-process handle ([`Redis`]) that hands connections out.
//!
//! [`RedisConn`] is cheap to clone and shared by every request: single mode wraps redis-rs's
//! `ConnectionManager` (one multiplexed TCP connection that pipelines concurrent commands and
//! reconnects in the background after an outage), cluster mode wraps the cluster-async
//! connection (one multiplexed connection per node, slot-aware routing, MOVED handling).
//! Both connect lazily, so a process starts, and answers 503, while Redis is down, and
//! recovers without a restart once it is back. Both implement redis-rs's `ConnectionLike`,
//! so commands, pipelines and scripts run unchanged on either.
//!
//! Sentinel and TLS fit here as further variants / connection options; config validation
//! refuses them until they exist.

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::{ClusterClientBuilder, ClusterConfig};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use crate::config::{RedisConfig, RedisMode};

/// How a process reaches Redis, built once from the `redis` section: the shared connection
/// that every request and job uses, and dedicated connections for blocking reads (a blocking
/// `XREADGROUP` on the shared multiplexed connection would stall every command queued behind
/// it). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Redis {
    config: RedisConfig,
    shared: RedisConn,
}

impl Redis {
    /// Prepares the shared connection without waiting for Redis to answer.
    pub fn open(config: &RedisConfig) -> RedisResult<Self> {
        Ok(Self {
            shared: RedisConn::open(config)?,
            config: config.clone(),
        })
    }

    /// The process's shared connection (a clone of one multiplexed connection).
    pub fn shared(&self) -> RedisConn {
        self.shared.clone()
    }

    /// A connection of its own, for commands that block (group reads with `BLOCK`).
    pub fn dedicated(&self) -> RedisResult<RedisConn> {
        RedisConn::open(&self.config)
    }
}

/// A shared, reconnecting connection to a single Redis server or a Redis Cluster.
#[derive(Clone)]
pub enum RedisConn {
    /// One server, through a reconnecting multiplexed connection.
    Single(ConnectionManager),
    /// A Redis Cluster, routed by key slot.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Connection details may carry a password: name the shape only.
        f.write_str(match self {
            Self::Single(_) => "RedisConn::Single",
            Self::Cluster(_) => "RedisConn::Cluster",
        })
    }
}

impl RedisConn {
    /// Prepares a connection from config without waiting for Redis to answer.
    pub fn open(cfg: &RedisConfig) -> RedisResult<Self> {
        let nodes = cfg.nodes();
        let mut infos = Vec::with_capacity(nodes.len());
        for node in nodes {
            let mut info = node.as_str().into_connection_info()?;
            let mut settings = info.redis_settings().clone();
            if let Some(user) = &cfg.username {
                settings = settings.set_username(user);
            }
            if let Some(password) = &cfg.password {
                settings = settings.set_password(password.expose());
            }
            info = info.set_redis_settings(settings);
            infos.push(info);
        }
        let connect_timeout = cfg.connect_timeout.get();
        let response_timeout = cfg.response_timeout.get();
        match cfg.mode {
            RedisMode::Sentinel => Err(RedisError::from((
                ::redis::ErrorKind::Client,
                "sentinel mode is not supported by this build",
            ))),
            RedisMode::Single => {
                let info = infos.into_iter().next().ok_or_else(no_nodes)?;
                let client = ::redis::Client::open(info)?;
                let manager = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(response_timeout))
                    .set_max_delay(std::time::Duration::from_secs(2))
                    .set_number_of_retries(1);
                Ok(Self::Single(ConnectionManager::new_lazy_with_config(
                    client, manager,
                )?))
            }
            RedisMode::Cluster => {
                let client = ClusterClientBuilder::new(infos).build()?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(connect_timeout)
                    .set_response_timeout(response_timeout);
                Ok(Self::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
    }

    /// Sends `PING`; used by readiness checks.
    pub async fn ping(&mut self) -> RedisResult<()> {
        ::redis::cmd("PING").query_async::<()>(self).await
    }
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

/// Reads `maxmemory-policy` and refuses any `allkeys-*` policy (stream keys could be evicted);
/// warns on `volatile-*` (only keys with a TTL, such as dedup keys, can go: duplicates, not
/// losses). Where `CONFIG` is not permitted (ElastiCache) or Redis does not answer yet, it
/// says so in the log and lets the process start.
pub async fn check_eviction_policy(conn: &mut RedisConn) -> Result<(), EvictionPolicyError> {
    let reply: RedisResult<Vec<String>> = ::redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query_async(conn)
        .await;
    let policy = match reply {
        Ok(pair) if pair.len() == 2 => pair[1].clone(),
        Ok(_) => return Ok(()),
        Err(e) => {
            tracing::info!(error = %e, "cannot read maxmemory-policy (CONFIG may be disabled, as on ElastiCache); make sure it is noeviction");
            return Ok(());
        }
    };
    if policy.starts_with("allkeys-") {
        return Err(EvictionPolicyError { policy });
    }
    if policy.starts_with("volatile-") {
        tracing::warn!(%policy, "maxmemory-policy may evict de-duplication keys under memory pressure (duplicates could get through, no event is lost); noeviction is safer");
    }
    Ok(())
}

fn no_nodes() -> RedisError {
    RedisError::from((::redis::ErrorKind::Client, "no Redis URL configured"))
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}
