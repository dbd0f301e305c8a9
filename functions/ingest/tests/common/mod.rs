//! What the ingest function's tests share: function-URL events and the binary under a local
//! Runtime API.

use std::process::Stdio;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookline_tests::LambdaRuntimeApi;
use serde_json::{Value, json};

/// A function-URL event as AWS sends it.
pub fn function_url_event(
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

/// The ingest binary polling `api`, configured by `yaml`, with `env` added.
pub fn start_function(
    api: &LambdaRuntimeApi,
    yaml: &str,
    env: &[(&str, String)],
    stdout: Stdio,
) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "hookline-ingest")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("HOOKLINE_CONFIG_YAML", yaml)
        .env_remove("HOOKLINE_CONFIG")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(stdout)
        .kill_on_drop(true)
        .spawn()
        .expect("ingest binary runs")
}
