//! `hookline schedule` as processes: two replicas against one Redis run each job once per
//! tick, a killed replica's jobs go on in the other, and a missed tick is caught up once.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookline_jobs::lock::TTL as LOCK_TTL;
use hookline_tests::RedisServer;
use redis::Commands;

/// One record of `hookline:job-runs`.
#[derive(Debug, Clone)]
struct RunRecord {
    job: String,
    tick: i64,
    runner: String,
    outcome: String,
}

fn records(redis: &RedisServer) -> Vec<RunRecord> {
    let mut conn = redis.connection();
    let entries: Vec<(String, BTreeMap<String, String>)> = redis::cmd("XRANGE")
        .arg("hookline:job-runs")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    entries
        .into_iter()
        .map(|(_, f)| RunRecord {
            job: f["job"].clone(),
            tick: f["tick"].parse().unwrap(),
            runner: f["runner"].clone(),
            outcome: f["outcome"].clone(),
        })
        .collect()
}

fn schedule(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["schedule", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hookline schedule starts")
}

fn assert_once_per_tick(records: &[RunRecord]) {
    let mut per_tick: BTreeMap<(&str, i64), Vec<&RunRecord>> = BTreeMap::new();
    for r in records {
        assert_eq!(r.outcome, "success", "{r:?}");
        per_tick.entry((&r.job, r.tick)).or_default().push(r);
    }
    for ((job, tick), runs) in &per_tick {
        assert_eq!(
            runs.len(),
            1,
            "{job} ran {} times for tick {tick}: {runs:?}",
            runs.len()
        );
    }
}

/// The latest UTC midnight, in ms since the epoch.
fn last_midnight() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    now.as_millis() as i64 / 86_400_000 * 86_400_000
}

/// Polls the run records every 200 ms until `enough` holds, for at most `timeout`.
fn records_until(
    redis: &RedisServer,
    timeout: Duration,
    enough: impl Fn(&[RunRecord]) -> bool,
) -> Vec<RunRecord> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let now = records(redis);
        if enough(&now) || std::time::Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_replicas_run_each_tick_once_and_one_takes_over_when_the_other_dies() {
    // rotate-bloom's tick is the day's midnight (UTC). The replicas run with the system
    // clock, so a midnight may pass during the test: then its tick runs too (once).
    let midnight_before = last_midnight();
    let redis = RedisServer::start();
    let archive = tempfile::tempdir().unwrap();
    // rotate-bloom's daily tick (last midnight) was never run: both replicas try to catch it
    // up at start, and exactly one may.
    let _: () = redis
        .connection()
        .set("hookline:job:{rotate-bloom}:tick", 0)
        .unwrap();
    let mut config = tempfile::NamedTempFile::new().unwrap();
    write!(
        config,
        "redis: {{url: \"{}\"}}\nlifecycle:\n  archive: \"file://{}\"\n  schedule:\n    compact: \"*/2 * * * * *\"\n    archive: \"*/2 * * * * *\"\n    summarize: \"*/2 * * * * *\"\n    rotate_bloom: \"0 0 0 * * *\"\n",
        redis.url(),
        archive.path().display()
    )
    .unwrap();
    let mut a = schedule(config.path());
    let mut b = schedule(config.path());
    let three_ticks_each = |records: &[RunRecord]| {
        ["compact", "archive", "summarize"]
            .iter()
            .all(|job| records.iter().filter(|r| r.job == *job).count() >= 3)
    };
    let before = records_until(&redis, Duration::from_secs(30), three_ticks_each);
    assert_once_per_tick(&before);
    for job in ["compact", "archive", "summarize"] {
        let ticks = before.iter().filter(|r| r.job == job).count();
        assert!(
            ticks >= 3,
            "{job} ran for only {ticks} ticks in 30s: {before:?}"
        );
    }
    let midnight_after = last_midnight();
    let rotations: Vec<i64> = before
        .iter()
        .filter(|r| r.job == "rotate-bloom")
        .map(|r| r.tick)
        .collect();
    assert!(
        rotations.contains(&midnight_after),
        "the missed tick is caught up: {rotations:?}"
    );
    assert!(
        rotations
            .iter()
            .all(|tick| [midnight_before, midnight_after].contains(tick)),
        "only the last midnight (and one that passed during the test) ran: {rotations:?}"
    );

    // SIGKILL one replica; the other runs every following tick alone.
    a.kill().unwrap();
    a.wait().unwrap();
    let killed_at = before.iter().map(|r| r.tick).max().unwrap();
    let survivor = format!("-{}-", b.id());
    // Usually at once; if the killed replica held a lock, after the lock's TTL.
    let deadline = std::time::Instant::now() + LOCK_TTL + Duration::from_secs(15);
    let after = records_until(&redis, deadline - std::time::Instant::now(), |after| {
        after.iter().filter(|r| r.tick > killed_at + 2000).count() >= 3
    });
    assert_once_per_tick(&after);
    let later: Vec<_> = after.iter().filter(|r| r.tick > killed_at + 2000).collect();
    assert!(later.len() >= 3, "the survivor took over: {after:?}");
    assert!(
        later.iter().all(|r| r.runner.contains(&survivor)),
        "{later:?}"
    );
    b.kill().unwrap();
    b.wait().unwrap();
}
