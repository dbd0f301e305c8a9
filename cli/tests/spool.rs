//! No loss while Redis is unreachable: `hookline serve` with a disk spool answers 202 from the
//! spool during an outage, keeps the events across a SIGKILL, and drains them into Redis once
//! it is back — each once, in the order received per partition, with the original
//! `received_at`; a full spool answers 503 and loses nothing it accepted.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use hookline_tests::{HttpClient, Process, RedisServer, github_headers, wait_until};

const SECRET: &str = "spool-secret";

fn config(
    redis: &RedisServer,
    spool: &std::path::Path,
    max_bytes: &str,
) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        "redis: {{url: \"{}\", response_timeout: 300ms, connect_timeout: 300ms}}\nstreams: {{partitions: 2}}\nspool: {{path: \"{}\", max_bytes: {max_bytes}}}\nsources:\n  gh: {{provider: github, secrets: [\"{SECRET}\"]}}\nobservability: {{log_format: json}}\n",
        redis.url(),
        spool.display()
    )
    .unwrap();
    file
}

async fn serve(config: &tempfile::NamedTempFile) -> (Process, std::net::SocketAddr) {
    Process::serve(env!("CARGO_BIN_EXE_hookline"), config.path(), &[]).await
}

/// Event `n`: one of four repositories (so both partitions get events), its own body.
fn event(n: usize) -> (Vec<u8>, Vec<(String, String)>) {
    let body = format!(
        r#"{{"n":{n},"repository":{{"full_name":"octo/repo-{}"}}}}"#,
        n % 4
    )
    .into_bytes();
    let headers = github_headers(SECRET, "push", &format!("spooled-{n}"), &body);
    (body, headers)
}

/// Every stored event's id, `n` and `received_at`, per partition in stream order.
fn stored(redis: &RedisServer) -> Vec<Vec<(String, u64, u64)>> {
    (0..2)
        .map(|p| {
            redis
                .entries(&format!("hookline:events:{{{p}}}"))
                .iter()
                .map(|e| {
                    let body: serde_json::Value = serde_json::from_slice(e.payload()).unwrap();
                    (
                        e.text("id").to_owned(),
                        body["n"].as_u64().unwrap(),
                        e.text("received_at").parse().unwrap(),
                    )
                })
                .collect()
        })
        .collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_spooled_survives_sigkill_and_drains_once_in_order() {
    let mut redis = RedisServer::start();
    redis.kill();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&redis, dir.path(), "64MiB");
    let (mut first, addr) = serve(&config).await;
    let client = HttpClient::default();
    let url = format!("http://{addr}/webhooks/gh");
    let mut ids = HashMap::new();
    for n in 0..500 {
        let (body, headers) = event(n);
        let reply = client.post(&url, &headers, body).await;
        assert_eq!(reply.status, 202, "#{n}: {} {}", reply.json, first.stderr());
        assert_eq!(reply.headers["hookline-spooled"], "true");
        ids.insert(n as u64, reply.json["id"].as_str().unwrap().to_owned());
    }
    // Repeats during the outage: spooled again, duplicates once drained.
    for n in 0..5 {
        let (body, headers) = event(n);
        assert_eq!(client.post(&url, &headers, body).await.status, 202);
    }
    first.child.kill().await.unwrap(); // SIGKILL, with everything in the spool

    let (mut second, _) = serve(&config).await; // Redis still down
    let back = now_ms();
    redis.restart(); // empty: it keeps nothing on disk
    let started = Instant::now();
    let partitions = wait_until("the spool drained", Duration::from_secs(30), || {
        let partitions = stored(&redis);
        let total: usize = partitions.iter().map(Vec::len).sum();
        async move { (total >= 500).then_some(partitions) }
    })
    .await;
    let took = started.elapsed();
    let all: Vec<&(String, u64, u64)> = partitions.iter().flatten().collect();
    assert_eq!(
        all.len(),
        500,
        "each event once (the repeats were duplicates)"
    );
    for (id, n, received_at) in &all {
        assert_eq!(&ids[n], id, "#{n} keeps the id it was answered with");
        assert!(*received_at < back, "#{n} keeps its original received_at");
    }
    for partition in &partitions {
        let order: Vec<u64> = partition.iter().map(|(_, n, _)| *n).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "received order within the partition");
    }
    assert!(
        partitions.iter().all(|p| !p.is_empty()),
        "both partitions used"
    );
    eprintln!("spool: 500 events drained in {took:?} after Redis came back");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let total: usize = stored(&redis).iter().map(Vec::len).sum();
    assert_eq!(total, 500, "nothing appended twice later");
    second.child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_answers_503_and_loses_nothing_it_took() {
    let mut redis = RedisServer::start();
    redis.kill();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&redis, dir.path(), "2MiB");
    let (mut serve, addr) = serve(&config).await;
    let client = HttpClient::default();
    let url = format!("http://{addr}/webhooks/gh");
    let mut accepted = Vec::new();
    let mut refused = None;
    for n in 0..100 {
        let mut body = format!(r#"{{"n":{n},"pad":""#).into_bytes();
        body.extend(std::iter::repeat_n(b'x', 100 * 1024));
        body.extend_from_slice(b"\"}");
        let headers = github_headers(SECRET, "push", &format!("full-{n}"), &body);
        let reply = client.post(&url, &headers, body).await;
        match reply.status.as_u16() {
            202 => accepted.push(reply.json["id"].as_str().unwrap().to_owned()),
            503 => {
                refused = Some(reply);
                break;
            }
            other => panic!("#{n}: {other} {}", reply.json),
        }
    }
    let refused = refused.expect("the spool filled up");
    assert_eq!(refused.headers["retry-after"], "1");
    assert!(!accepted.is_empty());
    redis.restart();
    let drained = wait_until("the spool drained", Duration::from_secs(30), || {
        let ids: Vec<String> = stored_ids(&redis);
        let n = accepted.len();
        async move { (ids.len() >= n).then_some(ids) }
    })
    .await;
    let mut drained = drained;
    drained.sort();
    accepted.sort();
    assert_eq!(drained, accepted, "everything the spool took, once");
    serve.child.kill().await.unwrap();
}

fn stored_ids(redis: &RedisServer) -> Vec<String> {
    redis
        .events(2)
        .iter()
        .map(|e| e.text("id").to_owned())
        .collect()
}
