//! Daily summaries on the real GitHub corpus: every payload is sent through ingest, counted by
//! the summary group, compacted to warm and archived to cold, and only then summarized — the
//! counts must equal a direct count of the sent payloads.

use std::collections::BTreeMap;
use std::time::Duration;

use hookline_jobs::summarize::{self, DaySummary};
use hookline_jobs::{Budget, archive, compact};
use hookline_shared::clock::Clock;
use hookline_shared::objects::{ArchiveStore, FileStore};
use hookline_shared::redis::RedisConn;
use hookline_shared::summary;
use hookline_tests::{
    HttpClient, RedisServer, TestIngest, github_corpus, github_headers, wait_until,
};
use redis::AsyncCommands;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "summary-secret";
const REPEATS: usize = 7;

/// What the summary must say, counted straight from the payloads.
fn expected(corpus: &[(String, Vec<u8>)]) -> DaySummary {
    let mut s = DaySummary {
        tenant: "acme".into(),
        source: "gh".into(),
        provider: Some("github".into()),
        events: corpus.len() as i64,
        duplicates: REPEATS as i64,
        ..DaySummary::default()
    };
    let mut add = |counter: &str, key: Option<&str>, n: i64| {
        if let Some(key) = key {
            *s.highlights
                .entry(counter.to_owned())
                .or_default()
                .entry(key.to_owned())
                .or_default() += n;
        }
    };
    let mut types: BTreeMap<String, i64> = BTreeMap::new();
    for (event, body) in corpus {
        *types.entry(event.clone()).or_default() += 1;
        let body: Value = serde_json::from_slice(body).unwrap();
        let repo = body["repository"]["full_name"].as_str();
        add("actors", body["sender"]["login"].as_str(), 1);
        let action = body["action"].as_str();
        match (event.as_str(), action) {
            ("push", _) => {
                add("pushes", repo, 1);
                add(
                    "commits",
                    repo,
                    body["commits"].as_array().map_or(0, Vec::len) as i64,
                );
            }
            ("pull_request", Some("opened")) => add("prs_opened", repo, 1),
            ("pull_request", Some("closed")) if body["pull_request"]["merged"] == true => {
                add("prs_merged", repo, 1)
            }
            ("issues", Some("opened")) => add("issues_opened", repo, 1),
            ("issues", Some("closed")) => add("issues_closed", repo, 1),
            _ => {}
        }
    }
    s.event_types = types;
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_equal_the_sent_payloads_after_compaction_and_archiving() {
    // The test compares one UTC day's summary: ingest's clock reads noon of today, whatever
    // the time, so no event falls on the next day.
    let today_ms = Clock::system().now_ms() / 86_400_000 * 86_400_000;
    let clock = Clock::starting_at(Duration::from_millis(today_ms + 43_200_000));
    let redis = RedisServer::start();
    let archive_dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "redis: {{url: \"{}\"}}\nstreams: {{partitions: 2}}\nsources:\n  gh: {{provider: github, tenant: acme, secrets: [\"{SECRET}\"]}}\nlifecycle: {{archive: \"file://{}\"}}\n",
        redis.url(),
        archive_dir.path().display()
    );
    let ingest = TestIngest::start_with_clock(&yaml, clock.clone()).await;
    let config = ingest.config.clone();
    let client = HttpClient::default();
    let url = ingest.url("/webhooks/gh");
    let corpus = github_corpus();
    for (i, (event, body)) in corpus.iter().enumerate() {
        let headers = github_headers(SECRET, event, &format!("delivery-{i}"), body);
        let reply = client.post(&url, &headers, body.clone()).await;
        assert_eq!(reply.status, 202, "{event} #{i}: {}", reply.json);
    }
    for (i, (event, body)) in corpus.iter().enumerate().take(REPEATS) {
        let headers = github_headers(SECRET, event, &format!("delivery-{i}"), body);
        assert_eq!(client.post(&url, &headers, body.clone()).await.status, 200);
    }

    // The summary group counts as events flow.
    let stop = CancellationToken::new();
    let counting = tokio::spawn({
        let (ctx, stop) = (ingest.ctx.clone(), stop.clone());
        async move { summary::run(&ctx, "summary-test", stop).await }
    });
    let mut conn = RedisConn::open(&config.redis).unwrap();
    let today = summary::day_of(clock.now_ms());
    let date = summary::date(today);
    let events_field = summary::field("acme", "gh", summary::EVENTS, None);
    let sent = corpus.len() as i64;
    wait_until("every event counted", Duration::from_secs(30), || {
        let (mut conn, field, date) = (conn.clone(), events_field.clone(), date.clone());
        async move {
            let mut total = 0;
            for p in 0..2 {
                let n: Option<i64> = conn
                    .hget(format!("hookline:summary:{{{p}}}:{date}"), &field)
                    .await
                    .ok()?;
                total += n.unwrap_or(0);
            }
            (total == sent).then_some(())
        }
    })
    .await;
    stop.cancel();
    counting.await.unwrap().unwrap();

    // Everything leaves the hot tier, then the warm tier, before the summary runs.
    let later = clock.now_ms() + 3 * 86_400_000;
    let budget = || Budget::new(Duration::from_secs(60));
    let compacted = compact::compact(&config, &mut conn, later, budget())
        .await
        .unwrap();
    assert_eq!(compacted.entries, corpus.len() as u64);
    let store = FileStore::new(archive_dir.path());
    let archived = archive::archive(&config, &mut conn, &store, later, budget())
        .await
        .unwrap();
    assert_eq!(archived.entries, corpus.len() as u64);
    for p in 0..2 {
        let hot: u64 = conn.xlen(format!("hookline:events:{{{p}}}")).await.unwrap();
        let warm: u64 = conn
            .zcard(format!("hookline:warm:{{{p}}}:index"))
            .await
            .unwrap();
        assert_eq!((hot, warm), (0, 0), "partition {p} still holds events");
    }

    let report = summarize::summarize(&config, &mut conn, Some(&store), today)
        .await
        .unwrap();
    assert_eq!(report.events, corpus.len() as u64);
    let stored = store
        .get(&format!("summaries/date={date}/tenant=acme/source=gh.json"))
        .await
        .unwrap()
        .expect("the JSON summary is in the archive");
    let mut got: DaySummary = serde_json::from_slice(&stored).unwrap();
    assert!(got.first_event_at.take().is_some() && got.last_event_at.take().is_some());
    let mut want = expected(&corpus);
    want.date = date.clone();
    // The actors (GitHub logins) are people: by default the summary ranks them without names.
    let ranked = |counts: &BTreeMap<String, i64>| {
        let mut n: Vec<i64> = counts.values().copied().collect();
        n.sort_unstable_by(|a, b| b.cmp(a));
        n
    };
    let (got_actors, want_actors) = (
        got.highlights.remove("actors").unwrap(),
        want.highlights.remove("actors").unwrap(),
    );
    assert_eq!(ranked(&got_actors), ranked(&want_actors));
    assert!(
        got_actors.keys().all(|k| k.starts_with("actor ")),
        "{got_actors:?}"
    );
    assert_eq!(got, want);

    let markdown = store
        .get(&format!("summaries/date={date}/tenant=acme/source=gh.md"))
        .await
        .unwrap()
        .expect("the Markdown summary is in the archive");
    let markdown = String::from_utf8(markdown).unwrap();
    for login in want_actors.keys() {
        assert!(
            !markdown.contains(&format!("| {login} |")),
            "{login} in {markdown}"
        );
    }
    assert!(
        markdown.matches("\n| actor ").count() > 1,
        "ranked actors under the header: {markdown}"
    );
    assert!(
        markdown.contains(&format!(
            "**{} events**, {REPEATS} duplicates dropped",
            corpus.len()
        )),
        "{markdown}"
    );
    let in_redis: Option<String> = conn
        .hget(
            format!("hookline:summaries:{date}"),
            "tenant=acme/source=gh.md",
        )
        .await
        .unwrap();
    assert_eq!(in_redis.as_deref(), Some(markdown.as_str()));
}
