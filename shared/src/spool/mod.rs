//! The fallback spool: where ingest keeps a verified event when Redis cannot take it (down,
//! out of memory, read-only in a failover, a partition's queue full), answering `202` only
//! once the spool has it durably, and from where a drainer appends it to Redis once Redis
//! accepts writes again — in the order events were received, through the same
//! de-duplicating script, removing a record only after Redis acknowledged it. A crash at any
//! point neither loses nor doubles an event: a record drained but not yet removed is appended
//! again on restart and answered as a duplicate by its identity.
//!
//! - [`disk`]: the container spool (redb under `spool.path`), drained by every `serve`.
//! - [`sqs`]: the Lambda spool (an SQS FIFO queue), drained by `job drain-spool`.
//! - [`record`]: a spooled event's bytes.
//! - [`drain`]: appending spooled records, and the disk spool's drainer.
//!
//! While a disk spool holds records, new events are spooled too (not appended directly), so
//! the drain keeps every partition in the order events arrived. A Lambda function cannot
//! know whether the queue is empty without asking SQS on every request, so it appends
//! directly as soon as Redis takes writes again: events spooled during an outage may then
//! reach their partition after newer ones.

pub mod disk;
pub mod drain;
pub mod record;
pub mod sqs;

pub use disk::{DiskSpool, SpoolStatus};
pub use record::Spooled;
pub use sqs::SqsSpool;

use crate::config::{Config, ConfigError};

/// Why the spool did not take an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpoolError {
    /// `spool.max_bytes` is reached.
    #[error("the spool is full (spool.max_bytes)")]
    Full,
    /// The event is larger than an SQS message and there is no archive to hold it.
    #[error("the event is larger than an SQS message and lifecycle.archive is not set")]
    TooLarge,
    /// The spool's store cannot be opened.
    #[error("cannot open the spool at {0}: {1}")]
    Open(String, String),
    /// The store failed.
    #[error("spool store: {0}")]
    Store(String),
    /// The spool's thread is gone.
    #[error("the spool stopped")]
    Stopped,
}

impl SpoolError {
    fn store(e: impl std::fmt::Display) -> Self {
        Self::Store(e.to_string())
    }
}

/// The configured spool.
#[derive(Debug)]
pub enum Spool {
    /// `spool.path`.
    Disk(DiskSpool),
    /// `spool.sqs_queue_url`.
    Sqs(SqsSpool),
}

impl Spool {
    /// The spool `config` names, if any.
    pub async fn open(config: &Config) -> Result<Option<Self>, ConfigError> {
        let spool = &config.spool;
        if let Some(path) = &spool.path {
            let disk = DiskSpool::open(path, spool.max_bytes.bytes())
                .map_err(|e| ConfigError::at("spool.path", e.to_string()))?;
            return Ok(Some(Self::Disk(disk)));
        }
        match &spool.sqs_queue_url {
            Some(url) => {
                let sqs = SqsSpool::open(url, config)
                    .await
                    .map_err(|e| ConfigError::at("spool.sqs_queue_url", e.to_string()))?;
                Ok(Some(Self::Sqs(sqs)))
            }
            None => Ok(None),
        }
    }

    /// Keeps `record` durably.
    pub async fn put(&self, record: &Spooled) -> Result<(), SpoolError> {
        match self {
            Self::Disk(disk) => disk.put(record).await,
            Self::Sqs(sqs) => sqs.put(record).await,
        }
    }

    /// Records known to be waiting (an SQS spool does not know: 0).
    pub fn depth(&self) -> u64 {
        match self {
            Self::Disk(disk) => disk.depth(),
            Self::Sqs(_) => 0,
        }
    }

    /// The disk spool, which this process drains.
    pub fn disk(&self) -> Option<&DiskSpool> {
        match self {
            Self::Disk(disk) => Some(disk),
            Self::Sqs(_) => None,
        }
    }
}
