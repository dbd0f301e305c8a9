//! Any HMAC sender, as configured: the signature header, hash (sha1/sha256/sha512),
//! encoding (hex/base64) and an optional prefix. Event type from `X-Event-Type` (else
//! `unknown`), delivery id from `X-Delivery-Id`.

use std::time::Duration;

use super::sig::{self, HeaderSignature};
use super::{HmacOptions, Inbound, Inspection, Provider, ProviderError};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct GenericHmac {
    /// `None` when built without options: every request is refused (fail closed).
    sig: Option<HeaderSignature>,
}

impl GenericHmac {
    pub fn new(options: Option<HmacOptions>) -> Self {
        Self {
            sig: options.map(|o| HeaderSignature {
                header: o.header.as_str().to_owned().into(),
                algorithm: o.algorithm,
                encoding: o.encoding,
                prefix: o.prefix.unwrap_or_default().into(),
                separator: None,
            }),
        }
    }
}

/// Event type and delivery id of senders without a scheme of their own (`hmac`, `none`).
pub(super) fn inspect_generic(req: &Inbound<'_>) -> Inspection {
    Inspection::new(
        sig::first_header(req, &["x-event-type"]),
        sig::first_header(req, &["x-delivery-id"]),
    )
}

/// Headers kept for senders without a scheme of their own.
pub(super) const GENERIC_HEADERS: &[&str] = &["x-event-type", "x-delivery-id", "user-agent"];

impl Provider for GenericHmac {
    fn verify(
        &self,
        req: &Inbound<'_>,
        keys: &[Secret],
        _: i64,
        _: Duration,
    ) -> Result<(), ProviderError> {
        self.sig
            .as_ref()
            .ok_or(ProviderError::InvalidSignature)?
            .verify(req, keys)
    }

    fn inspect(&self, req: &Inbound<'_>) -> Result<Inspection, ProviderError> {
        Ok(inspect_generic(req))
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        GENERIC_HEADERS
    }
}
