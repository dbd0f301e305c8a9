//! `hookline job recover-github` against a local fake of GitHub's deliveries API and a real
//! redis-server: it asks for exactly the failures hookline never stored, once; obeys both
//! rate limits and carries on next run; a redelivery GitHub then performs lands once; and
//! `--dry-run` asks for nothing. The token never shows in any output.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::{Duration, SystemTime};

use hookline_tests::{
    FAKE_HOOK, FakeDelivery, FakeGitHub, HttpClient, Process, RedisServer, Scripted,
    github_headers, wait_until,
};

const SECRET: &str = "recover-secret";
const TOKEN: &str = "ghp_recoverTOKENthatMustNeverBeLogged";
const HOUR: Duration = Duration::from_secs(3600);

/// The deliveries of the scenario and the guids it must ask for, with their payloads.
struct Scenario {
    deliveries: Vec<FakeDelivery>,
    /// Failed guids hookline stored all the same.
    stored: Vec<String>,
    /// Never-succeeded, not stored, in the window: guid → the delivery id to redeliver.
    expected: HashMap<String, u64>,
    payloads: HashMap<String, Vec<u8>>,
}

/// 250 attempts over 3 pages: 160 successes, 20 guids that failed and later succeeded, 20
/// that never succeeded (10 of them failed twice), 10 failures hookline stored anyway, and
/// 10 failures older than three days.
fn scenario() -> Scenario {
    let now = SystemTime::now();
    let mut deliveries = Vec::new();
    let mut id = 1000u64;
    let mut attempt = |guid: &str, ago: Duration, status_code: u16| {
        id += 1;
        deliveries.push(FakeDelivery {
            id,
            guid: guid.to_owned(),
            at: now - ago,
            status_code,
        });
        id
    };
    let mut expected = HashMap::new();
    let mut payloads = HashMap::new();
    let mut stored = Vec::new();
    // Oldest first, so ids grow with time: the old ones out of the window…
    for n in 0..10 {
        attempt(&format!("old-{n}"), 80 * HOUR, 502);
    }
    for n in 0..20 {
        let guid = format!("never-{n}");
        let ago = (40 - n as u32) * HOUR;
        let mut last = attempt(&guid, ago, if n % 2 == 0 { 0 } else { 503 });
        if n < 10 {
            last = attempt(&guid, ago - HOUR / 2, 500);
        }
        expected.insert(guid.clone(), last);
        payloads.insert(
            guid.clone(),
            format!(r#"{{"n":{n},"repository":{{"full_name":"octo/hooks-repo"}}}}"#).into_bytes(),
        );
    }
    for n in 0..20 {
        let guid = format!("later-ok-{n}");
        attempt(&guid, 30 * HOUR, 503);
        attempt(&guid, 29 * HOUR, 200);
    }
    for n in 0..10 {
        let guid = format!("stored-{n}");
        attempt(&guid, 20 * HOUR, 0);
        stored.push(guid);
    }
    for n in 0..160 {
        attempt(&format!("ok-{n}"), Duration::from_secs(60 * (160 - n)), 200);
    }
    assert_eq!(deliveries.len(), 250);
    Scenario {
        deliveries,
        stored,
        expected,
        payloads,
    }
}

fn config(redis: &RedisServer, github: &FakeGitHub) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        "redis: {{url: \"{}\"}}\nsources:\n  gh: {{provider: github, secrets: [\"{SECRET}\"]}}\nrecover:\n  github:\n    - {{hook: {FAKE_HOOK}, token: \"{TOKEN}\", api_url: \"{}\", source: gh}}\nobservability: {{log_format: json}}\n",
        redis.url(),
        github.url
    )
    .unwrap();
    file
}

