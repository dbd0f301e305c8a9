//! `hookline consume`: every configured consumer group on every partition and, unless
//! `consumer.summaries` is off, the built-in summary group, until shutdown.

use hookline_shared::Context;
use hookline_shared::consumer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{AppError, ops};

/// Consumes as a consumer named for this process until `shutdown`, serving the operational
/// routes on `ops` when given; returns once every worker drained.
pub async fn run(
    ctx: &Context,
    ops: Option<TcpListener>,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    ops::spawn_if(ctx, ops, &shutdown)?;
    consumer::run_with_summaries(ctx, &consumer::consumer_name(), shutdown).await?;
    Ok(())
}
