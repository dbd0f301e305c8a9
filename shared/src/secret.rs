//! Secrets: values that must never reach a log line, an error or a panic message.
//!
//! Webhook and sink signing secrets and the Redis password are parsed straight into a
//! [`Secret`] (`Secret<str>` from the config file, `Secret<[u8]>` once decoded into key bytes),
//! whose `Debug` prints `Secret([redacted])` and which has no `Display`: printing a config or
//! an error that holds one cannot show the value. Code that needs the value asks for it by
//! name, [`Secret::expose`].

use serde::{Deserialize, Deserializer};

/// A secret value of type `T` (`str` or `[u8]`).
pub struct Secret<T: ?Sized = [u8]>(Box<T>);

impl<T: ?Sized> Clone for Secret<T>
where
    Box<T>: Clone,
{
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: ?Sized> Secret<T> {
    /// The value, for computing a MAC or authenticating.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret<[u8]> {
    /// Wraps key bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into().into_boxed_slice())
    }
}

impl From<String> for Secret<str> {
    fn from(text: String) -> Self {
        Self(text.into_boxed_str())
    }
}

impl From<&str> for Secret<str> {
    fn from(text: &str) -> Self {
        Self(text.into())
    }
}

impl<T: ?Sized> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<'de> Deserialize<'de> for Secret<str> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_never_shows_the_value() {
        let key = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{key:?}"), "Secret([redacted])");
        let text = Secret::from("hunter2");
        assert_eq!(
            format!("{:?}", Some(text.clone())),
            "Some(Secret([redacted]))"
        );
        assert_eq!(text.expose(), "hunter2");
    }
}
