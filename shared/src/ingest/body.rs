//! Reading a request body with a size limit that holds while the bytes arrive.
//!
//! A declared `Content-Length` over the limit is refused before anything is read; a chunked
//! (or lying) body is counted as it streams and refused the moment it passes the limit, so
//! an oversized request never sits whole in memory.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::IngestError;

/// Reads `body` whole if it is at most `max` bytes.
pub async fn read_limited(headers: &HeaderMap, body: Body, max: u64) -> Result<Bytes, IngestError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(IngestError::PayloadTooLarge);
    }
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(IngestError::PayloadTooLarge)
        }
        Err(_) => Err(IngestError::Malformed(
            "the request body could not be read".into(),
        )),
    }
}
