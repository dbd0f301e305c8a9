//! Signing keys: bytes that must never reach a log line, an error or a panic message.

/// A signing key's bytes. `Debug` prints `Secret([redacted])`; there is no `Display`.
#[derive(Clone)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// Wraps key bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into().into_boxed_slice())
    }

    /// The key bytes, for computing a MAC.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_never_shows_the_key() {
        let s = super::Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
    }
}
