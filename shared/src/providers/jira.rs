//! Jira: `X-Hub-Signature: sha256=HEX(HMAC-SHA256(secret, body))`; event type in the JSON
//! body's `webhookEvent`; delivery id `X-Atlassian-Webhook-Identifier`.

use std::time::Duration;

use serde::Deserialize;

use super::sig::{self, HeaderSignature};
use super::{HmacAlgorithm, Inbound, Inspection, Provider, ProviderError, SignatureEncoding};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct Jira;

const SIGNATURE: HeaderSignature = HeaderSignature::fixed(
    "x-hub-signature",
    HmacAlgorithm::Sha256,
    SignatureEncoding::Hex,
    "sha256=",
    None,
);

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "webhookEvent")]
    webhook_event: Option<String>,
}

impl Provider for Jira {
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
        let body: Body = sig::json(req.body)?;
        Ok(Inspection::new(
            body.webhook_event.clone(),
            sig::first_header(req, &["x-atlassian-webhook-identifier"]),
        )
        .signed(body.webhook_event, None))
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        &[
            "x-atlassian-webhook-identifier",
            "x-atlassian-webhook-retry",
            "user-agent",
        ]
    }
}
