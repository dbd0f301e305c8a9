//! The ingest Lambda binary, invoked through a local Runtime API with real function-URL
//! events (payload format 2.0), against a real redis-server.

mod common;

use std::process::Stdio;

use common::{function_url_event, start_function};
use hookline_tests::{
    LambdaRuntimeApi, OtlpReceiver, RedisServer, github_headers, hmac_sha256_hex,
};
use redis::Commands;
use serde_json::Value;

const SECRET: &str = "lambda-secret";

/// Invokes the function with a function-URL event and returns its response.
async fn invoke(
    api: &LambdaRuntimeApi,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    base64: bool,
) -> Value {
    api.invoke(function_url_event(path, headers, body, base64))
        .await
        .expect("the function answered")
}

#[tokio::test]
async fn the_function_answers_function_url_events_end_to_end() {
    let redis = RedisServer::start();
    let api = LambdaRuntimeApi::start().await;
    let config = format!(
        "redis: {{url: \"{}\"}}\nsources:\n  github: {{provider: github, secrets: [\"{SECRET}\"]}}\n  slack: {{provider: slack, secrets: [\"{SECRET}\"]}}\n",
        redis.url()
    );
    let mut function = start_function(&api, &config, &[], Stdio::null());

    let body = br#"{"zen":"Design for failure.","repository":{"full_name":"octo/lambda"}}"#;
    let headers = github_headers(SECRET, "ping", "lambda-1", body);
    let reply = invoke(&api, "/webhooks/github", &headers, body, false).await;
    assert_eq!(reply["statusCode"], 202, "{reply}");
    let answer: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    assert_eq!(answer["duplicate"], false);

    let again = invoke(&api, "/webhooks/github", &headers, body, false).await;
    assert_eq!(again["statusCode"], 200, "{again}");

    // Function URLs base64-encode form bodies such as Slack's: verified after decoding.
    let form = b"token=x&team_id=T1&command=%2Fdeploy&text=now";
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let sig = hmac_sha256_hex(
        SECRET.as_bytes(),
        format!("v0:{ts}:{}", String::from_utf8_lossy(form)).as_bytes(),
    );
    let slack_headers = vec![
        (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("x-slack-request-timestamp".to_owned(), ts),
        ("x-slack-signature".to_owned(), format!("v0={sig}")),
    ];
    let reply = invoke(&api, "/webhooks/slack", &slack_headers, form, true).await;
    assert_eq!(reply["statusCode"], 202, "{reply}");

    let bad = invoke(&api, "/webhooks/github", &headers[..3], body, false).await;
    assert_eq!(bad["statusCode"], 401, "{bad}");

    let mut conn = redis.connection();
    let stream: redis::streams::StreamRangeReply = conn.xrange_all("hookline:events:{0}").unwrap();
    assert_eq!(stream.ids.len(), 2);
    assert_eq!(
        stream.ids[0].get::<Vec<u8>>("payload").unwrap(),
        body.to_vec()
    );
    assert_eq!(
        stream.ids[1].get::<Vec<u8>>("payload").unwrap(),
        form.to_vec()
    );
    assert_eq!(
        stream.ids[1].get::<String>("event_type").unwrap(),
        "/deploy"
    );
    function.kill().await.unwrap();
}

#[tokio::test]
async fn an_invocation_exports_its_spans_before_it_returns() {
    let redis = RedisServer::start();
    let api = LambdaRuntimeApi::start().await;
    let otlp = OtlpReceiver::start().await;
    let config = format!(
        "redis: {{url: \"{}\"}}\nsources:\n  github: {{provider: github, secrets: [\"{SECRET}\"]}}\nobservability: {{otlp_endpoint: \"{}\"}}\n",
        redis.url(),
        otlp.endpoint()
    );
    // The exporter's default delay (5 s) is left as it is: only the flush before the
    // invocation returns can have sent the spans when the answer arrives.
    let mut function = start_function(&api, &config, &[], Stdio::null());

    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let mut headers = github_headers(SECRET, "ping", "lambda-traced-1", body);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    headers.push((
        "traceparent".into(),
        format!("00-{trace_id}-00f067aa0ba902b7-01"),
    ));
    let reply = invoke(&api, "/webhooks/github", &headers, body, false).await;
    assert_eq!(reply["statusCode"], 202, "{reply}");

    let spans = otlp.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"ingest") && names.contains(&"append"),
        "{spans:#?}"
    );
    assert!(spans.iter().all(|s| s.trace_id == trace_id), "{spans:#?}");
    assert!(spans.iter().all(|s| s.service == "lambda"), "{spans:#?}");
    function.kill().await.unwrap();
}
