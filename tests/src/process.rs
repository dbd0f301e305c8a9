//! A `hookline` binary (or a Lambda function) started by a test: its standard error is
//! collected line by line, so a test can wait for what the process logged — above all the
//! address it bound. Tests start servers with `--listen 127.0.0.1:0` (and
//! `observability.listen: 127.0.0.1:0`) and read the address back from the
//! `… listening` line: no port is chosen by the test and handed on.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::wait_until;

/// A running process and the lines it wrote to standard error so far.
pub struct Process {
    /// The child (killed when dropped).
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `hookline serve --listen 127.0.0.1:0 --config CONFIG` from `binary` with `env`
    /// added and standard output discarded, and waits for the address it bound.
    pub async fn serve(
        binary: &str,
        config: &std::path::Path,
        env: &[(&str, String)],
    ) -> (Self, SocketAddr) {
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null());
        let serve = Self::spawn(command);
        let addr = serve.listening("ingest listening").await;
        (serve, addr)
    }

    /// Starts `hookline dev --data-dir DIR --config CONFIG` from `binary` with standard output
    /// discarded, and waits for the ingest address it bound (the config's `server.listen`).
    pub async fn dev(
        binary: &str,
        data_dir: &std::path::Path,
        config: &std::path::Path,
    ) -> (Self, SocketAddr) {
        let mut command = Command::new(binary);
        command
            .args(["dev", "--data-dir"])
            .arg(data_dir)
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null());
        let dev = Self::spawn(command);
        let addr = dev.listening("ingest listening").await;
        (dev, addr)
    }

    /// Starts `command` with standard error captured (standard output is left as set).
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the process starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        tokio::spawn({
            let lines = lines.clone();
            async move {
                let mut reader = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            }
        });
        Self { child, lines }
    }

    /// Everything written to standard error so far.
    pub fn stderr(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// Waits (at most 30 s) for a log line with `message` and an `address` field — as
    /// `ingest listening` and `health and metrics listening` are — and returns the address.
    pub async fn listening(&self, message: &str) -> SocketAddr {
        wait_until(message, Duration::from_secs(30), || {
            let found = self
                .lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|line| line.contains(message))
                .find_map(|line| address_in(line));
            async move { found }
        })
        .await
    }

    /// Waits (at most `timeout`) until standard error has a line containing `text`.
    pub async fn logged(&self, text: &str, timeout: Duration) {
        wait_until(text, timeout, || {
            let seen = self.stderr().contains(text);
            async move { seen.then_some(()) }
        })
        .await;
    }
}

/// The `address` of a JSON log line (`"address":"127.0.0.1:4000"`) or a text one
/// (`address=127.0.0.1:4000`).
fn address_in(line: &str) -> Option<SocketAddr> {
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(line) {
        return fields.get("address")?.as_str()?.parse().ok();
    }
    let at = line.find("address=")? + "address=".len();
    line[at..].split_whitespace().next()?.parse().ok()
}

/// A process's peak resident memory (`VmHWM` in `/proc/PID/status`), in MiB.
pub fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("a VmHWM line");
    kib / 1024
}

/// Starts `binary ROLE --config CONFIG` (e.g. `consume`) with its output discarded, killed
/// when dropped.
pub fn spawn_quiet(binary: &str, role: &str, config: &std::path::Path) -> Child {
    Command::new(binary)
        .arg(role)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the process starts")
}

/// Runs `binary ARGS --config CONFIG` to completion and returns its standard output; panics
/// with the whole output unless it exits 0 (for operator commands in tests).
pub fn run_command(binary: &str, config: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(binary)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("the command starts");
    assert!(out.status.success(), "{binary} {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_address_is_read_from_json_and_text_lines() {
        let json = r#"{"timestamp":"…","level":"INFO","address":"127.0.0.1:4321","message":"ingest listening"}"#;
        assert_eq!(
            super::address_in(json),
            Some("127.0.0.1:4321".parse().unwrap())
        );
        let text =
            "2026-12-01T10:00:00Z  INFO hookline_cli::serve: ingest listening address=127.0.0.1:80";
        assert_eq!(
            super::address_in(text),
            Some("127.0.0.1:80".parse().unwrap())
        );
    }
}
