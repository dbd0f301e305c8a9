//! Linear: `Linear-Signature: HEX(HMAC-SHA256(secret, body))`; event type in
//! `Linear-Event`; delivery id in `Linear-Delivery`.

use std::time::Duration;

use super::sig::{self, HeaderSignature};
use super::{HmacAlgorithm, Inbound, Inspection, Provider, ProviderError, SignatureEncoding};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct Linear;

const SIGNATURE: HeaderSignature = HeaderSignature::fixed(
    "linear-signature",
    HmacAlgorithm::Sha256,
    SignatureEncoding::Hex,
    "",
    None,
);

impl Provider for Linear {
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
            sig::first_header(req, &["linear-event"]),
            sig::first_header(req, &["linear-delivery"]),
        ))
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        &["linear-event", "linear-delivery", "user-agent"]
    }
}
