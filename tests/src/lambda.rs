//! A local Lambda Runtime API (the protocol a function's runtime polls), so a real function
//! binary can be invoked end to end with real events, as `cargo lambda watch` would.
//!
//! `GET /2018-06-01/runtime/invocation/next` hands out queued events;
//! `POST .../invocation/{id}/response` and `.../error` complete them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Bytes, Bytes>>>>>;

#[derive(Clone)]
struct Api {
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<(String, Bytes)>>>,
    pending: Pending,
}

/// The Runtime API endpoint a function process polls (`AWS_LAMBDA_RUNTIME_API`).
pub struct LambdaRuntimeApi {
    /// Host and port, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub addr: SocketAddr,
    events: mpsc::Sender<(String, Bytes)>,
    pending: Pending,
    next_id: std::sync::atomic::AtomicU64,
}

impl LambdaRuntimeApi {
    /// Serves the API on a free loopback port.
    pub async fn start() -> Self {
        let (events, queue) = mpsc::channel(16);
        let pending: Pending = Arc::default();
        let api = Api {
            queue: Arc::new(tokio::sync::Mutex::new(queue)),
            pending: pending.clone(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            events,
            pending,
            next_id: Default::default(),
        }
    }

    /// Invokes the function with `event` and returns its response, or its error as `Err`.
    pub async fn invoke(&self, event: serde_json::Value) -> Result<serde_json::Value, String> {
        let n = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("req-{n}");
        let (done, result) = oneshot::channel();
        self.pending.lock().expect("lock").insert(id.clone(), done);
        let body = Bytes::from(serde_json::to_vec(&event).expect("event encodes"));
        self.events
            .send((id, body))
            .await
            .expect("runtime api running");
        let outcome = tokio::time::timeout(Duration::from_secs(30), result)
            .await
            .map_err(|_| "the function did not answer within 30s".to_owned())?
            .map_err(|_| "the invocation was dropped".to_owned())?;
        match outcome {
            Ok(body) => {
                serde_json::from_slice(&body).map_err(|e| format!("response is not JSON: {e}"))
            }
            Err(body) => Err(String::from_utf8_lossy(&body).into_owned()),
        }
    }
}

async fn next(State(api): State<Api>) -> impl IntoResponse {
    let (id, body) = api
        .queue
        .lock()
        .await
        .recv()
        .await
        .expect("test keeps the sender");
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 60_000;
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().expect("header"),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:000000000000:function:hookline-test"
            .parse()
            .expect("header"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000"
            .parse()
            .expect("header"),
    );
    (headers, body)
}

async fn respond(State(api): State<Api>, Path(id): Path<String>, body: Bytes) -> &'static str {
    complete(&api.pending, &id, Ok(body));
    "{}"
}

async fn fail(State(api): State<Api>, Path(id): Path<String>, body: Bytes) -> &'static str {
    complete(&api.pending, &id, Err(body));
    "{}"
}

fn complete(pending: &Pending, id: &str, outcome: Result<Bytes, Bytes>) {
    if let Some(done) = pending.lock().expect("lock").remove(id) {
        let _ = done.send(outcome);
    }
}
