//! How hookline reaches Redis: the one module tree through which every Redis command goes.
//!
//! # Connections
//! [`Redis`] is built once per process from the `redis` section and hands out connections:
//! [`Redis::shared`], one multiplexed connection that every request, job and worker clones
//! (concurrent commands pipeline over it), and [`Redis::dedicated`] for blocking group reads,
//! which would stall everything queued behind them on a shared connection. A [`RedisConn`] is
//! one of two shapes:
//! - [`MasterConn`] for one server or a Sentinel-managed master: redis-rs's reconnecting
//!   `ConnectionManager`, replaced when the server is no longer the writable master
//!   ([`master`] explains when and how);
//! - the cluster-async connection for Redis Cluster (a connection per node, slot routing,
//!   `MOVED`/`ASK`/`TRYAGAIN` followed by redis-rs).
//!
//! Both connect lazily, so a process starts, and answers 503, while Redis is down, and
//! recovers without a restart. TLS (rustls, a private CA, client certificates) and ACL users
//! apply to every shape, sentinels included ([`connect`]).
//!
//! # Commands
//! One module per kind of work, each sending typed commands and returning typed replies:
//! [`streams`] (entries in and out), [`groups`] (consumer groups: create, read, ack, pending,
//! claim, introspection), [`append`] (the de-duplicating append script) and [`bloom`] (its
//! long-term filters), [`dead_letters`], [`counts`] (summary counts), [`breaker`] (shared
//! circuit state), [`segments`] (the warm tier), [`jobs`] (locks, ticks, run records),
//! [`server`] (what the server is and how it is configured). Scripts are `.lua` files beside
//! the module that sends them, run as `EVALSHA` (loaded on `NOSCRIPT`) and, where writes must
//! reach replicas (`redis.wait`), followed by `WAIT` in the same pipeline. [`error`] is the
//! one place that classifies failures.

pub mod append;
pub mod bloom;
pub mod breaker;
pub mod connect;
pub mod counts;
pub mod dead_letters;
pub mod error;
pub mod groups;
pub mod jobs;
pub mod master;
pub mod recover;
mod script;
pub mod segments;
pub mod server;
pub mod streams;

use ::redis::aio::{ConnectionLike, ConnectionManagerConfig};
use ::redis::cluster::ClusterConfig;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::config::{ConfigError, RedisConfig, RedisMode};
use connect::Tls;
pub use error::Failure;
pub use master::MasterConn;
pub use server::{EvictionPolicyError, check_eviction_policy};

/// How a process reaches Redis, built once from the `redis` section (see the module docs).
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Redis {
    config: RedisConfig,
    tls: Option<Tls>,
    shared: RedisConn,
}

impl Redis {
    /// Reads the certificates and prepares the shared connection, without waiting for Redis
    /// to answer. A config error names the key (an unreadable certificate, a bad URL).
    pub fn open(config: &RedisConfig) -> Result<Self, ConfigError> {
        connect::install_crypto_provider();
        let tls = Tls::load(config)?;
        Ok(Self {
            shared: RedisConn::open_with(config, tls.as_ref())?,
            config: config.clone(),
            tls,
        })
    }

    /// The process's shared connection (a clone of one multiplexed connection).
    pub fn shared(&self) -> RedisConn {
        self.shared.clone()
    }

    /// A connection of its own, for commands that block (group reads with `BLOCK`).
    pub fn dedicated(&self) -> Result<RedisConn, ConfigError> {
        RedisConn::open_with(&self.config, self.tls.as_ref())
    }

    /// The `redis.wait` setting: how many replicas writes wait for.
    pub fn wait(&self) -> Option<crate::config::WaitConfig> {
        self.config.wait
    }
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

/// A reconnecting connection to the master of one server or Sentinel set, or to a Cluster.
#[derive(Clone)]
pub enum RedisConn {
    /// One server or a Sentinel-managed master.
    Master(MasterConn),
    /// A Redis Cluster, routed by key slot.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Connection details may carry a password: name the shape only.
        match self {
            Self::Master(master) => write!(f, "RedisConn::{master:?}"),
            Self::Cluster(_) => f.write_str("RedisConn::Cluster"),
        }
    }
}

impl RedisConn {
    /// Prepares a connection from config without waiting for Redis to answer (certificates
    /// are read from their files; [`Redis::open`] reads them once for all connections).
    pub fn open(config: &RedisConfig) -> Result<Self, ConfigError> {
        connect::install_crypto_provider();
        Self::open_with(config, Tls::load(config)?.as_ref())
    }

    fn open_with(config: &RedisConfig, tls: Option<&Tls>) -> Result<Self, ConfigError> {
        let connect_timeout = config.connect_timeout.get();
        let response_timeout = config.response_timeout.get();
        let manager = || {
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(response_timeout))
                .set_max_delay(std::time::Duration::from_secs(2))
                .set_number_of_retries(1)
        };
        let nodes = config.nodes();
        match config.mode {
            RedisMode::Single => {
                let info = connect::connection_info(&nodes[0], config, tls)?;
                let client = connect::client(info, tls)?;
                let source = master::Source::Direct(client);
                Ok(Self::Master(MasterConn::new(
                    source,
                    manager(),
                    response_timeout,
                )))
            }
            RedisMode::Sentinel => {
                let sentinels = connect::sentinel_client(config, tls)?;
                let source = master::Source::Sentinel(tokio::sync::Mutex::new(sentinels));
                Ok(Self::Master(MasterConn::new(
                    source,
                    manager(),
                    response_timeout,
                )))
            }
            RedisMode::Cluster => {
                let infos = nodes
                    .iter()
                    .map(|node| connect::connection_info(node, config, tls))
                    .collect::<Result<Vec<_>, _>>()?;
                let client = connect::cluster_client(infos, tls, config)?;
                let settings = ClusterConfig::new()
                    .set_connection_timeout(connect_timeout)
                    .set_response_timeout(response_timeout);
                Ok(Self::Cluster(
                    client.get_pending_async_connection_with_config(settings),
                ))
            }
        }
    }

    /// Says the server behind this connection may not be the master any more (a short
    /// `WAIT`): a master connection finds the master again; a cluster follows by itself.
    pub fn suspect_failover(&self) {
        if let Self::Master(master) = self {
            master.suspect();
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Master(c) => c.req_packed_command(cmd),
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
            Self::Master(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Master(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}
