//! Where cold objects go: one narrow trait, and the `file://` store (the embedded default).

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct StoreError {
    /// The object key.
    pub key: String,
    /// What went wrong.
    pub reason: String,
}

/// An object store for the cold tier.
#[async_trait::async_trait]
pub trait ArchiveStore: Send + Sync + std::fmt::Debug {
    /// Stores `body` under `key`, replacing what was there; a reader never sees half an object.
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError>;
    /// Reads an object back, `None` when absent.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Objects as files below a directory (`lifecycle.archive: file:///path`).
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// A store below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        if key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(StoreError {
                key: key.to_owned(),
                reason: "not a relative object key".into(),
            });
        }
        Ok(self.root.join(key))
    }
}

#[async_trait::async_trait]
impl ArchiveStore for FileStore {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let fail = |e: std::io::Error| StoreError {
            key: key.to_owned(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(fail)?;
        }
        // Write beside, flush to disk, then rename: the object appears whole or not at all.
        let partial = partial_path(&path);
        let mut file = tokio::fs::File::create(&partial).await.map_err(fail)?;
        file.write_all(&body).await.map_err(fail)?;
        file.sync_all().await.map_err(fail)?;
        tokio::fs::rename(&partial, &path).await.map_err(fail)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(body) => Ok(Some(body)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError {
                key: key.to_owned(),
                reason: e.to_string(),
            }),
        }
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}
