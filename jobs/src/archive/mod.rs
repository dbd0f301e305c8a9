//! `archive`: warm → cold. Per partition, warm segments whose newest entry is older than
//! `lifecycle.warm` are regrouped by tenant, source and UTC hour into `.jsonl.zst` objects
//! with manifests ([`object`]), stored, read back and verified (size and SHA-256), and only
//! then are those segments deleted — all of one batch in one atomic step, so a run killed
//! anywhere leaves either the whole batch warm (and the next run rewrites the same objects
//! under the same keys) or the whole batch cold. Then objects past their source's retention
//! are deleted ([`retention`]).

pub mod object;
pub mod retention;

use hookline_shared::config::{Config, WaitConfig};
use hookline_shared::objects::{ArchiveStore, StoreError};
use hookline_shared::redis::{RedisConn, segments};
use hookline_shared::streams::Keys;
use sha2::{Digest, Sha256};

use crate::{Budget, JobError, segment};

/// Segments archived together (and deleted together) at most.
pub const BATCH: usize = 32;
/// A batch stops taking segments once their entries reach this many bytes uncompressed, so a
/// batch holds at most this plus one segment ([`crate::compact::SEGMENT_BYTES`]) in memory.
pub const BATCH_BYTES: usize = 64 << 20;

/// What an archive run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// Warm segments moved to cold.
    pub segments: u64,
    /// Objects written.
    pub objects: u64,
    /// Entries archived.
    pub entries: u64,
    /// Compressed bytes written.
    pub bytes: u64,
    /// Objects deleted because they were past their source's retention.
    pub expired: u64,
    /// Whether the run stopped because its budget was spent.
    pub budget_spent: bool,
}

/// Why archiving failed; nothing of the failing batch was deleted.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Redis failed.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The store failed or returned something else than was written.
    #[error("archive store: {0}")]
    Store(#[from] StoreError),
    /// A warm segment could not be read.
    #[error("warm segment {0} is unreadable: {1}")]
    Segment(String, segment::SegmentError),
}

impl From<redis::RedisError> for ArchiveError {
    fn from(e: redis::RedisError) -> Self {
        Self::Job(e.into())
    }
}

/// Archives every partition's old warm segments; `now_ms` is the current time.
pub async fn archive(
    config: &Config,
    conn: &mut RedisConn,
    store: &dyn ArchiveStore,
    now_ms: u64,
    budget: Budget,
) -> Result<ArchiveReport, ArchiveError> {
    let keys = Keys::new(config.streams.prefix.clone());
    let cutoff = now_ms.saturating_sub(config.lifecycle.warm.get().as_millis() as u64);
    let mut report = ArchiveReport::default();
    for partition in 0..config.streams.partitions {
        loop {
            if budget.spent() {
                report.budget_spent = true;
                return Ok(report);
            }
            // Index scores are each segment's newest entry time; an old score means the whole
            // segment is old.
            let members = segments::older_than(conn, &keys, partition, cutoff, BATCH).await?;
            if members.is_empty() {
                break;
            }
            let batch = (&keys, partition, config.redis.wait);
            archive_batch(conn, batch, &members, store, &mut report).await?;
        }
    }
    report.expired = retention::expire(config, store, now_ms).await?;
    Ok(report)
}

async fn archive_batch(
    conn: &mut RedisConn,
    (keys, partition, wait): (&Keys, u16, Option<WaitConfig>),
    members: &[String],
    store: &dyn ArchiveStore,
    report: &mut ArchiveReport,
) -> Result<(), ArchiveError> {
    let (mut entries, mut bytes, mut taken) = (Vec::new(), 0, 0);
    for member in members {
        if bytes >= BATCH_BYTES {
            break;
        }
        taken += 1;
        let Some(blob) = segments::read(conn, keys, partition, member).await? else {
            continue;
        };
        let decoded =
            segment::decode(&blob).map_err(|e| ArchiveError::Segment(member.clone(), e))?;
        bytes += decoded.iter().map(segment::raw_size).sum::<usize>();
        entries.extend(decoded);
    }
    let members = &members[..taken];
    let objects = object::build(partition, &entries);
    for object in &objects {
        let manifest = serde_json::to_vec_pretty(&object.manifest).expect("manifests serialize");
        store.put(&object.key, object.body.clone()).await?;
        store.put(&object.manifest_key(), manifest).await?;
        verify(store, object).await?;
    }
    // Every object of the batch is stored and verified: now the segments may go, together.
    segments::delete(conn, keys, partition, members, wait).await?;
    let bytes: u64 = objects.iter().map(|o| o.manifest.bytes).sum();
    metrics::counter!(hookline_shared::metrics::LIFECYCLE_BYTES, "tier" => "cold").increment(bytes);
    tracing::info!(
        partition,
        segments = members.len(),
        objects = objects.len(),
        bytes,
        "archived"
    );
    report.segments += members.len() as u64;
    report.objects += objects.len() as u64;
    report.entries += entries.len() as u64;
    report.bytes += bytes;
    Ok(())
}

/// Reads an object back and checks its size and the SHA-256 of its content.
async fn verify(store: &dyn ArchiveStore, object: &object::ColdObject) -> Result<(), ArchiveError> {
    let mismatch = |reason: &str| StoreError {
        key: object.key.clone(),
        reason: reason.to_owned(),
    };
    let stored = store
        .get(&object.key)
        .await?
        .ok_or_else(|| mismatch("missing right after it was written"))?;
    if stored.len() as u64 != object.manifest.bytes {
        return Err(mismatch("size differs from what was written").into());
    }
    let text =
        zstd::stream::decode_all(&stored[..]).map_err(|_| mismatch("does not decompress"))?;
    if hex::encode(Sha256::digest(&text)) != object.manifest.sha256 {
        return Err(mismatch("SHA-256 differs from the manifest").into());
    }
    Ok(())
}
