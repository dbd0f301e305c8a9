//! Log set-up — `tracing` with JSON lines in Lambda and containers, readable text on a
//! terminal — and traces: with `observability.otlp_endpoint` set, hookline's spans are
//! exported over OTLP/HTTP (JSON) by a batch exporter, sampled by trace id
//! (`observability.trace_sample_ratio`).
//!
//! A webhook's trace: `ingest` (the request, continuing an incoming W3C `traceparent`) with
//! its child `append`; the event is stored with the `traceparent` of `ingest`
//! ([`traceparent_of`]), so the consumer's `deliver` span continues the same trace hours later
//! ([`context_from_traceparent`]), and the HTTP sink sends the `traceparent` of `deliver` to the
//! receiver. Jobs emit one `job` span per run.
//!
//! Spans carry names, ids, counts and outcomes only: never a payload, a header value or a
//! secret. Log lines stay as they were: spans go to the exporter alone, and without an
//! endpoint no span is even built.

use std::io::IsTerminal;
use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{FilterExt, Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{ConfigError, LogFormat, ObservabilityConfig};

/// Libraries whose info lines are about their own internals, not about hookline's work.
const QUIET: &str = "tokio_cron_scheduler=warn";

/// The W3C trace context header, and the stream field that keeps an event's (docs/SPEC.md §5).
pub const TRACEPARENT: &str = "traceparent";

/// The process's tracer provider, when it exports traces: what [`flush`] and [`shutdown`]
/// reach.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// A boxed layer over the plain registry, so that JSON and text logs and the optional
/// exporter stack alike.
type Boxed = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber with logs only. `RUST_LOG` overrides `level`. Safe to call
/// twice (the second call does nothing), so tests may call it freely.
pub fn init(format: LogFormat, level: &str) {
    let _ = install(format, level, None);
}

/// Installs the global subscriber: logs as `format` and `observability.log_level` say, and,
/// with `observability.otlp_endpoint`, traces exported as service `role` (`serve`,
/// `consume`, `schedule`, `job`, `dev`, `lambda`). Call [`shutdown`] before the process
/// exits (and [`flush`] before a Lambda invocation returns), or the last spans are lost.
/// Safe to call twice: the second call changes nothing.
pub fn init_with_traces(
    observability: &ObservabilityConfig,
    format: LogFormat,
    role: &str,
) -> Result<(), ConfigError> {
    let provider = match &observability.otlp_endpoint {
        Some(endpoint) if PROVIDER.get().is_none() => {
            Some(provider(endpoint, observability.sample_ratio(), role)?)
        }
        _ => None,
    };
    let installed = install(format, &observability.log_level, provider.clone());
    if let (true, Some(provider)) = (installed, provider) {
        let _ = PROVIDER.set(provider);
    }
    Ok(())
}

/// Builds the subscriber; `false` when one was installed already.
fn install(format: LogFormat, level: &str, traces: Option<SdkTracerProvider>) -> bool {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{level},{QUIET}")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Log lines are events: spans are for the exporter only, so lines read as before and a
    // process without traces builds no span at all.
    let events_only = filter.and(filter_fn(|meta| meta.is_event()));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let logs: Boxed = if json {
        logs.json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_filter(events_only)
            .boxed()
    } else {
        logs.with_filter(events_only).boxed()
    };
    let mut layers = vec![logs];
    if let Some(provider) = traces {
        // hookline's own spans and the log lines inside them (as span events), whatever the
        // log level: a quiet log should not cut traces short.
        let ours = Targets::new()
            .with_target("hookline_shared", tracing::Level::INFO)
            .with_target("hookline_jobs", tracing::Level::INFO)
            .with_target("hookline_cli", tracing::Level::INFO);
        let exported = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("hookline"))
            .with_filter(ours)
            .boxed();
        layers.push(exported);
    }
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_ok()
}

