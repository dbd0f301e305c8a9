//! One `redis-server` process on a free port.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::TestCerts;

/// A redis-server started for one test; killed when dropped.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
    extra: Vec<String>,
    /// With ACLs on: the password of the harness's own `admin` user (`default` is off).
    admin: Option<String>,
    /// With TLS: the certificates, and the TLS port of the current process.
    tls: Option<(Vec<String>, u16)>,
}

impl RedisServer {
    /// Starts a server with no persistence on a free port.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments (e.g. `--cluster-enabled yes`).
    pub fn start_with(extra: &[&str]) -> Self {
        Self::launch(extra.iter().map(|s| s.to_string()).collect(), None, None)
    }

    /// Starts a server that speaks TLS on [`tls_port`](Self::tls_port) with `certs` (client
    /// certificates required) and plain TCP on [`port`](Self::port) for the harness, with
    /// `user default off`, the harness's `admin` user, and the ACL `users` lines
    /// (`"ingest on >secret ~hookline:* +@all"`, as for `ACL SETUSER`).
    pub fn start_secure(certs: &TestCerts, users: &[&str]) -> Self {
        let admin = uuid_like();
        let mut extra: Vec<String> = ["--user", "default", "off", "--user", "admin", "on"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        extra.extend([
            format!(">{admin}"),
            "~*".into(),
            "&*".into(),
            "+@all".into(),
        ]);
        for user in users {
            extra.push("--user".into());
            extra.extend(user.split_whitespace().map(str::to_owned));
        }
        let probe = certs.redis_args(0);
        Self::launch(extra, Some(admin), Some((probe, 0)))
    }

    fn launch(extra: Vec<String>, admin: Option<String>, tls: Option<(Vec<String>, u16)>) -> Self {
        // A port found free may be taken before redis binds it: try a few.
        for _ in 0..10 {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut server = Self {
                port: free_port(),
                dir,
                child: None,
                extra: extra.clone(),
                admin: admin.clone(),
                tls: tls.clone(),
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("could not start redis-server on a free port");
    }

    /// `redis://127.0.0.1:PORT` (as the harness's admin user when ACLs are on).
    pub fn url(&self) -> String {
        match &self.admin {
            Some(password) => format!("redis://admin:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// `rediss://127.0.0.1:TLS_PORT`, for a server started with [`start_secure`](Self::start_secure).
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls_port())
    }

    /// The TLS port.
    pub fn tls_port(&self) -> u16 {
        self.tls
            .as_ref()
            .map(|(_, port)| *port)
            .expect("a TLS server")
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A synchronous client connection (plain TCP, as the harness's admin where ACLs are on).
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect to test redis")
    }

    /// Every entry of `stream`, oldest first (none when it does not exist).
    pub fn entries(&self, stream: &str) -> Vec<hookline_shared::event::StoredEvent> {
        let reply: redis::Value = redis::cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .query(&mut self.connection())
            .unwrap_or(redis::Value::Nil);
        hookline_shared::redis::streams::from_entry_list(reply)
    }

    /// Every event in the first `partitions` partition streams of the default prefix.
    pub fn events(&self, partitions: u16) -> Vec<hookline_shared::event::StoredEvent> {
        (0..partitions)
            .flat_map(|p| self.entries(&format!("hookline:events:{{{p}}}")))
            .collect()
    }

    /// Kills the server (SIGKILL), as an outage would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not come back on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Spawns redis-server and waits until it answers PING; false if it exited.
    fn spawn(&mut self) -> bool {
        let tls_args = match &mut self.tls {
            Some((template, port)) => {
                if *port == 0 {
                    *port = free_port(); // kept across restarts
                }
                let mut args = template.clone();
                args[1] = port.to_string(); // `--tls-port N` leads the certificate arguments
                args
            }
            None => Vec::new(),
        };
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.dir.path().join("redis.log"))
            .args(&self.extra)
            .args(&tls_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return false;
            }
            if ping(&self.url()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// The server's directory (for logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn ping(url: &str) -> bool {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// A random password for the harness's admin user.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("admin-{nanos:x}-{}", std::process::id())
}

/// A loopback port that is free now, whose cluster bus port (+10000) is free too.
pub(crate) fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind")
            .port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}
