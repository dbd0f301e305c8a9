//! Personal data kept out of what operators see by default: a payload shown by `events show`
//! or the console has the values of its personal fields replaced by [`MASKED`], unless the
//! operator asks for them (`--show-pii`, recorded in the audit trail).
//!
//! A rule is a JSON pointer (`/sender/login`; `*` matches every element of an array or
//! member of an object, as in `/commits/*/author/email`) or a field name, which matches that
//! member at any depth (`email`). Each provider has default rules ([`provider_defaults`]);
//! `privacy.mask` adds to them. A body that is not JSON is hidden whole: its fields cannot be
//! told apart.

use serde_json::Value;

use crate::config::PrivacyConfig;

/// What a masked value is replaced with.
pub const MASKED: &str = "[masked]";

/// The personal fields of each provider's payloads, by default.
pub fn provider_defaults(provider: &str) -> &'static [&'static str] {
    match provider {
        "github" => &[
            "/sender/login",
            "/pusher/name",
            "/pusher/email",
            "email",
            "/head_commit/author/name",
            "/head_commit/committer/name",
            "/commits/*/author/name",
            "/commits/*/committer/name",
        ],
        "gitlab" => &["user_name", "user_username", "user_email", "email", "/user"],
        "stripe" => &[
            "customer_email",
            "receipt_email",
            "email",
            "phone",
            "billing_details",
            "shipping",
            "customer_name",
        ],
        "shopify" => &[
            "email",
            "phone",
            "customer",
            "billing_address",
            "shipping_address",
        ],
        "slack" => &["user_name", "real_name", "email"],
        "jira" => &["emailAddress", "displayName"],
        "linear" => &["email", "/actor/name"],
        _ => &["email"],
    }
}

/// The rules for one event's payload.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    pointers: Vec<Vec<String>>,
    names: Vec<String>,
}

/// A payload as it may be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// JSON, its personal values masked.
    Json(String),
    /// Not JSON: hidden, this many bytes.
    Hidden(usize),
}

impl Masker {
    /// The rules `config` sets for payloads of `provider`.
    pub fn for_provider(config: &PrivacyConfig, provider: &str) -> Self {
        let defaults = match config.provider_defaults {
            true => provider_defaults(provider),
            false => &[],
        };
        Self::new(
            defaults
                .iter()
                .copied()
                .chain(config.mask.iter().map(String::as_str)),
        )
    }

    /// The masker of `rules` (pointers and field names).
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a str>) -> Self {
        let mut masker = Self::default();
        for rule in rules {
            match rule.strip_prefix('/') {
                Some(pointer) => masker.pointers.push(
                    pointer
                        .split('/')
                        .map(|s| s.replace("~1", "/").replace("~0", "~"))
                        .collect(),
                ),
                None => masker.names.push(rule.to_owned()),
            }
        }
        masker
    }

    /// Whether the member at `path` (e.g. `["sender", "login"]`) is personal by these rules.
    pub fn masks(&self, path: &[&str]) -> bool {
        path.last()
            .is_some_and(|last| self.names.iter().any(|n| n == last))
            || self.pointed(path)
    }

    /// `payload` with every personal value masked, or hidden when it is not JSON.
    pub fn mask(&self, payload: &[u8]) -> Shown {
        let Ok(mut body) = serde_json::from_slice::<Value>(payload) else {
            return Shown::Hidden(payload.len());
        };
        self.mask_value(&mut body, &mut Vec::new());
        Shown::Json(serde_json::to_string_pretty(&body).unwrap_or_default())
    }

    fn mask_value(&self, value: &mut Value, path: &mut Vec<String>) {
        // (key, is an object member, value): names match members only, never array indices.
        let children: Vec<(String, bool, &mut Value)> = match value {
            Value::Object(members) => members
                .iter_mut()
                .map(|(k, v)| (k.clone(), true, v))
                .collect(),
            Value::Array(items) => items
                .iter_mut()
                .enumerate()
                .map(|(i, v)| (i.to_string(), false, v))
                .collect(),
            _ => return,
        };
        for (key, member, child) in children {
            let named = member && self.names.contains(&key);
            path.push(key);
            if named || self.pointed(path) {
                *child = Value::String(MASKED.to_owned());
            } else {
                self.mask_value(child, path);
            }
            path.pop();
        }
    }

    fn pointed<S: AsRef<str>>(&self, path: &[S]) -> bool {
        self.pointers.iter().any(|pointer| {
            pointer.len() == path.len()
                && pointer
                    .iter()
                    .zip(path)
                    .all(|(want, have)| want == "*" || want == have.as_ref())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(masker: &Masker, body: &str) -> Value {
        match masker.mask(body.as_bytes()) {
            Shown::Json(text) => serde_json::from_str(&text).unwrap(),
            Shown::Hidden(n) => panic!("hidden, {n} bytes"),
        }
    }

    #[test]
    fn pointers_names_and_wildcards_mask_only_what_they_match() {
        let masker = Masker::new(["/sender/login", "email", "/commits/*/author/name"]);
        let body = r#"{"sender":{"login":"octocat","id":1},"repository":{"name":"app"},
            "pusher":{"email":"o@example.com"},"commits":[{"author":{"name":"Mona","email":"m@x"}}],
            "list":["email"]}"#;
        let masked = shown(&masker, body);
        assert_eq!(masked["sender"]["login"], MASKED);
        assert_eq!(masked["sender"]["id"], 1);
        assert_eq!(masked["repository"]["name"], "app");
        assert_eq!(masked["pusher"]["email"], MASKED);
        assert_eq!(masked["commits"][0]["author"]["name"], MASKED);
        assert_eq!(masked["commits"][0]["author"]["email"], MASKED);
        assert_eq!(
            masked["list"][0], "email",
            "names match members, not values"
        );
        assert!(masker.masks(&["sender", "login"]) && masker.masks(&["a", "email"]));
        assert!(!masker.masks(&["sender", "id"]));
    }

    #[test]
    fn a_body_that_is_not_json_is_hidden_whole() {
        let masker = Masker::new(["email"]);
        assert_eq!(masker.mask(b"user_name=ana&text=hi"), Shown::Hidden(21));
    }

    #[test]
    fn provider_defaults_apply_and_config_rules_add_to_them() {
        let config = PrivacyConfig {
            mask: vec!["/repository/full_name".into()],
            provider_defaults: true,
        };
        let masker = Masker::for_provider(&config, "github");
        let masked = shown(
            &masker,
            r#"{"sender":{"login":"ana"},"repository":{"full_name":"ana/app"}}"#,
        );
        assert_eq!(masked["sender"]["login"], MASKED);
        assert_eq!(masked["repository"]["full_name"], MASKED);
        let none = Masker::for_provider(
            &PrivacyConfig {
                mask: Vec::new(),
                provider_defaults: false,
            },
            "github",
        );
        assert_eq!(
            shown(&none, r#"{"sender":{"login":"ana"}}"#)["sender"]["login"],
            "ana"
        );
    }
}
