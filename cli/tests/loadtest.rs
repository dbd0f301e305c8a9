//! `hookline loadtest` against `hookline dev`, as the README's pre-launch check runs it:
//! a progress line per second, a summary, and every 202 stored once (`--verify-redis`).

use std::io::Write;
use std::time::Duration;

use hookline_tests::{Process, RedisServer, terminate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadtest_against_dev_reports_every_second_and_finds_every_202_stored_once() {
    let redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    let mut config = tempfile::NamedTempFile::new().unwrap();
    write!(
        config,
        "server: {{listen: \"127.0.0.1:0\"}}\nredis: {{url: \"{}\"}}\nsources:\n  github: {{provider: github, secrets: [\"dev-secret\"]}}\nconsumer:\n  groups:\n    log:\n      sink: {{type: log}}\nobservability: {{log_format: json}}\n",
        redis.url()
    )
    .unwrap();
    let binary = env!("CARGO_BIN_EXE_hookline");
    let (mut dev, addr) = Process::dev(binary, data.path(), config.path()).await;

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["loadtest", "--source", "github", "--provider", "github"])
        .args([
            "--secret",
            "dev-secret",
            "--rate",
            "500",
            "--duration",
            "10s",
        ])
        .arg("--target")
        .arg(format!("http://{addr}"))
        .arg("--verify-redis")
        .arg(redis.url())
        .env_remove("HOOKLINE_CONFIG")
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let progress: Vec<&str> = stderr.lines().filter(|l| l.contains("req/s")).collect();
    assert!(
        (9..=12).contains(&progress.len()),
        "a progress line per second: {stderr}"
    );
    assert!(
        progress
            .iter()
            .all(|l| l.contains("p99") && l.contains("202:")),
        "{stderr}"
    );
    assert!(stdout.contains("sent 5000 requests"), "{stdout}");
    assert!(stdout.contains("statuses: 202 x 5000"), "{stdout}");
    assert!(
        stdout.contains("latency from the planned send time: p50"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "verify-redis: 5000 accepted, 5000 stored once, 0 missing, 0 stored more than once"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("dev-secret") && !stderr.contains("dev-secret"));
    eprintln!("{stdout}{}", progress.last().unwrap());
    let status = terminate(&mut dev.child, Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{}", dev.stderr());
}

#[tokio::test]
async fn a_request_that_cannot_be_signed_or_sent_is_a_clear_usage_error() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args([
            "loadtest",
            "--target",
            "http://127.0.0.1:9",
            "--source",
            "s",
        ])
        .args([
            "--provider",
            "standard",
            "--secret",
            "not-a-key",
            "--rate",
            "1",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--secret: a standard webhooks key is `whsec_`"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-a-key"), "{stderr}");
}
