//! A consumer process's memory for entries: one byte budget (`consumer.batch_bytes`) that
//! every reader in the process — each group on each partition, and the summary counter —
//! takes its entries out of, and gives back when an entry is settled.
//!
//! A reader reserves what is free ([`ByteBudget::reserve`]), reads at most that many bytes
//! (`read_bounded.lua`), and splits the reservation among the entries it got
//! ([`Held::split`]); the rest goes back at once. An entry larger than what was free is read
//! alone and holds all of it. An entry read outside a reservation — the one an idle reader's
//! blocking wait returns, a claimed retry — waits for its share, holding none meanwhile
//! ([`ByteBudget::cover`]). So entries in memory stay within the budget plus, per reader, at
//! most one entry (the one larger than its share).

use std::sync::Arc;
use std::time::Duration;

use redis::RedisError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::redis::streams::Entry;
use crate::redis::{RedisConn, groups};
use crate::supervise::LoopHealth;

/// The budget; cheap to clone (clones share it).
#[derive(Debug, Clone)]
pub struct ByteBudget {
    permits: Arc<Semaphore>,
    total: usize,
}

/// Bytes taken out of a [`ByteBudget`]; given back when dropped.
#[derive(Debug)]
pub struct Held(OwnedSemaphorePermit);

impl ByteBudget {
    /// A budget of `bytes` (at least 1; at most 4 GiB).
    pub fn new(bytes: u64) -> Self {
        let total = bytes.clamp(1, u64::from(u32::MAX)) as usize;
        Self {
            permits: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Waits until some of the budget is free, then takes all that is.
    pub async fn reserve(&self) -> Held {
        let mut held = self.take(1).await;
        let free = self.permits.available_permits();
        if let Ok(more) = self.permits.clone().try_acquire_many_owned(as_u32(free)) {
            held.0.merge(more);
        }
        held
    }

    /// Makes `held` cover an entry of `bytes` already in memory (at most the whole budget),
    /// waiting for what it lacks.
    pub async fn cover(&self, mut held: Held, bytes: usize) -> Held {
        let want = bytes.min(self.total);
        if let Some(lacking) = want.checked_sub(held.bytes()).filter(|&n| n > 0) {
            held.0.merge(self.take(lacking).await.0);
        }
        held
    }

    /// Waits for `bytes` of the budget.
    async fn take(&self, bytes: usize) -> Held {
        let permit = self
            .permits
            .clone()
            .acquire_many_owned(as_u32(bytes))
            .await
            .expect("the budget's semaphore is never closed");
        Held(permit)
    }

    /// Nothing taken yet, for [`ByteBudget::cover`].
    pub fn none(&self) -> Held {
        Held(
            self.permits
                .clone()
                .try_acquire_many_owned(0)
                .expect("taking nothing always succeeds"),
        )
    }
}

/// Where one group read goes: the stream and `(group, consumer)`, which entries (`from`:
/// [`groups::NEW`] or [`groups::OWN_PENDING`]), at most how many, and how long to wait for
/// a new one when there is none — a loop of its own on its own connection, whose health is
/// `waiting`.
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    /// The stream.
    pub stream: &'a str,
    /// The consumer group and the consumer.
    pub who: (&'a str, &'a str),
    /// Where the read starts.
    pub from: &'a str,
    /// Entries at most.
    pub count: usize,
    /// How long a read of new entries waits when there are none.
    pub block: Duration,
    /// The health of the waits: a failed wait is logged and counted there and returns no
    /// entries after its pause (the blocking connection recovers on its own).
    pub waiting: &'a LoopHealth,
}

impl ByteBudget {
    /// The next entries of `read`, each with its share of the budget: a bounded read on
    /// `conn` of what is there within what is free, or, for new entries when there are none,
    /// a wait of up to `read.block` for one on `reader` (a connection that may block).
    pub async fn read(
        &self,
        conn: &mut RedisConn,
        reader: &mut RedisConn,
        read: Read<'_>,
    ) -> Result<Vec<(Entry, Held)>, RedisError> {
        let mut held = self.reserve().await;
        let bound = (read.count, held.bytes());
        let entries = groups::read_bounded(conn, read.who, read.stream, read.from, bound).await?;
        let mut batch = Vec::with_capacity(entries.len());
        if entries.is_empty() && read.from == groups::NEW {
            drop(held);
            let (stream, from, block) = (read.stream, read.from, read.block);
            let waited = match groups::read(reader, read.who, stream, from, 1, block).await {
                Err(e) if !groups::is_missing_group(&e) => {
                    read.waiting.failed(&e);
                    tokio::time::sleep(read.waiting.pause()).await;
                    Vec::new()
                }
                waited => {
                    read.waiting.succeeded();
                    waited?
                }
            };
            for entry in waited {
                let share = self.cover(self.none(), entry.size()).await;
                batch.push((entry, share));
            }
        } else {
            for entry in entries {
                // Only a first entry larger than the reservation lacks anything; it keeps the
                // whole reservation and waits for nothing (a reader that holds part of the
                // budget and waits for more could wait forever on another doing the same).
                let share = held.split(entry.size());
                batch.push((entry, share));
            }
        }
        Ok(batch)
    }
}

impl Held {
    /// The bytes held.
    pub fn bytes(&self) -> usize {
        self.0.num_permits()
    }

    /// Splits off what an entry of `bytes` needs, or everything held when that is less.
    pub fn split(&mut self, bytes: usize) -> Held {
        let n = bytes.min(self.bytes());
        Held(self.0.split(n).expect("n is at most what is held"))
    }
}

fn as_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_split_among_entries_and_return_what_is_left() {
        let budget = ByteBudget::new(100);
        let mut held = budget.reserve().await;
        assert_eq!(held.bytes(), 100);
        let a = held.split(30);
        let b = held.split(500); // larger than what is left: takes the rest
        assert_eq!((a.bytes(), b.bytes(), held.bytes()), (30, 70, 0));
        drop(b);
        assert_eq!(budget.reserve().await.bytes(), 70);
    }

    #[tokio::test]
    async fn covering_an_entry_waits_until_enough_is_free() {
        let budget = ByteBudget::new(100);
        let first = budget.reserve().await;
        let covered = tokio::spawn({
            let budget = budget.clone();
            async move { budget.cover(budget.none(), 60).await.bytes() }
        });
        tokio::task::yield_now().await;
        assert!(!covered.is_finished());
        drop(first);
        assert_eq!(covered.await.unwrap(), 60);
        // An entry larger than the budget holds all of it.
        assert_eq!(budget.cover(budget.none(), 1000).await.bytes(), 100);
    }
}
