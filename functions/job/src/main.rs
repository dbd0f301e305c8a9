//! The scheduled-job Lambda function: EventBridge schedules invoke it with `{"job": NAME}`
//! (see `hookline_jobs::invoke`); it runs the same job code as `hookline job NAME` and
//! `hookline schedule`, under the same lock, and writes its metrics as CloudWatch EMF lines
//! (namespace `HOOKLINE_METRICS_NAMESPACE`, default `hookline`). Config comes from
//! `HOOKLINE_CONFIG_YAML` (or `HOOKLINE_CONFIG`), as for the ingest function.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use hookline_jobs::invoke::{self, Metrics};
use hookline_shared::Context;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let ctx = match Context::lambda().await {
        Ok(ctx) => ctx,
        Err(code) => return code,
    };
    let metrics = Metrics {
        namespace: std::env::var("HOOKLINE_METRICS_NAMESPACE")
            .unwrap_or_else(|_| "hookline".into()),
    };
    let (ctx, metrics) = (&ctx, &metrics);
    let handler = service_fn(|event: LambdaEvent<Value>| async move {
        let deadline = event.context.deadline();
        let handled = invoke::handle(ctx, event.payload, deadline, metrics).await;
        // A frozen execution environment exports nothing: the run's span goes now.
        hookline_shared::telemetry::flush_async().await;
        handled.map_err(|e| Diagnostic {
            error_type: e.error_type().into(),
            error_message: e.to_string(),
        })
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "job function failed");
            ExitCode::FAILURE
        }
    }
}
