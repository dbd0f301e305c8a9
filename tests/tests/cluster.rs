//! Cluster mode: partitions spread over a three-master Redis Cluster; de-duplication holds;
//! every role runs on it; a live slot migration loses and doubles nothing.

use std::time::Duration;

use axum::http::StatusCode;
use hookline_jobs::archive;
use hookline_jobs::replay::{self, ReplayRequest};
use hookline_jobs::{compact, rotate, summarize};
use hookline_shared::consumer::{self, dlq, dlq::DlqFilter};
use hookline_shared::objects::FileStore;
use hookline_shared::redis::groups;
use hookline_shared::streams::Keys;
use hookline_shared::summary;
use hookline_tests::{
    HttpClient, Receiver, RedisCluster, TEST_WHSEC, TestIngest, github_corpus, github_headers,
    wait_until,
};
use redis::Commands;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "cluster-secret";

#[tokio::test]
async fn ingest_appends_and_deduplicates_on_a_cluster() {
    let cluster = RedisCluster::start();
    let urls: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let yaml = format!(
        "redis: {{mode: cluster, urls: [{}]}}\nstreams: {{partitions: 8}}\n\
         sources:\n  github: {{provider: github, secrets: [\"{SECRET}\"]}}\n",
        urls.join(", ")
    );
    let ingest = TestIngest::start(&yaml).await;
    let client = HttpClient::default();
    let url = ingest.url("/webhooks/github");
    let corpus: Vec<_> = github_corpus().into_iter().take(80).collect();
    let mut ids = Vec::new();
    for (i, (name, body)) in corpus.iter().enumerate() {
        let reply = client
            .post(
                &url,
                &github_headers(SECRET, name, &format!("c-{i}"), body),
                body.clone(),
            )
            .await;
        assert_eq!(reply.status, 202, "{name}: {:?}", reply.json);
        ids.push(reply.json["id"].as_str().unwrap().to_owned());
    }

    let (name, body) = &corpus[0];
    let headers = github_headers(SECRET, name, "c-0", body);
    let replies =
        futures_util::future::join_all((0..50).map(|_| client.post(&url, &headers, body.clone())))
            .await;
    assert!(
        replies
            .iter()
            .all(|r| r.status == 200 && r.json["id"] == ids[0].as_str())
    );

    let mut conn = cluster.connection();
    let mut stored = Vec::new();
    let mut used = 0;
    for p in 0..8 {
        let reply: redis::streams::StreamRangeReply =
            conn.xrange_all(format!("hookline:events:{{{p}}}")).unwrap();
        used += usize::from(!reply.ids.is_empty());
        stored.extend(reply.ids.iter().filter_map(|e| e.get::<String>("id")));
    }
    stored.sort();
    ids.sort();
    assert_eq!(stored, ids, "every event exactly once");
    assert!(used >= 2, "partitions spread over the cluster");
    let ready = client
        .send("GET", &ingest.url("/readyz"), &[], vec![])
        .await
        .unwrap();
    assert_eq!(ready.status, 200);
}

