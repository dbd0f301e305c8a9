//! What `hookline loadtest` sends: bodies from the project's GitHub corpus (embedded in the
//! binary), each with a unique id, shaped and signed as the chosen provider sends them.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The providers `loadtest` can sign for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    /// `X-Hub-Signature-256`, event and delivery id in headers; the body as GitHub sends it.
    Github,
    /// `Stripe-Signature: t=…,v1=…`; the payload inside a Stripe event (`id`, `type`, `data`).
    Stripe,
    /// Standard Webhooks (`webhook-id`, `-timestamp`, `-signature`; a `whsec_` key).
    Standard,
    /// `X-Slack-Signature: v0=…` over `v0:TS:body`; an Events API callback.
    Slack,
}

/// One request: extra headers and the body.
#[derive(Debug)]
pub struct Request {
    /// Header names and values besides `content-type`.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: String,
}

/// Builds the `n`-th request for a provider and secret.
#[derive(Debug)]
pub struct Requests {
    provider: Provider,
    key: Vec<u8>,
}

/// Why a secret cannot sign for its provider.
#[derive(Debug, thiserror::Error)]
#[error("--secret: a standard webhooks key is `whsec_` followed by base64")]
pub struct BadSecret;

impl Requests {
    /// Requests for `provider`, signed with `secret`.
    pub fn new(provider: Provider, secret: &str) -> Result<Self, BadSecret> {
        let key = match provider {
            Provider::Standard => secret
                .strip_prefix("whsec_")
                .and_then(|b64| B64.decode(b64).ok())
                .ok_or(BadSecret)?,
            _ => secret.as_bytes().to_vec(),
        };
        Ok(Self { provider, key })
    }

    /// The `n`-th request at Unix time `now` (s): corpus payload `n` (cycling), a fresh id.
    pub fn build(&self, n: usize, now: u64) -> Request {
        let (event, payload) = &corpus()[n % corpus().len()];
        let id = uuid::Uuid::now_v7().simple().to_string();
        // GitHub's identity is the body's hash: every body differs, so none is a duplicate.
        let payload = with_id(payload, &id);
        match self.provider {
            Provider::Github => {
                let body = payload;
                let signature = format!("sha256={}", hex::encode(self.mac(&[body.as_bytes()])));
                let headers = vec![
                    ("x-github-event", event.clone()),
                    ("x-github-delivery", id),
                    ("x-hub-signature-256", signature),
                ];
                Request { headers, body }
            }
            Provider::Stripe => {
                let body = format!(
                    r#"{{"id":"evt_{id}","object":"event","type":"{event}","created":{now},"data":{{"object":{payload}}}}}"#
                );
                let ts = now.to_string();
                let mac = self.mac(&[ts.as_bytes(), b".", body.as_bytes()]);
                let headers = vec![(
                    "stripe-signature",
                    format!("t={ts},v1={}", hex::encode(mac)),
                )];
                Request { headers, body }
            }
            Provider::Standard => {
                let body = format!(r#"{{"type":"{event}","data":{payload}}}"#);
                let (id, ts) = (format!("msg_{id}"), now.to_string());
                let mac = self.mac(&[id.as_bytes(), b".", ts.as_bytes(), b".", body.as_bytes()]);
                let headers = vec![
                    ("webhook-signature", format!("v1,{}", B64.encode(mac))),
                    ("webhook-id", id),
                    ("webhook-timestamp", ts),
                ];
                Request { headers, body }
            }
            Provider::Slack => {
                let body = format!(
                    r#"{{"type":"event_callback","event_id":"Ev{id}","event_time":{now},"event":{{"type":"{event}","data":{payload}}}}}"#
                );
                let ts = now.to_string();
                let mac = self.mac(&[b"v0:", ts.as_bytes(), b":", body.as_bytes()]);
                let headers = vec![
                    ("x-slack-signature", format!("v0={}", hex::encode(mac))),
                    ("x-slack-request-timestamp", ts),
                ];
                Request { headers, body }
            }
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
}

/// `payload` (a JSON object) with `"hookline_loadtest_id": id` as its first member.
fn with_id(payload: &str, id: &str) -> String {
    let rest = payload.strip_prefix('{').unwrap_or(payload);
    let comma = if rest.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    format!(r#"{{"hookline_loadtest_id":"{id}"{comma}{rest}"#)
}

/// The corpus's payloads (compact JSON objects) with their GitHub event names, parsed once.
fn corpus() -> &'static [(String, String)] {
    static CORPUS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let groups: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../../tests/corpus/github-examples.json"))
                .expect("the embedded corpus is JSON");
        let mut out = Vec::new();
        for group in &groups {
            let name = group["name"].as_str().unwrap_or("unknown");
            for example in group["examples"].as_array().into_iter().flatten() {
                out.push((name.to_owned(), example.to_string()));
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    use hookline_shared::providers::{self, Inbound, ProviderKind};

    #[test]
    fn every_provider_signs_what_hooklines_own_verifier_accepts_with_fresh_ids() {
        assert!(corpus().len() > 300, "the whole corpus: {}", corpus().len());
        for (provider, kind, secret) in [
            (Provider::Github, ProviderKind::Github, "s3cret"),
            (Provider::Stripe, ProviderKind::Stripe, "whsec_stripe"),
            (
                Provider::Standard,
                ProviderKind::Standard,
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
            (Provider::Slack, ProviderKind::Slack, "slack-secret"),
        ] {
            let requests = Requests::new(provider, secret).unwrap();
            let verifier = providers::build(kind, None);
            let key = verifier.signing_key(secret).unwrap();
            let now = 1_795_000_000;
            let mut ids = Vec::new();
            for n in [0, 0, 7] {
                let request = requests.build(n, now);
                let mut headers = HeaderMap::new();
                headers.insert("content-type", HeaderValue::from_static("application/json"));
                for (name, value) in &request.headers {
                    headers.insert(
                        HeaderName::from_static(name),
                        HeaderValue::from_str(value).unwrap(),
                    );
                }
                let inbound = Inbound {
                    headers: &headers,
                    body: request.body.as_bytes(),
                };
                let tolerance = std::time::Duration::from_secs(300);
                verifier
                    .verify(&inbound, std::slice::from_ref(&key), now as i64, tolerance)
                    .unwrap_or_else(|e| panic!("{provider:?}: {e}"));
                let seen = verifier.inspect(&inbound).unwrap();
                assert_eq!(seen.event_type, corpus()[n].0, "{provider:?}");
                ids.push(seen.delivery_id.expect("an id per request"));
            }
            ids.dedup();
            assert_eq!(
                ids.len(),
                3,
                "{provider:?}: a fresh id per request: {ids:?}"
            );
        }
        for payload in ["{}", r#"{"a":1}"#] {
            let body: serde_json::Value = serde_json::from_str(&with_id(payload, "x")).unwrap();
            assert_eq!(body["hookline_loadtest_id"], "x");
        }
    }
}
