//! Compaction against a real redis-server, with entries written under old ids so their age
//! is controlled: exactly the old entries every group acknowledged move to warm segments.

mod common;

use std::time::Duration;

use common::{HOUR, append_spaced, now_ms, setup};
use hookline_jobs::{Budget, compact, segment};
use hookline_shared::config::Config;
use hookline_shared::redis::groups;
use hookline_shared::redis::streams as entries;
use hookline_tests::{RedisServer, STREAM, github_corpus};
use redis::{Commands, Value};

/// Runs the consumers of `config` (its groups and the summary counter) until `receiver` got
/// `n` deliveries and both groups settled every entry of the stream.
async fn consume_until_settled(config: &Config, receiver: &hookline_tests::Receiver, n: usize) {
    let stop = tokio_util::sync::CancellationToken::new();
    let consumer = {
        let (config, stop) = (config.clone(), stop.clone());
        tokio::spawn(async move {
            let ctx = hookline_shared::Context::new(config).unwrap();
            hookline_shared::consumer::run_with_summaries(&ctx, "consumer", stop)
                .await
                .unwrap();
        })
    };
    let conn = hookline_shared::redis::RedisConn::open(&config.redis).unwrap();
    hookline_tests::wait_until(
        "every event delivered and every entry settled",
        Duration::from_secs(30),
        || {
            let (delivered, mut conn) = (receiver.calls().len(), conn.clone());
            async move {
                let groups = groups::info(&mut conn, STREAM).await.ok()?;
                let read = |g: &groups::GroupStats| g.pending == 0 && g.lag == Some(0);
                (delivered == n && groups.len() == 2 && groups.iter().all(read)).then_some(())
            }
        },
    )
    .await;
    stop.cancel();
    consumer.await.unwrap();
}

