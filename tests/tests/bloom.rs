//! Long-term de-duplication against a real redis-server: the bloom filter's measured
//! false-positive rate and false negatives at its configured capacity, suspects, and
//! rotation.

use std::time::Duration;

use hookline_shared::clock::Clock;
use hookline_shared::config::{self, BloomShape, Config};
use hookline_shared::dedup::{AppendOptions, Appended, Unique, append_unique};
use hookline_shared::event::{Encoding, Event};
use hookline_shared::redis::RedisConn;
use hookline_shared::redis::bloom;
use hookline_shared::streams::Keys;
use hookline_tests::{HttpClient, RedisServer, TestIngest, github_headers, wait_until_expired};
use redis::Commands;

const CAPACITY: u64 = 100_000;
const RATE: f64 = 0.01;
const SECRET: &str = "bloom-secret";

fn event(identity: &str) -> Unique {
    Unique {
        identity: identity.to_owned(),
        // The shortest window: repeats below are past it, so only the bloom filter sees them.
        window: Duration::from_millis(1),
        event: Event {
            id: uuid::Uuid::now_v7(),
            tenant: "default".into(),
            source: "gh".into(),
            provider: "github",
            event_type: "push".into(),
            delivery_id: None,
            received_at_ms: 0,
            content_type: "application/json".into(),
            headers: "{}".into(),
            encoding: Encoding::Identity,
            payload: bytes::Bytes::from_static(b"{}"),
            traceparent: None,
        },
    }
}

/// Appends `identities` through the ingest script in batches, as the appender sends them.
async fn append_all(
    conn: &mut RedisConn,
    options: &AppendOptions,
    identities: &[String],
) -> Vec<Appended> {
    let keys = Keys::new("hookline");
    let mut out = Vec::with_capacity(identities.len());
    for chunk in identities.chunks(64) {
        let batch: Vec<Unique> = chunk.iter().map(|id| event(id)).collect();
        let refs: Vec<&Unique> = batch.iter().collect();
        out.extend(
            append_unique(conn, &keys, 0, &refs, options, Clock::system().now_ms())
                .await
                .expect("script runs"),
        );
    }
    out
}

/// Whether every bit of `identity` is set in either generation, read as the script reads it.
async fn probably_seen(conn: &mut RedisConn, shape: &BloomShape, identities: &[String]) -> usize {
    let keys = Keys::new("hookline");
    let mut hits = 0;
    for chunk in identities.chunks(1000) {
        let mut pipe = redis::pipe();
        for identity in chunk {
            for generation in [0, 1] {
                let cmd = pipe.cmd("BITFIELD").arg(keys.bloom(0, generation));
                for position in bloom::positions(shape, identity) {
                    cmd.arg("GET").arg("u1").arg(position);
                }
            }
        }
        let bits: Vec<Vec<u8>> = pipe.query_async(conn).await.expect("pipeline");
        hits += bits
            .chunks(2)
            .filter(|gens| gens.iter().any(|g| g.iter().all(|&b| b == 1)))
            .count();
    }
    hits
}

