//! Slack: `X-Slack-Signature: v0=HEX(HMAC-SHA256(secret, "v0:TS:body"))` with
//! `X-Slack-Request-Timestamp: TS` within the tolerance. JSON event callbacks carry the type
//! in `event.type` (else `type`) and the delivery id in `event_id`; form posts (slash
//! commands, interactivity) carry `command`, or a `payload` JSON with a `type`.
//! A `url_verification` body yields the challenge to echo.

use std::time::Duration;

use serde::Deserialize;

use super::sig;
use super::{HmacAlgorithm, Inbound, Inspection, Provider, ProviderError};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct Slack;

#[derive(Deserialize)]
struct Callback {
    #[serde(rename = "type")]
    kind: Option<String>,
    event: Option<Event>,
    event_id: Option<String>,
    challenge: Option<String>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl Provider for Slack {
    fn verify(
        &self,
        req: &Inbound<'_>,
        keys: &[Secret],
        now: i64,
        tolerance: Duration,
    ) -> Result<(), ProviderError> {
        let ts =
            sig::header(req, "x-slack-request-timestamp").ok_or(ProviderError::InvalidSignature)?;
        let signature = sig::header(req, "x-slack-signature")
            .and_then(|s| s.strip_prefix("v0="))
            .and_then(|s| hex::decode(s).ok())
            .ok_or(ProviderError::InvalidSignature)?;
        let parts: [&[u8]; 4] = [b"v0:", ts.as_bytes(), b":", req.body];
        if !sig::any_matches(HmacAlgorithm::Sha256, keys, &parts, &[signature]) {
            return Err(ProviderError::InvalidSignature);
        }
        sig::check_timestamp(ts, now, tolerance)
    }

    fn inspect(&self, req: &Inbound<'_>) -> Result<Inspection, ProviderError> {
        if req.body.trim_ascii_start().starts_with(b"{") {
            let body: Callback = sig::json(req.body)?;
            let challenge = body
                .challenge
                .filter(|_| body.kind.as_deref() == Some("url_verification"));
            let kind = body.event.and_then(|e| e.kind).or(body.kind);
            let mut inspection =
                Inspection::new(kind.clone(), body.event_id.clone()).signed(kind, body.event_id);
            inspection.challenge = challenge;
            return Ok(inspection);
        }
        let mut command = None;
        let mut interaction = None;
        for (key, value) in form_urlencoded::parse(req.body) {
            match key.as_ref() {
                "command" => command = Some(value.into_owned()),
                "payload" => {
                    interaction = serde_json::from_str::<Interaction>(&value)
                        .ok()
                        .and_then(|i| i.kind)
                }
                _ => {}
            }
        }
        let kind = command.or(interaction);
        Ok(Inspection::new(kind.clone(), None).signed(kind, None))
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        &["x-slack-retry-num", "x-slack-retry-reason", "user-agent"]
    }
}
