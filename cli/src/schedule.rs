//! `hookline schedule`: the lifecycle jobs on their `lifecycle.schedule`, one run per tick
//! across any number of replicas (see `hookline_jobs::schedule`), until shutdown.

use hookline_shared::Context;
use hookline_shared::consumer::consumer_name;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{AppError, ops};

/// Runs the scheduler as a runner named for this process until `shutdown`, serving the
/// operational routes on `ops` when given.
pub async fn run(
    ctx: &Context,
    ops: Option<TcpListener>,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    ops::spawn_if(ctx, ops, &shutdown)?;
    hookline_jobs::schedule::run(ctx, consumer_name(), shutdown).await?;
    Ok(())
}
