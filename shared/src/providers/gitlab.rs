//! GitLab: the `X-Gitlab-Token` header equals a configured secret (compared in constant
//! time); event type in `X-Gitlab-Event`; the delivery id is `Idempotency-Key` (the same on
//! retries), else `X-Gitlab-Webhook-UUID`, else `X-Gitlab-Event-UUID`.

use std::time::Duration;

use subtle::ConstantTimeEq;

use super::sig;
use super::{Inbound, Inspection, Provider, ProviderError};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct Gitlab;

/// The part of a GitLab body the identity needs.
#[derive(serde::Deserialize)]
struct Kind {
    object_kind: Option<String>,
}

impl Provider for Gitlab {
    fn verify(
        &self,
        req: &Inbound<'_>,
        keys: &[Secret],
        _: i64,
        _: Duration,
    ) -> Result<(), ProviderError> {
        let token = sig::header(req, "x-gitlab-token").ok_or(ProviderError::InvalidSignature)?;
        let matched = keys.iter().fold(false, |found, key| {
            found | bool::from(key.expose().ct_eq(token.as_bytes()))
        });
        if matched {
            Ok(())
        } else {
            Err(ProviderError::InvalidSignature)
        }
    }

    fn inspect(&self, req: &Inbound<'_>) -> Result<Inspection, ProviderError> {
        // The token authenticates the body; its `object_kind` names the event.
        let kind = serde_json::from_slice::<Kind>(req.body)
            .ok()
            .and_then(|b| b.object_kind);
        Ok(Inspection::new(
            sig::first_header(req, &["x-gitlab-event"]),
            sig::first_header(
                req,
                &[
                    "idempotency-key",
                    "x-gitlab-webhook-uuid",
                    "x-gitlab-event-uuid",
                ],
            ),
        )
        .signed(kind, None))
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        &[
            "x-gitlab-event",
            "x-gitlab-instance",
            "x-gitlab-webhook-uuid",
            "x-gitlab-event-uuid",
            "idempotency-key",
            "user-agent",
        ]
    }
}
