//! Traces across processes: `hookline serve` and `hookline consume` export their spans to an
//! in-process OTLP/HTTP receiver. A webhook sent with a `traceparent` yields one trace — the
//! ingest request, its append and the delivery — and the destination receives a
//! `traceparent` of that trace (kept by the stored event and its replays); with
//! `trace_sample_ratio: 0` nothing is exported at all. A job run is one span.

use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use hookline_tests::{
    ExportedSpan, HttpClient, OtlpReceiver, Process, Receiver, RedisServer, TEST_WHSEC,
    github_headers, terminate, wait_until,
};
use tokio::process::Command;

const SECRET: &str = "trace-secret";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// Spans are sent soon after they end, not after the exporter's default 5 s.
const EXPORT_SOON: (&str, &str) = ("OTEL_BSP_SCHEDULE_DELAY", "100");

fn config(
    redis: &RedisServer,
    sink: &Receiver,
    otlp: &OtlpReceiver,
    ratio: &str,
) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        r#"
redis: {{url: "{redis}"}}
sources:
  gh: {{provider: github, secrets: ["{SECRET}"]}}
consumer:
  summaries: false
  groups:
    app:
      sink: {{type: http, url: "{sink}", secret: "{TEST_WHSEC}", timeout: 1s}}
      claim_idle: 7s
observability:
  log_format: json
  otlp_endpoint: "{otlp}"
  trace_sample_ratio: {ratio}
"#,
        redis = redis.url(),
        sink = sink.url(),
        otlp = otlp.endpoint(),
    )
    .unwrap();
    file
}

/// `hookline serve` and `hookline consume` on `config`, exporting spans soon after they end.
async fn start(config: &tempfile::NamedTempFile) -> (Process, SocketAddr, Process) {
    let binary = env!("CARGO_BIN_EXE_hookline");
    let env = [(EXPORT_SOON.0, EXPORT_SOON.1.to_owned())];
    let (serve, addr) = Process::serve(binary, config.path(), &env).await;
    let mut command = Command::new(binary);
    command
        .arg("consume")
        .arg("--config")
        .arg(config.path())
        .env(EXPORT_SOON.0, EXPORT_SOON.1)
        .stdout(Stdio::null());
    (serve, addr, Process::spawn(command))
}

