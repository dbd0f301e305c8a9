//! The ingest Lambda binary, invoked through a local Runtime API with real function-URL
//! events (payload format 2.0), against a real redis-server.

use std::process::Stdio;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookline_tests::{LambdaRuntimeApi, RedisServer, github_headers, hmac_sha256_hex};
use redis::Commands;
use serde_json::{Value, json};

const SECRET: &str = "lambda-secret";

/// A function-URL event as AWS sends it.
fn function_url_event(
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    base64: bool,
) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    let body = if base64 {
        B64.encode(body)
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2026:18:00:00 +0000",
            "timeEpoch": 1795543200000u64
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

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
    let mut function = tokio::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "hookline-ingest")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("HOOKLINE_CONFIG_YAML", config)
        .env_remove("HOOKLINE_CONFIG")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ingest binary runs");

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
