//! `hookline consume` as a process: no event lost when it is killed mid-stream, and a clean
//! exit on SIGTERM.

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use hookline_tests::{
    Process, Receiver, RedisServer, TEST_WHSEC, append_entries, append_entry, append_entry_now,
    consumer_yaml, peak_rss_mib, terminate, wait_until,
};
use tokio::process::{Child, Command};

const WHSEC: &str = TEST_WHSEC;

fn config_file(redis: &RedisServer, receiver: &Receiver, extra: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(consumer_yaml(redis, &receiver.url(), extra).as_bytes())
        .unwrap();
    file
}

fn consume(config: &tempfile::NamedTempFile) -> Child {
    hookline_tests::spawn_quiet(env!("CARGO_BIN_EXE_hookline"), "consume", config.path())
}

fn pending(redis: &RedisServer) -> usize {
    hookline_tests::pending(redis, "app")
}

/// Delivery counts per event id.
fn received(receiver: &Receiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for call in receiver.calls() {
        let id = call.headers["webhook-id"].to_str().unwrap().to_owned();
        *seen.entry(id).or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_survive_two_kill_9s() {
    const EVENTS: usize = 10_000;
    let redis = RedisServer::start();
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let config = config_file(&redis, &receiver, "");
    append_entries(&redis, EVENTS);

    for stop_at in [2_000, 5_000] {
        let mut consumer = consume(&config);
        wait_until(
            "deliveries before the kill",
            Duration::from_secs(60),
            || async { (receiver.calls().len() >= stop_at).then_some(()) },
        )
        .await;
        consumer.start_kill().unwrap(); // SIGKILL: no chance to ack or release anything
        consumer.wait().await.unwrap();
    }
    let _survivor = consume(&config);
    wait_until(
        "every event delivered and nothing pending",
        Duration::from_secs(120),
        || async { (received(&receiver).len() == EVENTS && pending(&redis) == 0).then_some(()) },
    )
    .await;

    let seen = received(&receiver);
    let missing = (0..EVENTS)
        .filter(|i| !seen.contains_key(&format!("evt-{i}")))
        .count();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    eprintln!(
        "delivered {} distinct events, {duplicates} duplicate deliveries (at-least-once)",
        seen.len()
    );
    assert_eq!(missing, 0);
    assert_eq!(pending(&redis), 0);
}

#[tokio::test]
async fn sigterm_finishes_in_flight_work_and_exits_0_within_the_grace() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::from_millis(400))).await;
    let config = config_file(
        &redis,
        &receiver,
        "      concurrency: 4\n      shutdown_grace: 3s\n",
    );
    append_entries(&redis, 40);
    let mut consumer = consume(&config);
    wait_until("deliveries in flight", Duration::from_secs(20), || async {
        (!receiver.calls().is_empty()).then_some(())
    })
    .await;
    let signalled = Instant::now();
    let status = terminate(&mut consumer, Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(3) + Duration::from_secs(2),
        "exited within the grace"
    );
    let delivered_before_exit = received(&receiver).len();
    assert!(delivered_before_exit < 40, "it stopped reading");
    // Every delivery that started finished and was acknowledged; what was read but not
    // started stays pending (at most one batch) for the next consumer to claim.
    let calls = receiver.calls();
    assert!(calls.iter().all(|c| c.status == StatusCode::OK));
    assert!(pending(&redis) <= 40 - delivered_before_exit);

    // The rest is still there for the next consumer.
    let _next = consume(&config);
    wait_until("the rest delivered", Duration::from_secs(30), || async {
        (received(&receiver).len() == 40).then_some(())
    })
    .await;
}

fn hookline(config: &tempfile::NamedTempFile, args: &[&str]) -> String {
    hookline_tests::run_command(env!("CARGO_BIN_EXE_hookline"), config.path(), args)
}

