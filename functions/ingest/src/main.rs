//! The ingest Lambda function (behind a function URL): the shared ingest router, run by
//! `lambda_http`. Config comes from `HOOKLINE_CONFIG_YAML` (or `HOOKLINE_CONFIG`); clients are
//! built once per execution environment and shared by every invocation. With
//! `observability.otlp_endpoint`, each invocation's spans are exported before it returns.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;

use hookline_shared::Context;
use hookline_shared::ingest::{self, IngestState, PeerAddr};
use hookline_shared::telemetry;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

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

/// Serves invocations with the shared router until the runtime stops; the client address
/// (for `allow_ips`) is the function URL's `sourceIp`.
async fn run(ctx: &Context) -> Result<(), lambda_http::Error> {
    let state = IngestState::new(&ctx.config, &ctx.redis, ctx.clock.clone()).await?;
    let router = ingest::router(Arc::new(state));
    let app = tower::ServiceBuilder::new()
        .map_request(|mut request: Request| {
            if let Some(ip) = source_ip(&request) {
                request.extensions_mut().insert(PeerAddr(ip));
            }
            request
        })
        .map_future(|response| async move {
            let response = response.await;
            // A frozen execution environment exports nothing: the request's spans go now.
            telemetry::flush_async().await;
            response
        })
        .service(router);
    lambda_http::run(app).await
}

/// The function URL's `requestContext.http.sourceIp`.
fn source_ip(request: &Request) -> Option<std::net::IpAddr> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref()?.parse().ok(),
        _ => None,
    }
}
