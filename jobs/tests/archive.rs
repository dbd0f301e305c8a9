//! Archiving warm segments to a `file://` store against a real redis-server.

mod common;

use std::time::Duration;

use common::{HOUR, append_spaced, now_ms, setup};
use hookline_jobs::archive::{self, object};
use hookline_jobs::{Budget, compact};
use hookline_shared::objects::{ArchiveStore, FileStore, S3Store};
use hookline_tests::{MotoServer, RedisServer, github_corpus};
use redis::Commands;
use sha2::{Digest, Sha256};

/// Compacts and archives the corpus into `store`, then checks keys, manifests, contents and
/// that the warm tier is empty.
async fn archive_and_check(store: &dyn ArchiveStore) {
    let redis = RedisServer::start();
    let (config, mut conn) = setup(&redis, "lifecycle: {hot: 2h, warm: 24h}");
    let now = now_ms();
    let corpus = github_corpus();
    append_spaced(
        &redis,
        now - 32 * HOUR,
        2 * HOUR / corpus.len() as u64,
        &corpus,
    );
    let budget = || Budget::new(Duration::from_secs(60));
    assert_eq!(
        compact::compact(&config, &mut conn, now, budget())
            .await
            .unwrap()
            .entries,
        corpus.len() as u64
    );

    let report = archive::archive(&config, &mut conn, store, now, budget())
        .await
        .unwrap();
    assert_eq!(report.entries, corpus.len() as u64);
    assert!(
        report.objects >= 2,
        "two hours, at least two objects: {report:?}"
    );

    let mut archived = Vec::new();
    let keys = store.list("").await.unwrap();
    for name in keys.iter().filter(|k| k.ends_with(".jsonl.zst")) {
        let parts: Vec<&str> = name.split('/').collect();
        assert_eq!(&parts[..2], ["tenant=acme", "source=github"], "{name}");
        assert!(
            parts[2].starts_with("date=") && parts[3].starts_with("hour="),
            "{name}"
        );
        assert!(parts[4].starts_with("0-"), "{name}");
        let body = store.get(name).await.unwrap().unwrap();
        let manifest: object::Manifest = serde_json::from_slice(
            &store
                .get(&format!("{name}.manifest.json"))
                .await
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        let entries = object::read(&body).unwrap();
        let text = zstd::stream::decode_all(&body[..]).unwrap();
        assert_eq!(manifest.count, entries.len() as u64);
        assert_eq!(manifest.bytes, body.len() as u64);
        assert_eq!(manifest.sha256, hex::encode(Sha256::digest(&text)));
        assert_eq!(
            (&manifest.first_id, &manifest.last_id),
            (&entries[0].entry_id, &entries[entries.len() - 1].entry_id)
        );
        archived.extend(entries);
    }
    assert_eq!(
        keys.len(),
        2 * report.objects as usize,
        "an object and a manifest each"
    );
    archived.sort_by_key(|e| e.text("id")[4..].parse::<usize>().unwrap());
    assert_eq!(archived.len(), corpus.len(), "every event once");
    for (event, (_, body)) in archived.iter().zip(&corpus) {
        assert_eq!(
            event.payload(),
            &body[..],
            "{} byte-identical",
            event.text("id")
        );
    }
    let mut sync = redis.connection();
    assert_eq!(
        sync.zcard::<_, usize>("hookline:warm:{0}:index").unwrap(),
        0,
        "warm index empty"
    );
    let left: Vec<String> = sync.keys("hookline:warm:*").unwrap();
    assert!(
        left.is_empty(),
        "warm segments, index and sizes gone: {left:?}"
    );
}

#[tokio::test]
async fn archive_to_a_directory_writes_the_documented_keys_and_empties_warm() {
    let dir = tempfile::tempdir().unwrap();
    archive_and_check(&FileStore::new(dir.path())).await;
}

#[tokio::test]
async fn archive_to_s3_writes_the_documented_keys_and_empties_warm() {
    let moto = MotoServer::start();
    moto.client()
        .create_bucket()
        .bucket("archive")
        .send()
        .await
        .unwrap();
    archive_and_check(&S3Store::new(moto.client(), "archive", "hookline")).await;
}

#[tokio::test]
async fn an_s3_outage_fails_the_run_and_deletes_nothing() {
    let redis = RedisServer::start();
    let (config, mut conn) = setup(&redis, "lifecycle: {hot: 2h, warm: 24h}");
    let now = now_ms();
    let corpus = github_corpus();
    append_spaced(
        &redis,
        now - 32 * HOUR,
        2 * HOUR / corpus.len() as u64,
        &corpus,
    );
    let budget = || Budget::new(Duration::from_secs(60));
    compact::compact(&config, &mut conn, now, budget())
        .await
        .unwrap();
    let segments: usize = redis.connection().zcard("hookline:warm:{0}:index").unwrap();
    let mut moto = MotoServer::start();
    moto.client()
        .create_bucket()
        .bucket("archive")
        .send()
        .await
        .unwrap();
    let store = S3Store::new(moto.client(), "archive", "hookline");
    moto.stop();
    let error = archive::archive(&config, &mut conn, &store, now, budget())
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with("archive store:"), "{error}");
    let after: usize = redis.connection().zcard("hookline:warm:{0}:index").unwrap();
    assert_eq!(after, segments, "every segment stays warm");
}

#[tokio::test]
async fn a_failing_store_deletes_nothing() {
    let redis = RedisServer::start();
    let (config, mut conn) = setup(&redis, "lifecycle: {hot: 2h, warm: 24h}");
    let now = now_ms();
    let corpus = github_corpus();
    append_spaced(
        &redis,
        now - 32 * HOUR,
        2 * HOUR / corpus.len() as u64,
        &corpus,
    );
    let budget = || Budget::new(Duration::from_secs(60));
    compact::compact(&config, &mut conn, now, budget())
        .await
        .unwrap();
    let segments: usize = redis.connection().zcard("hookline:warm:{0}:index").unwrap();

    // A store whose root is a file cannot create directories below it.
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let result = archive::archive(
        &config,
        &mut conn,
        &FileStore::new(blocker.path()),
        now,
        budget(),
    )
    .await;
    assert!(result.is_err(), "the run fails");
    let after: usize = redis.connection().zcard("hookline:warm:{0}:index").unwrap();
    assert_eq!(after, segments, "every segment stays warm");
}