// Multi-threaded: the receiver must answer while this thread waits for the CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_list_purge_dead_letters_and_claim_pending_entries() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let config = config_file(&redis, &receiver, "");
    let mut conn = redis.connection();

    let event =
        r#"{"v":"1","id":"evt-dl","source":"github","event_type":"push","payload_b64":"e30="}"#;
    let _: String = redis::cmd("XADD")
        .arg("hookline:dlq:{0}")
        .arg("*")
        .arg(&[
            ("event", event),
            ("error", "destination answered 500"),
            ("attempts", "9"),
        ])
        .arg(&[("failed_at", "1"), ("group", "app"), ("entry_id", "1-0")])
        .query(&mut conn)
        .unwrap();
    let listed = hookline(&config, &["dlq", "list", "--json", "--source", "github"]);
    let line: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(
        (line["event_id"].as_str(), line["attempts"].as_str()),
        (Some("evt-dl"), Some("9"))
    );
    assert_eq!(
        hookline(&config, &["dlq", "list", "--json", "--source", "stripe"]).trim(),
        ""
    );
    assert!(hookline(&config, &["dlq", "purge"]).starts_with("would purge 1"));
    assert!(
        hookline(
            &config,
            &[
                "dlq", "purge", "--yes", "--source", "github", "--actor", "alice"
            ]
        )
        .starts_with("purged 1")
    );

    // An entry read by a consumer that died before acknowledging it.
    append_entries(&redis, 1);
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("hookline:events:{0}")
        .arg("app")
        .arg("0")
        .query(&mut conn)
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg(&[
            "GROUP",
            "app",
            "ghost",
            "COUNT",
            "1",
            "STREAMS",
            "hookline:events:{0}",
            ">",
        ])
        .query(&mut conn)
        .unwrap();
    assert!(
        hookline(&config, &["claim-pending"]).starts_with("claimed and delivered 0"),
        "not idle long enough yet"
    );
    wait_until(
        "claim-pending takes the abandoned entry",
        Duration::from_secs(20),
        || async {
            hookline(&config, &["claim-pending"])
                .starts_with("claimed and delivered 1")
                .then_some(())
        },
    )
    .await;
    assert_eq!(received(&receiver).len(), 1);
    assert_eq!(pending(&redis), 0);

    // What changed something is in the audit trail, with who, what was asked and what it
    // touched; the counting purge (no --yes) and the listings are not.
    let trail: Vec<serde_json::Value> = hookline(&config, &["audit", "list", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let actions: Vec<&str> = trail
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"dlq purge"), "{trail:?}");
    assert!(
        actions[1..].iter().all(|a| *a == "claim-pending"),
        "{actions:?}"
    );
    let purge = &trail[0];
    assert_eq!(
        (
            &purge["actor"],
            &purge["outcome"],
            &purge["counts"]["dead_letters"]
        ),
        (&"alice".into(), &"ok".into(), &1.into())
    );
    assert_eq!(purge["args"]["filter"]["source"], "github");
    let claimed = trail.last().unwrap();
    assert_eq!(claimed["counts"]["delivered"], 1);
    assert_ne!(claimed["actor"], "alice", "the OS user, without --actor");

    let stats: serde_json::Value =
        serde_json::from_str(&hookline(&config, &["stats", "--json"])).unwrap();
    let stats = &stats["partitions"];
    let group = &stats[0]["groups"][0];
    assert_eq!(
        (stats[0]["length"].as_u64(), stats[0]["dlq"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        (
            group["name"].as_str(),
            group["pending"].as_u64(),
            group["lag"].as_u64()
        ),
        (Some("app"), Some(0), Some(0))
    );
}

// Multi-threaded: the receiver must answer while this thread waits for the CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_show_lists_each_attempt_with_its_status_and_names_the_tier() {
    let redis = RedisServer::start();
    let receiver =
        Receiver::failing_first(2, StatusCode::SERVICE_UNAVAILABLE, StatusCode::NO_CONTENT).await;
    let config = config_file(&redis, &receiver, "");
    let id = uuid::Uuid::now_v7().to_string();
    append_entry_now(&redis, &id, "push", r#"{"n":1}"#);
    let mut consumer = consume(&config);
    let show = || {
        let shown = hookline(&config, &["events", "show", &id, "--json"]);
        serde_json::from_str::<serde_json::Value>(&shown).unwrap()
    };
    let shown = wait_until(
        "three attempts recorded and the event acknowledged",
        Duration::from_secs(20),
        || async {
            let shown = show();
            let settled = shown["attempts"].as_array().unwrap().len() == 3
                && shown["groups"][0]["state"] == "delivered";
            settled.then_some(shown)
        },
    )
    .await;
    terminate(&mut consumer, Duration::from_secs(10)).await;
    let attempts: Vec<_> = shown["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["outcome"].as_str().unwrap().to_owned(),
                a["status"].as_u64().unwrap(),
                a["group"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |n, outcome: &str, status| (n, outcome.to_owned(), status, "app".to_owned());
    assert_eq!(
        attempts,
        [
            row(1, "failed", 503),
            row(2, "failed", 503),
            row(3, "delivered", 204)
        ]
    );
    assert_eq!(shown["attempts"][0]["error"], "destination answered 503");
    assert_eq!(shown["location"]["tier"], "hot");
    assert_eq!(shown["groups"][0]["state"], "delivered");
    assert!(
        shown.get("payload").is_none(),
        "the payload only when asked"
    );

    // A second event, after the consumer stopped: not read by the group yet.
    let unread = uuid::Uuid::now_v7().to_string();
    append_entry_now(&redis, &unread, "issues", "{}");
    let list = |args: &[&str]| -> Vec<(String, String, String)> {
        let mut all = vec!["events", "list", "--json"];
        all.extend_from_slice(args);
        hookline(&config, &all)
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let text = |k: &str| v[k].as_str().unwrap().to_owned();
                (text("id"), text("tier"), text("status"))
            })
            .collect()
    };
    let listed = |id: &str, tier: &str, status: &str| (id.to_owned(), tier.into(), status.into());
    assert_eq!(
        list(&[]),
        [
            listed(&id, "hot", "delivered"),
            listed(&unread, "hot", "pending")
        ]
    );
    assert_eq!(
        list(&["--status", "pending"]),
        [listed(&unread, "hot", "pending")]
    );
    assert_eq!(
        list(&["--event-type", "push"]),
        [listed(&id, "hot", "delivered")]
    );
    assert!(list(&["--tenant", "other"]).is_empty());

    let text = hookline(&config, &["events", "show", &id]);
    assert!(text.contains("tier       hot"), "{text}");
    assert!(text.contains("attempts   3"), "{text}");
    assert_eq!(text.matches(" failed ").count(), 2, "{text}");

    let compacted = hookline(&config, &["job", "compact", "--older-than", "0s"]);
    assert!(compacted.starts_with("compacted 1 entries"), "{compacted}");
    let shown = show();
    assert_eq!(shown["location"]["tier"], "warm", "{shown}");
    assert_eq!(shown["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(
        list(&["--count", "1"]),
        [listed(&id, "warm", "delivered")],
        "compacted: what every group acknowledged moves; the unread event stays hot"
    );
    let text = hookline(&config, &["events", "show", &id, "--show-pii"]);
    assert!(text.contains("tier       warm (segment "), "{text}");
    assert!(
        text.ends_with("payload\n{\"n\":1}\n"),
        "exact bytes: {text}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args([
            "events",
            "show",
            "0194f0a0-0000-7000-8000-000000000000",
            "--config",
        ])
        .arg(config.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no event 0194f0a0-"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_serves_health_and_metrics_on_observability_listen() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let yaml = format!(
        "redis: {{url: \"{}\"}}\nconsumer:\n  groups:\n    app:\n      sink: {{type: http, url: \"{}\", secret: \"{WHSEC}\", timeout: 1s}}\nobservability: {{listen: \"127.0.0.1:0\"}}\n",
        redis.url(),
        receiver.url()
    );
    let mut config = tempfile::NamedTempFile::new().unwrap();
    config.write_all(yaml.as_bytes()).unwrap();
    append_entries(&redis, 3);
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookline"));
    command.arg("consume").arg("--config").arg(config.path());
    let consumer = Process::spawn(command);
    let ops = consumer.listening("health and metrics listening").await;
    let client = hookline_tests::HttpClient::default();
    let url = |path: &str| format!("http://{ops}{path}");
    let metrics = wait_until(
        "metrics after three deliveries",
        Duration::from_secs(20),
        || {
            let (client, url) = (client.clone(), url("/metrics"));
            async move {
                let reply = client.send("GET", &url, &[], vec![]).await.ok()?;
                let text = String::from_utf8_lossy(&reply.body).into_owned();
                text.contains(
                    r#"hookline_consumer_processed_total{group="app",outcome="delivered"} 3"#,
                )
                .then_some(text)
            }
        },
    )
    .await;
    assert!(
        metrics.contains("hookline_consumer_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("hookline_circuit_state"), "{metrics}");
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            client
                .send("GET", &url(path), &[], vec![])
                .await
                .unwrap()
                .status,
            200,
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_logs_one_failure_and_one_recovery_per_loop_and_counts_every_failure() {
    let mut redis = RedisServer::start();
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let yaml = format!(
        "redis: {{url: \"{}\", response_timeout: 300ms, connect_timeout: 300ms}}\nconsumer:\n  summaries: false\n  groups:\n    app:\n      sink: {{type: http, url: \"{}\", secret: \"{WHSEC}\", timeout: 1s}}\nobservability: {{listen: \"127.0.0.1:0\", log_format: json}}\n",
        redis.url(),
        receiver.url()
    );
    let mut config = tempfile::NamedTempFile::new().unwrap();
    config.write_all(yaml.as_bytes()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookline"));
    command.arg("consume").arg("--config").arg(config.path());
    let mut consumer = Process::spawn(command);
    let ops = consumer.listening("health and metrics listening").await;
    let client = hookline_tests::HttpClient::default();
    let read_errors = || {
        let (client, url) = (client.clone(), format!("http://{ops}/metrics"));
        async move {
            let reply = client.send("GET", &url, &[], vec![]).await.ok()?;
            let text = String::from_utf8_lossy(&reply.body).into_owned();
            text.lines()
                .find(|l| l.starts_with(r#"hookline_background_errors_total{loop="read"}"#))?
                .rsplit(' ')
                .next()?
                .parse::<u64>()
                .ok()
        }
    };
    wait_until(
        "the error counter exported at 0",
        Duration::from_secs(20),
        || {
            let errors = read_errors();
            async move { (errors.await == Some(0)).then_some(()) }
        },
    )
    .await;

    // A four-second outage: the reader fails, backs off (250 ms doubling) and tries again.
    redis.kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    redis.restart();
    append_entries(&redis, 2);
    wait_until(
        "delivered after the outage",
        Duration::from_secs(20),
        || {
            let n = receiver.calls().len();
            async move { (n == 2).then_some(()) }
        },
    )
    .await;
    let failures = read_errors().await.unwrap_or_default();
    assert!(failures >= 2, "every failed read is counted: {failures}");
    let status = terminate(&mut consumer.child, Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0));
    let log = consumer.stderr();
    let lines = |text: &str| log.lines().filter(|l| l.contains(text)).count();
    let failed = lines("background loop failed");
    assert!(
        (1..=6).contains(&failed),
        "one failure line per loop (group, read, wait, retry, claim, lag), not one per attempt ({failures} failed reads): {failed}"
    );
    let read_failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("background loop failed") && l.contains(r#""loop":"read""#))
        .collect();
    assert_eq!(read_failed.len(), 1, "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("background loop recovered") && l.contains(r#""loop":"read""#)),
        "{log}"
    );
}

/// `len` bytes of letters and digits that zstd cannot shrink much (as real payloads of that
/// size, often embedded files, are), different for each `seed`.
fn incompressible_text(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_8_mib_events_are_delivered_within_200_mib_then_compacted_and_archived() {
    const EVENTS: usize = 30;
    let redis = RedisServer::start();
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let archive = tempfile::tempdir().unwrap();
    // Default consumer settings (one delivery group and the summary counter, 16 MiB budget).
    let lifecycle = format!(
        "lifecycle: {{hot: 1h, warm: 2h, archive: \"file://{}\"}}",
        archive.path().display()
    );
    let config = config_file(&redis, &receiver, "");
    // Generous timeouts: a debug build on a busy machine moves 8 MiB slowly.
    let yaml = std::fs::read_to_string(config.path())
        .unwrap()
        .replace("timeout: 1s", "timeout: 20s")
        .replace("claim_idle: 7s", "claim_idle: 30s");
    std::fs::write(config.path(), yaml + &lifecycle + "\n").unwrap();
    for n in 0..EVENTS {
        let pad = incompressible_text(n as u64, 8 << 20);
        let payload = format!(r#"{{"n":{n},"pad":"{pad}"}}"#);
        append_entry(&redis, &format!("evt-{n}"), "push", &payload);
    }

    let mut command = Command::new(env!("CARGO_BIN_EXE_hookline"));
    command
        .args(["consume", "--config"])
        .arg(config.path())
        .stdout(Stdio::null());
    let mut consumer = Process::spawn(command);
    let pid = consumer.child.id().unwrap();
    wait_until(
        "every event delivered and counted",
        Duration::from_secs(300),
        || {
            let done = received(&receiver).len() == EVENTS
                && hookline_tests::pending(&redis, "app") == 0
                && hookline_tests::pending(&redis, "hookline-summaries") == 0
                && lag(&redis).iter().all(|&l| l == 0);
            async move { done.then_some(()) }
        },
    )
    .await;
    let peak = peak_rss_mib(pid);
    let status = terminate(&mut consumer.child, Duration::from_secs(35)).await;
    assert_eq!(status.code(), Some(0), "{}", consumer.stderr());
    println!("hookline consume peak RSS: {peak} MiB for {EVENTS} events of 8 MiB");
    assert!(peak < 200, "peak RSS {peak} MiB");
    for call in receiver.calls() {
        assert!(call.body.len() > 8 << 20, "whole bodies delivered");
    }

    let compacted = hookline(&config, &["job", "compact", "--older-than", "0s"]);
    assert!(
        compacted.starts_with("compacted 30 entries into 30 segment(s)"),
        "{compacted}"
    );
    let archived = hookline(&config, &["job", "archive", "--older-than", "0s"]);
    assert!(archived.starts_with("archived 30 entries"), "{archived}");
}

/// Each group's lag on the partition stream (entries not yet read).
fn lag(redis: &RedisServer) -> Vec<i64> {
    let groups: Vec<HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(hookline_tests::STREAM)
        .query(&mut redis.connection())
        .unwrap();
    groups
        .iter()
        .map(|g| match g.get("lag") {
            Some(redis::Value::Int(n)) => *n,
            _ => -1,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_show_masks_personal_fields_unless_asked_and_audits_the_asking() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let config = config_file(&redis, &receiver, "");
    let id = uuid::Uuid::now_v7().to_string();
    let body = r#"{"sender":{"login":"mona-lisa"},"pusher":{"email":"mona@example.com"},"commits":[{"author":{"name":"Mona","email":"m@example.com"}}],"ref":"refs/heads/main"}"#;
    append_entry_now(&redis, &id, "push", body);

    let masked = hookline(
        &config,
        &["events", "show", &id, "--json", "--show-payload"],
    );
    let shown: serde_json::Value = serde_json::from_str(&masked).unwrap();
    let payload: serde_json::Value =
        serde_json::from_str(shown["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["sender"]["login"], "[masked]");
    assert_eq!(payload["pusher"]["email"], "[masked]");
    assert_eq!(payload["commits"][0]["author"]["name"], "[masked]");
    assert_eq!(payload["commits"][0]["author"]["email"], "[masked]");
    assert_eq!(payload["ref"], "refs/heads/main", "the rest as sent");
    for personal in ["mona-lisa", "mona@example.com", "Mona"] {
        assert!(!masked.contains(personal), "{personal} in {masked}");
    }
    assert!(
        !hookline(&config, &["audit", "list", "--json"]).contains("show-pii"),
        "a masked view is not recorded"
    );

    let whole = hookline(
        &config,
        &[
            "--actor",
            "dpo",
            "events",
            "show",
            &id,
            "--json",
            "--show-pii",
        ],
    );
    let shown: serde_json::Value = serde_json::from_str(&whole).unwrap();
    assert_eq!(shown["payload"], body, "exactly the bytes received");
    let trail = hookline(&config, &["audit", "list", "--json"]);
    assert!(
        trail.contains(r#""actor":"dpo""#)
            && trail.contains(r#""action":"events show --show-pii""#)
            && trail.contains(&id),
        "{trail}"
    );
}
