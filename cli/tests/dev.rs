//! `hookline dev` as a user runs it: the whole pipeline in one process, and every metric the
//! alert rules and the dashboard use (infra/observability) on its `/metrics` after traffic.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use axum::http::StatusCode;
use hookline_tests::{
    HttpClient, Process, Receiver, TEST_WHSEC, github_headers, repo_root, terminate, wait_until,
};

/// Every `hookline_*` name in the alert rules and the dashboard.
fn observed_names() -> BTreeSet<String> {
    let dir = repo_root().join("infra/observability");
    let mut names = BTreeSet::new();
    for file in ["alerts.yaml", "alerts.test.yaml", "grafana-dashboard.json"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("hookline_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            names.insert(name);
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_runs_the_pipeline_and_exports_every_metric_the_alerts_and_dashboard_use() {
    let sink = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let data = tempfile::tempdir().unwrap();
    let mut config = tempfile::NamedTempFile::new().unwrap();
    // `server.listen` is honoured as `serve` honours it (no --listen given): port 0 here, so
    // the address read back is the configured one, not dev's 127.0.0.1:8080.
    write!(
        config,
        "server: {{listen: \"127.0.0.1:0\"}}\nsources:\n  github: {{provider: github, secrets: [\"dev-secret\"]}}\nconsumer:\n  groups:\n    app:\n      sink: {{type: http, url: \"{}\", secret: \"{TEST_WHSEC}\", timeout: 1s}}\nlifecycle:\n  schedule: {{compact: \"*/2 * * * * *\", archive: \"*/2 * * * * *\", summarize: \"*/2 * * * * *\"}}\nobservability: {{log_format: text}}\n",
        sink.url()
    )
    .unwrap();
    let binary = env!("CARGO_BIN_EXE_hookline");
    let (mut dev, addr) = Process::dev(binary, data.path(), config.path()).await;
    assert_ne!(addr.port(), 8080, "server.listen is honoured");
    let client = HttpClient::default();
    let base = format!("http://{addr}");
    wait_until("dev ready", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), format!("{base}/readyz"));
        async move {
            client
                .send("GET", &url, &[], vec![])
                .await
                .ok()
                .filter(|r| r.status == 200)
        }
    })
    .await;

    let body =
        br#"{"ref":"refs/heads/main","repository":{"full_name":"o/r"},"commits":[{}]}"#.to_vec();
    let headers = github_headers("dev-secret", "push", "dev-1", &body);
    let url = format!("{base}/webhooks/github");
    assert_eq!(client.post(&url, &headers, body.clone()).await.status, 202);
    assert_eq!(client.post(&url, &headers, body).await.status, 200);
    wait_until("delivered to the sink", Duration::from_secs(20), || {
        let delivered = sink.calls().len();
        async move { (delivered == 1).then_some(()) }
    })
    .await;

    let wanted = observed_names();
    assert!(wanted.len() >= 15, "{wanted:?}");
    let exported = wait_until("every metric exported", Duration::from_secs(20), || {
        let (client, url, wanted) = (client.clone(), format!("{base}/metrics"), wanted.clone());
        async move {
            let text = String::from_utf8(
                client
                    .send("GET", &url, &[], vec![])
                    .await
                    .ok()?
                    .body
                    .to_vec(),
            )
            .ok()?;
            let have: BTreeSet<String> = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split(['{', ' ']).next())
                .map(str::to_owned)
                .collect();
            wanted.is_subset(&have).then_some(have)
        }
    })
    .await;
    assert!(exported.contains("hookline_job_runs_total"));

    let status = terminate(&mut dev.child, Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{}", dev.stderr());
}
