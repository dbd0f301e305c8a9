//! Operational routes of container mode: `/healthz` (process alive), `/readyz` (Redis
//! reachable and a writable master: after a failover a demoted server still answers `PING`)
//! and `/metrics` (Prometheus text format, with `hookline_redis_up` measured at each scrape).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::redis::{RedisConn, server};

/// How long `/readyz` waits for Redis to answer `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Ops {
    conn: RedisConn,
    metrics: PrometheusHandle,
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router(conn: RedisConn, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/readyz", get(ready))
        .route("/metrics", get(render))
        .with_state(Ops { conn, metrics })
}

async fn ready(State(ops): State<Ops>) -> Response {
    let mut conn = ops.conn;
    match tokio::time::timeout(READY_TIMEOUT, server::is_writable(&mut conn)).await {
        Ok(Ok(true)) => axum::Json(json!({"status": "ready"})).into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            axum::Json(json!({"error": "unavailable"})),
        )
            .into_response(),
    }
}

/// Renders the metrics, first setting `hookline_redis_up` from a `PING`, so the gauge is as
/// fresh as the scrape.
async fn render(State(ops): State<Ops>) -> Response {
    let mut conn = ops.conn;
    let up = matches!(
        tokio::time::timeout(READY_TIMEOUT, server::ping(&mut conn)).await,
        Ok(Ok(()))
    );
    metrics::gauge!(crate::metrics::REDIS_UP).set(if up { 1.0 } else { 0.0 });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ops.metrics.render(),
    )
        .into_response()
}
