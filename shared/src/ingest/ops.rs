//! Operational routes: `/healthz` (process alive), `/readyz` (Redis reachable and a writable
//! master: after a failover a demoted server still answers `PING`) and `/metrics`
//! (Prometheus text format).
//!
//! Readiness is checked in the background, once a second, and `/readyz` answers from the
//! last result: a probe (or a flood of them) never costs a Redis round trip per request. The
//! same check sets `hookline_redis_up`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::redis::{RedisConn, server};

/// How often readiness is checked, and how long one check may take.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Whether the process can write to Redis, as last checked.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Checks `conn` now and then every second until `shutdown`.
    pub fn spawn(conn: RedisConn, shutdown: CancellationToken) -> Self {
        let ready = Self::default();
        let state = ready.clone();
        tokio::spawn(async move {
            let mut conn = conn;
            loop {
                let up = matches!(
                    tokio::time::timeout(CHECK_EVERY, server::is_writable(&mut conn)).await,
                    Ok(Ok(true))
                );
                state.0.store(up, Ordering::Relaxed);
                metrics::gauge!(crate::metrics::REDIS_UP).set(if up { 1.0 } else { 0.0 });
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(CHECK_EVERY) => {}
                }
            }
        });
        ready
    }

    /// The last result.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// `/healthz` alone: what the public port answers besides webhooks when the operational
/// routes have a listener of their own.
pub fn health() -> Router {
    Router::new().route("/healthz", get(healthy))
}

async fn healthy() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"status": "ok"}))
}

#[derive(Clone)]
struct Ops {
    ready: Readiness,
    metrics: PrometheusHandle,
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router(ready: Readiness, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthy))
        .route("/readyz", get(answer_ready))
        .route("/metrics", get(render))
        .with_state(Ops { ready, metrics })
}

async fn answer_ready(State(ops): State<Ops>) -> Response {
    match ops.ready.is_ready() {
        true => axum::Json(json!({"status": "ready"})).into_response(),
        false => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            axum::Json(json!({"error": "unavailable"})),
        )
            .into_response(),
    }
}

async fn render(State(ops): State<Ops>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ops.metrics.render(),
    )
        .into_response()
}
