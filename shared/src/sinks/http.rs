//! The `http` sink: POSTs the original payload bytes and content type, signed with Standard
//! Webhooks headers (`webhook-id` is the event id, so receivers can de-duplicate; one
//! signature per key in `webhook-signature`, space-separated), plus `hookline-source` and
//! `hookline-event-type` (and `hookline-suspected-duplicate: true` for a bloom hit delivered
//! under `dedup.bloom.on_hit: deliver`), and the delivery span's W3C `traceparent` when
//! traces are exported. Any 2xx is success. Redirects are never followed: a 3xx is a failed
//! attempt, so a redirect to a login page or another host neither acknowledges an event nor
//! sends its payload and signature elsewhere.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{BuildError, Delivered, Sink, SinkError, breaker::Breaker};
use crate::clock::Clock;
use crate::event::StoredEvent;
use crate::providers::{self, ProviderKind};
use crate::secret::Secret;
use crate::telemetry;

/// Signed POSTs to one URL, behind the destination's shared circuit breaker.
#[derive(Debug)]
pub struct HttpSink {
    url: String,
    keys: Vec<Secret>,
    client: reqwest::Client,
    breaker: Option<Breaker>,
    /// Dates the signatures (`webhook-timestamp`).
    clock: Clock,
}

impl HttpSink {
    /// A sink posting to `url`, signing with each of the `whsec_` `secrets`, giving up after
    /// `timeout`, not calling while `breaker` (if any) is open.
    pub fn new(
        url: &str,
        secrets: &[&str],
        timeout: Duration,
        breaker: Option<Breaker>,
    ) -> Result<Self, BuildError> {
        let standard = providers::build(ProviderKind::Standard, None);
        let keys = secrets
            .iter()
            .map(|secret| standard.signing_key(secret))
            .collect::<Result<_, _>>()?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            url: url.to_owned(),
            keys,
            client,
            breaker,
            clock: Clock::system(),
        })
    }

    /// The same sink dating its signatures by `clock`.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// The Standard Webhooks signatures of `body` for message `id` at `timestamp`, one per
    /// key, space-separated.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let signatures: Vec<String> = self
            .keys
            .iter()
            .map(|key| {
                let mut mac = Hmac::<Sha256>::new_from_slice(key.expose())
                    .expect("HMAC takes any key length");
                mac.update(format!("{id}.{timestamp}.").as_bytes());
                mac.update(body);
                format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
            })
            .collect();
        signatures.join(" ")
    }

    async fn post(&self, event: &StoredEvent) -> Result<Delivered, SinkError> {
        let id = event.text("id");
        let timestamp = self.clock.now().as_secs();
        let body = event.payload_bytes();
        let content_type = match event.text("content_type") {
            "" => "application/octet-stream",
            other => other,
        };
        let mut request = self
            .client
            .post(&self.url)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", self.sign(id, timestamp, &body));
        // The delivery's span, so the receiver's work joins the webhook's trace.
        if let Some(traceparent) = telemetry::traceparent_of(&tracing::Span::current()) {
            request = request.header(telemetry::TRACEPARENT, traceparent);
        }
        if event.get("suspected_duplicate").is_some() {
            // A bloom hit delivered all the same (`dedup.bloom.on_hit: deliver`).
            request = request.header("hookline-suspected-duplicate", "true");
        }
        // Values that come from event data: one that is not a valid header value (control
        // characters) is left out, never turned into a local error that feeds the breaker.
        for (name, value) in [
            ("content-type", content_type),
            ("webhook-id", id),
            ("hookline-source", event.text("source")),
            ("hookline-event-type", event.text("event_type")),
        ] {
            if let Ok(value) = reqwest::header::HeaderValue::from_str(value) {
                request = request.header(name, value);
            }
        }
        let response = request.body(body).send().await.map_err(|e| {
            if e.is_timeout() {
                SinkError::Timeout
            } else {
                SinkError::Failed(e.without_url().to_string())
            }
        })?;
        let status = response.status();
        if status.is_success() {
            Ok(Delivered {
                status: Some(status.as_u16()),
            })
        } else {
            Err(SinkError::Status(status.as_u16()))
        }
    }
}

#[async_trait::async_trait]
impl Sink for HttpSink {
    async fn deliver(&self, event: &StoredEvent) -> Result<Delivered, SinkError> {
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