/// Sends one signed `push` with `traceparent` (sampled) and checks it was appended.
async fn send(addr: SocketAddr, delivery: &str) -> String {
    let body = format!(r#"{{"ref":"refs/heads/main","delivery":"{delivery}"}}"#).into_bytes();
    let mut headers = github_headers(SECRET, "push", delivery, &body);
    headers.push((
        "traceparent".into(),
        format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"),
    ));
    let reply = HttpClient::default()
        .post(&format!("http://{addr}/webhooks/gh"), &headers, body)
        .await;
    assert_eq!(reply.status, 202, "{:?}", reply.json);
    reply.json["id"].as_str().unwrap().to_owned()
}

/// The `traceparent` the destination got with its one delivery.
async fn delivered_traceparent(sink: &Receiver) -> Option<String> {
    wait_until("the delivery", Duration::from_secs(30), || async {
        sink.calls().first().cloned()
    })
    .await
    .headers
    .get("traceparent")
    .map(|v| v.to_str().unwrap().to_owned())
}

// Multi-threaded: the receivers answer while the test waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_webhook_is_one_trace_from_the_request_to_the_destination() {
    let redis = RedisServer::start();
    let sink = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let otlp = OtlpReceiver::start().await;
    let config = config(&redis, &sink, &otlp, "1");
    let (_serve, addr, _consume) = start(&config).await;

    let event_id = send(addr, "traced-1").await;
    let sent = delivered_traceparent(&sink)
        .await
        .expect("the sink sends a traceparent");

    let spans = wait_until(
        "ingest, append and deliver spans",
        Duration::from_secs(30),
        || {
            let spans = otlp.spans();
            let all = ["ingest", "append", "deliver"]
                .iter()
                .all(|name| spans.iter().any(|s| s.name == *name));
            async move { all.then_some(spans) }
        },
    )
    .await;
    let named = |name: &str| {
        let found: Vec<&ExportedSpan> = spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "one {name} span: {spans:#?}");
        found[0].clone()
    };
    let (ingest, append, deliver) = (named("ingest"), named("append"), named("deliver"));
    for span in [&ingest, &append, &deliver] {
        assert_eq!(span.trace_id, TRACE_ID, "{span:#?}");
    }
    assert_eq!(
        ingest.parent_span_id, PARENT_SPAN_ID,
        "continues the sender's span"
    );
    assert_eq!(append.parent_span_id, ingest.span_id);
    assert_eq!(
        deliver.parent_span_id, ingest.span_id,
        "continues the stored context"
    );
    assert_eq!(
        (ingest.service.as_str(), deliver.service.as_str()),
        ("serve", "consume")
    );
    assert_eq!(ingest.attribute("source"), "gh");
    assert_eq!(ingest.attribute("status"), "202");
    assert_eq!(ingest.attribute("event_id"), event_id);
    assert_eq!(deliver.attribute("event_id"), event_id);
    assert_eq!(deliver.attribute("group"), "app");
    assert_eq!(deliver.attribute("outcome"), "delivered");
    assert_eq!(deliver.attribute("status"), "200");
    assert_eq!(deliver.attribute("attempt"), "1");
    for span in &spans {
        let text = span.attributes.to_string();
        assert!(!text.contains("refs/heads/main"), "no payload in {span:#?}");
        assert!(!text.contains("sha256="), "no signature in {span:#?}");
    }

    // The destination's request continues the delivery's span.
    assert_eq!(sent, format!("00-{TRACE_ID}-{}-01", deliver.span_id));
    // The stream entry keeps the ingest span's context, and a replayed copy keeps it too.
    let stored = format!("00-{TRACE_ID}-{}-01", ingest.span_id);
    let entries = redis.entries("hookline:events:{0}");
    assert_eq!(entries[0].text("traceparent"), stored);
    let hour = Duration::from_secs(3600);
    let at = |t: SystemTime| humantime::format_rfc3339(t).to_string();
    let (from, to) = (at(SystemTime::now() - hour), at(SystemTime::now() + hour));
    hookline(&config, &["replay", "--from", &from, "--to", &to]).await;
    let entries = redis.entries("hookline:events:{0}");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].text("replay_of"), event_id);
    assert_eq!(entries[1].text("traceparent"), stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_run_is_one_span_with_its_counts() {
    let redis = RedisServer::start();
    let sink = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let otlp = OtlpReceiver::start().await;
    let config = config(&redis, &sink, &otlp, "1");

    // The exporter's default delay: only the flush at exit can send the span in time.
    let out = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["job", "rotate-bloom", "--config"])
        .arg(config.path())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let spans = otlp.spans();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let job = &spans[0];
    assert_eq!((job.name.as_str(), job.service.as_str()), ("job", "job"));
    assert_eq!(job.attribute("job"), "rotate-bloom");
    assert_eq!(job.attribute("outcome"), "success");
    assert_eq!(job.attribute("partitions"), "1");
}

/// Runs `hookline ARGS --config CONFIG` to a successful end.
async fn hookline(config: &tempfile::NamedTempFile, args: &[&str]) {
    hookline_tests::run_command(env!("CARGO_BIN_EXE_hookline"), config.path(), args);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sampling_0_nothing_is_exported() {
    let redis = RedisServer::start();
    let sink = Receiver::start(|_| (StatusCode::OK, Duration::ZERO)).await;
    let otlp = OtlpReceiver::start().await;
    let config = config(&redis, &sink, &otlp, "0");
    let (mut serve, addr, mut consume) = start(&config).await;

    send(addr, "untraced-1").await;
    // The trace is still propagated, marked not sampled, so the receiver decides alike.
    let sent = delivered_traceparent(&sink)
        .await
        .expect("the sink sends a traceparent");
    assert!(
        sent.starts_with(&format!("00-{TRACE_ID}-")) && sent.ends_with("-00"),
        "{sent}"
    );
    // Both exit as on any deploy, exporting whatever their exporters hold.
    for process in [&mut serve, &mut consume] {
        let status = terminate(&mut process.child, Duration::from_secs(15)).await;
        assert_eq!(status.code(), Some(0), "{}", process.stderr());
    }
    assert!(otlp.spans().is_empty(), "{:#?}", otlp.spans());
}
