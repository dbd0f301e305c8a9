//! A Sentinel-managed pair on loopback: one master, one replica, three sentinels, with
//! timings shortened for tests (`down-after-milliseconds 1000`, `failover-timeout 5000`,
//! `SENTINEL DEBUG info-period 100 publish-period 200`, `repl-diskless-sync-delay 0`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::RedisServer;
use crate::server::free_port;

/// The master's name in the sentinels.
pub const MASTER_NAME: &str = "mymaster";

/// A master, its replica and three sentinels watching them; everything stops on drop.
pub struct SentinelSet {
    /// The server that starts as master.
    pub first: RedisServer,
    /// The server that starts as replica.
    pub second: RedisServer,
    sentinels: Vec<SentinelProcess>,
}

struct SentinelProcess {
    port: u16,
    child: Child,
    _dir: TempDir,
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const REPLICATION: [&str; 4] = [
    "--repl-diskless-sync",
    "yes",
    "--repl-diskless-sync-delay",
    "0",
];

impl SentinelSet {
    /// Starts the servers, waits until the replica is in sync, then starts the sentinels and
    /// waits until each knows the master and its replica.
    pub fn start() -> Self {
        let first = RedisServer::start_with(&REPLICATION);
        let port = first.port().to_string();
        let mut replica_args = REPLICATION.to_vec();
        replica_args.extend(["--replicaof", "127.0.0.1", port.as_str()]);
        let second = RedisServer::start_with(&replica_args);
        wait(Duration::from_secs(20), "the replica in sync", || {
            info(&second, "replication").contains("master_link_status:up")
        });
        let sentinels = (0..3)
            .map(|_| SentinelProcess::start(first.port()))
            .collect();
        let set = Self {
            first,
            second,
            sentinels,
        };
        wait(
            Duration::from_secs(20),
            "sentinels that see the replica",
            || {
                set.sentinels.iter().all(|s| {
                    let replicas: redis::RedisResult<Vec<redis::Value>> = redis::cmd("SENTINEL")
                        .arg("REPLICAS")
                        .arg(MASTER_NAME)
                        .query(&mut s.connection());
                    replicas.is_ok_and(|r| !r.is_empty())
                })
            },
        );
        set
    }

    /// The sentinels' URLs, for `redis.urls` with `mode: sentinel`.
    pub fn urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port))
            .collect()
    }

    /// The port of the server the first sentinel names master now.
    pub fn master_port(&self) -> u16 {
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER_NAME)
            .query(&mut self.sentinels[0].connection())
            .expect("the sentinel knows the master");
        port
    }

    /// The server that is master now.
    pub fn master(&self) -> &RedisServer {
        match self.master_port() == self.first.port() {
            true => &self.first,
            false => &self.second,
        }
    }

    /// Asks a sentinel for a failover now (`SENTINEL FAILOVER`, no agreement needed).
    pub fn failover(&self) {
        let _: () = redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg(MASTER_NAME)
            .query(&mut self.sentinels[0].connection())
            .expect("SENTINEL FAILOVER");
    }
}

impl SentinelProcess {
    fn start(master_port: u16) -> Self {
        for _ in 0..10 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let conf = dir.path().join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {}\nlogfile {}\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 5000\n\
                     sentinel parallel-syncs {MASTER_NAME} 1\n",
                    dir.path().display(),
                    dir.path().join("sentinel.log").display()
                ),
            )
            .expect("write sentinel.conf");
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server is installed");
            let mut sentinel = Self {
                port,
                child,
                _dir: dir,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = sentinel.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                if sentinel.answers() {
                    // INFO every 100 ms instead of 10 s, and a demoted master is turned into
                    // the new master's replica after 4 × 200 ms instead of 4 × 2 s: with
                    // `redis.wait.replicas: 1` and one replica, that is when writes can be
                    // acknowledged again.
                    let _: redis::RedisResult<()> = redis::cmd("SENTINEL")
                        .arg("DEBUG")
                        .arg("INFO-PERIOD")
                        .arg(100)
                        .arg("PUBLISH-PERIOD")
                        .arg(200)
                        .query(&mut sentinel.connection());
                    return sentinel;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not start a sentinel");
    }

    fn answers(&self) -> bool {
        redis::Client::open(format!("redis://127.0.0.1:{}", self.port))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }

    fn connection(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}", self.port))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
            .unwrap_or_else(|e| panic!("connect to sentinel {}: {e}", self.port))
    }
}

/// `INFO section` of `server`.
pub fn info(server: &RedisServer, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query(&mut server.connection())
        .unwrap_or_default()
}

fn wait(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
