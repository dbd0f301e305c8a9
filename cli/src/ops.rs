//! `/healthz`, `/readyz` and `/metrics` for roles without an HTTP server of their own
//! (`observability.listen` of `consume` and `schedule`).

use axum::Router;
use hookline_shared::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::AppError;

/// The operational routes over the process's Redis and metrics recorder.
pub fn router(ctx: &Context) -> Router {
    hookline_shared::ingest::ops::router(ctx.redis.shared(), hookline_shared::metrics::prometheus())
}

/// [`spawn`] on `listener` when there is one (`observability.listen` is set).
pub fn spawn_if(
    ctx: &Context,
    listener: Option<TcpListener>,
    shutdown: &CancellationToken,
) -> Result<(), AppError> {
    match listener {
        Some(listener) => spawn(ctx, listener, shutdown.clone()),
        None => Ok(()),
    }
}

/// Serves [`router`] on `listener` in the background until `shutdown`. Logs `health and
/// metrics listening` with the bound address.
pub fn spawn(
    ctx: &Context,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    let app = router(ctx);
    let address = listener.local_addr().map_err(AppError::Serve)?;
    tracing::info!(%address, "health and metrics listening");
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
