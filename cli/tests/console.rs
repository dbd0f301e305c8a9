//! `hookline console` as a process: every page and action refused without a session, the
//! login and CSRF rules over HTTP, and the whole operator flow in a real headless Chromium
//! (`tests/browser/console_flow.py`, Playwright), which writes screenshots as artefacts.

use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use hookline_tests::{
    Process, Receiver, RedisServer, append_entry_now, consumer_yaml, terminate, wait_until,
};
use tokio::process::Command;

const TOKEN: &str = "console-token-for-tests-0123";

/// Every page (GET) and action (POST) of the console.
const PAGES: [&str; 8] = [
    "/console",
    "/console/events",
    "/console/events/some-id",
    "/console/dlq",
    "/console/replay",
    "/console/replay/some-run",
    "/console/summaries",
    "/console/breakers",
];
const ACTIONS: [&str; 6] = [
    "/console/dlq/retry",
    "/console/dlq/purge",
    "/console/replay",
    "/console/breakers/reset",
    "/console/logout",
    "/console/events",
];

fn config_file(
    redis: &RedisServer,
    sink_url: &str,
    extra: &str,
    console: &str,
) -> tempfile::NamedTempFile {
    // At info, so the console's `console listening` line (with its address) is written.
    let yaml = consumer_yaml(redis, sink_url, extra).replace("log_level: warn", "log_level: info");
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "{yaml}console: {{{console}}}").unwrap();
    file
}

async fn console(config: &tempfile::NamedTempFile) -> (Process, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookline"));
    command
        .args(["console", "--listen", "127.0.0.1:0", "--config"])
        .arg(config.path())
        .stdout(Stdio::null());
    let process = Process::spawn(command);
    let addr: SocketAddr = process.listening("console listening").await;
    (process, format!("http://{addr}/console"))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The page at `url` (it must answer 200) for the session of `cookie`.
async fn page(http: &reqwest::Client, url: &str, cookie: &str) -> String {
    let reply = http.get(url).header("cookie", cookie).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK, "GET {url}");
    reply.text().await.unwrap()
}

