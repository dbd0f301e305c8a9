//! Consumer groups against a real redis-server and a real HTTP receiver: retries with
//! backoff, dead letters, group recreation after Redis lost it.

use hookline_shared::Context;
use std::time::Duration;

use axum::http::StatusCode;
use hookline_shared::config::{self, Backoff, Config};
use hookline_shared::consumer::{self, dlq};
use hookline_shared::providers::{self, Inbound, ProviderKind};
use hookline_tests::{Receiver, RedisServer, TEST_WHSEC, append_entry, consumer_yaml, wait_until};
use redis::Commands;
use tokio_util::sync::CancellationToken;

const WHSEC: &str = TEST_WHSEC;

fn config(redis: &RedisServer, receiver: &Receiver, max_retries: u32) -> Config {
    let yaml = consumer_yaml(
        redis,
        &receiver.url(),
        // No time floor on dead-lettering: these tests count attempts.
        &format!("      max_retries: {max_retries}\n      retry_for: 0s\n      shutdown_grace: 2s"),
    );
    config::parse(&yaml, |_| None).unwrap()
}

fn append(redis: &RedisServer, id: &str, payload: &str) -> String {
    append_entry(redis, id, "push", payload)
}

fn pending(redis: &RedisServer) -> usize {
    hookline_tests::pending(redis, "app")
}

fn start(config: Config) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let token = CancellationToken::new();
    let stop = token.clone();
    let task = tokio::spawn(async move {
        let ctx = Context::new(config).unwrap();
        consumer::run(&ctx, "test-consumer", stop).await.unwrap();
    });
    (token, task)
}

