//! Reading a request body within a size limit and the process's memory budget, both holding
//! while the bytes arrive.
//!
//! A declared `Content-Length` over the limit is refused before anything is read; a chunked
//! (or lying) body is counted as it streams and refused the moment it passes the limit, so
//! an oversized request never sits whole in memory. Every byte also holds a permit of the
//! budget (`server.max_in_flight_bytes`) until the request is answered: a declared length is
//! taken at once, a chunked body chunk by chunk, and a request that finds too few permits is
//! refused with 503 at once instead of being buffered.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::IngestError;

/// A body read whole, with the budget it holds until dropped.
#[derive(Debug)]
pub struct HeldBody {
    /// The bytes as received (the only copy: one chunk as it came, several joined as they
    /// arrived).
    pub bytes: Bytes,
    /// The body's share of the budget.
    _held: Option<OwnedSemaphorePermit>,
}

/// Reads `body` whole if it is at most `max` bytes and the budget has room for it.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    max: u64,
    budget: &Arc<Semaphore>,
) -> Result<HeldBody, IngestError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(IngestError::PayloadTooLarge);
    }
    let mut held = match declared {
        Some(0) | None => None,
        Some(len) => Some(take(budget, len)?),
    };
    // One chunk is kept as it came (no copy); from the second on, chunks are appended to one
    // buffer as they arrive and dropped, so a body never sits in memory twice.
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut total: u64 = 0;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|_| IngestError::Malformed("the request body could not be read".into()))?;
        let Ok(chunk) = frame.into_data() else {
            continue; // trailers
        };
        total += chunk.len() as u64;
        if total > max {
            return Err(IngestError::PayloadTooLarge);
        }
        if declared.is_none_or(|len| total > len) {
            // Chunked, or more than declared: each new byte takes its permit now.
            let more = take(budget, chunk.len() as u64)?;
            match &mut held {
                Some(permit) => permit.merge(more),
                None => held = Some(more),
            }
        }
        match (&mut joined, first.take()) {
            (Some(buffer), _) => buffer.extend_from_slice(&chunk),
            (None, None) => first = Some(chunk),
            (None, Some(earlier)) => {
                let capacity = declared.map_or(2 * total, |len| len.max(total));
                let mut buffer = BytesMut::with_capacity(capacity as usize);
                buffer.extend_from_slice(&earlier);
                buffer.extend_from_slice(&chunk);
                joined = Some(buffer);
            }
        }
    }
    let bytes = match (joined, first) {
        (Some(buffer), _) => buffer.freeze(),
        (None, Some(only)) => only,
        (None, None) => Bytes::new(),
    };
    Ok(HeldBody { bytes, _held: held })
}

/// `bytes` permits of the budget now, or [`IngestError::Busy`].
fn take(budget: &Arc<Semaphore>, bytes: u64) -> Result<OwnedSemaphorePermit, IngestError> {
    let permits = u32::try_from(bytes).map_err(|_| IngestError::Busy)?;
    budget
        .clone()
        .try_acquire_many_owned(permits)
        .map_err(|_| IngestError::Busy)
}
