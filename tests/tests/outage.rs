//! Redis outages: killing redis-server under load gives 503s (never a hang, never a false
//! 202), and 202s resume once it is back, without restarting hookline.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hookline_tests::{HttpClient, RedisServer, TestIngest, github_headers, wait_until};
use redis::Commands;

const SECRET: &str = "outage-secret";
/// A request that takes longer than this has hung: the configured bound is 500ms.
const HANG: Duration = Duration::from_secs(5);

fn config(redis: &RedisServer) -> String {
    format!(
        "redis: {{url: \"{}\", response_timeout: 500ms, connect_timeout: 500ms}}\n\
         sources:\n  github: {{provider: github, secrets: [\"{SECRET}\"]}}\n",
        redis.url()
    )
}

/// Sends unique deliveries until `stop`; returns (status, event id) of each answer.
async fn load(
    client: HttpClient,
    url: String,
    worker: usize,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
) -> Vec<(u16, Option<String>)> {
    let mut seen = Vec::new();
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let body = format!(r#"{{"worker":{worker},"n":{i}}}"#).into_bytes();
        let headers = github_headers(SECRET, "ping", &format!("w{worker}-{i}"), &body);
        let reply = tokio::time::timeout(HANG, client.post(&url, &headers, body))
            .await
            .expect("no request hangs past its timeout");
        if reply.status == 202 {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        seen.push((
            reply.status.as_u16(),
            reply.json["id"].as_str().map(str::to_owned),
        ));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_mid_load_answers_503_and_recovers_without_restart() {
    // Every acknowledged write is on disk before Redis answers, so after a SIGKILL and a
    // restart the stream must hold every event that got a 202.
    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let ingest = TestIngest::start(&config(&redis)).await;
    let url = ingest.url("/webhooks/github");
    let client = HttpClient::default();
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            tokio::spawn(load(
                client.clone(),
                url.clone(),
                w,
                stop.clone(),
                accepted.clone(),
            ))
        })
        .collect();

    wait_until("200 accepted webhooks", Duration::from_secs(30), || async {
        (accepted.load(Ordering::Relaxed) >= 200).then_some(())
    })
    .await;
    redis.kill();
    let before_kill = accepted.load(Ordering::Relaxed);
    // Keep the load on through the outage long enough for every worker to see it.
    let body = br#"{"probe":true}"#.to_vec();
    wait_until("503 while Redis is down", Duration::from_secs(10), || {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        async move {
            let headers = github_headers(SECRET, "ping", &uuid::Uuid::now_v7().to_string(), &body);
            let reply = client.post(&url, &headers, body).await;
            assert_ne!(reply.status, 202, "no 202 while Redis is down");
            (reply.status == 503 && reply.headers.contains_key("retry-after")).then_some(())
        }
    })
    .await;

    redis.restart();
    wait_until(
        "202 after Redis is back",
        Duration::from_secs(30),
        || async { (accepted.load(Ordering::Relaxed) > before_kill + 50).then_some(()) },
    )
    .await;
    stop.store(true, Ordering::Relaxed);

    let mut answers = Vec::new();
    for worker in workers {
        answers.extend(worker.await.unwrap());
    }
    let statuses: HashSet<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert!(
        statuses.is_subset(&HashSet::from([202, 503])),
        "statuses seen: {statuses:?}"
    );
    assert!(statuses.contains(&503), "the outage was observed");

    let mut conn = redis.connection();
    let reply: redis::streams::StreamRangeReply = conn.xrange_all("hookline:events:{0}").unwrap();
    let stored: HashSet<String> = reply
        .ids
        .iter()
        .filter_map(|e| e.get::<String>("id"))
        .collect();
    let acknowledged: Vec<&String> = answers
        .iter()
        .filter(|(s, _)| *s == 202)
        .filter_map(|(_, id)| id.as_ref())
        .collect();
    let missing = acknowledged
        .iter()
        .filter(|id| !stored.contains(**id))
        .count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged events are not in Redis",
        acknowledged.len()
    );
}

#[tokio::test]
async fn readiness_follows_redis() {
    let mut redis = RedisServer::start();
    let ingest = TestIngest::start(&config(&redis)).await;
    let client = HttpClient::default();
    let ready = |client: HttpClient, url: String| async move {
        client
            .send("GET", &url, &[], vec![])
            .await
            .map(|r| r.status.as_u16())
            .unwrap_or(0)
    };
    let url = ingest.url("/readyz");
    wait_until(
        "/readyz 200 (checked in the background)",
        Duration::from_secs(5),
        || {
            let (client, url) = (client.clone(), url.clone());
            async move { (ready(client, url).await == 200).then_some(()) }
        },
    )
    .await;
    redis.kill();
    wait_until("/readyz 503", Duration::from_secs(10), || {
        let (client, url) = (client.clone(), url.clone());
        async move { (ready(client, url).await == 503).then_some(()) }
    })
    .await;
    redis.restart();
    wait_until("/readyz 200 again", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), url.clone());
        async move { (ready(client, url).await == 200).then_some(()) }
    })
    .await;
}
