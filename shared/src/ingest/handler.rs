//! `POST /webhooks/{source}`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;
use tracing::Span;
use tracing::field::Empty;
use uuid::Uuid;

use super::body::read_limited;
use super::{IngestError, IngestState, PeerAddr, Source};
use crate::dedup::{self, Appended, Unique};
use crate::event::{Encoding, Event};
use crate::metrics::{
    BLOOM_HITS, DEDUP_HITS, INGEST_DURATION, INGEST_REQUESTS, SPOOLED, UNKNOWN_SOURCE,
};
use crate::providers::{Inbound, Inspection, SignedIdentity};
use crate::spool::{Spool, Spooled};
use crate::streams::partition_of;
use crate::telemetry;

/// Handles one webhook in its `ingest` span — continuing the trace of the request's
/// `traceparent`, if it has a valid one — and records its outcome in the metrics.
pub(super) async fn ingest(
    State(state): State<Arc<IngestState>>,
    Path(source): Path<String>,
    request: Request,
) -> Response {
    let span = tracing::info_span!(
        "ingest",
        otel.kind = "server",
        source = Empty,
        status = Empty,
        event_id = Empty,
    );
    if let Some(traceparent) = request
        .headers()
        .get(telemetry::TRACEPARENT)
        .and_then(|v| v.to_str().ok())
    {
        telemetry::continue_trace(&span, traceparent);
    }
    let response = telemetry::traced(&span, || handle(&state, source, request)).await;
    span.record("status", response.status().as_u16());
    response
}

/// [`ingest`] inside its span.
async fn handle(state: &IngestState, source: String, request: Request) -> Response {
    let started = Instant::now();
    let (label, response) = match state.sources.get(&source) {
        Some(src) => {
            Span::current().record("source", src.name.as_str());
            let response = match accept(state, src, request).await {
                Ok(response) => response,
                Err(error) => {
                    log_refusal(src, &error);
                    error.into_response()
                }
            };
            (src.name.clone(), response)
        }
        None => (
            UNKNOWN_SOURCE.to_owned(),
            IngestError::UnknownSource.into_response(),
        ),
    };
    metrics::counter!(INGEST_REQUESTS, "source" => label, "status" => response.status().as_str().to_owned())
        .increment(1);
    metrics::histogram!(INGEST_DURATION).record(started.elapsed().as_secs_f64());
    response
}

/// Any other path: 404 with a JSON body.
pub(super) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))).into_response()
}

async fn accept(
    state: &IngestState,
    src: &Source,
    request: Request,
) -> Result<Response, IngestError> {
    if !src.allow_ips.is_empty() {
        let client = client_addr(state, &request);
        if !client.is_some_and(|ip| src.allow_ips.iter().any(|net| net.contains(ip))) {
            return Err(IngestError::ForbiddenIp);
        }
    }
    if let Some(limiter) = &state.limiter {
        admit(limiter)?;
    }
    let (parts, body) = request.into_parts();
    let read = read_limited(&parts.headers, body, src.limits.max_payload, &state.budget);
    let body = tokio::time::timeout(state.body_timeout, read)
        .await
        .map_err(|_| IngestError::RequestTimeout)??;
    let inbound = Inbound {
        headers: &parts.headers,
        body: &body.bytes,
    };
    let now = state.clock.now();
    let verified = src.provider.verify(
        &inbound,
        &src.keys,
        now.as_secs() as i64,
        src.limits.timestamp_tolerance,
    );
    if let Err(refused) = verified {
        // Junk spends its own bucket, never the one real deliveries draw from.
        admit(&src.invalid_limiter)?;
        return Err(refused.into());
    }
    if let Some(limiter) = &src.limiter {
        admit(limiter)?;
    }
    let mut inspection = src.provider.inspect(&inbound)?;
    check_header("event type", Some(&inspection.event_type))?;
    check_header("delivery id", inspection.delivery_id.as_deref())?;
    check_header("event type", inspection.signed.event_type.as_deref())?;
    check_header("event id", inspection.signed.id.as_deref())?;
    if let Some(challenge) = &inspection.challenge {
        return Ok((StatusCode::OK, Json(json!({"challenge": challenge}))).into_response());
    }
    let entity = inspection.entity.take();
    let signed = std::mem::take(&mut inspection.signed);
    let event = build_event(
        src,
        &parts.headers,
        inspection,
        body.bytes.clone(),
        now.as_millis() as u64,
    );
    Span::current().record("event_id", tracing::field::display(event.id.hyphenated()));
    // `body` (and its share of the budget) is held until the append is answered.
    let answer = append(state, src, (entity.as_deref(), &signed), event).await;
    drop(body);
    answer
}

