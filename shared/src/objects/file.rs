//! Objects as files below a directory (`lifecycle.archive: file:///path`).

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::{ArchiveStore, StoreError};

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

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError {
                key: key.to_owned(),
                reason: e.to_string(),
            }),
            _ => Ok(()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let (root, wanted) = (self.root.clone(), prefix.to_owned());
        let fail = |reason: String| StoreError {
            key: prefix.to_owned(),
            reason,
        };
        let walked = tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            walk(&root, &root, &mut keys)?;
            keys.retain(|k: &String| k.starts_with(&wanted) && !k.contains(".partial-"));
            keys.sort();
            Ok::<_, std::io::Error>(keys)
        })
        .await
        .map_err(|e| fail(e.to_string()))?;
        walked.map_err(|e| fail(e.to_string()))
    }
}

/// Collects the keys (paths relative to `root`, `/`-separated) of every file below `dir`.
fn walk(root: &Path, dir: &Path, keys: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            walk(root, &path, keys)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            keys.push(
                relative
                    .to_string_lossy()
                    .replace(std::path::MAIN_SEPARATOR, "/"),
            );
        }
    }
    Ok(())
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}