/// Event ids the receiver got, with how often each.
fn deliveries(receiver: &Receiver) -> std::collections::HashMap<String, usize> {
    let mut seen = std::collections::HashMap::new();
    for call in receiver.calls() {
        if let Some(id) = call.headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
            *seen.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    seen
}

fn cluster_yaml(cluster: &RedisCluster, partitions: u16, rest: &str) -> String {
    let urls: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "redis: {{mode: cluster, urls: [{}]}}\nstreams: {{partitions: {partitions}}}\n\
         sources:\n  github: {{provider: github, secrets: [\"{SECRET}\"]}}\n{rest}",
        urls.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_runs_on_a_cluster() {
    let cluster = RedisCluster::start();
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let failing = Receiver::start(|_| (StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO)).await;
    let archive = tempfile::tempdir().unwrap();
    let yaml = cluster_yaml(
        &cluster,
        4,
        &format!(
            "consumer:\n  groups:\n    app:\n      sink: {{type: http, url: \"{}\", secret: \"{TEST_WHSEC}\", timeout: 1s}}\n    doomed:\n      sink: {{type: http, url: \"{}\", secret: \"{TEST_WHSEC}\", timeout: 1s}}\n      max_retries: 1\n      retry_for: 0s\n      backoff: {{initial: 50ms, max: 100ms}}\n      circuit_breaker: {{failures: 1000}}\nlifecycle: {{hot: 1ms, warm: 2ms, archive: \"file://{}\"}}\n",
            receiver.url(),
            failing.url(),
            archive.path().display()
        ),
    );
    let ingest = TestIngest::start(&yaml).await;
    let (ctx, config) = (ingest.ctx.clone(), ingest.config.clone());
    let client = HttpClient::default();
    let url = ingest.url("/webhooks/github");
    let corpus: Vec<_> = github_corpus().into_iter().take(40).collect();
    let mut ids = std::collections::HashSet::new();
    for (i, (name, body)) in corpus.iter().enumerate() {
        let headers = github_headers(SECRET, name, &format!("roles-{i}"), body);
        let reply = client.post(&url, &headers, body.clone()).await;
        assert_eq!(reply.status, 202, "{name}: {:?}", reply.json);
        ids.insert(reply.json["id"].as_str().unwrap().to_owned());
    }

    // consume: delivery, retries, dead letters, the summary group.
    let stop = CancellationToken::new();
    let consuming = tokio::spawn({
        let (ctx, stop) = (ctx.clone(), stop.clone());
        async move { consumer::run_with_summaries(&ctx, "cluster-consumer", stop).await }
    });
    let keys = Keys::new("hookline");
    let mut conn = ctx.redis.shared();
    wait_until(
        "delivered and dead-lettered",
        Duration::from_secs(60),
        || {
            let (mut conn, keys, ids) = (conn.clone(), keys.clone(), ids.clone());
            let delivered = deliveries(&receiver)
                .keys()
                .cloned()
                .collect::<std::collections::HashSet<_>>();
            async move {
                let letters = dlq::list(&mut conn, &keys, 4, &DlqFilter::default())
                    .await
                    .ok()?;
                (delivered == ids && letters.len() == ids.len()).then_some(())
            }
        },
    )
    .await;
    // Every group acknowledged everything (the dead letters too) before compaction.
    wait_until("nothing pending", Duration::from_secs(30), || {
        let mut conn = conn.clone();
        async move {
            for p in 0..4 {
                for g in groups::info(&mut conn, &format!("hookline:events:{{{p}}}"))
                    .await
                    .ok()?
                {
                    if g.pending > 0 || g.lag != Some(0) {
                        return None;
                    }
                }
            }
            Some(())
        }
    })
    .await;
    stop.cancel();
    consuming.await.unwrap().unwrap();

    // dlq: list, retry back to the hot streams (as new entries), which nobody reads now.
    let doomed = DlqFilter {
        group: Some("doomed".into()),
        ..DlqFilter::default()
    };
    assert_eq!(
        dlq::list(&mut conn, &keys, 4, &doomed).await.unwrap().len(),
        40
    );
    let retried = dlq::retry(&mut conn, &keys, 4, &doomed, false)
        .await
        .unwrap();
    assert_eq!(retried.moved, 40);
    assert!(
        dlq::list(&mut conn, &keys, 4, &doomed)
            .await
            .unwrap()
            .is_empty()
    );

    // compact, archive, summarize, rotate-bloom, replay, stats.
    let later = ctx.clock.now_ms() + 60_000;
    let budget = || hookline_jobs::Budget::new(Duration::from_secs(60));
    let compacted = compact::compact(&config, &mut conn, later, budget())
        .await
        .unwrap();
    assert_eq!(
        compacted.entries, 40,
        "what every group read; the retried copies stay hot"
    );
    let store = FileStore::new(archive.path());
    let archived = archive::archive(&config, &mut conn, &store, later + 60_000, budget())
        .await
        .unwrap();
    assert_eq!(archived.entries, 40);
    let today = summary::day_of(ctx.clock.now_ms());
    let summarized = summarize::summarize(&config, &mut conn, Some(&store), today)
        .await
        .unwrap();
    assert_eq!(summarized.events, 40);
    assert_eq!(rotate::rotate_bloom(&config, &mut conn).await.unwrap(), 4);
    let request = ReplayRequest {
        from_ms: 0,
        to_ms: ctx.clock.now_ms() + 1,
        source: None,
        event_type: None,
        to_stream: Some("replayed".into()),
        dry_run: false,
        suspects: false,
    };
    let report = replay::replay(&mut conn, &keys, 4, Some(&store), &request, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (report.matched, report.appended, report.already),
        (80, 40, 40),
        "40 from the archive and their 40 retried copies from the hot tier: each event (one id) \
         replayed once"
    );
    hookline_cli::commands::stats::run(&ctx, true)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_migration_during_ingest_and_consumption_loses_nothing() {
    let cluster = std::sync::Arc::new(RedisCluster::start());
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let yaml = cluster_yaml(
        &cluster,
        1,
        &format!(
            "consumer:\n  summaries: false\n  groups:\n    app:\n      sink: {{type: http, url: \"{}\", secret: \"{TEST_WHSEC}\", timeout: 1s}}\n      backoff: {{initial: 100ms, max: 500ms}}\n      claim_idle: 7s\n",
            receiver.url()
        ),
    );
    let ingest = TestIngest::start(&yaml).await;
    let stop_consumer = CancellationToken::new();
    let consuming = tokio::spawn({
        let (ctx, stop) = (ingest.ctx.clone(), stop_consumer.clone());
        async move { consumer::run(&ctx, "migrating", stop).await }
    });
    let answers = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u16, Option<String>)>::new()));
    let stop = CancellationToken::new();
    let sending = tokio::spawn({
        let (url, stop, answers) = (
            ingest.url("/webhooks/github"),
            stop.clone(),
            answers.clone(),
        );
        async move {
            let client = HttpClient::default();
            let mut i = 0;
            while !stop.is_cancelled() {
                let body =
                    format!(r#"{{"n":{i},"repository":{{"full_name":"o/r"}}}}"#).into_bytes();
                let headers = github_headers(SECRET, "push", &format!("slot-{i}"), &body);
                let reply = client.post(&url, &headers, body).await;
                let id = reply.json["id"].as_str().map(str::to_owned);
                answers.lock().unwrap().push((reply.status.as_u16(), id));
                i += 1;
            }
        }
    });
    let accepted = |answers: &[(u16, Option<String>)]| -> std::collections::HashSet<String> {
        answers
            .iter()
            .filter(|(s, _)| *s == 202)
            .filter_map(|(_, id)| id.clone())
            .collect()
    };
    wait_until(
        "traffic before the migration",
        Duration::from_secs(20),
        || {
            let n = accepted(&answers.lock().unwrap()).len();
            async move { (n >= 200).then_some(()) }
        },
    )
    .await;

    let slot = cluster.slot("hookline:events:{0}");
    let from = cluster.owner(slot);
    let to = (from + 1) % 3;
    let migrating = cluster.clone();
    tokio::task::spawn_blocking(move || migrating.migrate_slot(slot, to))
        .await
        .unwrap();
    assert_eq!(cluster.owner(slot), to, "the slot moved");
    let moved_at = answers.lock().unwrap().len();
    wait_until(
        "traffic after the migration",
        Duration::from_secs(20),
        || {
            let n = answers.lock().unwrap().len();
            async move { (n >= moved_at + 200).then_some(()) }
        },
    )
    .await;
    stop.cancel();
    sending.await.unwrap();

    let answers = answers.lock().unwrap().clone();
    let acknowledged = accepted(&answers);
    let unavailable = answers.iter().filter(|(s, _)| *s == 503).count();
    assert!(
        answers.iter().all(|(s, _)| *s == 202 || *s == 503),
        "only 202 and 503"
    );
    let stored: std::collections::HashSet<String> = {
        let mut conn = cluster.connection();
        let reply: redis::streams::StreamRangeReply =
            conn.xrange_all("hookline:events:{0}").unwrap();
        reply
            .ids
            .iter()
            .filter_map(|e| e.get::<String>("id"))
            .collect()
    };
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    wait_until(
        "every acknowledged event delivered",
        Duration::from_secs(60),
        || {
            let delivered: std::collections::HashSet<String> =
                deliveries(&receiver).into_keys().collect();
            let done = acknowledged.is_subset(&delivered);
            async move { done.then_some(()) }
        },
    )
    .await;
    stop_consumer.cancel();
    consuming.await.unwrap().unwrap();
    let seen = deliveries(&receiver);
    let redelivered: usize = seen.values().map(|n| n - 1).sum();
    let redirected = cluster.redirections();
    let unknown = seen.keys().filter(|id| !stored.contains(*id)).count();
    eprintln!(
        "slot migration: {} webhooks, {} acknowledged, {unavailable} answered 503; {} delivered, {redelivered} redelivered; redirections answered by the nodes: {redirected:?}",
        answers.len(),
        acknowledged.len(),
        seen.len()
    );
    assert!(
        redirected.values().sum::<u64>() > 0,
        "the clients were redirected during the migration: {redirected:?}"
    );
    assert_eq!(unknown, 0, "nothing delivered that is not stored");
}
