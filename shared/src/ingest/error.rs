//! The ingest outcomes that are not a success, mapped to the contract's status and code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why a webhook was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No source with that name is configured.
    #[error("unknown source")]
    UnknownSource,
    /// Signature missing or wrong.
    #[error("invalid signature")]
    InvalidSignature,
    /// Signed timestamp outside the tolerance.
    #[error("stale timestamp")]
    StaleTimestamp,
    /// Body over the source's `max_payload`.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body did not arrive whole within `server.body_timeout`.
    #[error("request body timed out")]
    RequestTimeout,
    /// Body or a required header unreadable; the detail never quotes the payload.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// The source's rate limit is exhausted for this many seconds.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until a request would be accepted.
        retry_after_secs: u64,
    },
    /// Redis did not acknowledge the append in time.
    #[error("redis unavailable")]
    Unavailable,
    /// The process holds `server.max_in_flight_bytes` of bodies already.
    #[error("too many bytes in flight")]
    Busy,
    /// The client's address is not in the source's `allow_ips`.
    #[error("client address not allowed")]
    ForbiddenIp,
    /// A delivery id or event type over 256 bytes or with control characters.
    #[error("bad {0}")]
    BadHeader(&'static str),
}

impl IngestError {
    /// The HTTP status of this outcome.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownSource => StatusCode::NOT_FOUND,
            Self::InvalidSignature | Self::StaleTimestamp => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::ForbiddenIp => StatusCode::FORBIDDEN,
            Self::BadHeader(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The `error` code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownSource => "unknown_source",
            Self::InvalidSignature => "invalid_signature",
            Self::StaleTimestamp => "stale_timestamp",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::Malformed(_) => "malformed_payload",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Busy => "busy",
            Self::ForbiddenIp => "forbidden_ip",
            Self::BadHeader(_) => "bad_header",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::Unavailable | Self::Busy => Some(1),
            _ => None,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let body = match &self {
            Self::Malformed(detail) => json!({"error": self.code(), "detail": detail}),
            Self::BadHeader(what) => {
                json!({"error": self.code(), "detail": format!("{what} over 256 bytes or with control characters")})
            }
            _ => json!({"error": self.code()}),
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<crate::providers::ProviderError> for IngestError {
    fn from(e: crate::providers::ProviderError) -> Self {
        use crate::providers::ProviderError as P;
        match e {
            P::InvalidSignature => Self::InvalidSignature,
            P::StaleTimestamp => Self::StaleTimestamp,
            P::Malformed(detail) => Self::Malformed(detail),
        }
    }
}