#[tokio::test]
async fn at_capacity_the_false_positive_rate_is_within_the_configured_rate_and_nothing_is_missed() {
    let redis = RedisServer::start();
    let mut conn = RedisConn::open(&config::RedisConfig {
        url: Some(redis.url()),
        ..Default::default()
    })
    .unwrap();
    let shape = BloomShape::for_capacity(CAPACITY, RATE);
    let options = AppendOptions {
        bloom: Some(shape),
        suspects_retention: Duration::from_secs(3600),
        deliver_suspects: false,
        wait: None,
    };
    let seen: Vec<String> = (0..CAPACITY)
        .map(|i| format!("gh:push:seen-{i}-{}", uuid::Uuid::new_v4()))
        .collect();
    let first = append_all(&mut conn, &options, &seen).await;
    let appended = first
        .iter()
        .filter(|a| matches!(a, Appended::New { .. }))
        .count();
    // Inserting can itself hit earlier identities' bits: those are the filter's false
    // positives during filling, bounded by the rate too.
    assert!(
        (CAPACITY as usize - appended) as f64 <= RATE * CAPACITY as f64,
        "{} of {CAPACITY} new identities were taken for repeats while filling",
        CAPACITY as usize - appended
    );
    wait_until_expired(&conn, "hookline:dedup:*").await;

    // No false negatives: every identity the filter took is caught after the window.
    let inserted: Vec<String> = seen
        .iter()
        .zip(&first)
        .filter(|(_, a)| matches!(a, Appended::New { .. }))
        .map(|(id, _)| id.clone())
        .collect();
    let again = append_all(&mut conn, &options, &inserted).await;
    let missed = again
        .iter()
        .filter(|a| !matches!(a, Appended::Suspect { .. }))
        .count();
    assert_eq!(missed, 0, "false negatives");

    // False positives: fresh identities the filter claims to have seen.
    let fresh: Vec<String> = (0..CAPACITY)
        .map(|i| format!("gh:push:fresh-{i}-{}", uuid::Uuid::new_v4()))
        .collect();
    let false_positives = probably_seen(&mut conn, &shape, &fresh).await;
    let rate = false_positives as f64 / CAPACITY as f64;
    println!(
        "bloom at capacity {CAPACITY}: measured false-positive rate {rate:.5} (configured {RATE})"
    );
    assert!(
        rate <= RATE,
        "measured false-positive rate {rate} exceeds {RATE}"
    );
}

fn ingest_yaml(redis: &RedisServer) -> String {
    format!(
        "redis: {{url: \"{}\"}}\nsources:\n  gh: {{provider: github, secrets: [\"{SECRET}\"], dedup_window: 200ms}}\ndedup:\n  bloom: {{capacity: 1000, false_positive_rate: 0.001}}\n",
        redis.url()
    )
}

#[tokio::test]
async fn a_repeat_after_the_window_is_answered_as_duplicate_and_kept_as_a_suspect() {
    let redis = RedisServer::start();
    let ingest = TestIngest::start(&ingest_yaml(&redis)).await;
    let client = HttpClient::default();
    let body = br#"{"zen":"Approachable is better than simple.","repository":{"full_name":"o/r"}}"#;
    let headers = github_headers(SECRET, "push", "delivery-1", body);
    let url = ingest.url("/webhooks/gh");
    assert_eq!(client.post(&url, &headers, &body[..]).await.status, 202);
    let inside = client.post(&url, &headers, &body[..]).await;
    assert_eq!(inside.status, 200);
    assert_ne!(
        inside.json["id"],
        serde_json::Value::Null,
        "inside the window: the original id"
    );

    let mut conn = RedisConn::open(&ingest.config.redis).unwrap();
    wait_until_expired(&conn, "hookline:dedup:*").await;
    let after = client.post(&url, &headers, &body[..]).await;
    assert_eq!(after.status, 200);
    assert_eq!(
        after.json,
        serde_json::json!({"id": null, "duplicate": true})
    );

    let mut c = redis.connection();
    let events: u64 = c.xlen("hookline:events:{0}").unwrap();
    let suspects = redis.entries("hookline:suspects:{0}");
    assert_eq!(events, 1, "the repeat was not appended");
    assert_eq!(suspects.len(), 1, "the repeat is kept for inspection");
    assert_eq!(
        suspects[0].payload(),
        body,
        "the suspect keeps the exact bytes, so it can be replayed"
    );

    // A false positive is delivered after all by replaying the suspects.
    let request = hookline_jobs::replay::ReplayRequest {
        from_ms: 0,
        to_ms: Clock::system().now_ms() + 1,
        source: None,
        event_type: None,
        to_stream: None,
        dry_run: false,
        suspects: true,
    };
    let keys = Keys::new("hookline");
    let report = hookline_jobs::replay::replay(&mut conn, &keys, 1, None, &request, |_| {})
        .await
        .unwrap();
    assert_eq!(report.appended, 1);
    let events = redis.entries("hookline:events:{0}");
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].payload(), body);
    assert_eq!(events[1].text("replay_of"), suspects[0].text("id"));
}

