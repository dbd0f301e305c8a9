//! Shopify: `X-Shopify-Hmac-Sha256: BASE64(HMAC-SHA256(secret, body))`; event type in
//! `X-Shopify-Topic`; delivery id `X-Shopify-Event-Id`, else `X-Shopify-Webhook-Id`.

use std::time::Duration;

use super::sig::{self, HeaderSignature};
use super::{HmacAlgorithm, Inbound, Inspection, Provider, ProviderError, SignatureEncoding};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct Shopify;

const SIGNATURE: HeaderSignature = HeaderSignature::fixed(
    "x-shopify-hmac-sha256",
    HmacAlgorithm::Sha256,
    SignatureEncoding::Base64,
    "",
    None,
);

impl Provider for Shopify {
    fn verify(
        &self,
        req: &Inbound<'_>,
        keys: &[Secret],
        _: i64,
        _: Duration,
    ) -> Result<(), ProviderError> {
        SIGNATURE.verify(req, keys)
    }

    fn inspect(&self, req: &Inbound<'_>) -> Result<Inspection, ProviderError> {
        Ok(Inspection::new(
            sig::first_header(req, &["x-shopify-topic"]),
            sig::first_header(req, &["x-shopify-event-id", "x-shopify-webhook-id"]),
        ))
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        &[
            "x-shopify-topic",
            "x-shopify-shop-domain",
            "x-shopify-event-id",
            "x-shopify-webhook-id",
            "x-shopify-api-version",
            "x-shopify-triggered-at",
        ]
    }
}