/// One admission from `limiter`, or 429 with the seconds to wait.
fn admit(limiter: &super::ratelimit::SourceLimiter) -> Result<(), IngestError> {
    limiter
        .check()
        .map_err(|retry_after_secs| IngestError::RateLimited { retry_after_secs })
}

/// Refuses a stored header value over 256 bytes or with control characters.
fn check_header(what: &'static str, value: Option<&str>) -> Result<(), IngestError> {
    match value {
        Some(v) if v.len() > 256 || v.chars().any(char::is_control) => {
            Err(IngestError::BadHeader(what))
        }
        _ => Ok(()),
    }
}

/// The client: the transport's peer, or — when that peer is a trusted proxy — the
/// right-most `X-Forwarded-For` address that is not a trusted proxy.
fn client_addr(state: &IngestState, request: &Request) -> Option<IpAddr> {
    let PeerAddr(peer) = *request.extensions().get::<PeerAddr>()?;
    let trusted = |ip: IpAddr| state.trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| hop.trim().parse::<IpAddr>())
        .collect::<Result<_, _>>()
        .ok()?;
    hops.into_iter()
        .rev()
        .find(|ip| !trusted(*ip))
        .or(Some(peer))
}

fn build_event(
    src: &Source,
    headers: &HeaderMap,
    inspection: Inspection,
    payload: Bytes,
    received_at_ms: u64,
) -> Event {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Event {
        id: Uuid::now_v7(),
        tenant: src.tenant.clone(),
        source: src.name.clone(),
        provider: src.kind.as_str(),
        event_type: inspection.event_type,
        delivery_id: inspection.delivery_id,
        received_at_ms,
        content_type,
        headers: retained_headers(src, headers),
        encoding: Encoding::Identity,
        payload,
        // The request's span: the event's delivery continues its trace.
        traceparent: telemetry::traceparent_of(&Span::current()),
    }
}

/// The provider's retained headers as a JSON object (never signature or token headers: the
/// provider's list names none).
fn retained_headers(src: &Source, headers: &HeaderMap) -> String {
    let mut kept = serde_json::Map::new();
    for name in src.provider.retained_headers() {
        if let Some(value) = headers.get(*name).and_then(|v| v.to_str().ok()) {
            kept.insert((*name).to_owned(), value.into());
        }
    }
    serde_json::Value::Object(kept).to_string()
}

async fn append(
    state: &IngestState,
    src: &Source,
    (entity, signed): (Option<&str>, &SignedIdentity),
    event: Event,
) -> Result<Response, IngestError> {
    let identity = dedup::identity(&src.name, signed, &event.payload);
    let partition = partition_of(&src.tenant, &src.name, entity, state.partitions);
    let id = event.id;
    let unique = Unique {
        identity,
        window: src.limits.dedup_window,
        event,
    };
    if state.spool.is_none() && state.mirror.is_none() {
        return answer(src, id, append_traced(state, partition, unique).await);
    }
    // While the spool holds events, new ones queue behind them, so partitions drain in order.
    if let Some(spool) = &state.spool
        && spool.depth() > 0
    {
        return spooled(spool, src, Spooled { partition, unique }).await;
    }
    let kept = unique.clone();
    match (append_traced(state, partition, unique).await, &state.spool) {
        (Err(error), Some(spool)) => {
            tracing::debug!(source = %src.name, %error, "append failed; spooling");
            let record = Spooled {
                partition,
                unique: kept,
            };
            spooled(spool, src, record).await
        }
        (appended, _) => {
            let stored = matches!(
                appended,
                Ok(Appended::New { .. } | Appended::SuspectDelivered { .. })
            );
            if let (true, Some(mirror)) = (stored, &state.mirror) {
                mirror.copy(&kept.event).await;
            }
            answer(src, id, appended)
        }
    }
}

