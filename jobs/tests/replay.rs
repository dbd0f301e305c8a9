//! Replay across the warm and hot tiers against a real redis-server.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookline_jobs::replay::{ReplayRequest, replay};
use hookline_jobs::{Budget, compact};
use hookline_shared::config::{self, RedisConfig};
use hookline_shared::entries;
use hookline_shared::redis::RedisConn;
use hookline_shared::streams::Keys;
use hookline_tests::{RedisServer, STREAM, github_corpus};
use redis::Value;

/// Appends `payloads` with `received_at` = `at_ms` + i and stream ids at the same times.
fn append_at(redis: &RedisServer, at_ms: u64, payloads: &[(String, Vec<u8>)]) {
    let mut conn = redis.connection();
    for (i, (event_type, body)) in payloads.iter().enumerate() {
        let at = at_ms + i as u64;
        let _: String = redis::cmd("XADD")
            .arg(STREAM)
            .arg(format!("{at}-0"))
            .arg(&[
                ("v", "1"),
                ("id", &format!("evt-{at}")),
                ("source", "github"),
                ("event_type", event_type),
            ])
            .arg(&[("received_at", at.to_string())])
            .arg("payload")
            .arg(body)
            .query(&mut conn)
            .unwrap();
    }
}

fn all(redis: &RedisServer, stream: &str) -> Vec<hookline_shared::event::StoredEvent> {
    let reply: Value = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(&mut redis.connection())
        .unwrap();
    entries::from_entry_list(reply)
}

#[tokio::test]
async fn a_range_spanning_warm_and_hot_replays_every_event_once_in_order() {
    let redis = RedisServer::start();
    let config = config::parse(&format!("redis: {{url: \"{}\"}}", redis.url()), |_| None).unwrap();
    let mut conn = RedisConn::open(&RedisConfig {
        url: Some(redis.url()),
        ..Default::default()
    })
    .unwrap();
    let corpus = github_corpus();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let old = now - 4 * 3_600_000;
    append_at(&redis, old, &corpus[..40]);
    append_at(&redis, now - 1_000, &corpus[40..60]);
    let report = compact::compact(
        &config,
        &mut conn,
        now,
        Budget::new(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert_eq!(report.entries, 40, "the old events are warm");
    let originals = {
        let mut warm: Vec<_> = corpus[..60].to_vec();
        warm.drain(..10); // the range starts at the eleventh old event
        warm
    };

    let keys = Keys::new("hookline");
    let request = ReplayRequest {
        from_ms: old + 10,
        to_ms: now + 1,
        source: Some("github".into()),
        event_type: None,
        to_stream: Some("replayed".into()),
        dry_run: true,
    };
    let dry = replay(&mut conn, &keys, 1, &request, |_| {}).await.unwrap();
    assert_eq!((dry.matched, dry.appended), (50, 0));
    assert!(
        all(&redis, "replayed").is_empty(),
        "a dry run appends nothing"
    );

    let done = replay(
        &mut conn,
        &keys,
        1,
        &ReplayRequest {
            dry_run: false,
            ..request
        },
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(done.appended, 50);
    let replayed = all(&redis, "replayed");
    assert_eq!(replayed.len(), originals.len());
    for (i, (event, (event_type, body))) in replayed.iter().zip(&originals).enumerate() {
        assert_eq!(event.payload(), &body[..], "payload {i} byte-identical");
        assert_eq!(event.text("event_type"), event_type);
        let original_at = if i < 30 {
            old + 10 + i as u64
        } else {
            now - 1_000 + (i - 30) as u64
        };
        assert_eq!(
            event.text("replay_of"),
            format!("evt-{original_at}"),
            "in original order"
        );
        assert_ne!(
            event.text("id"),
            event.text("replay_of"),
            "a replay is a new event"
        );
    }
}
