//! `hookline serve`: the ingest router and the operational routes on one listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use hookline_shared::config::Config;
use hookline_shared::ingest::{self, IngestState};
use hookline_shared::redis::RedisConn;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn run(
    config: &Config,
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let conn = RedisConn::open(&config.redis).context("cannot set up the Redis connection")?;
    let state = Arc::new(IngestState::new(config, conn.clone())?);
    let app = ingest::router(state).merge(ingest::ops::router(
        conn,
        hookline_shared::metrics::prometheus(),
    ));
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, "ingest listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("server failed")
}

/// Serves `/healthz`, `/readyz` and `/metrics` on `listen` until `shutdown`, for roles without
/// an HTTP server of their own (`observability.listen`).
pub async fn spawn_ops(
    config: &Config,
    listen: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let conn = RedisConn::open(&config.redis).context("cannot set up the Redis connection")?;
    let app = ingest::ops::router(conn, hookline_shared::metrics::prometheus());
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, "health and metrics listening");
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "health and metrics server failed");
        }
    });
    Ok(())
}

/// A token cancelled on SIGTERM or Ctrl-C, for every part of the process to stop on.
pub fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        cancel.cancel();
    });
    token
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}
