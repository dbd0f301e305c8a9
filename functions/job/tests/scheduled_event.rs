//! The job Lambda binary, invoked through a local Runtime API with scheduled-event payloads,
//! against a real redis-server: it runs the job end to end and reports EMF metrics.

use std::process::Stdio;

use hookline_tests::{LambdaRuntimeApi, RedisServer};
use redis::Commands;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn scheduled_events_run_jobs_and_write_emf_metrics() {
    let redis = RedisServer::start();
    let archive = tempfile::tempdir().unwrap();
    let api = LambdaRuntimeApi::start().await;
    let config = format!(
        "redis: {{url: \"{}\"}}\nlifecycle: {{archive: \"file://{}\"}}\n",
        redis.url(),
        archive.path().display()
    );
    let mut function = tokio::process::Command::new(env!("CARGO_BIN_EXE_job"))
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "hookline-job")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("HOOKLINE_CONFIG_YAML", config)
        .env("HOOKLINE_METRICS_NAMESPACE", "hookline-test")
        .env_remove("HOOKLINE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("job binary runs");
    let mut stdout = BufReader::new(function.stdout.take().unwrap()).lines();

    // As EventBridge Scheduler sends it (the target's input).
    let reply = api.invoke(json!({"job": "rotate-bloom"})).await.unwrap();
    assert_eq!(reply["outcome"], "success", "{reply}");
    let current: String = redis
        .connection()
        .get("hookline:bloom:{0}:current")
        .unwrap();
    assert_eq!(current, "1");

    // As an EventBridge rule's scheduled event carrying the request as its detail.
    let event = json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events",
        "time": "2026-11-25T00:05:00Z", "region": "us-east-1", "resources": [],
        "detail": {"job": "summarize", "date": "2026-11-24"}
    });
    let reply = api.invoke(event).await.unwrap();
    assert_eq!(reply["outcome"], "success", "{reply}");
    assert!(
        reply["detail"]
            .as_str()
            .unwrap()
            .starts_with("summarized 2026-11-24")
    );

    let bad = api.invoke(json!({"job": "vacuum"})).await.unwrap_err();
    assert!(bad.contains("unknown job"), "{bad}");

    let mut emf = Vec::new();
    while emf.len() < 4 {
        let line = stdout
            .next_line()
            .await
            .unwrap()
            .expect("the function writes EMF lines");
        if let Ok(doc) = serde_json::from_str::<Value>(&line)
            && doc.get("_aws").is_some()
        {
            emf.push(doc);
        }
    }
    let runs = &emf[0];
    assert_eq!(
        runs["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "hookline-test"
    );
    assert_eq!(runs["job"], "rotate-bloom");
    assert_eq!(runs["outcome"], "success");
    assert_eq!(runs["hookline_job_runs_total"], 1.0);
    assert!(
        emf.iter()
            .any(|doc| doc.get("hookline_dlq_length") == Some(&json!(0.0)))
    );
    function.kill().await.unwrap();
}
