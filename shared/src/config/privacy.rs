//! The `privacy` section: which payload fields operators do not see by default.

use serde::Deserialize;

use super::ConfigError;

/// The personal fields masked in payloads shown to operators (`crate::privacy`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// More fields to mask: JSON pointers (`/sender/login`, `*` for any element) or field
    /// names (matched at any depth).
    pub mask: Vec<String>,
    /// Whether each provider's personal fields are masked too (GitHub `sender.login`,
    /// `pusher.email`, every `email`; Stripe `customer_email`; …).
    pub provider_defaults: bool,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            mask: Vec::new(),
            provider_defaults: true,
        }
    }
}

impl PrivacyConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (i, rule) in self.mask.iter().enumerate() {
            if rule.is_empty() || rule == "/" {
                return Err(ConfigError::at(
                    format!("privacy.mask[{i}]"),
                    "must be a JSON pointer such as /sender/login or a field name such as email",
                ));
            }
        }
        Ok(())
    }
}