/// The append of one event in its `append` span (the wait for its batch's script call
/// included), a child of the request's.
async fn append_traced(
    state: &IngestState,
    partition: u16,
    unique: Unique,
) -> Result<Appended, crate::dedup::AppendError> {
    let span = tracing::info_span!("append", partition, outcome = Empty);
    let appended = telemetry::traced(&span, || state.appender.append(partition, unique)).await;
    let outcome = match &appended {
        Ok(Appended::New { .. }) => "new",
        Ok(Appended::SuspectDelivered { .. }) => "suspect_delivered",
        Ok(Appended::Suspect { .. }) => "suspect",
        Ok(Appended::Duplicate { .. }) => "duplicate",
        Err(_) => "failed",
    };
    span.record("outcome", outcome);
    appended
}

/// Keeps `record` in the spool durably and answers `202` with `hookline-spooled: true`,
/// or `503` when the spool cannot take it either.
async fn spooled(spool: &Spool, src: &Source, record: Spooled) -> Result<Response, IngestError> {
    let id = record.unique.event.id.hyphenated().to_string();
    match spool.put(&record).await {
        Ok(()) => {
            metrics::counter!(SPOOLED, "source" => src.name.clone()).increment(1);
            let mut response = (
                StatusCode::ACCEPTED,
                Json(json!({"id": id, "duplicate": false})),
            )
                .into_response();
            response
                .headers_mut()
                .insert("hookline-spooled", http::HeaderValue::from_static("true"));
            Ok(response)
        }
        Err(error) => {
            tracing::warn!(source = %src.name, %error, "neither Redis nor the spool took the event; answering 503");
            Err(IngestError::Unavailable)
        }
    }
}

/// The answer to an append.
fn answer(
    src: &Source,
    id: uuid::Uuid,
    appended: Result<Appended, crate::dedup::AppendError>,
) -> Result<Response, IngestError> {
    match appended {
        Ok(Appended::New { .. }) => {
            let id = id.hyphenated().to_string();
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"id": id, "duplicate": false})),
            )
                .into_response())
        }
        Ok(Appended::SuspectDelivered { .. }) => {
            bloom_hit(src, "deliver");
            let id = id.hyphenated().to_string();
            let body = json!({"id": id, "duplicate": false, "suspected_duplicate": true});
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
        Ok(Appended::Suspect { .. }) => {
            bloom_hit(src, "hold");
            Ok((StatusCode::OK, Json(json!({"id": null, "duplicate": true}))).into_response())
        }
        Ok(Appended::Duplicate { original_id }) => {
            metrics::counter!(DEDUP_HITS, "source" => src.name.clone(), "kind" => "window")
                .increment(1);
            Ok((
                StatusCode::OK,
                Json(json!({"id": original_id, "duplicate": true})),
            )
                .into_response())
        }
        Err(error) => {
            tracing::debug!(source = %src.name, %error, "append failed; answering 503");
            Err(IngestError::Unavailable)
        }
    }
}

fn log_refusal(src: &Source, error: &IngestError) {
    match error {
        // Logged with its cause where it happened, or too frequent to log one by one: the
        // request counter has them by status.
        IngestError::Unavailable | IngestError::Busy | IngestError::RateLimited { .. } => {}
        _ => tracing::info!(source = %src.name, error = %error, "webhook refused"),
    }
}

/// Counts a bloom-filter hit of `src`, held or delivered (`on_hit`).
fn bloom_hit(src: &Source, on_hit: &'static str) {
    metrics::counter!(DEDUP_HITS, "source" => src.name.clone(), "kind" => "bloom").increment(1);
    metrics::counter!(BLOOM_HITS, "source" => src.name.clone(), "on_hit" => on_hit).increment(1);
}
