//! Linear: `Linear-Signature: HEX(HMAC-SHA256(secret, body))`; event type in
//! `Linear-Event`; delivery id in `Linear-Delivery`.

use std::time::Duration;

use super::sig::{self, HeaderSignature};
use super::{HmacAlgorithm, Inbound, Inspection, Provider, ProviderError, SignatureEncoding};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct Linear;

/// The part of a Linear body the identity needs.
#[derive(serde::Deserialize)]
struct Kind {
    #[serde(rename = "type")]
    kind: Option<String>,
    action: Option<String>,
}

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
        // The signed body names the entity type (`type`, e.g. Issue) and the `action`.
        let kind =
            serde_json::from_slice::<Kind>(req.body)
                .ok()
                .and_then(|b| match (b.kind, b.action) {
                    (Some(kind), Some(action)) => Some(format!("{kind}.{action}")),
                    (kind, _) => kind,
                });
        Ok(Inspection::new(
            sig::first_header(req, &["linear-event"]),
            sig::first_header(req, &["linear-delivery"]),
        )
        .signed(kind, None))
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        &["linear-event", "linear-delivery", "user-agent"]
    }
}
