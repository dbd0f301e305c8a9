//! The ingest Lambda function (behind a function URL): the shared ingest router, run by
//! `lambda_http`. Config comes from `HOOKLINE_CONFIG_YAML` (or `HOOKLINE_CONFIG`); clients are
//! built once per execution environment and shared by every invocation.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;

use hookline_shared::Context;
use hookline_shared::ingest::{self, IngestState};

/// mimalloc: the request path allocates many small, short-lived buffers, which glibc's
/// allocator handled at ~15% of ingest CPU in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let ctx = match Context::lambda().await {
        Ok(ctx) => ctx,
        Err(code) => return code,
    };
    match run(&ctx).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "ingest function failed");
            ExitCode::FAILURE
        }
    }
}

/// Serves invocations with the shared router until the runtime stops.
async fn run(ctx: &Context) -> Result<(), lambda_http::Error> {
    let state = IngestState::new(&ctx.config, &ctx.redis, ctx.clock.clone())?;
    lambda_http::run(ingest::router(Arc::new(state))).await
}