/// Logs in as `name`; returns the session cookie (`hookline_console=…`) and the CSRF token.
async fn log_in(http: &reqwest::Client, base: &str, name: &str) -> (String, String) {
    let reply = http
        .post(format!("{base}/login"))
        .form(&[("name", name), ("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::SEE_OTHER);
    let set = reply.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(attribute), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = page(http, base, &cookie).await;
    let csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries a CSRF token")
        .to_owned();
    (cookie, csrf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_every_page_leads_to_login_and_every_action_is_refused() {
    let redis = RedisServer::start();
    let config = config_file(
        &redis,
        "http://127.0.0.1:9/hook",
        "",
        &format!(
            r#"token: "{TOKEN}", trusted_user_header: X-Auth-User, trusted_proxies: [192.0.2.1]"#
        ),
    );
    let (_console, base) = console(&config).await;
    let origin = base.trim_end_matches("/console");
    let http = client();
    for path in PAGES {
        let reply = http.get(format!("{origin}{path}")).send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::SEE_OTHER, "GET {path}");
        assert_eq!(reply.headers()["location"], "/console/login", "GET {path}");
        // A made-up cookie is no session, and the header of an untrusted peer is no user.
        let forged = http
            .get(format!("{origin}{path}"))
            .header("cookie", "hookline_console=0000")
            .header("x-auth-user", "mallory")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::SEE_OTHER, "forged GET {path}");
    }
    for path in ACTIONS {
        let reply = http
            .post(format!("{origin}{path}"))
            .form(&[("csrf", "x"), ("destination", "http://127.0.0.1:9")])
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "POST {path}");
    }
    let wrong = http
        .post(format!("{base}/login"))
        .form(&[
            ("name", "mallory"),
            ("token", "console-token-for-tests-0124"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());

    // Logged in: pages answer; a POST needs the session's CSRF token.
    let (cookie, csrf) = log_in(&http, &base, "ada").await;
    for path in PAGES.iter().filter(|p| !p.contains("some-")) {
        let reply = http
            .get(format!("{origin}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK, "GET {path}");
    }
    let reset = |csrf: &str| {
        http.post(format!("{base}/breakers/reset"))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf), ("destination", "http://127.0.0.1:9")])
            .send()
    };
    assert_eq!(reset("").await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        reset(&"0".repeat(64)).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(reset(&csrf).await.unwrap().status(), StatusCode::SEE_OTHER);
    let trail = hookline(&config, &["audit", "list", "--json"]);
    assert!(
        trail.contains(r#""actor":"ada""#) && trail.contains("reset-circuit-breaker"),
        "{trail}"
    );

    // Replay: the dry run's count first, then the run, whose page shows its progress.
    let now = std::time::SystemTime::now();
    let stamp = |t: std::time::SystemTime| humantime::format_rfc3339_millis(t).to_string();
    append_entry_now(&redis, &uuid::Uuid::now_v7().to_string(), "push", "{}");
    let (from, to) = (
        stamp(now - Duration::from_secs(60)),
        stamp(now + Duration::from_secs(60)),
    );
    let replay = |confirm: &'static str| {
        http.post(format!("{base}/replay"))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("from", &from),
                ("to", &to),
                ("confirm", confirm),
            ])
            .send()
    };
    let dry = replay("").await.unwrap().text().await.unwrap();
    assert!(dry.contains("<strong>1</strong> event(s) match"), "{dry}");
    let started = replay("yes").await.unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let progress = format!(
        "{origin}{}",
        started.headers()["location"].to_str().unwrap()
    );
    wait_until("the replay done", Duration::from_secs(10), || async {
        let done = page(&http, &progress, &cookie).await;
        done.contains("Done: replayed 1 of 1").then_some(())
    })
    .await;
    let stream: u64 = redis::cmd("XLEN")
        .arg("hookline:events:{0}")
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(stream, 2, "the event and its replayed copy");

    // A payload is shown with its personal fields masked; unmasked only on request, audited.
    let person = uuid::Uuid::now_v7().to_string();
    append_entry_now(
        &redis,
        &person,
        "push",
        r#"{"sender":{"login":"octocat-the-person"},"ref":"main"}"#,
    );
    let event_page = format!("{base}/events/{person}");
    let masked = page(&http, &format!("{event_page}?payload=1"), &cookie).await;
    assert!(
        masked.contains("[masked]") && masked.contains("main"),
        "{masked}"
    );
    assert!(!masked.contains("octocat-the-person"), "{masked}");
    let whole = page(&http, &format!("{event_page}?pii=1"), &cookie).await;
    assert!(whole.contains("octocat-the-person"));
    let trail = hookline(&config, &["audit", "list", "--json"]);
    assert!(
        trail.contains("events show --show-pii") && trail.contains(&person),
        "{trail}"
    );

    // Purge asks first.
    let purge = http
        .post(format!("{base}/dlq/purge"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        purge.contains("This deletes <strong>0</strong> dead letter(s)"),
        "{purge}"
    );

    // Logged out, the cookie is worthless.
    let out = http
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        reset(&csrf).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

fn hookline(config: &tempfile::NamedTempFile, args: &[&str]) -> String {
    hookline_tests::run_command(env!("CARGO_BIN_EXE_hookline"), config.path(), args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_retries_a_dead_letter_in_a_real_browser() {
    let redis = RedisServer::start();
    let healthy = Arc::new(AtomicBool::new(false));
    let receiver = Receiver::start({
        let healthy = healthy.clone();
        move |_| match healthy.load(Ordering::SeqCst) {
            true => (StatusCode::OK, Duration::ZERO),
            false => (StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO),
        }
    })
    .await;
    let group = "      max_retries: 1\n      retry_for: 0s\n      circuit_breaker: {failures: 2, open_for: 1h}";
    let config = config_file(
        &redis,
        &receiver.url(),
        group,
        &format!(r#"token: "{TOKEN}", sample_every: 1s"#),
    );
    let doomed = uuid::Uuid::now_v7().to_string();
    append_entry_now(&redis, &doomed, "push", r#"{"n":1}"#);
    let mut consumer =
        hookline_tests::spawn_quiet(env!("CARGO_BIN_EXE_hookline"), "consume", config.path());
    let mut conn = redis.connection();
    wait_until(
        "the event dead-lettered and the breaker open",
        Duration::from_secs(30),
        || {
            let dead: u64 = redis::cmd("XLEN")
                .arg("hookline:dlq:{0}")
                .query(&mut conn)
                .unwrap();
            let state: Option<String> = redis::cmd("HGET")
                .arg(format!(
                    "hookline:breaker:{}",
                    receiver.url().trim_end_matches("/hook")
                ))
                .arg("state")
                .query(&mut conn)
                .unwrap();
            let done = dead == 1 && state.as_deref() == Some("open");
            async move { done.then_some(()) }
        },
    )
    .await;
    append_entry_now(&redis, &uuid::Uuid::now_v7().to_string(), "issues", "{}");
    healthy.store(true, Ordering::SeqCst);

    let (console, base) = console(&config).await;
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&out).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console_flow.py");
    let run = Command::new("python3")
        .arg(&script)
        .args([
            "--base",
            &base,
            "--token",
            TOKEN,
            "--event-id",
            &doomed,
            "--out",
        ])
        .arg(&out)
        .kill_on_drop(true)
        .output();
    let run = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser flow ends within 3 minutes")
        .expect("python3 runs");
    let said = format!(
        "{}{}\nconsole log:\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
        console.stderr()
    );
    assert!(run.status.success(), "{said}");
    for shot in ["overview.png", "event.png"] {
        let size = std::fs::metadata(out.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 10_000, "{shot}: {size} bytes\n{said}");
    }
    println!("screenshots in {}", out.display());
    terminate(&mut consumer, Duration::from_secs(10)).await;

    let trail = hookline(&config, &["audit", "list", "--json"]);
    for action in ["reset-circuit-breaker", "dlq retry"] {
        assert!(
            trail.contains(action),
            "{action} not in the audit trail: {trail}"
        );
    }
    assert!(trail.contains(r#""actor":"browser-test""#), "{trail}");
    let delivered = receiver
        .calls()
        .iter()
        .any(|c| c.headers["webhook-id"] == doomed.as_str() && c.status == StatusCode::OK);
    assert!(delivered, "the retried event reached the receiver");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_console_enabled_the_ops_listener_serves_it_behind_its_login() {
    let redis = RedisServer::start();
    let config = config_file(
        &redis,
        "http://127.0.0.1:9/hook",
        "",
        &format!(r#"enabled: true, token: "{TOKEN}""#),
    );
    // The ops listener on a free port: observability.listen in the config's own section.
    let yaml = std::fs::read_to_string(config.path()).unwrap().replace(
        "log_level: info}",
        "log_level: info, listen: \"127.0.0.1:0\"}",
    );
    std::fs::write(config.path(), yaml).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookline"));
    command
        .arg("consume")
        .arg("--config")
        .arg(config.path())
        .stdout(Stdio::null());
    let consumer = Process::spawn(command);
    let ops = consumer.listening("health and metrics listening").await;
    let http = client();
    let metrics = http
        .get(format!("http://{ops}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let page = http
        .get(format!("http://{ops}/console"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let base = format!("http://{ops}/console");
    let (cookie, _) = log_in(&http, &base, "ada").await;
    let overview = http
        .get(&base)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), StatusCode::OK);
    assert!(overview.text().await.unwrap().contains("Lag per group"));
}
