//! Reading the YAML: where it comes from, `${VAR}` interpolation, key paths in errors.

use std::path::PathBuf;

use serde_yaml_ng::Value;

use super::{Config, ConfigError};

/// Where the configuration text comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A YAML file (`--config PATH` or `HOOKLINE_CONFIG`).
    File(PathBuf),
    /// The YAML itself (`HOOKLINE_CONFIG_YAML`, used by Lambda functions).
    Inline(String),
}

impl ConfigSource {
    /// `--config PATH` if given, else `HOOKLINE_CONFIG`, else `HOOKLINE_CONFIG_YAML`.
    pub fn resolve(
        flag: Option<PathBuf>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        if let Some(path) = flag.or_else(|| env("HOOKLINE_CONFIG").map(PathBuf::from)) {
            return Ok(Self::File(path));
        }
        env("HOOKLINE_CONFIG_YAML")
            .map(Self::Inline)
            .ok_or_else(|| {
                ConfigError::at(
                    "config",
                    "no configuration: pass --config PATH or set HOOKLINE_CONFIG or \
                 HOOKLINE_CONFIG_YAML",
                )
            })
    }
}

/// Loads the config named by `flag`, else by the process environment (see
/// [`ConfigSource::resolve`]), with `${VAR}` read from the environment: what every process does
/// at start.
pub fn from_env(flag: Option<PathBuf>) -> Result<Config, ConfigError> {
    let env = |name: &str| std::env::var(name).ok();
    load(&ConfigSource::resolve(flag, env)?, env)
}

/// Reads, interpolates, parses and validates the configuration.
pub fn load(
    source: &ConfigSource,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    match source {
        ConfigSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::at("config", format!("cannot read {}: {e}", path.display()))
            })?;
            parse(&text, env)
        }
        ConfigSource::Inline(text) => parse(text, env),
    }
}

/// Parses and validates YAML text; `env` looks up variables for `${NAME}`.
pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let mut value: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| ConfigError::at("config", format!("not valid YAML: {e}")))?;
    if value.is_null() {
        value = Value::Mapping(Default::default());
    }
    let mut substituted = Vec::new();
    interpolate(&mut value, &mut String::new(), &env, &mut substituted)?;
    let mut config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let mut message = e.into_inner().to_string();
        for (name, value) in &substituted {
            message = hide(&message, name, value);
        }
        describe(&path, message)
    })?;
    if let Some(url) = env("HOOKLINE_REDIS_URL") {
        config.redis.url = Some(url);
        config.redis.urls.clear();
    }
    config.validate().map_err(|mut e| {
        for (name, value) in &substituted {
            e.reason = hide(&e.reason, name, value);
        }
        e
    })?;
    Ok(config)
}

/// Turns serde's message into `key.path: reason`. The offending key's name appears in the
/// message; for `missing field` the path stops at the parent, so the key is appended.
fn describe(path: &str, message: String) -> ConfigError {
    let path = if path == "." { "" } else { path };
    let join = |key: &str| match path {
        "" => key.to_owned(),
        p if p == key || p.ends_with(&format!(".{key}")) => p.to_owned(),
        p => format!("{p}.{key}"),
    };
    for (lead, reason) in [
        ("unknown field `", "unknown key"),
        ("missing field `", "is required"),
    ] {
        if let Some(rest) = message.strip_prefix(lead)
            && let Some((key, tail)) = rest.split_once('`')
        {
            let tail = tail.trim_start_matches(',').trim();
            let reason = if tail.is_empty() {
                reason.to_owned()
            } else {
                format!("{reason}; {tail}")
            };
            return ConfigError::at(join(key), reason);
        }
    }
    ConfigError::at(if path.is_empty() { "config" } else { path }, message)
}

/// `message` without `value` (which came from `${name}` and may be a secret): serde quotes
/// a value it cannot use, as `"…"` or `` `…` ``; the error names the variable instead.
fn hide(message: &str, name: &str, value: &str) -> String {
    if value.is_empty() {
        return message.to_owned();
    }
    let shown = format!("(the value of ${{{name}}})");
    let escaped = format!("{value:?}");
    let quoted = escaped.trim_matches('"');
    message.replace(value, &shown).replace(quoted, &shown)
}

/// Replaces `${NAME}` in every string value with the variable's value; `$${` writes a
/// literal `${`. `path` tracks the key path for errors; `substituted` collects every
/// `(NAME, value)` used, so errors can leave the values out.
fn interpolate(
    value: &mut Value,
    path: &mut String,
    env: &impl Fn(&str) -> Option<String>,
    substituted: &mut Vec<(String, String)>,
) -> Result<(), ConfigError> {
    match value {
        Value::String(s) if s.contains('$') => *s = substitute(s, path, env, substituted)?,
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                interpolate(item, path, env, substituted)?;
                path.truncate(len);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                match key {
                    Value::String(k) => path.push_str(k),
                    other => path.push_str(&serde_yaml_ng::to_string(other).unwrap_or_default()),
                }
                interpolate(item, path, env, substituted)?;
                path.truncate(len);
            }
        }
        Value::Tagged(tagged) => interpolate(&mut tagged.value, path, env, substituted)?,
        _ => {}
    }
    Ok(())
}

fn substitute(
    text: &str,
    path: &str,
    env: &impl Fn(&str) -> Option<String>,
    substituted: &mut Vec<(String, String)>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or_else(|| {
                ConfigError::at(path, "unterminated ${...} (write $${ for a literal ${)")
            })?;
            let name = &after[..end];
            let valid = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !name.as_bytes()[0].is_ascii_digit();
            if !valid {
                return Err(ConfigError::at(
                    path,
                    format!("invalid variable name {name:?} in ${{...}}"),
                ));
            }
            let value = env(name).ok_or_else(|| {
                ConfigError::at(path, format!("environment variable {name} is not set"))
            })?;
            out.push_str(&value);
            substituted.push((name.to_owned(), value));
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::substitute;

    fn env(name: &str) -> Option<String> {
        (name == "SET").then(|| "value".to_owned())
    }

    proptest! {
        #[test]
        fn interpolation_of_any_text_answers_without_a_panic(text in "([ -~]|\\$|\\{|\\}|SET){0,60}") {
            let _ = substitute(&text, "key", &env, &mut Vec::new());
        }

        #[test]
        fn text_without_a_dollar_is_left_alone(text in "[^$]{0,60}") {
            prop_assert_eq!(substitute(&text, "key", &env, &mut Vec::new()).unwrap(), text);
        }

        #[test]
        fn variables_and_escapes_are_replaced_exactly(a in "[^$]{0,20}", b in "[^$]{0,20}") {
            let text = format!("{a}${{SET}}{b}$${{SET}}");
            let mut used = Vec::new();
            let out = substitute(&text, "key", &env, &mut used).unwrap();
            prop_assert_eq!(out, format!("{a}value{b}${{SET}}"));
            prop_assert_eq!(used, vec![("SET".to_owned(), "value".to_owned())]);
        }
    }
}
