//! A three-master Redis Cluster on loopback, for the cluster-mode tests.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::RedisServer;

/// Three `--cluster-enabled` servers joined with `redis-cli --cluster create`.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts and joins the cluster, returning once every node reports `cluster_state:ok`.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli is installed");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = Self { nodes };
        cluster.wait_ok();
        cluster
    }

    /// The nodes' URLs, for `redis.urls`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// A cluster client connection, for assertions.
    pub fn connection(&self) -> redis::cluster::ClusterConnection {
        redis::cluster::ClusterClient::new(self.urls())
            .and_then(|c| c.get_connection())
            .expect("connect to test cluster")
    }

    /// The slot of `key`.
    pub fn slot(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.nodes[0].connection())
            .expect("CLUSTER KEYSLOT")
    }

    /// The index of the node that serves `slot` now.
    pub fn owner(&self, slot: u16) -> usize {
        let slots: Vec<(u16, u16, Vec<redis::Value>)> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut self.nodes[0].connection())
            .expect("CLUSTER SLOTS");
        let (_, _, master) = slots
            .into_iter()
            .find(|(start, end, _)| (*start..=*end).contains(&slot))
            .expect("the slot is served");
        let port = match master.get(1) {
            Some(redis::Value::Int(port)) => *port as u16,
            other => panic!("unexpected CLUSTER SLOTS node {other:?}"),
        };
        self.nodes
            .iter()
            .position(|n| n.port() == port)
            .expect("a node of ours")
    }

    /// Moves `slot` with its keys to node `to`, live, as `redis-cli --cluster reshard`
    /// does: `SETSLOT … IMPORTING/MIGRATING`, `MIGRATE` the keys in batches (clients get
    /// `ASK` and `TRYAGAIN` meanwhile), then `SETSLOT … NODE` on every node.
    pub fn migrate_slot(&self, slot: u16, to: usize) {
        let from = self.owner(slot);
        assert_ne!(from, to, "the slot is already there");
        let id = |i: usize| -> String {
            redis::cmd("CLUSTER")
                .arg("MYID")
                .query(&mut self.nodes[i].connection())
                .expect("CLUSTER MYID")
        };
        let (from_id, to_id) = (id(from), id(to));
        let (mut source, mut target) = (self.nodes[from].connection(), self.nodes[to].connection());
        let setslot = |conn: &mut redis::Connection, state: &str, node: &str| {
            let _: () = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(state)
                .arg(node)
                .query(conn)
                .unwrap_or_else(|e| panic!("SETSLOT {state}: {e}"));
        };
        setslot(&mut target, "IMPORTING", &from_id);
        setslot(&mut source, "MIGRATING", &to_id);
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(10)
                .query(&mut source)
                .expect("GETKEYSINSLOT");
            if keys.is_empty() {
                break;
            }
            let _: () = redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(self.nodes[to].port())
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys)
                .query(&mut source)
                .expect("MIGRATE");
        }
        for node in &self.nodes {
            setslot(&mut node.connection(), "NODE", &to_id);
        }
    }

    /// How often the nodes answered `MOVED`, `ASK` and `TRYAGAIN` so far (`INFO errorstats`).
    pub fn redirections(&self) -> std::collections::BTreeMap<String, u64> {
        let mut counts = std::collections::BTreeMap::new();
        for node in &self.nodes {
            let stats: String = redis::cmd("INFO")
                .arg("errorstats")
                .query(&mut node.connection())
                .unwrap_or_default();
            for line in stats.lines() {
                let Some((name, rest)) = line.trim().split_once(":count=") else {
                    continue;
                };
                let name = name.trim_start_matches("errorstat_");
                if ["MOVED", "ASK", "TRYAGAIN"].contains(&name) {
                    *counts.entry(name.to_owned()).or_insert(0) += rest.parse().unwrap_or(0);
                }
            }
        }
        counts
    }

    fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &self.nodes {
            loop {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut node.connection())
                    .unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "cluster did not reach state ok");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
