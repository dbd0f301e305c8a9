//! Standard Webhooks: `webhook-signature: v1,BASE64(HMAC-SHA256(key, "id.ts.body"))` (a
//! space-separated list, any may match) with `webhook-id` and `webhook-timestamp` (within
//! the tolerance). The secret is `whsec_` + base64 of the key. Event type in the JSON body's
//! `type`; delivery id is `webhook-id`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use super::sig;
use super::{HmacAlgorithm, Inbound, Inspection, KeyError, Provider, ProviderError};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct Standard;

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl Provider for Standard {
    fn signing_key(&self, secret: &str) -> Result<Secret, KeyError> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        match B64.decode(encoded) {
            Ok(key) if !key.is_empty() => Ok(Secret::new(key)),
            _ => Err(KeyError::NotStandardWebhooks),
        }
    }

    fn verify(
        &self,
        req: &Inbound<'_>,
        keys: &[Secret],
        now: i64,
        tolerance: Duration,
    ) -> Result<(), ProviderError> {
        let missing = || ProviderError::InvalidSignature;
        let id = sig::header(req, "webhook-id").ok_or_else(missing)?;
        let ts = sig::header(req, "webhook-timestamp").ok_or_else(missing)?;
        let candidates: Vec<Vec<u8>> = sig::header(req, "webhook-signature")
            .ok_or_else(missing)?
            .split(' ')
            .filter_map(|item| item.strip_prefix("v1,"))
            .filter_map(|b64| B64.decode(b64).ok())
            .collect();
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", req.body];
        if candidates.is_empty()
            || !sig::any_matches(HmacAlgorithm::Sha256, keys, &parts, &candidates)
        {
            return Err(ProviderError::InvalidSignature);
        }
        sig::check_timestamp(ts, now, tolerance)
    }

    fn inspect(&self, req: &Inbound<'_>) -> Result<Inspection, ProviderError> {
        let body: Body = sig::json(req.body)?;
        // The signature covers `webhook-id` ("{id}.{timestamp}.{body}"): a signed event id.
        let id = sig::first_header(req, &["webhook-id"]);
        Ok(Inspection::new(body.kind.clone(), id.clone()).signed(body.kind, id))
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        &["webhook-id", "webhook-timestamp", "user-agent"]
    }
}