/// The tracer provider: a batch exporter to `{endpoint}/v1/traces` (OTLP/HTTP, JSON) and a
/// sampler keeping `ratio` of the trace ids — of every trace, including those an incoming
/// `traceparent` marks sampled, so every process decides alike on the same trace id.
fn provider(endpoint: &str, ratio: f64, role: &str) -> Result<SdkTracerProvider, ConfigError> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(url)
        .build()
        .map_err(|e| ConfigError::at("observability.otlp_endpoint", e.to_string()))?;
    let mut resource = Resource::builder()
        .with_service_name(role.to_owned())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.namespace",
            "hookline",
        ))
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ));
    if let Ok(function) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") {
        resource = resource.with_attribute(opentelemetry::KeyValue::new("faas.name", function));
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::TraceIdRatioBased(ratio))
        .with_resource(resource.build())
        .build())
}

/// Whether this process exports traces.
pub fn exporting() -> bool {
    PROVIDER.get().is_some()
}

/// [`flush`] from async code: on a blocking thread, and only when traces are exported.
pub async fn flush_async() {
    if exporting() {
        let _ = tokio::task::spawn_blocking(flush).await;
    }
}

/// Exports every finished span now; waits for the exporter (blocking: from async code, call it
/// in `spawn_blocking`). What a Lambda invocation does before it returns, since a frozen
/// execution environment exports nothing. Does nothing without traces.
pub fn flush() {
    if let Some(provider) = PROVIDER.get()
        && let Err(error) = provider.force_flush()
    {
        tracing::warn!(%error, "spans could not be exported");
    }
}

/// Exports what is left and stops the exporter: what every role does as it exits. Blocking,
/// like [`flush`]. Does nothing without traces.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get()
        && let Err(error) = provider.shutdown()
    {
        tracing::warn!(%error, "spans could not be exported at exit");
    }
}

/// The trace context a W3C `traceparent` value names; an empty context (a new trace) when the
/// value is empty or not a valid `traceparent`.
pub fn context_from_traceparent(value: &str) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&Header(value))
}

/// The W3C `traceparent` value of `span`'s trace context, when it belongs to a trace (with
/// traces exported; sampled or not, as the flags say).
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut written = Written(None);
    TraceContextPropagator::new().inject_context(&context, &mut written);
    written.0
}

/// Runs the future `make` builds inside `span`, or, when the span is disabled (no exporter),
/// as it is: `Instrumented` would move the future into its wrapper, and a request's future is
/// large enough that those copies cost ~10% of ingest (bench/ingest-instructions.sh). Taking a
/// builder rather than the future keeps the future built in place.
pub async fn traced<F: std::future::Future>(
    span: &tracing::Span,
    make: impl FnOnce() -> F,
) -> F::Output {
    use tracing::Instrument;
    match span.is_disabled() {
        true => make().await,
        false => make().instrument(span.clone()).await,
    }
}

/// Makes `span` continue the trace of `traceparent` (an empty or invalid value leaves it a new
/// trace's root). Call it before the span is first entered.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    if span.is_disabled() || traceparent.is_empty() {
        return;
    }
    let parent = context_from_traceparent(traceparent);
    if parent.span().span_context().is_valid() {
        // Fails only when no exporter layer is installed: then there is no trace to continue.
        let _ = span.set_parent(parent);
    }
}

/// The one header the trace context propagator reads.
struct Header<'a>(&'a str);

impl Extractor for Header<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

/// The one header the trace context propagator writes.
struct Written(Option<String>);

impl Injector for Written {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_read_and_an_invalid_one_starts_a_new_trace() {
        let context =
            context_from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let span = context.span();
        let read = span.span_context();
        assert!(read.is_valid() && read.is_remote() && read.is_sampled());
        assert_eq!(
            read.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        for junk in ["", "00-zz-00f067aa0ba902b7-01", "not a traceparent"] {
            let context = context_from_traceparent(junk);
            assert!(!context.span().span_context().is_valid(), "{junk:?}");
        }
    }

    #[test]
    fn without_an_exporter_a_span_has_no_traceparent() {
        let span = tracing::info_span!("ingest");
        continue_trace(
            &span,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        assert_eq!(traceparent_of(&span), None);
    }
}
