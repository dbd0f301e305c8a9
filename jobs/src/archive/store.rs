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

/// A `lifecycle.archive` that names no store hookline has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be s3://bucket/prefix or file:///path")]
pub struct ArchiveUrlError;

/// One readable line for a failed S3 call: what failed and its root cause, instead of the
/// SDK's nested dump.
fn sdk_reason<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::DispatchFailure(_) => format!("cannot reach S3 ({})", root_cause(e)),
        SdkError::TimeoutError(_) => "S3 did not answer in time".to_owned(),
        SdkError::ServiceError(service) => {
            let meta = service.err().meta();
            let code = meta.code().unwrap_or("an error");
            match meta.message() {
                Some(message) => format!("S3 answered {code}: {message}"),
                None => format!("S3 answered {code}"),
            }
        }
        _ => format!("the S3 request failed ({})", root_cause(e)),
    }
}

/// The innermost error of a chain, e.g. `Connection refused (os error 111)`.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// An object store for the cold tier.
#[async_trait::async_trait]
pub trait ArchiveStore: Send + Sync + std::fmt::Debug {
    /// Stores `body` under `key`, replacing what was there; a reader never sees half an object.
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError>;
    /// Reads an object back, `None` when absent.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Keys of the objects whose key starts with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
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

/// Objects in an S3 bucket below a prefix (`lifecycle.archive: s3://bucket/prefix`), through
/// aws-sdk-s3 with the SDK's standard retries (exponential backoff).
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3Store {
    /// A store over `client` writing below `s3://{bucket}/{prefix}`.
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        let prefix: String = prefix.into();
        Self {
            client,
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    /// A store for `s3://bucket/prefix`, with credentials from the usual AWS chain and the
    /// overrides of `lifecycle.s3` (endpoint, region, path-style addressing).
    pub async fn from_url(
        url: &str,
        settings: &hookline_shared::config::S3Config,
    ) -> Result<Self, ArchiveUrlError> {
        let rest = url.strip_prefix("s3://").ok_or(ArchiveUrlError)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            .build();
        Ok(Self::new(
            aws_sdk_s3::Client::from_conf(config),
            bucket,
            prefix,
        ))
    }

    fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }
}

#[async_trait::async_trait]
impl ArchiveStore for S3Store {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError {
                key: key.to_owned(),
                reason: sdk_reason(&e),
            })
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let fail = |reason: String| StoreError {
            key: key.to_owned(),
            reason,
        };
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
        {
            Ok(object) => {
                let body = object
                    .body
                    .collect()
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(fail(sdk_reason(&e))),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let fail = |reason: String| StoreError {
            key: prefix.to_owned(),
            reason,
        };
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full_key(prefix))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| fail(sdk_reason(&e)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .map(|k| k[strip..].to_owned()),
            );
        }
        keys.sort();
        Ok(keys)
    }
}
