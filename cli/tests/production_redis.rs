//! hookline against a Redis set up as in production: TLS with a private CA and client
//! certificates required (`tls-auth-clients yes`), `user default off`, and one ACL user per
//! role created from the least-privilege lines in docs/redis.md — every role runs as its own
//! user, so a command outside its line would fail the test.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use axum::http::StatusCode;
use hookline_tests::{
    HttpClient, Process, Receiver, RedisServer, TEST_WHSEC, TestCerts, github_headers, repo_root,
    terminate, wait_until,
};
use redis::Commands;

const SECRET: &str = "tls-webhook-secret";

/// The `ACL SETUSER` lines of docs/redis.md, by user name.
fn documented_acl() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(repo_root().join("docs/redis.md")).unwrap();
    let block = doc
        .split("```acl\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/redis.md has an ```acl block");
    block
        .lines()
        .filter(|l| l.starts_with("ACL SETUSER "))
        .map(|l| {
            (
                l.split_whitespace().nth(2).unwrap().to_owned(),
                l.to_owned(),
            )
        })
        .collect()
}

/// The password a role's user gets in this test.
fn password(user: &str) -> String {
    format!("{user}-password-0f9e")
}

/// Creates every documented user, with its placeholder password replaced.
fn create_users(redis: &RedisServer) {
    let mut admin = redis.connection();
    for (user, line) in documented_acl() {
        let placeholder = line
            .split_whitespace()
            .find(|w| w.starts_with('>'))
            .unwrap()
            .to_owned();
        let line = line.replace(&placeholder, &format!(">{}", password(&user)));
        let mut cmd = redis::cmd("ACL");
        for word in line.split_whitespace().skip(1) {
            cmd.arg(word);
        }
        let _: () = cmd
            .query(&mut admin)
            .unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}

/// A config for `user` over TLS; `tls` is the `redis.tls` value.
fn config(redis: &RedisServer, user: &str, password: &str, tls: &str, extra: &str) -> String {
    format!(
        "redis:\n  url: \"{}\"\n  username: {user}\n  password: \"{password}\"\n  tls: {tls}\n{extra}observability: {{log_format: json}}\n",
        redis.tls_url()
    )
}

fn full_tls(certs: &TestCerts) -> String {
    let (cert, key) = certs.client();
    format!(
        "{{ca_file: \"{}\", cert_file: \"{}\", key_file: \"{}\"}}",
        certs.ca_file().display(),
        cert.display(),
        key.display()
    )
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn hookline(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("HOOKLINE_REDIS_URL")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_over_mutual_tls_with_a_least_privilege_user_per_role() {
    let certs = TestCerts::generate();
    let redis = RedisServer::start_secure(&certs, &[]);
    create_users(&redis);
    let receiver = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let archive = tempfile::tempdir().unwrap();
    let pipeline = format!(
        "sources:\n  gh: {{provider: github, secrets: [\"{SECRET}\"]}}\nconsumer:\n  groups:\n    app:\n      sink: {{type: http, url: \"{}\", secret: \"{TEST_WHSEC}\", timeout: 1s}}\nlifecycle:\n  hot: 1ms\n  warm: 2ms\n  archive: \"file://{}\"\n  schedule: {{compact: \"* * * * * *\", archive: \"* * * * * *\", summarize: \"* * * * * *\", rotate_bloom: \"* * * * * *\"}}\n",
        receiver.url(),
        archive.path().display()
    );
    let tls = full_tls(&certs);
    let role = |user: &str| file(&config(&redis, user, &password(user), &tls, &pipeline));
    let (ingest, consume, jobs, operator) = (
        role("hookline-ingest"),
        role("hookline-consume"),
        role("hookline-jobs"),
        role("hookline-operator"),
    );

    // Ingest, as hookline-ingest.
    let (mut serve, addr) =
        Process::serve(env!("CARGO_BIN_EXE_hookline"), ingest.path(), &[]).await;
    serve
        .logged(
            "TLS on (client certificate), user hookline-ingest",
            Duration::from_secs(5),
        )
        .await;
    let client = HttpClient::default();
    wait_until(
        "ready: ROLE is allowed and says master",
        Duration::from_secs(10),
        || {
            let (client, url) = (client.clone(), format!("http://{addr}/readyz"));
            async move {
                let status = client.send("GET", &url, &[], vec![]).await.ok()?.status;
                (status == 200).then_some(())
            }
        },
    )
    .await;
    let body = br#"{"zen":"Encrypt all the things.","repository":{"full_name":"o/r"}}"#;
    let url = format!("http://{addr}/webhooks/gh");
    let reply = client
        .post(
            &url,
            &github_headers(SECRET, "push", "tls-1", body),
            &body[..],
        )
        .await;
    assert_eq!(reply.status, 202, "{}: {}", reply.json, serve.stderr());
    let stored: u64 = redis.connection().xlen("hookline:events:{0}").unwrap();
    assert_eq!(stored, 1);
    assert!(!serve.stderr().contains(&password("hookline-ingest")));

    // Delivery (and the summary count), as hookline-consume.
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"));
    command.arg("consume").arg("--config").arg(consume.path());
    let mut consumer = Process::spawn(command);
    wait_until("delivered over TLS", Duration::from_secs(20), || {
        let n = receiver.calls().len();
        async move { (n == 1).then_some(()) }
    })
    .await;
    assert_eq!(receiver.calls()[0].body, &body[..]);
    // The summary group may not exist yet when the app group has delivered (NOGROUP).
    let counted = || {
        let pending: Result<(u64, redis::Value, redis::Value, redis::Value), _> =
            redis::cmd("XPENDING")
                .arg("hookline:events:{0}")
                .arg("hookline-summaries")
                .query(&mut redis.connection());
        let info: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg("hookline:events:{0}")
            .query(&mut redis.connection())
            .unwrap();
        matches!(pending, Ok((0, ..))) && info.len() == 2
    };
    wait_until("counted and acknowledged", Duration::from_secs(20), || {
        let done = counted();
        async move { done.then_some(()) }
    })
    .await;
    let status = terminate(&mut consumer.child, Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", consumer.stderr());
    let status = terminate(&mut serve.child, Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));

    // Lifecycle jobs, as hookline-jobs.
    let compact = hookline(jobs.path(), &["job", "compact"]);
    assert!(
        stdout(&compact).starts_with("compacted 1 entries"),
        "{compact:?}"
    );
    let archived = hookline(jobs.path(), &["job", "archive"]);
    assert!(
        stdout(&archived).starts_with("archived 1 entries"),
        "{archived:?}"
    );
    for job in ["summarize", "rotate-bloom"] {
        let out = hookline(jobs.path(), &["job", job]);
        assert_eq!(out.status.code(), Some(0), "{job}: {out:?}");
    }

    // Operator commands, as hookline-operator.
    let replay = hookline(
        operator.path(),
        &[
            "replay",
            "--from",
            "2000-01-01T00:00:00Z",
            "--to",
            "2100-01-01T00:00:00Z",
        ],
    );
    assert!(stdout(&replay).starts_with("replayed 1 of 1"), "{replay:?}");
    let destination = receiver.url();
    for args in [
        &["stats"][..],
        &["dlq", "list"],
        &["claim-pending"],
        &["reset-circuit-breaker", "--destination", &destination],
    ] {
        let out = hookline(operator.path(), args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
    }

    // The scheduler, as hookline-jobs: a tick of each job runs and is recorded.
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"));
    command.arg("schedule").arg("--config").arg(jobs.path());
    let mut scheduler = Process::spawn(command);
    wait_until(
        "a run of every job recorded",
        Duration::from_secs(30),
        || {
            let runs: Vec<(String, std::collections::HashMap<String, String>)> =
                redis::cmd("XRANGE")
                    .arg("hookline:job-runs")
                    .arg("-")
                    .arg("+")
                    .query(&mut redis.connection())
                    .unwrap_or_default();
            let succeeded: std::collections::HashSet<String> = runs
                .iter()
                .filter(|(_, f)| f.get("outcome").map(String::as_str) == Some("success"))
                .filter_map(|(_, f)| f.get("job").cloned())
                .collect();
            async move { (succeeded.len() == 4).then_some(()) }
        },
    )
    .await;
    let status = terminate(&mut scheduler.child, Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0), "{}", scheduler.stderr());
}

#[test]
fn a_wrong_ca_a_missing_client_certificate_and_a_wrong_password_each_stop_with_one_line() {
    let certs = TestCerts::generate();
    let redis = RedisServer::start_secure(&certs, &[]);
    create_users(&redis);
    let (cert, key) = certs.client();
    let user = "hookline-operator";
    let cases = [
        (
            format!(
                "{{ca_file: \"{}\", cert_file: \"{}\", key_file: \"{}\"}}",
                certs.other_ca_file().display(),
                cert.display(),
                key.display()
            ),
            password(user),
            "redis.tls.ca_file: the certificate of 127.0.0.1 is not signed by a trusted CA",
        ),
        (
            format!("{{ca_file: \"{}\"}}", certs.ca_file().display()),
            password(user),
            "redis.tls.cert_file: 127.0.0.1 requires a client certificate",
        ),
        (
            full_tls(&certs),
            "not-the-password-7c1d".to_owned(),
            "redis.password: Redis refused the credentials of user hookline-operator",
        ),
    ];
    for (tls, pass, expected) in cases {
        let config = file(&config(&redis, user, &pass, &tls, ""));
        let out = hookline(config.path(), &["stats"]);
        assert_eq!(out.status.code(), Some(2), "{expected}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with(expected), "{expected}:\n{stderr}");
        assert!(
            !stderr.contains(&pass) && !stdout(&out).contains(&pass),
            "no password in the output: {stderr}"
        );
    }
}
