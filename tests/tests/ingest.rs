//! Ingest against a real redis-server: every provider end to end, the status table, the
//! atomic de-duplication under concurrency, and the operational routes.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookline_tests::{
    HttpClient, RedisServer, TestIngest, github_corpus, github_headers, hmac_sha256_hex,
};
use redis::Commands;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "test-secret";
const STANDARD_KEY: &[u8] = b"standard-webhooks-test-key-32by";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn h(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

/// A config with one source per provider, all signed with [`SECRET`].
fn config(redis: &RedisServer, extra_sources: &str) -> String {
    let whsec = format!("whsec_{}", B64.encode(STANDARD_KEY));
    format!(
        r#"
redis: {{url: "{url}"}}
streams: {{partitions: 4}}
sources:
  github: {{provider: github, secrets: ["wrong-old-secret", "{SECRET}"]}}
  gitlab: {{provider: gitlab, secrets: ["{SECRET}"]}}
  stripe: {{provider: stripe, secrets: ["{SECRET}"]}}
  slack: {{provider: slack, secrets: ["{SECRET}"]}}
  shopify: {{provider: shopify, secrets: ["{SECRET}"]}}
  jira: {{provider: jira, secrets: ["{SECRET}"]}}
  linear: {{provider: linear, secrets: ["{SECRET}"]}}
  pagerduty: {{provider: pagerduty, secrets: ["{SECRET}"]}}
  standard: {{provider: standard, secrets: ["{whsec}"]}}
  custom: {{provider: hmac, secrets: ["{SECRET}"], header: X-Signature, algorithm: sha256, encoding: base64, prefix: "sha256="}}
  open: {{provider: none}}
{extra_sources}
"#,
        url = redis.url()
    )
}

/// A correctly signed request: (source, headers, body, event type, delivery id).
type SignedRequest = (&'static str, Vec<(String, String)>, Vec<u8>, String, String);

/// One correctly signed request per provider.
fn signed_requests() -> Vec<SignedRequest> {
    let ts = now().to_string();
    let sig = |msg: &[u8]| hmac_sha256_hex(SECRET.as_bytes(), msg);
    let b64sig =
        |msg: &[u8]| B64.encode(hex::decode(hmac_sha256_hex(SECRET.as_bytes(), msg)).unwrap());
    let (push_name, push) = github_corpus()
        .into_iter()
        .find(|(n, _)| n == "push")
        .unwrap();
    let stripe =
        br#"{"id":"evt_1","type":"payment_intent.succeeded","account":"acct_9","data":{}}"#
            .to_vec();
    let slack =
        br#"{"type":"event_callback","event_id":"Ev42","event":{"type":"app_mention"}}"#.to_vec();
    let json = |s: &str| s.as_bytes().to_vec();
    let standard = json(r#"{"type":"invoice.paid","data":{}}"#);
    let std_sig = {
        let msg = format!("msg_1.{ts}.{}", String::from_utf8_lossy(&standard));
        B64.encode(hex::decode(hmac_sha256_hex(STANDARD_KEY, msg.as_bytes())).unwrap())
    };
    let pd = json(r#"{"event":{"id":"pd_1","event_type":"incident.triggered"}}"#);
    vec![
        (
            "github",
            github_headers(SECRET, &push_name, "d-gh-1", &push),
            push.clone(),
            "push".into(),
            "d-gh-1".into(),
        ),
        (
            "gitlab",
            vec![
                h("x-gitlab-token", SECRET),
                h("x-gitlab-event", "Push Hook"),
                h("idempotency-key", "d-gl-1"),
            ],
            json(r#"{"object_kind":"push"}"#),
            "Push Hook".into(),
            "d-gl-1".into(),
        ),
        (
            "stripe",
            vec![h(
                "stripe-signature",
                format!(
                    "t={ts},v1={}",
                    sig(format!("{ts}.{}", String::from_utf8_lossy(&stripe)).as_bytes())
                ),
            )],
            stripe.clone(),
            "payment_intent.succeeded".into(),
            "evt_1".into(),
        ),
        (
            "slack",
            vec![
                h("x-slack-request-timestamp", ts.clone()),
                h(
                    "x-slack-signature",
                    format!(
                        "v0={}",
                        sig(format!("v0:{ts}:{}", String::from_utf8_lossy(&slack)).as_bytes())
                    ),
                ),
            ],
            slack.clone(),
            "app_mention".into(),
            "Ev42".into(),
        ),
        (
            "shopify",
            vec![
                h("x-shopify-hmac-sha256", b64sig(b"{\"id\":1}")),
                h("x-shopify-topic", "orders/create"),
                h("x-shopify-event-id", "d-sh-1"),
            ],
            json(r#"{"id":1}"#),
            "orders/create".into(),
            "d-sh-1".into(),
        ),
        (
            "jira",
            vec![
                h(
                    "x-hub-signature",
                    format!(
                        "sha256={}",
                        sig(br#"{"webhookEvent":"jira:issue_created"}"#)
                    ),
                ),
                h("x-atlassian-webhook-identifier", "d-ji-1"),
            ],
            json(r#"{"webhookEvent":"jira:issue_created"}"#),
            "jira:issue_created".into(),
            "d-ji-1".into(),
        ),
        (
            "linear",
            vec![
                h("linear-signature", sig(br#"{"type":"Issue"}"#)),
                h("linear-event", "Issue"),
                h("linear-delivery", "d-li-1"),
            ],
            json(r#"{"type":"Issue"}"#),
            "Issue".into(),
            "d-li-1".into(),
        ),
        (
            "pagerduty",
            vec![h(
                "x-pagerduty-signature",
                format!("v1=00ff,v1={}", sig(&pd)),
            )],
            pd.clone(),
            "incident.triggered".into(),
            "pd_1".into(),
        ),
        (
            "standard",
            vec![
                h("webhook-id", "msg_1"),
                h("webhook-timestamp", ts.clone()),
                h("webhook-signature", format!("v1,{std_sig}")),
            ],
            standard.clone(),
            "invoice.paid".into(),
            "msg_1".into(),
        ),
        (
            "custom",
            vec![
                h("x-signature", format!("sha256={}", b64sig(b"{\"k\":1}"))),
                h("x-event-type", "thing.done"),
                h("x-delivery-id", "d-cu-1"),
            ],
            json(r#"{"k":1}"#),
            "thing.done".into(),
            "d-cu-1".into(),
        ),
        (
            "open",
            vec![],
            json(r#"{"hello":"world"}"#),
            "unknown".into(),
            String::new(),
        ),
    ]
}

/// Finds the stream entry whose `id` field is `event_id` in any partition.
fn find_entry(
    redis: &RedisServer,
    partitions: u16,
    event_id: &str,
) -> std::collections::HashMap<String, Vec<u8>> {
    let mut conn = redis.connection();
    for p in 0..partitions {
        let reply: redis::streams::StreamRangeReply =
            conn.xrange_all(format!("hookline:events:{{{p}}}")).unwrap();
        for entry in reply.ids {
            let fields: std::collections::HashMap<String, Vec<u8>> = entry
                .map
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        redis::from_redis_value_ref::<Vec<u8>>(v).unwrap(),
                    )
                })
                .collect();
            if fields.get("id").map(Vec::as_slice) == Some(event_id.as_bytes()) {
                return fields;
            }
        }
    }
    panic!("event {event_id} not found in any partition");
}

#[tokio::test]
async fn every_provider_appends_the_exact_bytes_with_schema_1_fields() {
    let redis = RedisServer::start();
    let ingest = TestIngest::start(&config(&redis, "")).await;
    let client = HttpClient::default();
    for (source, headers, body, event_type, delivery) in signed_requests() {
        let reply = client
            .post(
                &ingest.url(&format!("/webhooks/{source}")),
                &headers,
                body.clone(),
            )
            .await;
        assert_eq!(reply.status, 202, "{source}: {:?}", reply.json);
        assert_eq!(reply.json["duplicate"], false, "{source}");
        let id = reply.json["id"].as_str().expect("id").to_owned();
        let fields = find_entry(&redis, 4, &id);
        let text = |k: &str| String::from_utf8(fields[k].clone()).unwrap();
        assert_eq!(fields["payload"], body, "{source}: payload bytes differ");
        assert_eq!(text("v"), "1");
        assert_eq!(text("source"), source);
        assert_eq!(
            text("provider"),
            if source == "custom" {
                "hmac"
            } else if source == "open" {
                "none"
            } else {
                source
            }
        );
        assert_eq!(text("tenant"), "default");
        assert_eq!(text("event_type"), event_type, "{source}");
        assert_eq!(text("delivery_id"), delivery, "{source}");
        assert_eq!(text("encoding"), "identity");
        let received: u64 = text("received_at").parse().unwrap();
        assert!(received / 1000 >= now() - 60 && received / 1000 <= now() + 1);
        let kept: serde_json::Value = serde_json::from_slice(&fields["headers"]).unwrap();
        for (name, _) in &headers {
            let secretish =
                name.contains("signature") || name.contains("token") || name.contains("hmac");
            assert!(
                !(secretish && kept.get(name).is_some()),
                "{source}: {name} must not be retained"
            );
        }
        let names: Vec<&String> = fields.keys().collect();
        assert_eq!(fields.len(), 12, "{source}: fields {names:?}");
    }
}

#[tokio::test]
async fn the_status_table_holds() {
    let redis = RedisServer::start();
    let extra = r#"
  small: {provider: github, secrets: ["test-secret"], max_payload: 1KiB}
  limited: {provider: none, rate_limit: 2/m}
"#;
    let ingest = TestIngest::start(&config(&redis, extra)).await;
    let client = HttpClient::default();
    let body = br#"{"zen":"hi"}"#.to_vec();
    let gh = |body: &[u8], delivery: &str| github_headers(SECRET, "ping", delivery, body);
    let url = |s: &str| ingest.url(&format!("/webhooks/{s}"));

    let reply = client.post(&url("nope"), &[], body.clone()).await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"].as_str()),
        (404, Some("unknown_source"))
    );

    let reply = client
        .send("GET", &url("github"), &[], vec![])
        .await
        .unwrap();
    assert_eq!(reply.status, 405);

    let mut bad = gh(&body, "d1");
    bad[3].1 = format!("sha256={}", "0".repeat(64));
    let reply = client.post(&url("github"), &bad, body.clone()).await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"].as_str()),
        (401, Some("invalid_signature"))
    );

    let reply = client
        .post(&url("github"), &gh(&body, "d1")[..3], body.clone())
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"].as_str()),
        (401, Some("invalid_signature")),
        "missing signature"
    );

    let old = (now() - 3600).to_string();
    let slack_body = br#"{"type":"event_callback","event":{"type":"message"}}"#;
    let slack_sig = hmac_sha256_hex(
        SECRET.as_bytes(),
        format!("v0:{old}:{}", String::from_utf8_lossy(slack_body)).as_bytes(),
    );
    let stale = [
        h("x-slack-request-timestamp", old),
        h("x-slack-signature", format!("v0={slack_sig}")),
    ];
    let reply = client
        .post(&url("slack"), &stale, slack_body.to_vec())
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"].as_str()),
        (401, Some("stale_timestamp"))
    );

    let big = vec![b'x'; 2048];
    let reply = client
        .post(&url("small"), &gh(&big, "d2"), big.clone())
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"].as_str()),
        (413, Some("payload_too_large"))
    );

    let ts = now();
    let not_json = b"this is not json";
    let stripe_sig = hmac_sha256_hex(
        SECRET.as_bytes(),
        format!("{ts}.this is not json").as_bytes(),
    );
    let reply = client
        .post(
            &url("stripe"),
            &[h("stripe-signature", format!("t={ts},v1={stripe_sig}"))],
            not_json.to_vec(),
        )
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"].as_str()),
        (400, Some("malformed_payload"))
    );
    assert!(reply.json["detail"].is_string());
    assert!(
        !String::from_utf8_lossy(&reply.body).contains("this is not json"),
        "no payload echoed"
    );

    for n in 0..2 {
        let unique = format!(r#"{{"n":{n}}}"#);
        assert_eq!(client.post(&url("limited"), &[], unique).await.status, 202);
    }
    let reply = client.post(&url("limited"), &[], r#"{"n":2}"#).await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"].as_str()),
        (429, Some("rate_limited"))
    );
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");

    let challenge = br#"{"type":"url_verification","challenge":"c-123","token":"t"}"#;
    let sig = hmac_sha256_hex(
        SECRET.as_bytes(),
        format!("v0:{ts}:{}", String::from_utf8_lossy(challenge)).as_bytes(),
    );
    let headers = [
        h("x-slack-request-timestamp", ts.to_string()),
        h("x-slack-signature", format!("v0={sig}")),
    ];
    let reply = client
        .post(&url("slack"), &headers, challenge.to_vec())
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["challenge"].as_str()),
        (200, Some("c-123"))
    );

    let first = client
        .post(&url("github"), &gh(&body, "dup-1"), body.clone())
        .await;
    let again = client
        .post(&url("github"), &gh(&body, "dup-1"), body.clone())
        .await;
    assert_eq!(first.status, 202);
    assert_eq!(again.status, 200);
    assert_eq!(again.json["duplicate"], true);
    assert_eq!(again.json["id"], first.json["id"]);

    // The identity is what the signature covers: the same signed body with a fresh (unsigned)
    // delivery id is still a repeat, and one without any delivery id too.
    let replayed = client
        .post(&url("github"), &gh(&body, "dup-2-fresh-id"), body.clone())
        .await;
    assert_eq!(
        (
            replayed.status.as_u16(),
            replayed.json["duplicate"].as_bool()
        ),
        (200, Some(true)),
        "a new X-GitHub-Delivery does not make a repeat new"
    );
    assert_eq!(replayed.json["id"], first.json["id"]);
    let other = br#"{"zen":"other"}"#.to_vec();
    let no_delivery: Vec<_> = gh(&other, "x")
        .into_iter()
        .filter(|(n, _)| n != "x-github-delivery")
        .collect();
    assert_eq!(
        client
            .post(&url("github"), &no_delivery, other.clone())
            .await
            .status,
        202
    );
    let repeat = client.post(&url("github"), &no_delivery, other).await;
    assert_eq!(
        (repeat.status.as_u16(), repeat.json["duplicate"].as_bool()),
        (200, Some(true)),
        "body hash identity"
    );

    let long = br#"{"zen":"long delivery id"}"#.to_vec();
    let reply = client
        .post(&url("github"), &gh(&long, &"d".repeat(300)), long.clone())
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"].as_str()),
        (400, Some("bad_header")),
        "a 300-byte delivery id"
    );
}

#[tokio::test]
async fn allow_ips_admit_listed_clients_directly_or_through_a_trusted_proxy() {
    let redis = RedisServer::start();
    let yaml = |trusted: &str| {
        format!(
            "redis: {{url: \"{}\"}}\nserver: {{trusted_proxies: [{trusted}]}}\nsources:\n  gh: {{provider: github, secrets: [\"{SECRET}\"], allow_ips: [10.0.0.0/8]}}\n",
            redis.url()
        )
    };
    let client = HttpClient::default();
    let body = br#"{"zen":"from the inside"}"#.to_vec();
    let direct = TestIngest::start(&yaml("")).await;
    let mut headers = github_headers(SECRET, "push", "ip-1", &body);
    headers.push(h("x-forwarded-for", "10.1.2.3"));
    let reply = client
        .post(&direct.url("/webhooks/gh"), &headers, body.clone())
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"].as_str()),
        (403, Some("forbidden_ip")),
        "127.0.0.1 is not allowed, and its X-Forwarded-For is not believed"
    );
    let proxied = TestIngest::start(&yaml("127.0.0.1/32")).await;
    let reply = client
        .post(&proxied.url("/webhooks/gh"), &headers, body.clone())
        .await;
    assert_eq!(reply.status, 202, "a trusted proxy forwarding for 10.1.2.3");
    headers.retain(|(n, _)| n != "x-forwarded-for");
    headers.push(h("x-forwarded-for", "10.1.2.3, 192.0.2.9"));
    let reply = client
        .post(&proxied.url("/webhooks/gh"), &headers, body)
        .await;
    assert_eq!(
        reply.status, 403,
        "the right-most untrusted hop is the client (a spoofed first hop changes nothing)"
    );
}

/// A chunked body is counted as it arrives: the 413 comes while the sender is still
/// sending, before any final chunk.
#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_while_streaming() {
    let redis = RedisServer::start();
    let extra = "  small: {provider: none, max_payload: 4KiB}\n";
    let ingest = TestIngest::start(&config(&redis, extra)).await;
    let mut stream = tokio::net::TcpStream::connect(ingest.addr).await.unwrap();
    let head = format!(
        "POST /webhooks/small HTTP/1.1\r\nhost: {}\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n",
        ingest.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("400\r\n{}\r\n", "x".repeat(0x400));
    for _ in 0..5 {
        stream.write_all(chunk.as_bytes()).await.unwrap();
    }
    // No terminating chunk: the server must answer without waiting for the rest.
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("answered before the body ended")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
    let len: usize = redis.connection().xlen("hookline:events:{0}").unwrap();
    assert_eq!(len, 0);
}

#[tokio::test]
async fn fifty_concurrent_identical_deliveries_append_once() {
    let redis = RedisServer::start();
    let ingest = TestIngest::start(&config(&redis, "")).await;
    let client = HttpClient::default();
    let (name, body) = github_corpus()
        .into_iter()
        .find(|(n, _)| n == "pull_request")
        .unwrap();
    let headers = github_headers(SECRET, &name, "same-delivery", &body);
    let url = ingest.url("/webhooks/github");
    let replies =
        futures_util::future::join_all((0..50).map(|_| client.post(&url, &headers, body.clone())))
            .await;
    let accepted: Vec<_> = replies.iter().filter(|r| r.status == 202).collect();
    assert_eq!(accepted.len(), 1, "exactly one append");
    let id = &accepted[0].json["id"];
    for reply in replies.iter().filter(|r| r.status != 202) {
        assert_eq!(reply.status, 200);
        assert_eq!(&reply.json["id"], id, "duplicates answer the original id");
    }
    let mut conn = redis.connection();
    let total: usize = (0..4)
        .map(|p| {
            conn.xlen::<_, usize>(format!("hookline:events:{{{p}}}"))
                .unwrap()
        })
        .sum();
    assert_eq!(total, 1);
}

#[tokio::test]
async fn the_corpus_spreads_over_partitions_by_repository() {
    let redis = RedisServer::start();
    let ingest = TestIngest::start(&config(&redis, "")).await;
    let client = HttpClient::default();
    let corpus = github_corpus();
    for (i, (name, body)) in corpus.iter().enumerate() {
        let headers = github_headers(SECRET, name, &format!("corpus-{i}"), body);
        let reply = client
            .post(&ingest.url("/webhooks/github"), &headers, body.clone())
            .await;
        assert_eq!(reply.status, 202, "{name} #{i}: {:?}", reply.json);
    }
    let mut conn = redis.connection();
    let lengths: Vec<usize> = (0..4)
        .map(|p| conn.xlen(format!("hookline:events:{{{p}}}")).unwrap())
        .collect();
    assert_eq!(lengths.iter().sum::<usize>(), corpus.len());
    assert!(
        lengths.iter().filter(|&&n| n > 0).count() >= 2,
        "partitions used: {lengths:?}"
    );
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let redis = RedisServer::start();
    let ingest = TestIngest::start(&config(&redis, "")).await;
    let client = HttpClient::default();
    let body = br#"{"zen":"hi"}"#.to_vec();
    let headers = github_headers(SECRET, "ping", "metrics-1", &body);
    assert_eq!(
        client
            .post(&ingest.url("/webhooks/github"), &headers, body)
            .await
            .status,
        202
    );
    assert_eq!(
        client
            .send("GET", &ingest.url("/healthz"), &[], vec![])
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        client
            .send("GET", &ingest.url("/readyz"), &[], vec![])
            .await
            .unwrap()
            .status,
        200
    );
    let metrics = client
        .send("GET", &ingest.url("/metrics"), &[], vec![])
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains(r#"hookline_ingest_requests_total{source="github",status="202"}"#),
        "{text}"
    );
    assert!(
        text.contains("hookline_ingest_duration_seconds_bucket"),
        "{text}"
    );
    let reply = client
        .send("GET", &ingest.url("/nowhere"), &[], vec![])
        .await
        .unwrap();
    assert_eq!(
        (reply.status.as_u16(), reply.json["error"].as_str()),
        (404, Some("not_found"))
    );
}

/// A body that does not arrive whole within `server.body_timeout` is answered 408 and
/// appends nothing.
#[tokio::test]
async fn a_body_slower_than_the_body_timeout_gets_408() {
    let redis = RedisServer::start();
    let yaml = format!(
        "redis: {{url: \"{}\"}}\nserver: {{body_timeout: 300ms}}\nsources:\n  open: {{provider: none}}\n",
        redis.url()
    );
    let ingest = TestIngest::start(&yaml).await;
    let mut stream = tokio::net::TcpStream::connect(ingest.addr).await.unwrap();
    let head = format!(
        "POST /webhooks/open HTTP/1.1\r\nhost: {}\r\ncontent-length: 100\r\n\r\n{{\"slow\":",
        ingest.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The rest never comes.
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("answered at the body timeout")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert_eq!(
        redis
            .connection()
            .xlen::<_, usize>("hookline:events:{0}")
            .unwrap(),
        0
    );
}
