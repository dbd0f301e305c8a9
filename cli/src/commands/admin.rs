//! The small operator commands: `check-config`, `claim-pending`, `reset-circuit-breaker` and
//! `healthcheck`.

use std::time::Duration;

use anyhow::Context as _;
use hookline_shared::Context;
use hookline_shared::config::Config;
use hookline_shared::consumer;
use hookline_shared::streams::Keys;
use serde_json::json;

use super::audit::Auditor;
use crate::CliError;

/// Prints what a valid config configures (validation itself happened on loading).
pub fn check_config(config: &Config) {
    println!(
        "config OK: {} source(s) [{}], {} partition(s), {} consumer group(s); Redis: {}",
        config.sources.len(),
        config
            .sources
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        config.streams.partitions,
        config.consumer.groups.len(),
        config.redis.describe()
    );
}

/// Delivers now every entry a consumer left pending past its group's `claim_idle`.
pub async fn claim_pending(ctx: &Context, auditor: &Auditor) -> Result<(), CliError> {
    let claimed = consumer::claim_pending(ctx, &consumer::consumer_name()).await;
    let taken = auditor
        .record(
            ctx,
            "claim-pending",
            json!({}),
            claimed,
            |n| json!({ "delivered": n }),
        )
        .await?;
    println!("claimed and delivered {taken} pending entr(ies)");
    Ok(())
}

/// Closes the circuit breaker of `destination` (a sink URL or its origin).
pub async fn reset_circuit_breaker(
    ctx: &Context,
    destination: &str,
    auditor: &Auditor,
) -> Result<(), CliError> {
    let (destination, removed) = reset_breaker(ctx, destination, auditor).await?;
    match removed {
        false => println!("{destination}: circuit already closed"),
        true => println!("{destination}: circuit reset to closed"),
    }
    Ok(())
}

/// Closes the circuit breaker of `destination`, recorded by `auditor`: the destination's
/// origin, and whether it was open (false: already closed).
pub async fn reset_breaker(
    ctx: &Context,
    destination: &str,
    auditor: &Auditor,
) -> Result<(String, bool), CliError> {
    let destination = hookline_shared::sinks::destination(destination)
        .map_err(|why| CliError::Usage(format!("--destination: {why}")))?;
    let keys = Keys::new(ctx.config.streams.prefix.clone());
    let reset =
        hookline_shared::redis::breaker::reset(&mut ctx.redis.shared(), &keys, &destination)
            .await
            .context("cannot reset the circuit breaker");
    let args = json!({ "destination": destination });
    let removed = auditor
        .record(
            ctx,
            "reset-circuit-breaker",
            args,
            reset,
            |removed| json!({ "breakers_reset": u8::from(*removed) }),
        )
        .await?;
    Ok((destination, removed))
}

/// Succeeds when `url` answers 2xx within `timeout`: a container healthcheck for images
/// without a shell or curl.
pub async fn healthcheck(url: &str, timeout: Duration) -> Result<(), CliError> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .context("cannot build the HTTP client")?;
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(anyhow::anyhow!("GET {url}: {status}").into());
    }
    println!("{url}: {status}");
    Ok(())
}
