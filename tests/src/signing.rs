//! Signing requests as senders do, for tests.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The headers GitHub sends with `body`: event, delivery id and signature.
pub fn github_headers(
    secret: &str,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        ("x-github-event".into(), event.into()),
        ("x-github-delivery".into(), delivery.into()),
        (
            "x-hub-signature-256".into(),
            format!("sha256={}", hmac_sha256_hex(secret.as_bytes(), body)),
        ),
    ]
}
