//! `hookline serve`: the ingest router and the operational routes on one listener.

use std::sync::Arc;

use hookline_shared::Context;
use hookline_shared::ingest::{self, IngestState};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{AppError, ops};

/// Serves webhooks (and `/healthz`, `/readyz`, `/metrics`) on `listener` until `shutdown`,
/// then finishes the requests in flight. Logs `ingest listening` with the bound address, so
/// a caller that bound port 0 can tell where.
pub async fn run(
    ctx: &Context,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    // The recorder first: the state registers its counters at 0 as it is built.
    let ops = ops::router(ctx);
    let state = IngestState::new(&ctx.config, &ctx.redis, ctx.clock.clone())?;
    let app = ingest::router(Arc::new(state)).merge(ops);
    let address = listener.local_addr().map_err(AppError::Serve)?;
    tracing::info!(%address, "ingest listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(AppError::Serve)
}