#[tokio::test]
async fn a_failing_sink_is_retried_with_growing_delays_and_acked_once() {
    let redis = RedisServer::start();
    let receiver =
        Receiver::failing_first(3, StatusCode::SERVICE_UNAVAILABLE, StatusCode::NO_CONTENT).await;
    let config = config(&redis, &receiver, 5);
    let backoff: Backoff = config.consumer.groups["app"].backoff;
    let entry = append(&redis, "evt-retry", r#"{"n":1}"#);
    let (stop, task) = start(config);

    wait_until("four deliveries", Duration::from_secs(20), || async {
        (receiver.calls().len() >= 4).then_some(())
    })
    .await;
    wait_until("nothing pending", Duration::from_secs(10), || async {
        (pending(&redis) == 0).then_some(())
    })
    .await;
    stop.cancel();
    task.await.unwrap();

    let calls = receiver.calls();
    assert_eq!(calls.len(), 4, "acknowledged once, after the first success");
    for (k, pair) in calls.windows(2).enumerate() {
        let failures = k as u64 + 1;
        let gap = pair[1].at - pair[0].at;
        let due = consumer::backoff::delay(&backoff, &entry, failures);
        // The consumer compares Redis's idle time, in whole milliseconds and counted from when
        // Redis recorded the delivery, not when the receiver saw it: allow that rounding.
        let rounding = Duration::from_millis(2);
        assert!(
            gap + rounding >= due,
            "retry {failures} came after {gap:?}, before its backoff {due:?}"
        );
    }
    let caps: Vec<Duration> = (1..=3)
        .map(|n| consumer::backoff::cap(&backoff, n))
        .collect();
    assert!(
        caps.windows(2).all(|w| w[0] < w[1]),
        "backoff bounds grow: {caps:?}"
    );

    // Every attempt is the same Standard Webhooks message, verifiable by any receiver.
    for call in &calls {
        assert_eq!(call.headers["webhook-id"], "evt-retry");
        assert_eq!(call.headers["hookline-source"], "github");
        assert_eq!(call.headers["hookline-event-type"], "push");
        assert_eq!(call.body, r#"{"n":1}"#);
        verify(call, WHSEC).unwrap();
    }
}

/// Verifies `call` as a Standard Webhooks receiver holding only the key `whsec` would.
fn verify(call: &hookline_tests::Call, whsec: &str) -> Result<(), providers::ProviderError> {
    let standard = providers::build(ProviderKind::Standard, None);
    let key = standard.signing_key(whsec).unwrap();
    let inbound = Inbound {
        headers: &call.headers,
        body: &call.body,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    standard.verify(&inbound, &[key], now, Duration::from_secs(300))
}

#[tokio::test]
async fn a_sink_that_keeps_failing_dead_letters_the_entry_and_dlq_retry_brings_it_back() {
    let redis = RedisServer::start();
    // Down for the first three calls (the first attempt and two retries), then back.
    let receiver =
        Receiver::failing_first(3, StatusCode::INTERNAL_SERVER_ERROR, StatusCode::OK).await;
    let entry = append(&redis, "evt-dead", r#"{"doomed":true}"#);
    let (stop, task) = start(config(&redis, &receiver, 2));

    let mut conn = redis.connection();
    wait_until("a dead letter", Duration::from_secs(20), || {
        let len: usize = conn.xlen("hookline:dlq:{0}").unwrap();
        async move { (len == 1).then_some(()) }
    })
    .await;

    assert_eq!(
        receiver.calls().len(),
        3,
        "the first attempt and max_retries = 2 retries"
    );
    assert_eq!(pending(&redis), 0, "dead-lettered entries are acknowledged");
    let dlq: redis::streams::StreamRangeReply = conn.xrange_all("hookline:dlq:{0}").unwrap();
    let dead = &dlq.ids[0];
    assert_eq!(dead.get::<String>("group").unwrap(), "app");
    assert_eq!(dead.get::<String>("attempts").unwrap(), "3");
    assert_eq!(dead.get::<String>("entry_id").unwrap(), entry);
    assert_eq!(
        dead.get::<String>("error").unwrap(),
        "destination answered 500"
    );
    assert!(dead.get::<u64>("failed_at").unwrap() > 1_700_000_000_000);
    let original = hookline_shared::event::StoredEvent::from_json(
        entry,
        &dead.get::<String>("event").unwrap(),
    )
    .unwrap();
    assert_eq!(original.payload(), br#"{"doomed":true}"#);
    assert_eq!(original.text("id"), "evt-dead");

    let redis_config = config::RedisConfig {
        url: Some(redis.url()),
        ..Default::default()
    };
    let mut conn = hookline_shared::redis::RedisConn::open(&redis_config).unwrap();
    let keys = hookline_shared::streams::Keys::new("hookline");
    let retried = dlq::retry(&mut conn, &keys, 1, &dlq::DlqFilter::default(), false)
        .await
        .unwrap();
    assert_eq!(retried.moved, 1);
    wait_until(
        "the retried event delivered",
        Duration::from_secs(10),
        || async { (receiver.calls().len() == 4 && pending(&redis) == 0).then_some(()) },
    )
    .await;
    stop.cancel();
    task.await.unwrap();
    let last = receiver.calls().pop().unwrap();
    assert_eq!(last.status, StatusCode::OK);
    assert_eq!(
        last.headers["webhook-id"], "evt-dead",
        "the event id survives the round trip"
    );
    assert_eq!(
        redis
            .connection()
            .xlen::<_, usize>("hookline:dlq:{0}")
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_consumer_recreates_its_group_after_redis_lost_it() {
    let mut redis = RedisServer::start();
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let (stop, task) = start(config(&redis, &receiver, 5));
    let delivered = |id: &'static str| {
        let calls = receiver.calls();
        async move {
            calls
                .iter()
                .any(|c| c.headers["webhook-id"] == id)
                .then_some(())
        }
    };
    append(&redis, "before", "{}");
    wait_until("first delivery", Duration::from_secs(10), || {
        delivered("before")
    })
    .await;

    // Redis loses everything while the consumer runs: flushed, then restarted empty.
    let _: () = redis::cmd("FLUSHALL")
        .query(&mut redis.connection())
        .unwrap();
    append(&redis, "after-flush", "{}");
    wait_until("delivery after a flush", Duration::from_secs(15), || {
        delivered("after-flush")
    })
    .await;
    redis.restart();
    append(&redis, "after-restart", "{}");
    wait_until("delivery after a restart", Duration::from_secs(30), || {
        delivered("after-restart")
    })
    .await;
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_destination_opens_the_shared_breaker_and_a_probe_closes_it() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::UNIX_EPOCH;

    let redis = RedisServer::start();
    let down = Arc::new(AtomicBool::new(true));
    let flag = down.clone();
    let receiver = Receiver::start(move |_| {
        let status = if flag.load(Ordering::SeqCst) {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::OK
        };
        (status, Duration::ZERO)
    })
    .await;
    let yaml = format!(
        r#"
redis: {{url: "{}"}}
consumer:
  groups:
    app:
      sink: {{type: http, url: "{}", secret: "{WHSEC}", timeout: 1s}}
      max_retries: 50
      backoff: {{initial: 20ms, max: 100ms}}
      claim_idle: 7s
      circuit_breaker: {{failures: 3, open_for: 1s}}
"#,
        redis.url(),
        receiver.url()
    );
    let config = config::parse(&yaml, |_| None).unwrap();
    for i in 0..10 {
        append(&redis, &format!("evt-{i}"), "{}");
    }
    // Two consumers of one group share the breaker through Redis.
    let token = CancellationToken::new();
    let runs: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|name| {
            let ctx = Context::new(config.clone()).unwrap();
            let token = token.clone();
            tokio::spawn(async move { consumer::run(&ctx, name, token).await.unwrap() })
        })
        .collect();

    let key = format!("hookline:breaker:http://{}", receiver.addr);
    let open_until: u64 = wait_until("the breaker opens", Duration::from_secs(20), || {
        let state: Option<(String, u64)> = redis::cmd("HMGET")
            .arg(&key)
            .arg(&["state", "open_until"])
            .query::<(Option<String>, Option<u64>)>(&mut redis.connection())
            .ok()
            .and_then(|(s, u)| Some((s?, u?)));
        async move { state.filter(|(s, _)| s == "open").map(|(_, until)| until) }
    })
    .await;
    let opened_calls = receiver.calls().len();
    down.store(false, Ordering::SeqCst);

    wait_until(
        "every event delivered after recovery",
        Duration::from_secs(30),
        || async {
            let ok = receiver
                .calls()
                .iter()
                .filter(|c| c.status == StatusCode::OK)
                .count();
            (ok >= 10 && pending(&redis) == 0).then_some(())
        },
    )
    .await;
    token.cancel();
    for run in runs {
        run.await.unwrap();
    }

    let calls = receiver.calls();
    let ms =
        |c: &hookline_tests::Call| c.wall.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let opened_at = open_until - 1000;
    let during_open = calls
        .iter()
        .filter(|c| ms(c) > opened_at + 20 && ms(c) < open_until)
        .count();
    assert_eq!(during_open, 0, "no calls while open");
    assert!(opened_calls >= 3, "three failures opened it");
    let after: Vec<_> = calls.iter().filter(|c| ms(c) >= open_until).collect();
    assert_eq!(
        after[0].status,
        StatusCode::OK,
        "the half-open probe succeeded"
    );
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query(&mut redis.connection())
        .unwrap();
    assert!(!exists, "the probe closed the circuit");
}

#[tokio::test]
async fn stream_sinks_route_by_rule_and_filters_skip_without_loss() {
    let redis = RedisServer::start();
    let yaml = format!(
        r#"
redis: {{url: "{}"}}
sources:
  github: {{provider: github, secrets: [s]}}
consumer:
  groups:
    fanout:
      sink:
        type: stream
        routes:
          - {{event_types: [push], to: "ci:pushes"}}
          - {{sources: [github], event_types: [issues], to: "triage"}}
    releases:
      sink: {{type: log}}
      filter: {{sources: [github], event_types: [release]}}
"#,
        redis.url()
    );
    let config = config::parse(&yaml, |_| None).unwrap();
    let push = append(&redis, "evt-push", r#"{"ref":"main"}"#);
    append_entry(&redis, "evt-other", "release", "{}");
    let (stop, task) = start(config);
    let mut conn = redis.connection();
    wait_until("both groups done", Duration::from_secs(10), || {
        let groups = ["fanout", "releases"].map(|g| {
            redis::cmd("XPENDING")
                .arg("hookline:events:{0}")
                .arg(g)
                .query::<(usize, redis::Value, redis::Value, redis::Value)>(&mut conn)
        });
        let routed: usize = conn.xlen("ci:pushes").unwrap();
        let done = routed == 1 && groups.iter().all(|g| g.as_ref().is_ok_and(|p| p.0 == 0));
        async move { done.then_some(()) }
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    let routed: redis::streams::StreamRangeReply = conn.xrange_all("ci:pushes").unwrap();
    let copy = &routed.ids[0];
    assert_eq!(
        copy.get::<String>("id").unwrap(),
        "evt-push",
        "fields are copied as stored"
    );
    assert_eq!(
        copy.get::<Vec<u8>>("payload").unwrap(),
        br#"{"ref":"main"}"#
    );
    assert_ne!(copy.id, push, "a new entry in the target stream");
    assert_eq!(
        conn.xlen::<_, usize>("triage").unwrap(),
        0,
        "no rule matched the other event"
    );
    let groups = hookline_shared::redis::groups::info(
        &mut hookline_shared::redis::RedisConn::open(&config::RedisConfig {
            url: Some(redis.url()),
            ..Default::default()
        })
        .unwrap(),
        "hookline:events:{0}",
    )
    .await
    .unwrap();
    assert!(
        groups.iter().all(|g| g.pending == 0 && g.lag == Some(0)),
        "{groups:?}"
    );
}

/// A server that answers every request with a 302 to `to`.
async fn redirecting_to(to: String) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let to = to.clone();
            async move { (StatusCode::FOUND, [("location", to)]) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

/// A server that counts every request, whatever its method and path.
async fn counting() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let app = axum::Router::new().fallback(move || {
        count.fetch_add(1, Ordering::SeqCst);
        async { StatusCode::OK }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/login", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

#[tokio::test]
async fn a_redirect_is_a_failed_attempt_and_never_followed() {
    let redis = RedisServer::start();
    let (elsewhere, seen) = counting().await;
    let (url, server) = redirecting_to(elsewhere).await;
    let yaml = consumer_yaml(
        &redis,
        &url,
        "      max_retries: 1\n      retry_for: 0s\n      shutdown_grace: 2s",
    );
    append(&redis, "evt-redirected", r#"{"secret":"payload"}"#);
    let (stop, task) = start(config::parse(&yaml, |_| None).unwrap());
    let mut conn = redis.connection();
    wait_until("a dead letter", Duration::from_secs(20), || {
        let len: usize = conn.xlen("hookline:dlq:{0}").unwrap();
        async move { (len == 1).then_some(()) }
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    server.abort();
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the redirect's target got no request: no GET whose 200 would acknowledge, no payload"
    );
    let dlq: redis::streams::StreamRangeReply = conn.xrange_all("hookline:dlq:{0}").unwrap();
    let error: String = dlq.ids[0].get("error").unwrap();
    assert!(error.contains("302"), "{error}");
}

#[tokio::test]
async fn deliveries_signed_with_two_keys_verify_under_either() {
    const OLD: &str = TEST_WHSEC;
    const NEW: &str = "whsec_bmV3LWtleS1mb3Itcm90YXRpb24tdGVzdHMhIQ==";
    let redis = RedisServer::start();
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let yaml = consumer_yaml(&redis, &receiver.url(), "      shutdown_grace: 2s").replace(
        &format!("secret: \"{TEST_WHSEC}\""),
        &format!("secrets: [\"{NEW}\", \"{OLD}\"]"),
    );
    append(&redis, "evt-rotated", r#"{"n":2}"#);
    let (stop, task) = start(config::parse(&yaml, |_| None).unwrap());
    wait_until("delivered", Duration::from_secs(20), || {
        let n = receiver.calls().len();
        async move { (n == 1).then_some(()) }
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    let call = &receiver.calls()[0];
    for whsec in [OLD, NEW] {
        verify(call, whsec).unwrap_or_else(|e| panic!("a receiver holding only {whsec}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_long_outage_dead_letters_nothing_and_everything_is_delivered_after() {
    let redis = RedisServer::start();
    let down_until = std::time::Instant::now() + Duration::from_secs(60);
    let receiver = Receiver::start(move |_| {
        let status = if std::time::Instant::now() < down_until {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        (status, Duration::ZERO)
    })
    .await;
    let extra = "      max_retries: 3\n      retry_for: 10m\n      circuit_breaker: {failures: 3, open_for: 2s}\n      shutdown_grace: 2s";
    let yaml = consumer_yaml(&redis, &receiver.url(), extra);
    for n in 0..20 {
        append(
            &redis,
            &format!("evt-outage-{n}"),
            &format!(r#"{{"n":{n}}}"#),
        );
    }
    let (stop, task) = start(config::parse(&yaml, |_| None).unwrap());
    let delivered = || {
        let ok: std::collections::HashSet<String> = receiver
            .calls()
            .iter()
            .filter(|c| c.status == StatusCode::OK)
            .map(|c| c.headers["webhook-id"].to_str().unwrap().to_owned())
            .collect();
        ok.len()
    };
    wait_until(
        "every event delivered after the outage",
        Duration::from_secs(100),
        || {
            let done = delivered() == 20 && pending(&redis) == 0;
            async move { done.then_some(()) }
        },
    )
    .await;
    stop.cancel();
    task.await.unwrap();
    let dead: usize = redis.connection().xlen("hookline:dlq:{0}").unwrap();
    assert_eq!(
        dead, 0,
        "an outage shorter than retry_for dead-letters nothing"
    );
    let failed = receiver
        .calls()
        .iter()
        .filter(|c| c.status != StatusCode::OK)
        .count();
    eprintln!("outage: {failed} calls failed in 60 s for 20 events; all delivered after");
}

#[tokio::test]
async fn an_event_retried_from_the_dlq_and_dead_again_is_retried_only_when_told_again() {
    let redis = RedisServer::start();
    let receiver = Receiver::start(|_| (StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO)).await;
    append(&redis, "evt-loop", r#"{"again":true}"#);
    let (stop, task) = start(config(&redis, &receiver, 0));
    let mut conn = hookline_shared::redis::RedisConn::open(&config::RedisConfig {
        url: Some(redis.url()),
        ..Default::default()
    })
    .unwrap();
    let keys = hookline_shared::streams::Keys::new("hookline");
    let all = dlq::DlqFilter::default();
    let dead = |n: usize| {
        let mut c = redis.connection();
        wait_until("a dead letter", Duration::from_secs(20), move || {
            let len: usize = c.xlen("hookline:dlq:{0}").unwrap();
            async move { (len == n).then_some(()) }
        })
    };
    dead(1).await;
    let first = dlq::retry(&mut conn, &keys, 1, &all, false).await.unwrap();
    assert_eq!((first.moved, first.retried_before), (1, 0));
    dead(1).await; // it failed again
    let refused = dlq::retry(&mut conn, &keys, 1, &all, false).await.unwrap();
    assert_eq!(
        (refused.moved, refused.retried_before),
        (0, 1),
        "retried before: left in the DLQ"
    );
    let again = dlq::retry(&mut conn, &keys, 1, &all, true).await.unwrap();
    assert_eq!(again.moved, 1);
    dead(1).await;
    stop.cancel();
    task.await.unwrap();
    let letters = dlq::list(&mut conn, &keys, 1, &all).await.unwrap();
    assert_eq!(letters[0].event.text("dlq_retries"), "2");
    assert_eq!(letters[0].event.text("id"), "evt-loop");
}
