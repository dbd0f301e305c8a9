//! Replay across the warm and hot tiers against a real redis-server.

mod common;

use std::time::Duration;

use common::{HOUR, append_spaced, now_ms, setup};
use hookline_jobs::archive;
use hookline_jobs::compact::warm_usage;
use hookline_jobs::replay::{ReplayRequest, replay};
use hookline_jobs::{Budget, compact};
use hookline_shared::objects::{ArchiveStore, FileStore, S3Store};
use hookline_shared::redis::streams as entries;
use hookline_shared::streams::Keys;
use hookline_tests::{MotoServer, RedisServer, github_corpus};
use redis::Value;

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
    let (config, mut conn) = setup(&redis, "");
    let corpus = github_corpus();
    let now = now_ms();
    let old = now - 4 * HOUR;
    append_spaced(&redis, old, 1, &corpus[..40]);
    append_spaced(&redis, now - 1_000, 1, &corpus[40..60]);
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
        suspects: false,
    };
    let dry = replay(&mut conn, &keys, 1, None, &request, |_| {})
        .await
        .unwrap();
    assert_eq!((dry.matched, dry.appended), (50, 0));
    assert!(
        all(&redis, "replayed").is_empty(),
        "a dry run appends nothing"
    );

    let done = replay(
        &mut conn,
        &keys,
        1,
        None,
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

/// Puts events in all three tiers (cold in `store`) and replays a range spanning them.
async fn replay_across_three_tiers(store: &dyn ArchiveStore) {
    let redis = RedisServer::start();
    let (config, mut conn) = setup(&redis, "lifecycle: {hot: 2h, warm: 24h}");
    let corpus = github_corpus();
    let now = now_ms();
    let (cold_at, warm_at, hot_at) = (now - 30 * HOUR, now - 4 * HOUR, now - 1_000);
    append_spaced(&redis, cold_at, 1, &corpus[..30]);
    append_spaced(&redis, warm_at, 1, &corpus[30..50]);
    append_spaced(&redis, hot_at, 1, &corpus[50..60]);
    let budget = || Budget::new(Duration::from_secs(60));
    // Compacted as they would have been over time: the oldest first, in a segment of their own.
    compact::compact(&config, &mut conn, cold_at + 3 * HOUR, budget())
        .await
        .unwrap();
    compact::compact(&config, &mut conn, now, budget())
        .await
        .unwrap();
    let archived = archive::archive(&config, &mut conn, store, now, budget())
        .await
        .unwrap();
    assert_eq!(archived.entries, 30, "the oldest events are cold");
    assert_eq!(
        warm_usage(&mut conn, &Keys::new("hookline"), 0)
            .await
            .unwrap()
            .0,
        1,
        "the next ones warm"
    );

    let keys = Keys::new("hookline");
    let request = ReplayRequest {
        from_ms: cold_at,
        to_ms: now,
        source: None,
        event_type: None,
        to_stream: Some("replayed".into()),
        dry_run: false,
        suspects: false,
    };
    let report = replay(&mut conn, &keys, 1, Some(store), &request, |_| {})
        .await
        .unwrap();
    assert_eq!(report.appended, 60);
    let replayed = all(&redis, "replayed");
    let expected: Vec<u64> = (0..30)
        .map(|i| cold_at + i)
        .chain((0..20).map(|i| warm_at + i))
        .chain((0..10).map(|i| hot_at + i))
        .collect();
    for (event, (at, (_, body))) in replayed.iter().zip(expected.iter().zip(&corpus[..60])) {
        assert_eq!(
            event.text("replay_of"),
            format!("evt-{at}"),
            "each once, in original order"
        );
        assert_eq!(event.payload(), &body[..], "byte-identical from every tier");
    }
}

#[tokio::test]
async fn a_range_spanning_cold_on_disk_warm_and_hot_replays_every_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    replay_across_three_tiers(&FileStore::new(dir.path())).await;
}

#[tokio::test]
async fn a_range_spanning_cold_in_s3_warm_and_hot_replays_every_event_once_in_order() {
    let moto = MotoServer::start();
    moto.client()
        .create_bucket()
        .bucket("archive")
        .send()
        .await
        .unwrap();
    replay_across_three_tiers(&S3Store::new(moto.client(), "archive", "hookline")).await;
}
