//! Waiting in tests: polling with a deadline, and a child process's exit after SIGTERM.

use std::future::Future;
use std::time::{Duration, Instant};

/// Calls `check` every 20ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most 10 s) until no key matches `pattern` — e.g. until the dedup windows of
/// `{prefix}:dedup:*` have expired in Redis, whose clock the test cannot move.
pub async fn wait_until_expired(conn: &hookline_shared::redis::RedisConn, pattern: &str) {
    wait_until(pattern, Duration::from_secs(10), || {
        let mut conn = conn.clone();
        async move {
            let (_, keys): (String, Vec<String>) = redis::cmd("SCAN")
                .arg(0)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1_000_000)
                .query_async(&mut conn)
                .await
                .ok()?;
            keys.is_empty().then_some(())
        }
    })
    .await
}

/// Sends SIGTERM to `child` and waits at most `within` for it to exit; returns its status.
pub async fn terminate(
    child: &mut tokio::process::Child,
    within: Duration,
) -> std::process::ExitStatus {
    let pid = child.id().expect("the child is running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIGTERM to {pid}");
    tokio::time::timeout(within, child.wait())
        .await
        .unwrap_or_else(|_| panic!("no exit within {within:?} of SIGTERM"))
        .expect("wait for the child")
}
