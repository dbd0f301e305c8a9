//! Webhook senders: how each one signs a request and where it puts the event type, the
//! delivery id and the ordering entity.
//!
//! Every provider implements [`Provider`]: [`Provider::verify`] checks the signature over the
//! raw body bytes against each configured key (any may match, so secrets can be rotated), in
//! constant time, and for schemes that sign a timestamp rejects one outside the tolerance in
//! either direction; [`Provider::inspect`] then reads the metadata. One file per provider;
//! the shared mechanics live in `sig`.

mod github;
mod gitlab;
mod hmac;
mod jira;
mod linear;
mod none;
mod pagerduty;
mod shopify;
mod sig;
mod slack;
mod standard;
mod stripe;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::secret::Secret;

/// Which provider a source uses (the config's `provider:` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// GitHub: `X-Hub-Signature-256`.
    Github,
    /// GitLab: `X-Gitlab-Token`.
    Gitlab,
    /// Stripe: `Stripe-Signature` with a signed timestamp.
    Stripe,
    /// Slack: `X-Slack-Signature` with a signed timestamp.
    Slack,
    /// Shopify: `X-Shopify-Hmac-Sha256` (base64).
    Shopify,
    /// Jira: `X-Hub-Signature`.
    Jira,
    /// Linear: `Linear-Signature`.
    Linear,
    /// PagerDuty: `X-PagerDuty-Signature` (a list).
    Pagerduty,
    /// Standard Webhooks (`webhook-signature`, `whsec_` keys).
    Standard,
    /// Any HMAC sender, as configured.
    Hmac,
    /// Unsigned; must be configured explicitly.
    None,
}

impl ProviderKind {
    /// The config name, also stored in the `provider` stream field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Stripe => "stripe",
            Self::Slack => "slack",
            Self::Shopify => "shopify",
            Self::Jira => "jira",
            Self::Linear => "linear",
            Self::Pagerduty => "pagerduty",
            Self::Standard => "standard",
            Self::Hmac => "hmac",
            Self::None => "none",
        }
    }

    /// Every provider.
    pub const ALL: [ProviderKind; 11] = [
        Self::Github,
        Self::Gitlab,
        Self::Stripe,
        Self::Slack,
        Self::Shopify,
        Self::Jira,
        Self::Linear,
        Self::Pagerduty,
        Self::Standard,
        Self::Hmac,
        Self::None,
    ];

    /// The provider named `name` ([`as_str`](Self::as_str)).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// Options of the generic `hmac` provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacOptions {
    /// The header carrying the signature.
    pub header: http::HeaderName,
    /// The HMAC hash.
    pub algorithm: HmacAlgorithm,
    /// How the signature is written.
    pub encoding: SignatureEncoding,
    /// Text before the signature, e.g. `sha256=`.
    pub prefix: Option<String>,
}

/// HMAC hash functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HmacAlgorithm {
    /// HMAC-SHA1 (legacy senders).
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// Signature text encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Hexadecimal, either case.
    Hex,
    /// Standard base64.
    Base64,
}

/// A request as received: the headers and the raw body bytes, exactly as sent.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// Request headers.
    pub headers: &'a http::HeaderMap,
    /// The body's bytes.
    pub body: &'a [u8],
}

/// What a provider read from a verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The event type; `unknown` where the request names none.
    pub event_type: String,
    /// The sender's delivery id, if it sends one.
    pub delivery_id: Option<String>,
    /// The ordering key: GitHub `repository.full_name`, Stripe `account`; else none.
    pub entity: Option<String>,
    /// Slack `url_verification` challenge to echo.
    pub challenge: Option<String>,
    /// What the signature covers that tells this event from others: the de-duplication
    /// identity is built from it (and the body), never from unsigned headers.
    pub signed: SignedIdentity,
}

/// The parts of an event's identity that the verified bytes carry: the sender's event id
/// (Standard Webhooks `webhook-id`, which the signature covers; Stripe's, Slack's and
/// PagerDuty's id in the body) and the event type the body names (Stripe `type`, Slack
/// `event.type`, GitLab `object_kind`, …). GitHub's body names neither: its identity is the
/// source and the body's SHA-256.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedIdentity {
    /// The event type as the signed bytes name it.
    pub event_type: Option<String>,
    /// The sender's event id as the signed bytes carry it.
    pub id: Option<String>,
}

impl Inspection {
    /// An inspection with only an event type and delivery id.
    fn new(event_type: Option<String>, delivery_id: Option<String>) -> Self {
        Self {
            event_type: event_type.unwrap_or_else(|| UNKNOWN.to_owned()),
            delivery_id,
            entity: None,
            challenge: None,
            signed: SignedIdentity::default(),
        }
    }

    /// The same, with the signed event type and id.
    fn signed(self, event_type: Option<String>, id: Option<String>) -> Self {
        Self {
            signed: SignedIdentity { event_type, id },
            ..self
        }
    }
}

/// The event type of requests that name none.
pub const UNKNOWN: &str = "unknown";

/// Why a configured secret is not a signing key of its scheme; never quotes the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A Standard Webhooks secret that is not `whsec_` followed by base64.
    #[error("is not a Standard Webhooks key (whsec_ followed by base64)")]
    NotStandardWebhooks,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Missing, garbled or non-matching signature.
    #[error("signature missing or invalid")]
    InvalidSignature,
    /// The signed timestamp is outside the tolerance.
    #[error("timestamp outside tolerance")]
    StaleTimestamp,
    /// The body or a required header can't be read; the detail names what (a field, a
    /// header, a parser position) and never quotes the payload.
    #[error("malformed payload: {0}")]
    Malformed(String),
}

/// One sender's signature scheme and event metadata.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// Turns a configured secret into the signing key.
    fn signing_key(&self, secret: &str) -> Result<Secret, KeyError> {
        Ok(Secret::new(secret.as_bytes().to_vec()))
    }

    /// Checks the signature (then, where signed, the timestamp) of a request.
    fn verify(
        &self,
        req: &Inbound<'_>,
        keys: &[Secret],
        now_unix: i64,
        tolerance: Duration,
    ) -> Result<(), ProviderError>;

    /// Reads event type, delivery id, entity and challenge from a verified request.
    fn inspect(&self, req: &Inbound<'_>) -> Result<Inspection, ProviderError>;

    /// Lower-case names of headers kept with the event; never signature or token headers.
    fn retained_headers(&self) -> &'static [&'static str];
}

/// Builds the provider for a source. For [`ProviderKind::Hmac`] without options (which
/// config validation never lets through) the provider fails closed: it rejects every request.
pub fn build(kind: ProviderKind, hmac: Option<HmacOptions>) -> Arc<dyn Provider> {
    match kind {
        ProviderKind::Github => Arc::new(github::Github),
        ProviderKind::Gitlab => Arc::new(gitlab::Gitlab),
        ProviderKind::Stripe => Arc::new(stripe::Stripe),
        ProviderKind::Slack => Arc::new(slack::Slack),
        ProviderKind::Shopify => Arc::new(shopify::Shopify),
        ProviderKind::Jira => Arc::new(jira::Jira),
        ProviderKind::Linear => Arc::new(linear::Linear),
        ProviderKind::Pagerduty => Arc::new(pagerduty::Pagerduty),
        ProviderKind::Standard => Arc::new(standard::Standard),
        ProviderKind::Hmac => Arc::new(hmac::GenericHmac::new(hmac)),
        ProviderKind::None => Arc::new(none::Unsigned),
    }
}