/// `hookline ARGS --config CONFIG` to the end: (exit code, stdout, stderr).
async fn hookline(config: &tempfile::NamedTempFile, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(args)
        .arg("--config")
        .arg(config.path())
        .output()
        .await
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the token leaked:\n{stdout}\n{stderr}"
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

async fn serve(config: &tempfile::NamedTempFile) -> (Process, String) {
    let (serve, addr) = Process::serve(env!("CARGO_BIN_EXE_hookline"), config.path(), &[]).await;
    (serve, format!("http://{addr}/webhooks/gh"))
}

const RECOVER: [&str; 2] = ["job", "recover-github"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_for_exactly_the_failures_hookline_never_stored_once_and_they_land_once() {
    let redis = RedisServer::start();
    let s = scenario();
    let github = FakeGitHub::start(s.deliveries.clone(), TOKEN).await;
    let config = config(&redis, &github);
    let (_serve, url) = serve(&config).await;
    let client = HttpClient::default();
    // What hookline did store of the failed deliveries (GitHub timed out on our answer).
    for guid in &s.stored {
        let body = format!(r#"{{"stored":"{guid}"}}"#).into_bytes();
        let reply = client
            .post(&url, &github_headers(SECRET, "push", guid, &body), body)
            .await;
        assert_eq!(reply.status, 202);
    }
    github.forward_to(&url, SECRET, s.payloads.clone());

    let (code, stdout, stderr) = hookline(&config, &RECOVER).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "{FAKE_HOOK}: 240 deliveries seen, 30 failed guid(s), 10 already stored, 20 redelivery(ies) asked, 0 refused"
        )),
        "{stdout}"
    );
    let asked = github.redeliveries();
    let mut expected: Vec<u64> = s.expected.values().copied().collect();
    let mut got = asked.clone();
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(
        got, expected,
        "each never-stored failure's newest attempt, once"
    );
    assert!(
        github
            .authorizations()
            .iter()
            .all(|a| a == &format!("Bearer {TOKEN}"))
    );

    // GitHub performed the redeliveries: each event is in the stream once.
    let events = wait_until("redelivered events stored", Duration::from_secs(20), || {
        let events = redis.events(1);
        async move { (events.len() == 30).then_some(events) }
    })
    .await;
    let guids: HashSet<&str> = events.iter().map(|e| e.text("delivery_id")).collect();
    assert_eq!(guids.len(), 30, "each once");
    assert!(s.expected.keys().all(|g| guids.contains(g.as_str())));

    let (code, stdout, stderr) = hookline(&config, &RECOVER).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        github.redeliveries(),
        asked,
        "a second run asks for nothing new: {stdout}"
    );
    assert_eq!(redis.events(1).len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_stop_a_run_cleanly_the_next_carries_on_and_dry_run_asks_nothing() {
    let redis = RedisServer::start();
    let s = scenario();
    let github = FakeGitHub::start(s.deliveries.clone(), TOKEN).await;
    let config = config(&redis, &github);

    let (code, stdout, stderr) = hookline(&config, &[&RECOVER[..], &["--dry-run"]].concat()).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        github.redeliveries().is_empty(),
        "a dry run asks for nothing"
    );
    let listed: HashSet<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("would ask: ")?.split(' ').nth(1))
        .collect();
    // Nothing is stored here, so the failures hookline stored in the other test count too.
    let expected: HashSet<&str> = s
        .expected
        .keys()
        .chain(&s.stored)
        .map(String::as_str)
        .collect();
    assert_eq!(listed, expected, "{stdout}");

    // The hour's allowance is spent: nothing is asked, exit 0.
    github.script(&[Scripted::Exhausted]);
    let (code, stdout, stderr) = hookline(&config, &RECOVER).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("stopped: GitHub's rate limit"), "{stdout}");
    assert!(github.redeliveries().is_empty());

    // A secondary limit that outlasts the retries stops it too.
    github.script(&[Scripted::Secondary; 4]);
    let (code, stdout, stderr) = hookline(&config, &RECOVER).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("stopped: GitHub's secondary rate limit"),
        "{stdout}"
    );
    assert!(github.redeliveries().is_empty());

    // One that passes is waited out, and this run does it all.
    github.script(&[Scripted::Secondary]);
    let (code, stdout, stderr) = hookline(&config, &RECOVER).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("30 redelivery(ies) asked"), "{stdout}");
    assert_eq!(github.redeliveries().len(), 30);
}
