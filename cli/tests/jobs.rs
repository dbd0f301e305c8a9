//! Lifecycle jobs as processes: `hookline job compact` killed with SIGKILL at several points
//! and run again neither loses nor doubles an event. No consumer reads these streams (the
//! tests write what the jobs move), so their configs require no group before compaction
//! (`consumer: {summaries: false}`).

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use hookline_tests::{RedisServer, STREAM, append_entries, wait_until};
use redis::Commands;

const EVENTS: usize = 20_000;

fn segments(redis: &RedisServer) -> usize {
    redis.connection().zcard("hookline:warm:{0}:index").unwrap()
}

/// Entry ids in the hot stream and in every warm segment.
fn tiers(redis: &RedisServer) -> (Vec<String>, Vec<String>) {
    let mut conn = redis.connection();
    let hot: redis::Value = redis::cmd("XRANGE")
        .arg(STREAM)
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    let hot = hookline_shared::redis::streams::from_entry_list(hot)
        .into_iter()
        .map(|e| e.entry_id)
        .collect();
    let members: Vec<String> = conn.zrange("hookline:warm:{0}:index", 0, -1).unwrap();
    let warm = members
        .iter()
        .flat_map(|m| {
            let blob: Vec<u8> = conn.get(format!("hookline:warm:{{0}}:seg:{m}")).unwrap();
            hookline_jobs::segment::decode(&blob)
                .unwrap()
                .into_iter()
                .map(|e| e.entry_id)
        })
        .collect();
    (hot, warm)
}

fn assert_each_event_in_exactly_one_tier(redis: &RedisServer, originals: &HashSet<String>) {
    let (hot, warm) = tiers(redis);
    let all: Vec<&String> = hot.iter().chain(&warm).collect();
    let distinct: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        distinct.len(),
        "no event in two tiers or twice in one"
    );
    assert_eq!(
        distinct.len(),
        originals.len(),
        "no event lost ({} hot, {} warm)",
        hot.len(),
        warm.len()
    );
}

/// What the lock of a SIGKILLed run does by itself after `lock::TTL`: the next run may go.
/// (The lock's own behaviour is `a_manual_run_waits_for_the_lock_another_run_holds`.)
fn release_lock(redis: &RedisServer, job: &str) {
    let _: () = redis
        .connection()
        .del(format!("hookline:job:{{{job}}}:lock"))
        .unwrap();
}

/// Takes compact's lock for `ms` as another run would.
fn hold_compact_lock(redis: &RedisServer, ms: u64) {
    let _: () = redis
        .connection()
        .pset_ex("hookline:job:{compact}:lock", "another-run", ms)
        .unwrap();
}

