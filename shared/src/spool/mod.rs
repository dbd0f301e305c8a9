//! The fallback spool: where ingest keeps a verified event when Redis cannot take it (down,
//! out of memory, read-only in a failover, a partition's queue full), answering `202` only
//! once the spool has it durably, and from where a drainer appends it to Redis once Redis
//! accepts writes again — in the order events were received, through the same
//! de-duplicating script, removing a record only after Redis acknowledged it. A crash at any
//! point neither loses nor doubles an event: a record drained but not yet removed is appended
//! again on restart and answered as a duplicate by its identity.
//!
//! - [`disk`]: the container spool (redb under `spool.path`), drained by every `serve`.
//! - [`record`]: a spooled event's bytes.
//! - [`drain`]: the drainer.
//!
//! While a spool holds records, new events are spooled too (not appended directly), so the
//! drain keeps every partition in the order events arrived.

pub mod disk;
pub mod drain;
pub mod record;

pub use disk::{DiskSpool, SpoolStatus};
pub use record::Spooled;

/// Why the spool did not take an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpoolError {
    /// `spool.max_bytes` is reached.
    #[error("the spool is full (spool.max_bytes)")]
    Full,
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
