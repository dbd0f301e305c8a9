//! `hookline serve`: the ingest router on the public listener (with the bounds of
//! [`front_door`](crate::front_door)), the operational routes on their own listener when
//! `observability.listen` is set — else on the public one too — and, with `spool.path`, the
//! drainer that moves spooled events into Redis once it takes writes again.

use std::sync::Arc;

use hookline_shared::Context;
use hookline_shared::dedup::AppendOptions;
use hookline_shared::ingest::{self, IngestState};
use hookline_shared::spool::drain::{Drainer, Target};
use hookline_shared::streams::Keys;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::front_door::{self, Bounds};
use crate::{AppError, ops};

/// Serves webhooks on `listener` until `shutdown`, then finishes the requests in flight. With
/// `ops`, `/readyz` and `/metrics` are served there and not on `listener` (which keeps
/// `/healthz`). Logs `ingest listening` with the bound address, so a caller that bound port
/// 0 can tell where.
pub async fn run(
    ctx: &Context,
    listener: TcpListener,
    ops: Option<TcpListener>,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    // The recorder first: the state registers its counters at 0 as it is built.
    let ops_routes = ops::router(ctx, &shutdown);
    let state = IngestState::new(&ctx.config, &ctx.redis, ctx.clock.clone()).await?;
    if let Some(spool) = state.spool().and_then(|s| s.disk()) {
        let drainer = Drainer {
            spool: spool.clone(),
            target: Target {
                conn: ctx.redis.dedicated()?,
                keys: Keys::new(ctx.config.streams.prefix.clone()),
                options: AppendOptions::from_config(&ctx.config),
                mirror: state.mirror().cloned(),
            },
            clock: ctx.clock.clone(),
        };
        tokio::spawn(drainer.run(shutdown.clone()));
    }
    let webhooks = ingest::router(Arc::new(state));
    let app = match ops {
        Some(ops_listener) => {
            ops::spawn(ctx, ops_routes, ops_listener, shutdown.clone())?;
            webhooks.merge(ingest::ops::health())
        }
        None => webhooks.merge(ops_routes),
    };
    let address = listener.local_addr().map_err(AppError::Serve)?;
    tracing::info!(%address, "ingest listening");
    front_door::serve(listener, app, Bounds::from(&ctx.config.server), shutdown)
        .await
        .map_err(AppError::Serve)
}
