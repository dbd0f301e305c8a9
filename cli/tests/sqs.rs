//! SQS, against a real moto_server: the SQS spool of `hookline serve` drained by `hookline
//! job drain-spool` (a message deleted only once Redis has its event), the mirror of a
//! migration (`outputs.sqs`) and `hookline parity` over it, and `hookline import sqs` of a
//! legacy queue's backlog, killed halfway and run again.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use hookline_tests::{HttpClient, MotoServer, Process, RedisServer, github_headers, wait_until};

const SECRET: &str = "sqs-secret";

fn config_file(yaml: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(yaml.as_bytes()).unwrap();
    file
}

/// `hookline ARGS` with the config and the AWS environment of `moto`.
fn hookline(
    config: &tempfile::NamedTempFile,
    moto: &MotoServer,
    args: &[&str],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"));
    command
        .args(args)
        .arg("--config")
        .arg(config.path())
        .envs(moto.aws_env());
    command
}

/// Runs `hookline ARGS` to the end: (exit code, stdout, stderr).
async fn run(
    config: &tempfile::NamedTempFile,
    moto: &MotoServer,
    args: &[&str],
) -> (i32, String, String) {
    let out = hookline(config, moto, args).output().await.unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

async fn serve(
    config: &tempfile::NamedTempFile,
    moto: &MotoServer,
) -> (Process, std::net::SocketAddr) {
    let env = moto.aws_env();
    Process::serve(env!("CARGO_BIN_EXE_hookline"), config.path(), &env).await
}

/// Event `n`: one of four repositories (so two partitions both get events), its own body.
fn event(n: usize, pad: usize) -> (Vec<u8>, Vec<(String, String)>) {
    let body = format!(
        r#"{{"n":{n},"repository":{{"full_name":"octo/repo-{}"}},"pad":"{}"}}"#,
        n % 4,
        "x".repeat(pad)
    )
    .into_bytes();
    let headers = github_headers(SECRET, "push", &format!("delivery-{n}"), &body);
    (body, headers)
}

fn rfc3339(at: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqs_spool_is_drained_by_drain_spool_once_and_deleted_only_after_redis_has_it() {
    let mut redis = RedisServer::start();
    let moto = MotoServer::start();
    let queue = moto.create_queue("hookline-spool.fifo").await;
    let archive = tempfile::tempdir().unwrap();
    let config = config_file(&format!(
        "redis: {{url: \"{}\", response_timeout: 300ms, connect_timeout: 300ms}}\nstreams: {{partitions: 2}}\nspool: {{sqs_queue_url: \"{queue}\"}}\nlifecycle: {{archive: \"file://{}\"}}\nsources:\n  gh: {{provider: github, secrets: [\"{SECRET}\"]}}\nobservability: {{log_format: json}}\n",
        redis.url(),
        archive.path().display()
    ));
    let (serve, addr) = serve(&config, &moto).await;
    redis.kill();
    let client = HttpClient::default();
    let url = format!("http://{addr}/webhooks/gh");
    let mut ids = HashMap::new();
    // 30 events, one of them larger than an SQS message, then three repeats.
    for n in (0..30).chain(0..3) {
        let (body, headers) = event(n, if n == 7 { 300 * 1024 } else { 0 });
        let reply = client.post(&url, &headers, body).await;
        assert_eq!(reply.status, 202, "#{n}: {} {}", reply.json, serve.stderr());
        assert_eq!(reply.headers["hookline-spooled"], "true");
        ids.entry(n as u64)
            .or_insert_with(|| reply.json["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(moto.queue_depth(&queue).await, 33);
    let objects = std::fs::read_dir(archive.path().join("spool"))
        .unwrap()
        .count();
    assert_eq!(objects, 1, "the large event went to the archive");

    // Redis is back but refuses the appends (each partition's stream key holds a string, so
    // XADD answers WRONGTYPE): nothing is deleted from the queue.
    redis.restart();
    let mut admin = redis.connection();
    let streams = ["hookline:events:{0}", "hookline:events:{1}"];
    for key in streams {
        redis::cmd("SET")
            .arg(key)
            .arg("x")
            .exec(&mut admin)
            .unwrap();
    }
    let (code, _, stderr) = run(&config, &moto, &["job", "drain-spool"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("stay spooled"), "{stderr}");
    assert_eq!(
        moto.queue_depth(&queue).await,
        33,
        "nothing deleted while Redis refuses"
    );

    redis::cmd("DEL")
        .arg(&streams[..])
        .exec(&mut admin)
        .unwrap();
    let (code, stdout, stderr) = run(&config, &moto, &["job", "drain-spool"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("drained 30 spooled event(s) into Redis (3 already there)"),
        "{stdout}"
    );
    let events = redis.events(2);
    assert_eq!(
        events.len(),
        30,
        "each event once; the repeats were duplicates"
    );
    for e in &events {
        let body: serde_json::Value = serde_json::from_slice(e.payload()).unwrap();
        assert_eq!(
            ids[&body["n"].as_u64().unwrap()],
            e.text("id"),
            "the id it was answered with"
        );
    }
    for p in 0..2 {
        let order: Vec<u64> = redis
            .entries(&format!("hookline:events:{{{p}}}"))
            .iter()
            .map(|e| {
                serde_json::from_slice::<serde_json::Value>(e.payload()).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert!(
            !order.is_empty() && order.is_sorted(),
            "partition {p} in received order: {order:?}"
        );
    }
    assert_eq!(
        moto.queue_depth(&queue).await,
        0,
        "drained messages are deleted"
    );
    let left = std::fs::read_dir(archive.path().join("spool"))
        .unwrap()
        .count();
    assert_eq!(left, 0, "and so is the large event's object");
    let (code, stdout, _) = run(&config, &moto, &["job", "drain-spool"]).await;
    assert_eq!(
        (code, stdout.trim()),
        (0, "drained 0 spooled event(s) into Redis (0 already there)")
    );
    assert_eq!(redis.events(2).len(), 30);
}

/// `hookline_mirror_failures_total{source="gh"}` on serve's /metrics.
async fn mirror_failures(client: &HttpClient, addr: std::net::SocketAddr) -> u64 {
    let reply = client
        .send("GET", &format!("http://{addr}/metrics"), &[], "")
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    text.lines()
        .find(|l| l.starts_with("hookline_mirror_failures_total{source=\"gh\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no mirror failure counter in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_gets_every_event_once_parity_agrees_and_an_sqs_outage_never_fails_ingest() {
    let redis = RedisServer::start();
    let mut moto = MotoServer::start();
    let queue = moto.create_queue("legacy-webhooks").await;
    let config = config_file(&format!(
        "redis: {{url: \"{}\"}}\nsources:\n  gh: {{provider: github, secrets: [\"{SECRET}\"]}}\noutputs:\n  sqs: {{queue_url: \"{queue}\", mode: mirror}}\nobservability: {{log_format: json}}\n",
        redis.url()
    ));
    let from = rfc3339(std::time::SystemTime::now() - Duration::from_secs(1));
    let (serve, addr) = serve(&config, &moto).await;
    let client = HttpClient::default();
    let url = format!("http://{addr}/webhooks/gh");
    let answered: HashSet<String> = futures_util::stream::iter(0..1000)
        .map(|n| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let (body, headers) = event(n, 0);
                let reply = client.post(&url, &headers, body).await;
                assert_eq!(reply.status, 202, "#{n}: {}", reply.json);
                reply.json["id"].as_str().unwrap().to_owned()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let to = rfc3339(std::time::SystemTime::now() + Duration::from_secs(2));
    let stored: HashSet<String> = redis
        .events(1)
        .iter()
        .map(|e| e.text("id").to_owned())
        .collect();
    assert_eq!(
        (answered.len(), &stored),
        (1000, &answered),
        "each event once in Redis"
    );
    let messages = moto.messages(&queue).await;
    let mirrored: HashSet<String> = messages
        .iter()
        .map(|(_, a)| a["hookline-event-id"].clone())
        .collect();
    assert_eq!(
        (messages.len(), &mirrored),
        (1000, &answered),
        "and once in the queue"
    );
    let (body, attributes) = &messages[0];
    assert_eq!(attributes["hookline-source"], "gh");
    assert_eq!(attributes["hookline-event-type"], "push");
    assert!(
        body.starts_with(r#"{"n":"#),
        "the body is the payload: {body}"
    );

    let parity = [
        "parity",
        "--sqs-queue-url",
        &queue,
        "--from",
        &from,
        "--to",
        &to,
    ];
    let (code, stdout, stderr) = run(&config, &moto, &parity).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("sqs: 1000 mirrored event(s)") && stdout.contains("redis: 1000 event(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("parity: no differences"), "{stdout}");

    // Three events lost from Redis: parity names them.
    let lost: Vec<_> = redis.events(1).into_iter().take(3).collect();
    for e in &lost {
        redis::cmd("XDEL")
            .arg("hookline:events:{0}")
            .arg(&e.entry_id)
            .exec(&mut redis.connection())
            .unwrap();
    }
    let (code, stdout, _) = run(&config, &moto, &parity).await;
    assert_eq!(code, 1, "{stdout}");
    for e in &lost {
        assert!(
            stdout.contains(&format!("missing from redis: {} (gh)", e.text("id"))),
            "{stdout}"
        );
    }
    assert_eq!(stdout.matches("missing from").count(), 3, "{stdout}");

    // SQS down: ingest still answers 202 and counts the mirror's failures.
    assert_eq!(mirror_failures(&client, addr).await, 0);
    moto.stop();
    for n in 1000..1005 {
        let (body, headers) = event(n, 0);
        assert_eq!(client.post(&url, &headers, body).await.status, 202);
    }
    assert_eq!(mirror_failures(&client, addr).await, 5);
    assert_eq!(redis.events(1).len(), 1002);
    assert!(serve.stderr().contains("the SQS mirror failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_sqs_killed_halfway_and_run_again_stores_each_message_once() {
    let redis = RedisServer::start();
    let moto = MotoServer::start();
    let legacy = moto.create_queue("legacy-backlog").await;
    let sqs = moto.sqs();
    for batch in 0..200 {
        let entries = (0..10).map(|i| {
            let n = batch * 10 + i;
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(format!(r#"{{"legacy":{n}}}"#))
                .build()
                .unwrap()
        });
        sqs.send_message_batch()
            .queue_url(&legacy)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .unwrap();
    }
    let config = config_file(&format!(
        "redis: {{url: \"{}\"}}\nsources:\n  legacy: {{provider: github, secrets: [\"{SECRET}\"]}}\n",
        redis.url()
    ));
    let import = [
        "import",
        "sqs",
        "--queue-url",
        &legacy,
        "--source",
        "legacy",
        "--event-type",
        "legacy.push",
        "--delete",
        "--visibility-timeout",
        "2s",
    ];
    let mut first = Process::spawn(hookline(&config, &moto, &import));
    let killed_at = wait_until("half imported", Duration::from_secs(60), || {
        let n = redis.events(1).len();
        async move { (n >= 700).then_some(n) }
    })
    .await;
    first.child.kill().await.unwrap(); // SIGKILL
    assert!(killed_at < 2000, "killed halfway, at {killed_at}");
    tokio::time::sleep(Duration::from_millis(2500)).await; // its in-flight messages reappear

    let (code, stdout, stderr) = run(&config, &moto, &import).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("imported"), "{stdout}");
    let events = redis.events(1);
    let numbers: HashSet<u64> = events
        .iter()
        .map(|e| {
            serde_json::from_slice::<serde_json::Value>(e.payload()).unwrap()["legacy"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        (events.len(), numbers.len()),
        (2000, 2000),
        "each message once"
    );
    let e = &events[0];
    assert_eq!(
        (e.text("source"), e.text("event_type")),
        ("legacy", "legacy.push")
    );
    assert!(!e.text("delivery_id").is_empty(), "the SQS message id");
    assert_eq!(
        moto.queue_depth(&legacy).await,
        0,
        "every imported message deleted"
    );

    // Without --delete: a rerun stores nothing twice either.
    let copy = moto.create_queue("legacy-copy").await;
    for n in 0..30 {
        sqs.send_message()
            .queue_url(&copy)
            .message_body(format!(r#"{{"legacy":{}}}"#, 5000 + n))
            .send()
            .await
            .unwrap();
    }
    let keep = ["import", "sqs", "--queue-url", &copy, "--source", "legacy"];
    for _ in 0..2 {
        let (code, _, stderr) = run(&config, &moto, &keep).await;
        assert_eq!(code, 0, "{stderr}");
    }
    assert_eq!(redis.events(1).len(), 2030);
    assert_eq!(moto.queue_depth(&copy).await, 30, "kept in the queue");
}
