//! Unsigned sources (`provider: none`, which must be written out): nothing is verified;
//! metadata as for the generic HMAC provider.

use std::time::Duration;

use super::hmac::{GENERIC_HEADERS, inspect_generic};
use super::{Inbound, Inspection, Provider, ProviderError};
use crate::secret::Secret;

#[derive(Debug)]
pub(super) struct Unsigned;

impl Provider for Unsigned {
    fn verify(
        &self,
        _: &Inbound<'_>,
        _: &[Secret],
        _: i64,
        _: Duration,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    fn inspect(&self, req: &Inbound<'_>) -> Result<Inspection, ProviderError> {
        Ok(inspect_generic(req))
    }

    fn retained_headers(&self) -> &'static [&'static str] {
        GENERIC_HEADERS
    }
}