#[tokio::test]
async fn rotation_keeps_the_previous_generation_checked_for_one_more_period() {
    let redis = RedisServer::start();
    let yaml = ingest_yaml(&redis);
    let ingest = TestIngest::start(&yaml).await;
    let config: Config = ingest.config.clone();
    let client = HttpClient::default();
    let body = br#"{"zen":"Half measures are as bad as nothing at all.","repository":{"full_name":"o/r"}}"#;
    let headers = github_headers(SECRET, "push", "delivery-rotate", body);
    let url = ingest.url("/webhooks/gh");
    let mut conn = RedisConn::open(&config.redis).unwrap();
    let windows = conn.clone();
    let send_after_window = || async {
        wait_until_expired(&windows, "hookline:dedup:*").await;
        client.post(&url, &headers, &body[..]).await
    };

    assert_eq!(client.post(&url, &headers, &body[..]).await.status, 202);
    hookline_jobs::rotate::rotate_bloom(&config, &mut conn)
        .await
        .unwrap();
    let after_one = send_after_window().await;
    assert_eq!(
        after_one.json["duplicate"], true,
        "the previous generation is still checked"
    );

    hookline_jobs::rotate::rotate_bloom(&config, &mut conn)
        .await
        .unwrap();
    let after_two = send_after_window().await;
    assert_eq!(
        after_two.status, 202,
        "two rotations later the identity is forgotten"
    );
}

#[tokio::test]
async fn with_on_hit_deliver_a_repeat_after_the_window_is_delivered_flagged() {
    let redis = RedisServer::start();
    let receiver =
        hookline_tests::Receiver::start(|_| (axum::http::StatusCode::OK, Duration::ZERO)).await;
    let yaml = ingest_yaml(&redis).replace(
        "false_positive_rate: 0.001}",
        "false_positive_rate: 0.001, on_hit: deliver}",
    ) + &format!(
        "consumer:\n  groups:\n    app:\n      sink: {{type: http, url: \"{}\", secret: \"{}\", timeout: 1s}}\n",
        receiver.url(),
        hookline_tests::TEST_WHSEC
    );
    let ingest = TestIngest::start(&yaml).await;
    let client = HttpClient::default();
    let body = br#"{"zen":"Half measures are as bad as nothing at all.","repository":{"full_name":"o/r"}}"#;
    let headers = github_headers(SECRET, "push", "delivery-2", body);
    let url = ingest.url("/webhooks/gh");
    assert_eq!(client.post(&url, &headers, &body[..]).await.status, 202);
    let conn = RedisConn::open(&ingest.config.redis).unwrap();
    wait_until_expired(&conn, "hookline:dedup:*").await;
    let after = client.post(&url, &headers, &body[..]).await;
    assert_eq!(after.status, 202, "{}", after.json);
    assert_eq!(after.json["suspected_duplicate"], true);

    let mut c = redis.connection();
    let events = redis.entries("hookline:events:{0}");
    assert_eq!(events.len(), 2, "the repeat is appended");
    assert_eq!(events[1].text("suspected_duplicate"), "1");
    assert_eq!(events[1].payload(), body);
    let suspects: u64 = c.xlen("hookline:suspects:{0}").unwrap();
    assert_eq!(suspects, 0, "nothing held");

    let ctx = hookline_shared::Context::new(ingest.config.clone()).unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let consumer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            hookline_shared::consumer::run(&ctx, "c", stop)
                .await
                .unwrap()
        })
    };
    hookline_tests::wait_until("both delivered", Duration::from_secs(20), || {
        let n = receiver.calls().len();
        async move { (n == 2).then_some(()) }
    })
    .await;
    stop.cancel();
    consumer.await.unwrap();
    let calls = receiver.calls();
    assert!(
        calls[0]
            .headers
            .get("hookline-suspected-duplicate")
            .is_none()
    );
    assert_eq!(calls[1].headers["hookline-suspected-duplicate"], "true");
}
