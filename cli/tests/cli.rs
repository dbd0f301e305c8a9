//! The `hookline` binary as operators run it: exit codes, messages, serve and stats.

use std::io::Write;
use std::process::{Command, Output};
use std::time::Duration;

use hookline_tests::{HttpClient, Process, RedisServer, github_headers, terminate, wait_until};

fn hookline(args: &[&str], config: &str) -> Output {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(config.as_bytes()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(args)
        .arg("--config")
        .arg(file.path())
        .env_remove("HOOKLINE_REDIS_URL")
        .output()
        .unwrap()
}

#[test]
fn check_config_names_the_key_path_and_exits_2() {
    let out = hookline(
        &["check-config"],
        "sources:\n  github:\n    provider: github\n    secrets: [\"${HOOKLINE_TEST_UNSET_SECRET}\"]\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "sources.github.secrets[0]: environment variable HOOKLINE_TEST_UNSET_SECRET is not set"
    );

    let out = hookline(&["check-config"], "streams:\n  partitions: 8\n  prefx: x\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("streams.prefx: unknown key"));

    let out = hookline(&["check-config"], "sources:\n  open: {provider: none}\n");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("config OK: 1 source(s) [open]"));
}

#[test]
fn bad_usage_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("check-config"));
}

#[tokio::test]
async fn serve_ingests_then_exits_0_on_sigterm_and_stats_counts() {
    let redis = RedisServer::start();
    let config = format!(
        "redis: {{url: \"{}\"}}\nstreams: {{partitions: 2}}\nsources:\n  github: {{provider: github, secrets: [\"s\"]}}\n",
        redis.url()
    );
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(config.as_bytes()).unwrap();
    let (mut serve, addr) = Process::serve(env!("CARGO_BIN_EXE_hookline"), file.path(), &[]).await;
    let client = HttpClient::default();
    let ready = format!("http://{addr}/readyz");
    wait_until("serve ready", Duration::from_secs(20), || {
        let (client, ready) = (client.clone(), ready.clone());
        async move {
            client
                .send("GET", &ready, &[], vec![])
                .await
                .ok()
                .filter(|r| r.status == 200)
        }
    })
    .await;
    let healthcheck = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_hookline"))
            .args(["healthcheck", "--url", url])
            .output()
            .unwrap()
    };
    assert_eq!(healthcheck(&ready).status.code(), Some(0));
    let missing = healthcheck(&format!("http://{addr}/nope"));
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));

    // The counters the alerts divide exist at 0 before the first webhook.
    let metrics = client
        .send("GET", &format!("http://{addr}/metrics"), &[], vec![])
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.body);
    for series in [
        r#"hookline_ingest_requests_total{source="github",status="503"} 0"#,
        r#"hookline_ingest_requests_total{source="github",status="202"} 0"#,
        r#"hookline_dedup_hits_total{source="github",kind="window"} 0"#,
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }

    let body = br#"{"zen":"ok","repository":{"full_name":"o/r"}}"#.to_vec();
    let url = format!("http://{addr}/webhooks/github");
    let reply = client
        .post(&url, &github_headers("s", "ping", "cli-1", &body), body)
        .await;
    assert_eq!(reply.status, 202);

    let stats = hookline(&["stats", "--json"], &config);
    assert_eq!(stats.status.code(), Some(0), "{stats:?}");
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let rows = &stats["partitions"];
    let total: u64 = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["length"].as_u64().unwrap())
        .sum();
    assert_eq!((rows.as_array().unwrap().len(), total), (2, 1));

    let status = terminate(&mut serve.child, Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", serve.stderr());
}

#[test]
fn job_compact_reports_what_it_moved() {
    let redis = RedisServer::start();
    let out = hookline(
        &["job", "compact", "--budget", "30s"],
        &format!("redis: {{url: \"{}\"}}\n", redis.url()),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("compacted 0 entries into 0 segment(s)")
    );
    let bad = hookline(&["job", "compact", "--budget", "soon"], "");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn replay_counts_on_a_dry_run_and_refuses_bad_times() {
    let redis = RedisServer::start();
    let config = format!("redis: {{url: \"{}\"}}\n", redis.url());
    let out = hookline(
        &[
            "replay",
            "--from",
            "2026-11-24T00:00:00Z",
            "--to",
            "2026-11-25T00:00:00Z",
            "--dry-run",
        ],
        &config,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("0 event(s) match"));
    let bad = hookline(
        &[
            "replay",
            "--from",
            "yesterday",
            "--to",
            "2026-11-25T00:00:00Z",
        ],
        &config,
    );
    assert_eq!(bad.status.code(), Some(2));
    let backwards = hookline(
        &[
            "replay",
            "--from",
            "2026-11-25T00:00:00Z",
            "--to",
            "2026-11-24T00:00:00Z",
        ],
        &config,
    );
    assert_eq!(backwards.status.code(), Some(2), "{backwards:?}");
    assert!(String::from_utf8_lossy(&backwards.stderr).contains("--from must be before --to"));
}

#[test]
fn job_archive_without_an_archive_does_nothing_and_says_so() {
    let redis = RedisServer::start();
    let out = hookline(
        &["job", "archive"],
        &format!("redis: {{url: \"{}\"}}\n", redis.url()),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("lifecycle.archive is not set"));
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "redis: {{url: \"{}\"}}\nlifecycle: {{archive: \"file://{}\"}}\n",
        redis.url(),
        dir.path().display()
    );
    let out = hookline(&["job", "archive"], &config);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("archived 0 entries"),
        "{out:?}"
    );
}

#[tokio::test]
async fn every_role_refuses_a_redis_that_may_evict_events_and_starts_on_noeviction() {
    let redis = RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]);
    let config = format!(
        "redis: {{url: \"{}\"}}\nsources:\n  open: {{provider: none}}\n",
        redis.url()
    );
    for role in [
        &["serve", "--listen", "127.0.0.1:0"][..],
        &["consume"],
        &["schedule"],
        &["job", "compact"],
        &[
            "replay",
            "--from",
            "2026-11-24T00:00:00Z",
            "--to",
            "2026-11-25T00:00:00Z",
        ],
        &["dlq", "list"],
        &["stats"],
        &["claim-pending"],
    ] {
        let out = hookline(role, &config);
        assert_eq!(out.status.code(), Some(2), "{role:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("redis: maxmemory-policy is allkeys-lru: "),
            "{role:?}: {stderr}"
        );
    }

    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query(&mut redis.connection())
        .unwrap();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(config.as_bytes()).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"));
    command.args(["schedule", "--config"]).arg(file.path());
    let mut scheduler = Process::spawn(command);
    scheduler
        .logged("scheduler started", Duration::from_secs(20))
        .await;
    assert!(
        scheduler.child.try_wait().unwrap().is_none(),
        "schedule runs on noeviction"
    );
    let status = terminate(&mut scheduler.child, Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0), "schedule exits 0 on SIGTERM");
}
