//! Objects in an S3 bucket (`lifecycle.archive: s3://bucket/prefix`).

use super::{ArchiveStore, ArchiveUrlError, StoreError};
use crate::aws::sdk_reason;

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
        settings: &crate::config::S3Config,
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
            .map_err(|e| failed(key, sdk_reason("S3", &e)))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let fail = |reason| failed(key, reason);
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
            Err(e) => Err(fail(sdk_reason("S3", &e))),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed(key, sdk_reason("S3", &e)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let fail = |reason| failed(prefix, reason);
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
            let page = page.map_err(|e| fail(sdk_reason("S3", &e)))?;
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

/// The error of an operation on `key`.
fn failed(key: &str, reason: String) -> StoreError {
    StoreError {
        key: key.to_owned(),
        reason,
    }
}
