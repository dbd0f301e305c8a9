//! GitHub: `X-Hub-Signature-256: sha256=HEX(HMAC-SHA256(secret, body))`; event type in
//! `X-GitHub-Event`, delivery id in `X-GitHub-Delivery`; the repository orders events.

use std::time::Duration;

use serde::Deserialize;

use super::sig::{self, HeaderSignature};
use super::{HmacAlgorithm, Inbound, Inspection, Provider, ProviderError, SignatureEncoding};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct Github;

const SIGNATURE: HeaderSignature = HeaderSignature::fixed(
    "x-hub-signature-256",
    HmacAlgorithm::Sha256,
    SignatureEncoding::Hex,
    "sha256=",
    None,
);

/// The one body field GitHub's inspection needs; serde skips the rest unparsed.
#[derive(Deserialize)]
struct Body {
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: Option<String>,
}

impl Provider for Github {
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
        let event = sig::header(req, "x-github-event")
            .ok_or_else(|| ProviderError::Malformed("missing X-GitHub-Event header".into()))?;
        let mut inspection = Inspection::new(
            Some(event.to_owned()),
            sig::first_header(req, &["x-github-delivery"]),
        );
        // GitHub may also post form-encoded bodies; those simply carry no entity.
        inspection.entity = serde_json::from_slice::<Body>(req.body)
            .ok()
            .and_then(|b| b.repository)
            .and_then(|r| r.full_name);
        Ok(inspection)
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        &[
            "x-github-event",
            "x-github-delivery",
            "x-github-hook-id",
            "x-github-hook-installation-target-id",
            "x-github-hook-installation-target-type",
            "user-agent",
        ]
    }
}