#[test]
fn a_manual_run_waits_for_the_lock_another_run_holds() {
    let redis = RedisServer::start();
    // Another run holds compact's lock for 3 more seconds (a scheduler tick, or a run that
    // was killed and whose lock has not expired yet).
    hold_compact_lock(&redis, 3000);
    let mut config = tempfile::NamedTempFile::new().unwrap();
    writeln!(config, "redis: {{url: \"{}\"}}", redis.url()).unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["job", "compact", "--config"])
        .arg(config.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another run holds the job's lock"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("compacted 0 entries"));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it ran only once the lock was free"
    );

    hold_compact_lock(&redis, 60_000);
    let out = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["job", "compact", "--budget", "2s", "--config"])
        .arg(config.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("held the job's lock for the whole budget; nothing done"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_killed_at_several_points_loses_and_doubles_nothing() {
    let redis = RedisServer::start();
    append_entries(&redis, EVENTS);
    let (originals, _) = tiers(&redis);
    let originals: HashSet<String> = originals.into_iter().collect();
    let mut config = tempfile::NamedTempFile::new().unwrap();
    // Everything is old enough at once; no consumer group holds anything back.
    write!(config, "redis: {{url: \"{}\"}}\nconsumer: {{summaries: false}}\nlifecycle: {{hot: 1ms, warm: 1h}}\nobservability: {{log_level: warn}}\n", redis.url()).unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_hookline"))
            .args(["job", "compact", "--config"])
            .arg(config.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    for kill_after in [1, 8, 30] {
        let mut job = run();
        wait_until(
            "segments written before the kill",
            Duration::from_secs(60),
            || async { (segments(&redis) >= kill_after).then_some(()) },
        )
        .await;
        job.kill().unwrap(); // SIGKILL, wherever it is
        job.wait().unwrap();
        release_lock(&redis, "compact");
        assert_each_event_in_exactly_one_tier(&redis, &originals);
    }
    assert!(run().wait().unwrap().success());
    let (hot, warm) = tiers(&redis);
    assert!(hot.is_empty(), "{} entries left hot", hot.len());
    assert_eq!(warm.len(), EVENTS);
    assert_each_event_in_exactly_one_tier(&redis, &originals);
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Every event in the archive directory's objects.
fn cold_ids(dir: &std::path::Path) -> Vec<String> {
    walk(dir)
        .into_iter()
        .filter(|path| path.to_string_lossy().ends_with(".jsonl.zst"))
        .flat_map(|path| {
            hookline_jobs::archive::object::read(&std::fs::read(&path).unwrap()).unwrap()
        })
        .map(|e| e.entry_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_killed_mid_run_and_run_again_archives_every_event_once() {
    let redis = RedisServer::start();
    append_entries(&redis, EVENTS);
    let (originals, _) = tiers(&redis);
    let archive = tempfile::tempdir().unwrap();
    let mut config = tempfile::NamedTempFile::new().unwrap();
    write!(
        config,
        "redis: {{url: \"{}\"}}\nconsumer: {{summaries: false}}\nlifecycle: {{hot: 1ms, warm: 2ms, archive: \"file://{}\"}}\nobservability: {{log_level: warn}}\n",
        redis.url(),
        archive.path().display()
    )
    .unwrap();
    let job = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_hookline"))
            .args(["job", name, "--config"])
            .arg(config.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    assert!(job("compact").wait().unwrap().success());
    let segments_before = segments(&redis);
    assert!(
        segments_before > hookline_jobs::archive::BATCH,
        "more than one batch to archive"
    );

    // Killed as soon as the first object of a run is on disk (mid-batch, or just after), and
    // again once a run has deleted its first batch of segments.
    for what in ["an object written", "a batch deleted from warm"] {
        let reached = || match what {
            "an object written" => !cold_ids(archive.path()).is_empty(),
            _ => segments(&redis) < segments_before,
        };
        let mut run = job("archive");
        wait_until(what, Duration::from_secs(60), || {
            let done = reached();
            async move { done.then_some(()) }
        })
        .await;
        run.kill().unwrap();
        run.wait().unwrap();
        release_lock(&redis, "archive");
        let (hot, warm) = tiers(&redis);
        let cold = cold_ids(archive.path());
        let union: HashSet<&String> = hot.iter().chain(&warm).chain(&cold).collect();
        assert_eq!(
            union.len(),
            originals.len(),
            "nothing lost by the kill ({what})"
        );
    }

    assert!(job("archive").wait().unwrap().success());
    let cold = cold_ids(archive.path());
    let distinct: HashSet<&String> = cold.iter().collect();
    assert_eq!(
        cold.len(),
        originals.len(),
        "every event archived exactly once"
    );
    assert_eq!(distinct.len(), originals.len());
    assert_eq!(segments(&redis), 0, "warm tier empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_archive_to_s3_succeeds_and_an_outage_exits_1_keeping_everything_warm() {
    let redis = RedisServer::start();
    let mut moto = hookline_tests::MotoServer::start();
    moto.client()
        .create_bucket()
        .bucket("archive")
        .send()
        .await
        .unwrap();
    let mut config = tempfile::NamedTempFile::new().unwrap();
    write!(
        config,
        "redis: {{url: \"{}\"}}\nconsumer: {{summaries: false}}\nlifecycle:\n  hot: 1ms\n  warm: 2ms\n  archive: s3://archive/hookline\n  s3: {{endpoint: \"{}\", region: us-east-1, force_path_style: true}}\nobservability: {{log_level: warn}}\n",
        redis.url(),
        moto.endpoint()
    )
    .unwrap();
    let job = |name: &str| job_command(&config, &["job", name]);
    append_entries(&redis, 1_000);
    assert!(job("compact").status.success());
    let archived = job("archive");
    assert!(archived.status.success(), "{archived:?}");
    assert!(String::from_utf8_lossy(&archived.stdout).starts_with("archived 1000 entries"));
    let listed = moto
        .client()
        .list_objects_v2()
        .bucket("archive")
        .prefix("hookline/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 2, "one object and its manifest");

    moto.stop();
    append_entries(&redis, 1_000);
    assert!(job("compact").status.success());
    let before = segments(&redis);
    let failed = job("archive");
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("archive store"),
        "{failed:?}"
    );
    assert_eq!(segments(&redis), before, "nothing deleted");

    // Operators still see every Redis figure, and one line on the archive.
    let stats = job_command(&config, &["stats"]);
    assert_eq!(stats.status.code(), Some(0), "{stats:?}");
    let stdout = String::from_utf8_lossy(&stats.stdout);
    assert!(stdout.contains("hookline:events:{0}"), "{stdout}");
    let cold = stdout
        .lines()
        .find(|l| l.starts_with("cold: "))
        .unwrap_or_else(|| panic!("no cold line: {stdout}"));
    assert!(
        cold.starts_with("cold: unavailable: cannot reach S3 (") && cold.len() < 200,
        "{cold}"
    );
    let json = job_command(&config, &["stats", "--json"]);
    assert_eq!(json.status.code(), Some(0), "{json:?}");
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        json["cold_unavailable"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach S3")
    );
}

/// `hookline ARGS --config CONFIG` with moto's test credentials, run to completion.
fn job_command(config: &tempfile::NamedTempFile, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(args)
        .arg("--config")
        .arg(config.path())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

/// A config archiving to `archive` (file://) that compacts what group `app` acknowledged,
/// with the YAML `extra` (top-level keys) added.
fn archiving_config(
    redis: &RedisServer,
    archive: &std::path::Path,
    extra: &str,
) -> tempfile::NamedTempFile {
    let mut config = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        config,
        "redis: {{url: \"{}\"}}\nconsumer: {{summaries: false}}\n{extra}lifecycle: {{hot: 2h, warm: 24h, archive: \"file://{}\", required_groups: [app]}}",
        redis.url(),
        archive.display()
    )
    .unwrap();
    config
}

/// `hookline ARGS --config CONFIG`, which must succeed: its standard output.
fn succeeded(config: &tempfile::NamedTempFile, args: &[&str]) -> String {
    let out = job_command(config, args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `replay_of` of every entry of `stream`.
fn replayed_originals(redis: &RedisServer, stream: &str) -> Vec<String> {
    redis
        .entries(stream)
        .iter()
        .map(|e| e.text("replay_of").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_killed_mid_run_or_run_twice_appends_each_original_once() {
    const N: u64 = 3000;
    let redis = RedisServer::start();
    // Events received one ms apart from 2026-11-24T18:00:00Z, under stream ids of that time.
    let start: u64 = 1_795_543_200_000;
    let mut pipe = redis::pipe();
    for i in 0..N {
        let at = (start + i).to_string();
        pipe.cmd("XADD")
            .arg(STREAM)
            .arg(format!("{at}-0"))
            .arg(&[("v", "1"), ("id", &format!("evt-{i}")), ("tenant", "acme")])
            .arg(&[
                ("source", "github"),
                ("event_type", "push"),
                ("received_at", &at),
            ])
            .arg(&[("payload", format!(r#"{{"n":{i}}}"#))])
            .ignore();
    }
    pipe.query::<()>(&mut redis.connection()).unwrap();
    let mut config = tempfile::NamedTempFile::new().unwrap();
    writeln!(config, "redis: {{url: \"{}\"}}", redis.url()).unwrap();
    let replay = |out: Stdio| {
        Command::new(env!("CARGO_BIN_EXE_hookline"))
            .args([
                "replay",
                "--from",
                "2026-11-24T18:00:00Z",
                "--to",
                "2026-11-24T19:00:00Z",
            ])
            .args(["--to-stream", "replayed", "--config"])
            .arg(config.path())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut first = replay(Stdio::null());
    wait_until("a third replayed", Duration::from_secs(60), || {
        let n: u64 = redis.connection().xlen("replayed").unwrap();
        async move { (n >= N / 3).then_some(()) }
    })
    .await;
    first.kill().unwrap(); // SIGKILL, mid-run
    first.wait().unwrap();
    let killed_at = replayed_originals(&redis, "replayed").len() as u64;
    assert!(killed_at < N, "killed mid-run, at {killed_at}");

    let second = replay(Stdio::piped()).wait_with_output().unwrap();
    assert!(second.status.success());
    let line = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(
        line.contains(&format!("{killed_at} replayed already (by an earlier run")),
        "{line}"
    );
    let third = replay(Stdio::piped()).wait_with_output().unwrap();
    assert!(third.status.success());
    assert!(
        String::from_utf8_lossy(&third.stdout).starts_with("nothing new to replay"),
        "{}",
        String::from_utf8_lossy(&third.stdout)
    );

    let originals = replayed_originals(&redis, "replayed");
    let distinct: HashSet<&String> = originals.iter().collect();
    assert_eq!(
        (originals.len(), distinct.len()),
        (N as usize, N as usize),
        "each original exactly once among the copies"
    );

    // The two completed runs are in the audit trail with what they appended.
    let trail = job_command(&config, &["audit", "list", "--json"]);
    let counts: Vec<(String, u64, u64)> = String::from_utf8_lossy(&trail.stdout)
        .lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            let n = |k: &str| entry["counts"][k].as_u64().unwrap();
            let action = entry["action"].as_str().unwrap().to_owned();
            (action, n("appended"), n("already"))
        })
        .collect();
    let replay_row = |appended, already| ("replay".to_owned(), appended, already);
    assert_eq!(
        counts,
        [replay_row(N - killed_at, killed_at), replay_row(0, N)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_than_zero_forces_what_every_group_read_and_never_an_unread_entry() {
    let redis = RedisServer::start();
    append_entries(&redis, 10);
    let mut conn = redis.connection();
    // Group `app` has read all ten and acknowledged the first six.
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", STREAM, "app", "0"])
        .query(&mut conn)
        .unwrap();
    let read: redis::streams::StreamReadReply = conn
        .xread_options(
            &[STREAM],
            &[">"],
            &redis::streams::StreamReadOptions::default().group("app", "c1"),
        )
        .unwrap();
    let ids: Vec<String> = read.keys[0].ids.iter().map(|e| e.id.clone()).collect();
    let _: u64 = conn.xack(STREAM, "app", &ids[..6]).unwrap();
    let archive = tempfile::tempdir().unwrap();
    let config = archiving_config(&redis, archive.path(), "");
    let job = |args: &[&str]| succeeded(&config, args);
    assert!(
        job(&["job", "compact"]).starts_with("compacted 0 entries"),
        "younger than 2h"
    );
    let forced = job(&["job", "compact", "--older-than", "0s"]);
    assert!(forced.starts_with("compacted 6 entries"), "{forced}");
    let trail = job(&["audit", "list", "--json"]);
    let entry: serde_json::Value = serde_json::from_str(trail.trim()).unwrap();
    assert_eq!(
        (&entry["action"], &entry["args"]["older_than"]),
        (&"job compact --older-than".into(), &"0s".into()),
        "only the forced run is an operator's action"
    );
    assert!(
        entry["counts"]["report"]
            .as_str()
            .unwrap()
            .starts_with("compacted 6")
    );
    // The day's summarize run copies the trail to the archive.
    let at_ms = entry["at_ms"].as_u64().unwrap();
    let date = hookline_shared::clock::date(hookline_shared::clock::day_of(at_ms));
    let summarized = job(&["job", "summarize", "--date", &date]);
    assert!(
        summarized.ends_with(", 1 audit entr(ies) archived\n"),
        "{summarized}"
    );
    let copied =
        std::fs::read_to_string(archive.path().join(format!("audit/date={date}.jsonl"))).unwrap();
    let copied: serde_json::Value = serde_json::from_str(copied.trim()).unwrap();
    assert_eq!(copied, entry);
    let hot: usize = conn.xlen(STREAM).unwrap();
    assert_eq!(hot, 4, "the entries app has not acknowledged stay hot");
    assert!(
        job(&["job", "archive"]).starts_with("archived 0 entries"),
        "younger than 24h"
    );
    let archived = job(&["job", "archive", "--older-than", "0s"]);
    assert!(archived.starts_with("archived 6 entries"), "{archived}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_deletes_the_cold_objects_past_their_source_retention_only() {
    let redis = RedisServer::start();
    let mut conn = redis.connection();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let old = now - 100 * 86_400_000;
    // Received 100 days ago: one of `github` (kept 30 days) and one of `stripe` (no
    // retention); and one of `github` received a second ago.
    let events = [(old, "github"), (old + 1, "stripe"), (now - 1000, "github")];
    for (at, source) in events {
        let at = at.to_string();
        let _: String = redis::cmd("XADD")
            .arg(STREAM)
            .arg(format!("{at}-0"))
            .arg(&[
                ("v", "1"),
                ("id", &format!("evt-{at}")),
                ("tenant", "default"),
            ])
            .arg(&[
                ("source", source),
                ("event_type", "push"),
                ("received_at", &at),
            ])
            .arg(&[("payload", "{}")])
            .query(&mut conn)
            .unwrap();
    }
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", STREAM, "app", "$"])
        .query(&mut conn)
        .unwrap();
    let archive = tempfile::tempdir().unwrap();
    let sources = "sources:\n  github: {provider: github, secrets: [s], retention: 30d}\n  stripe: {provider: none}\n";
    let config = archiving_config(&redis, archive.path(), sources);
    let job = |args: &[&str]| succeeded(&config, args);
    let compacted = job(&["job", "compact", "--older-than", "0s"]);
    assert!(compacted.starts_with("compacted 3 entries"), "{compacted}");
    let archived = job(&["job", "archive", "--older-than", "0s"]);
    assert!(
        archived.starts_with("archived 3 entries")
            && archived.ends_with("; deleted 1 object(s) past their source's retention\n"),
        "{archived}"
    );
    let mut kept = cold_ids(archive.path());
    kept.sort();
    assert_eq!(
        kept,
        [format!("{}-0", old + 1), format!("{}-0", now - 1000)]
    );
    let manifests = walk(archive.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".manifest.json"))
        .count();
    assert_eq!(manifests, 2, "the expired object's manifest went with it");
    let again = job(&["job", "archive"]);
    assert!(
        !again.contains("deleted"),
        "nothing more to expire: {again}"
    );
}
