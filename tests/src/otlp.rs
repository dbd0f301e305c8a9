//! An OTLP/HTTP trace receiver for tests: a server on a free loopback port that keeps every
//! JSON body POSTed to `/v1/traces` (hookline exports OTLP with JSON bodies), and reads the
//! spans back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

/// The running receiver; stops when dropped.
pub struct OtlpReceiver {
    /// Where it listens: `observability.otlp_endpoint` is `http://{addr}`.
    pub addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

/// One exported span, as tests look at it.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    /// Its resource's `service.name`.
    pub service: String,
    /// The span's name.
    pub name: String,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
    /// Hex id of the parent span (empty for a root).
    pub parent_span_id: String,
    /// The OTLP attribute list.
    pub attributes: Value,
}

impl ExportedSpan {
    /// The value of attribute `key` as text (`""` when absent).
    pub fn attribute(&self, key: &str) -> String {
        attribute(&self.attributes, key)
    }
}

impl OtlpReceiver {
    /// Starts a receiver answering every export with 200.
    pub async fn start() -> Self {
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let app = Router::new()
            .route("/v1/traces", post(collect))
            .with_state(bodies.clone());
        let (addr, task) = crate::receiver::serve_local(app).await;
        Self { addr, bodies, task }
    }

    /// `http://ADDR`, the value of `observability.otlp_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        let bodies = self.bodies.lock().expect("lock").clone();
        let list = |value: &Value| value.as_array().cloned().unwrap_or_default();
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let mut spans = Vec::new();
        for body in &bodies {
            for resource in list(&body["resourceSpans"]) {
                let service = attribute(&resource["resource"]["attributes"], "service.name");
                for scope in list(&resource["scopeSpans"]) {
                    for span in list(&scope["spans"]) {
                        spans.push(ExportedSpan {
                            service: service.clone(),
                            name: text(&span["name"]),
                            trace_id: text(&span["traceId"]),
                            span_id: text(&span["spanId"]),
                            parent_span_id: text(&span["parentSpanId"]),
                            attributes: span["attributes"].clone(),
                        });
                    }
                }
            }
        }
        spans
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn collect(
    State(bodies): State<Arc<Mutex<Vec<Value>>>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    bodies.lock().expect("lock").push(body);
    (StatusCode::OK, Json(serde_json::json!({})))
}

/// The value of `key` in an OTLP attribute list, as text (`""` when absent).
fn attribute(attributes: &Value, key: &str) -> String {
    let Some(found) = attributes
        .as_array()
        .into_iter()
        .flatten()
        .find(|kv| kv["key"] == key)
    else {
        return String::new();
    };
    let value = &found["value"];
    match (
        &value["stringValue"],
        &value["intValue"],
        &value["boolValue"],
    ) {
        (Value::String(text), _, _) => text.clone(),
        (_, Value::String(number), _) => number.clone(),
        (_, Value::Number(number), _) => number.to_string(),
        (_, _, Value::Bool(flag)) => flag.to_string(),
        _ => value.to_string(),
    }
}
