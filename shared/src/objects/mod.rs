//! The object store `lifecycle.archive` names: one narrow trait, the `file://` store (the
//! embedded default) and S3. The cold tier and summaries live there, and so do spooled
//! events too large for an SQS message.

mod file;
mod s3;

pub use file::FileStore;
pub use s3::S3Store;

use crate::config::Config;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct StoreError {
    /// The object key.
    pub key: String,
    /// What went wrong.
    pub reason: String,
}

/// A `lifecycle.archive` that names no store hookline has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be s3://bucket/prefix or file:///path")]
pub struct ArchiveUrlError;

/// An object store.
#[async_trait::async_trait]
pub trait ArchiveStore: Send + Sync + std::fmt::Debug {
    /// Stores `body` under `key`, replacing what was there; a reader never sees half an object.
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError>;
    /// Reads an object back, `None` when absent.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Keys of the objects whose key starts with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Deletes an object; deleting one that is absent is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// The store named by `lifecycle.archive`, if any.
pub async fn store_for(config: &Config) -> Result<Option<Box<dyn ArchiveStore>>, ArchiveUrlError> {
    let lifecycle = &config.lifecycle;
    match lifecycle.archive.as_deref() {
        None => Ok(None),
        Some(url) if url.starts_with("s3://") => {
            Ok(Some(Box::new(S3Store::from_url(url, &lifecycle.s3).await?)))
        }
        Some(url) => match url.strip_prefix("file://") {
            Some(path) => Ok(Some(Box::new(FileStore::new(path)))),
            None => Err(ArchiveUrlError),
        },
    }
}
