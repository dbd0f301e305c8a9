//! `/healthz`, `/readyz` and `/metrics` on their own listener (`observability.listen`) for
//! every role, and on the public port of `serve` only when there is no such listener. With
//! `console.enabled`, the own listener also serves the console at `/console`.

use std::net::SocketAddr;

use axum::Router;
use hookline_shared::Context;
use hookline_shared::ingest::ops::{self, Readiness};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::AppError;
use crate::console::Console;

/// The operational routes over the process's Redis and metrics recorder; starts the
/// background readiness check, which runs until `shutdown`.
pub fn router(ctx: &Context, shutdown: &CancellationToken) -> Router {
    let ready = Readiness::spawn(ctx.redis.shared(), shutdown.clone());
    ops::router(ready, hookline_shared::metrics::prometheus())
}

/// [`spawn`] on `listener` when there is one (`observability.listen` is set).
pub fn spawn_if(
    ctx: &Context,
    listener: Option<TcpListener>,
    shutdown: &CancellationToken,
) -> Result<(), AppError> {
    match listener {
        Some(listener) => spawn(ctx, router(ctx, shutdown), listener, shutdown.clone()),
        None => Ok(()),
    }
}

/// Serves `app` — with the console when `console.enabled` — on `listener` in the background
/// until `shutdown`. Logs `health and metrics listening` with the bound address.
pub fn spawn(
    ctx: &Context,
    app: Router,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    let app = match ctx.config.console.enabled {
        true => app.merge(Console::new(ctx.clone(), &shutdown)?.router()),
        false => app,
    };
    let address = listener.local_addr().map_err(AppError::Serve)?;
    tracing::info!(%address, "health and metrics listening");
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "health and metrics server failed");
        }
    });
    Ok(())
}
