//! A webhook receiver for consumer tests: an HTTP server on a free loopback port that records
//! every call and answers as the test's policy says.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;

/// One call the receiver got.
#[derive(Debug, Clone)]
pub struct Call {
    /// When it arrived.
    pub at: Instant,
    /// When it arrived, by the wall clock (to compare with Redis `TIME`).
    pub wall: SystemTime,
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
    /// The status answered.
    pub status: StatusCode,
}

/// Decides the answer to the `n`-th call (0-based): a status and a delay before answering.
pub type Policy = Arc<dyn Fn(usize) -> (StatusCode, Duration) + Send + Sync>;

#[derive(Clone)]
struct Shared {
    calls: Arc<Mutex<Vec<Call>>>,
    policy: Policy,
}

/// The running receiver; stops when dropped.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver answering by `policy`.
    pub async fn start(
        policy: impl Fn(usize) -> (StatusCode, Duration) + Send + Sync + 'static,
    ) -> Self {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let shared = Shared {
            calls: calls.clone(),
            policy: Arc::new(policy),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .layer(DefaultBodyLimit::disable()) // tests deliver bodies of many MiB
            .with_state(shared);
        let (addr, task) = serve_local(app).await;
        Self { addr, calls, task }
    }

    /// A receiver that answers `failure` to the first `n` calls and `success` after.
    pub async fn failing_first(n: usize, failure: StatusCode, success: StatusCode) -> Self {
        Self::start(move |call| (if call < n { failure } else { success }, Duration::ZERO)).await
    }

    /// `http://ADDR/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let (at, wall) = (Instant::now(), SystemTime::now());
    let (status, delay) = {
        let mut calls = shared.calls.lock().expect("lock");
        let answer = (shared.policy)(calls.len());
        calls.push(Call {
            at,
            wall,
            headers,
            body,
            status: answer.0,
        });
        answer
    };
    tokio::time::sleep(delay).await;
    status
}

/// Serves `app` on a free loopback port until the task is aborted.
pub(crate) async fn serve_local(app: Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}
