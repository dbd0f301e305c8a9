//! PagerDuty (v3 webhooks): `X-PagerDuty-Signature: v1=HEX(HMAC-SHA256(secret, body))`, a
//! comma-separated list (several during key rotation), any of which may match; event type
//! and id in the JSON body's `event.event_type` and `event.id`.

use std::time::Duration;

use serde::Deserialize;

use super::sig::{self, HeaderSignature};
use super::{HmacAlgorithm, Inbound, Inspection, Provider, ProviderError, SignatureEncoding};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct Pagerduty;

const SIGNATURE: HeaderSignature = HeaderSignature::fixed(
    "x-pagerduty-signature",
    HmacAlgorithm::Sha256,
    SignatureEncoding::Hex,
    "v1=",
    Some(','),
);

#[derive(Deserialize)]
struct Body {
    event: Option<Event>,
}

#[derive(Deserialize)]
struct Event {
    id: Option<String>,
    event_type: Option<String>,
}

impl Provider for Pagerduty {
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
        let event = sig::json::<Body>(req.body)?.event;
        let (id, kind) = event.map(|e| (e.id, e.event_type)).unwrap_or_default();
        Ok(Inspection::new(kind.clone(), id.clone()).signed(kind, id))
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        &["x-webhook-id", "x-webhook-subscription", "user-agent"]
    }
}