fn warm_entries(redis: &RedisServer) -> Vec<hookline_shared::event::StoredEvent> {
    let mut conn = redis.connection();
    let members: Vec<String> = conn.zrange("hookline:warm:{0}:index", 0, -1).unwrap();
    members
        .iter()
        .flat_map(|m| {
            let blob: Vec<u8> = conn.get(format!("hookline:warm:{{0}}:seg:{m}")).unwrap();
            segment::decode(&blob).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn compact_moves_exactly_the_old_acknowledged_head_and_keeps_unacked_entries_hot() {
    let redis = RedisServer::start();
    let (config, mut conn) = setup(&redis, "lifecycle: {hot: 2h}");
    let corpus: Vec<_> = github_corpus().into_iter().take(10).collect();
    let now = now_ms();
    let old = append_spaced(&redis, now - 3 * HOUR, 1, &corpus);
    let recent = append_spaced(&redis, now - 60_000, 1, &corpus[..5]);
    let original: Value = redis::cmd("XRANGE")
        .arg(STREAM)
        .arg("-")
        .arg("+")
        .query(&mut redis.connection())
        .unwrap();
    let original = entries::from_entry_list(original);

    // One group read everything and acknowledged all but the seventh old entry.
    let mut sync = redis.connection();
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", STREAM, "app", "0"])
        .query(&mut sync)
        .unwrap();
    let _: Value = redis::cmd("XREADGROUP")
        .arg(&["GROUP", "app", "c", "COUNT", "100", "STREAMS", STREAM, ">"])
        .query(&mut sync)
        .unwrap();
    let acked: Vec<&String> = old
        .iter()
        .chain(&recent)
        .filter(|id| **id != old[6])
        .collect();
    let _: usize = sync.xack(STREAM, "app", &acked).unwrap();

    let budget = Budget::new(Duration::from_secs(60));
    let first = compact::compact(&config, &mut conn, now, budget.clone())
        .await
        .unwrap();
    assert_eq!(first.entries, 6, "the head up to the unacknowledged entry");
    assert_eq!(
        warm_entries(&redis),
        original[..6],
        "byte-identical in the warm tier"
    );
    let hot: usize = sync.xlen(STREAM).unwrap();
    assert_eq!(
        hot, 9,
        "the unacknowledged old entry, the three after it, five recent"
    );
    let lag = groups::info(&mut conn, STREAM).await.unwrap()[0].lag;
    assert_eq!(lag, Some(0), "lag stays a number after compaction");

    let keys = hookline_shared::streams::Keys::new("hookline");
    let (segments, compressed, raw) = compact::warm_usage(&mut conn, &keys, 0).await.unwrap();
    assert_eq!(
        (segments, compressed, raw),
        (1, first.warm_bytes, first.raw_bytes),
        "stats see the warm tier"
    );
    let (oldest, held) = compact::hot_usage(&mut conn, &keys, 0, now - 2 * HOUR)
        .await
        .unwrap();
    assert_eq!(
        (oldest, held),
        (Some(now - 3 * HOUR + 6), 4),
        "stats: the oldest hot entry is the unacknowledged one; four old entries held hot"
    );
    let again = compact::compact(&config, &mut conn, now, budget.clone())
        .await
        .unwrap();
    assert_eq!(
        again.entries, 0,
        "nothing moves while the entry is unacknowledged"
    );

    let _: usize = sync.xack(STREAM, "app", &[&old[6]]).unwrap();
    let second = compact::compact(&config, &mut conn, now, budget.clone())
        .await
        .unwrap();
    assert_eq!(second.entries, 4);
    assert_eq!(
        warm_entries(&redis),
        original[..10],
        "all old entries, each once, in order"
    );
    let hot: Vec<String> = entries::from_entry_list(
        redis::cmd("XRANGE")
            .arg(STREAM)
            .arg("-")
            .arg("+")
            .query(&mut sync)
            .unwrap(),
    )
    .into_iter()
    .map(|e| e.entry_id)
    .collect();
    assert_eq!(hot, recent, "recent entries stay hot");
    assert!(
        first.warm_bytes * 3 < first.raw_bytes,
        "zstd pays: {first:?}"
    );
}

#[tokio::test]
async fn entries_a_group_has_not_read_stay_hot_and_its_lag_stays_known() {
    let redis = RedisServer::start();
    let (config, mut conn) = setup(&redis, "");
    let corpus: Vec<_> = github_corpus().into_iter().take(4).collect();
    let now = now_ms();
    append_spaced(&redis, now - 5 * HOUR, 1, &corpus);
    let mut sync = redis.connection();
    // A group that has read (and acknowledged) only the first two entries.
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", STREAM, "slow", "0"])
        .query(&mut sync)
        .unwrap();
    let read: Value = redis::cmd("XREADGROUP")
        .arg(&["GROUP", "slow", "c", "COUNT", "2", "STREAMS", STREAM, ">"])
        .query(&mut sync)
        .unwrap();
    let ids: Vec<String> = entries::from_read_reply(read)
        .into_iter()
        .map(|e| e.entry_id)
        .collect();
    let _: usize = sync.xack(STREAM, "slow", &ids).unwrap();

    let report = compact::compact(
        &config,
        &mut conn,
        now,
        Budget::new(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert_eq!(report.entries, 2);
    assert_eq!(
        sync.xlen::<_, usize>(STREAM).unwrap(),
        2,
        "undelivered entries stay hot"
    );
    // Compaction deleted only entries the group had read, so Redis can still count its lag
    // (it answers nil once an unread entry is deleted), which lag-based autoscaling needs.
    let infos = groups::info(&mut conn, STREAM).await.unwrap();
    assert_eq!(infos[0].lag, Some(2), "XINFO GROUPS lag stays a number");
}

#[tokio::test]
async fn nothing_leaves_the_hot_tier_before_every_required_group_exists_and_has_read_it() {
    use hookline_tests::{Receiver, consumer_yaml};
    let redis = RedisServer::start();
    let receiver = Receiver::start(|_| (reqwest::StatusCode::OK, Duration::ZERO)).await;
    // A delivery group and (by default) the summary group; no consumer runs yet.
    let yaml = consumer_yaml(&redis, &receiver.url(), "      shutdown_grace: 2s")
        + "lifecycle: {hot: 1s, warm: 1h}\n";
    let config = hookline_shared::config::parse(&yaml, |_| None).unwrap();
    assert_eq!(config.required_groups(), ["app", "hookline-summaries"]);
    let mut conn = hookline_shared::redis::RedisConn::open(&config.redis).unwrap();
    let corpus: Vec<_> = github_corpus().into_iter().take(20).collect();
    let now = now_ms();
    append_spaced(&redis, now - 10_000, 1, &corpus);
    let budget = || Budget::new(Duration::from_secs(30));

    let report = compact::compact(&config, &mut conn, now_ms() + 2_000, budget())
        .await
        .unwrap();
    assert_eq!(report.entries, 0, "nothing is compacted before it is read");
    assert_eq!(
        report.blocked,
        [(0, vec!["app".to_owned(), "hookline-summaries".to_owned()])]
    );
    assert_eq!(entries::length(&mut conn, STREAM).await.unwrap(), 20);

    consume_until_settled(&config, &receiver, 20).await;
    let report = compact::compact(&config, &mut conn, now_ms() + 2_000, budget())
        .await
        .unwrap();
    assert!(report.blocked.is_empty());
    assert_eq!(report.entries, 20, "read by every group, now they move");
    assert_eq!(warm_entries(&redis).len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_whose_lock_is_taken_away_stops_before_its_next_write() {
    let redis = RedisServer::start();
    let (config, mut conn) = setup(&redis, "lifecycle: {hot: 1ms, warm: 1h}");
    hookline_tests::append_entries(&redis, 100_000);
    let key = "hookline:job:{compact}:lock";
    // A short TTL, so the renewal (every third of it) notices the theft quickly.
    let held = hookline_jobs::lock::acquire(&conn, key, Duration::from_millis(300))
        .await
        .unwrap()
        .expect("the lock is free");
    let lost = held.lost();
    let budget = Budget::new(Duration::from_secs(120)).fenced(lost.clone());
    let segments = |redis: &RedisServer| -> usize {
        redis.connection().zcard("hookline:warm:{0}:index").unwrap()
    };
    let thief = {
        let (redis_url, lost) = (redis.url(), lost.clone());
        tokio::spawn(async move {
            let mut c = redis::Client::open(redis_url)
                .unwrap()
                .get_connection()
                .unwrap();
            while c.zcard::<_, usize>("hookline:warm:{0}:index").unwrap() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _: () = c.set(key, "another-run").unwrap(); // the lock is taken away
            lost.cancelled().await;
            c.zcard::<_, usize>("hookline:warm:{0}:index").unwrap()
        })
    };
    let report = compact::compact(&config, &mut conn, now_ms() + 1_000, budget)
        .await
        .unwrap();
    let at_loss = thief.await.unwrap();
    drop(held);
    assert!(report.budget_spent, "it stopped early: {report:?}");
    assert!(
        segments(&redis) <= at_loss + 1,
        "after the lock was lost at most the segment in flight was written ({at_loss} then {})",
        segments(&redis)
    );
    let hot = entries::length(&mut conn, STREAM).await.unwrap();
    assert!(hot > 0, "the rest is left for the run that holds the lock");
    assert_eq!(
        hot as usize + warm_entries(&redis).len(),
        100_000,
        "nothing lost"
    );
}

#[tokio::test]
async fn large_payloads_get_segments_within_the_byte_bound() {
    let redis = RedisServer::start();
    let (config, mut conn) = setup(&redis, "lifecycle: {hot: 1ms, warm: 1h}");
    // Ten 3 MiB events, then ten small ones.
    let big = "x".repeat(3 << 20);
    for n in 0..20 {
        let payload = if n < 10 {
            format!(r#"{{"n":{n},"pad":"{big}"}}"#)
        } else {
            format!(r#"{{"n":{n}}}"#)
        };
        hookline_tests::append_entry(&redis, &format!("evt-{n}"), "push", &payload);
    }
    let report = compact::compact(
        &config,
        &mut conn,
        now_ms() + 1_000,
        Budget::new(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert_eq!(report.entries, 20);
    assert_eq!(entries::length(&mut conn, STREAM).await.unwrap(), 0);
    let members: Vec<String> = redis
        .connection()
        .zrange("hookline:warm:{0}:index", 0, -1)
        .unwrap();
    for m in &members {
        let blob: Vec<u8> = redis
            .connection()
            .get(format!("hookline:warm:{{0}}:seg:{m}"))
            .unwrap();
        let segment = segment::decode(&blob).unwrap();
        let raw: usize = segment.iter().map(segment::raw_size).sum();
        assert!(
            raw <= compact::SEGMENT_BYTES,
            "segment {m}: {} entries, {raw} bytes",
            segment.len()
        );
    }
    assert!(
        members.len() >= 5,
        "two 3 MiB events at most per 8 MiB segment: {members:?}"
    );
    assert_eq!(warm_entries(&redis).len(), 20, "every event once");
}

#[tokio::test]
async fn an_entry_that_is_not_an_event_is_passed_by_consumers_and_moved_raw_to_the_dlq() {
    use hookline_shared::consumer::dlq;
    use hookline_tests::{Receiver, consumer_yaml};
    let redis = RedisServer::start();
    let receiver = Receiver::start(|_| (reqwest::StatusCode::OK, Duration::ZERO)).await;
    let yaml = consumer_yaml(&redis, &receiver.url(), "      shutdown_grace: 2s")
        + "lifecycle: {hot: 1s, warm: 1h}\n";
    let config = hookline_shared::config::parse(&yaml, |_| None).unwrap();
    let mut conn = hookline_shared::redis::RedisConn::open(&config.redis).unwrap();
    let corpus: Vec<_> = github_corpus().into_iter().take(20).collect();
    let now = now_ms();
    append_spaced(&redis, now - 10_000, 1, &corpus[..10]);
    // Written by hand, not by hookline: a field name that is not UTF-8.
    let bad_id = format!("{}-0", now - 9_000);
    let bad_fields: [(&[u8], &[u8]); 2] = [(b"\xff\xfename", b"value\x00\x01"), (b"v", b"1")];
    let _: String = redis::cmd("XADD")
        .arg(STREAM)
        .arg(&bad_id)
        .arg(&bad_fields[..])
        .query(&mut redis.connection())
        .unwrap();
    append_spaced(&redis, now - 8_000, 1, &corpus[10..]);

    consume_until_settled(&config, &receiver, 20).await;

    let report = compact::compact(
        &config,
        &mut conn,
        now_ms() + 2_000,
        Budget::new(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert_eq!((report.entries, report.unreadable), (20, 1), "{report:?}");
    assert_eq!(entries::length(&mut conn, STREAM).await.unwrap(), 0);
    assert_eq!(
        warm_entries(&redis).len(),
        20,
        "every event in the warm tier"
    );

    let keys = hookline_shared::streams::Keys::new("hookline");
    let letters = dlq::list(&mut conn, &keys, 1, &dlq::DlqFilter::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event.entry_id, bad_id);
    assert!(
        letters[0].error.contains("not UTF-8"),
        "{}",
        letters[0].error
    );
    let raw: Vec<[String; 2]> = serde_json::from_str(letters[0].raw.as_deref().unwrap()).unwrap();
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let want: Vec<[String; 2]> = bad_fields.iter().map(|(n, v)| [b64(n), b64(v)]).collect();
    assert_eq!(raw, want, "kept byte for byte");
    let retried = dlq::retry(&mut conn, &keys, 1, &dlq::DlqFilter::default(), true)
        .await
        .unwrap();
    assert_eq!((retried.moved, retried.unreadable), (0, 1), "never retried");
}
