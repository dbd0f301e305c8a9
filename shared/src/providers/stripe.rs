//! Stripe: `Stripe-Signature: t=TS,v1=HEX(HMAC-SHA256(secret, "TS.body"))`, several `v1`
//! allowed (other schemes ignored); the timestamp must be within the tolerance. Event type,
//! id and the Connect account (the ordering entity) come from the JSON body.

use std::time::Duration;

use serde::Deserialize;

use super::sig;
use super::{HmacAlgorithm, Inbound, Inspection, Provider, ProviderError};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct Stripe;

#[derive(Deserialize)]
struct Body {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    account: Option<String>,
}

impl Provider for Stripe {
    fn verify(
        &self,
        req: &Inbound<'_>,
        keys: &[Secret],
        now: i64,
        tolerance: Duration,
    ) -> Result<(), ProviderError> {
        let header = sig::header(req, "stripe-signature").ok_or(ProviderError::InvalidSignature)?;
        let mut timestamp = None;
        let mut candidates = Vec::new();
        for item in header.split(',') {
            match item.trim().split_once('=') {
                Some(("t", ts)) => timestamp = Some(ts),
                Some(("v1", hex)) => candidates.extend(hex::decode(hex).ok()),
                _ => {}
            }
        }
        let ts = timestamp.ok_or(ProviderError::InvalidSignature)?;
        let parts: [&[u8]; 3] = [ts.as_bytes(), b".", req.body];
        if candidates.is_empty()
            || !sig::any_matches(HmacAlgorithm::Sha256, keys, &parts, &candidates)
        {
            return Err(ProviderError::InvalidSignature);
        }
        sig::check_timestamp(ts, now, tolerance)
    }

    fn inspect(&self, req: &Inbound<'_>) -> Result<Inspection, ProviderError> {
        let body: Body = sig::json(req.body)?;
        let mut inspection = Inspection::new(Some(body.kind.clone()), Some(body.id.clone()))
            .signed(Some(body.kind), Some(body.id));
        inspection.entity = body.account;
        Ok(inspection)
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        &["user-agent"]
    }
}
