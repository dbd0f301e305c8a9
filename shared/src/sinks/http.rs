//! The `http` sink: POSTs the original payload bytes and content type, signed with Standard
//! Webhooks headers (`webhook-id` is the event id, so receivers can de-duplicate), plus
//! `hookline-source` and `hookline-event-type`. Any 2xx is success.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{BuildError, Sink, SinkError, breaker::Breaker};
use crate::clock::Clock;
use crate::event::StoredEvent;
use crate::providers::{self, ProviderKind};
use crate::secret::Secret;

/// Signed POSTs to one URL, behind the destination's shared circuit breaker.
#[derive(Debug)]
pub struct HttpSink {
    url: String,
    key: Secret,
    client: reqwest::Client,
    breaker: Option<Breaker>,
    /// Dates the signatures (`webhook-timestamp`).
    clock: Clock,
}

impl HttpSink {
    /// A sink posting to `url`, signing with the `whsec_` `secret`, giving up after `timeout`,
    /// not calling while `breaker` (if any) is open.
    pub fn new(
        url: &str,
        secret: &str,
        timeout: Duration,
        breaker: Option<Breaker>,
    ) -> Result<Self, BuildError> {
        let key = providers::build(ProviderKind::Standard, None).signing_key(secret)?;
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self {
            url: url.to_owned(),
            key,
            client,
            breaker,
            clock: Clock::system(),
        })
    }

    /// The same sink dating its signatures by `clock`.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// The Standard Webhooks signature of `body` for message `id` at `timestamp`.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.expose()).expect("HMAC takes any key length");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }

    async fn post(&self, event: &StoredEvent) -> Result<(), SinkError> {
        let id = event.text("id");
        let timestamp = self.clock.now().as_secs();
        let body = bytes::Bytes::copy_from_slice(event.payload());
        let content_type = match event.text("content_type") {
            "" => "application/octet-stream",
            other => other,
        };
        let response = self
            .client
            .post(&self.url)
            .header("content-type", content_type)
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", self.sign(id, timestamp, &body))
            .header("hookline-source", event.text("source"))
            .header("hookline-event-type", event.text("event_type"))
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    SinkError::Timeout
                } else {
                    SinkError::Failed(e.without_url().to_string())
                }
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(SinkError::Status(status.as_u16()))
        }
    }
}

#[async_trait::async_trait]
impl Sink for HttpSink {
    async fn deliver(&self, event: &StoredEvent) -> Result<(), SinkError> {
        if let Some(breaker) = &self.breaker
            && !breaker.allow().await
        {
            return Err(SinkError::CircuitOpen);
        }
        let result = self.post(event).await;
        if let Some(breaker) = &self.breaker {
            breaker.record(result.is_ok()).await;
        }
        result
    }
}
