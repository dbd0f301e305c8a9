//! The pieces every signature scheme is made of: header access, HMAC over several parts,
//! constant-time comparison against any configured key, decoding, timestamp tolerance and
//! JSON bodies read without ever quoting them.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::{HmacAlgorithm, Inbound, ProviderError, SignatureEncoding};
use crate::secret::Secret;

/// A header's value as text; absent, empty or non-UTF-8 values count as missing.
pub(super) fn header<'a>(req: &Inbound<'a>, name: &str) -> Option<&'a str> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The first of `names` present, as an owned string.
pub(super) fn first_header(req: &Inbound<'_>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| header(req, name))
        .map(str::to_owned)
}

/// HMAC of the concatenation of `parts` (so "ts.body" needs no copy of the body).
pub(super) fn mac(algorithm: HmacAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .expect("HMAC accepts keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        HmacAlgorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        HmacAlgorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        HmacAlgorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Whether any candidate signature equals the MAC of `parts` under any key. Every
/// comparison is constant-time; candidates of the wrong length simply never match.
pub(super) fn any_matches(
    algorithm: HmacAlgorithm,
    keys: &[Secret],
    parts: &[&[u8]],
    candidates: &[Vec<u8>],
) -> bool {
    keys.iter().any(|key| {
        let expected = mac(algorithm, key.expose(), parts);
        candidates
            .iter()
            .fold(false, |found, c| found | bool::from(expected.ct_eq(c)))
    })
}

/// Decodes a signature in the given encoding; `None` when garbled.
pub(super) fn decode(encoding: SignatureEncoding, text: &str) -> Option<Vec<u8>> {
    match encoding {
        SignatureEncoding::Hex => hex::decode(text).ok(),
        SignatureEncoding::Base64 => B64.decode(text).ok(),
    }
}

/// Rejects a signed Unix timestamp further than `tolerance` from `now`, either way.
pub(super) fn check_timestamp(
    ts: &str,
    now_unix: i64,
    tolerance: Duration,
) -> Result<(), ProviderError> {
    let ts: i64 = ts.parse().map_err(|_| ProviderError::InvalidSignature)?;
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now_unix.abs_diff(ts) > tolerance.unsigned_abs() {
        return Err(ProviderError::StaleTimestamp);
    }
    Ok(())
}

/// Parses a JSON body into `T`; the error names the position, never the content.
pub(super) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        ProviderError::Malformed(format!(
            "body is not the expected JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// A signature carried in one header: `[prefix]ENCODED_MAC(body)`, optionally a list.
#[derive(Debug, Clone)]
pub(super) struct HeaderSignature {
    /// Lower-case header name.
    pub header: Cow<'static, str>,
    pub algorithm: HmacAlgorithm,
    pub encoding: SignatureEncoding,
    /// Text before each signature, e.g. `sha256=`.
    pub prefix: Cow<'static, str>,
    /// Separator of a list of signatures (PagerDuty sends several during key rotation).
    pub separator: Option<char>,
}

impl HeaderSignature {
    /// A fixed scheme, for providers whose header and format never change.
    pub const fn fixed(
        header: &'static str,
        algorithm: HmacAlgorithm,
        encoding: SignatureEncoding,
        prefix: &'static str,
        separator: Option<char>,
    ) -> Self {
        Self {
            header: Cow::Borrowed(header),
            algorithm,
            encoding,
            prefix: Cow::Borrowed(prefix),
            separator,
        }
    }

    /// Verifies the MAC of the raw body against every signature in the header.
    pub fn verify(&self, req: &Inbound<'_>, keys: &[Secret]) -> Result<(), ProviderError> {
        let value = header(req, &self.header).ok_or(ProviderError::InvalidSignature)?;
        let items: Vec<&str> = match self.separator {
            Some(sep) => value.split(sep).map(str::trim).collect(),
            None => vec![value],
        };
        let candidates: Vec<Vec<u8>> = items
            .into_iter()
            .filter_map(|item| item.strip_prefix(self.prefix.as_ref()))
            .filter_map(|sig| decode(self.encoding, sig))
            .collect();
        if !candidates.is_empty() && any_matches(self.algorithm, keys, &[req.body], &candidates) {
            Ok(())
        } else {
            Err(ProviderError::InvalidSignature)
        }
    }
}
