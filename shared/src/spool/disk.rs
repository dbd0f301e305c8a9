//! The disk spool of `hookline serve`: an embedded redb database under `spool.path`.
//!
//! Why redb rather than a hand-written log: every write is a transaction committed with
//! `Durability::Immediate` (fsync before the commit returns), a crash at any point leaves the
//! last committed state (redb's copy-on-write B-tree with a checksummed commit record), and
//! removing drained records is a keyed delete rather than log-segment bookkeeping. Records are
//! keyed by a sequence number, so reading them in key order is reading them in the order they
//! were received.
//!
//! One thread owns the database; requests reach it through a channel and are committed in
//! groups (every put queued while a commit runs goes into the next one), so concurrent requests
//! share an fsync. The file may take at most `spool.max_bytes`; once drained empty the file is
//! compacted so that space comes back. The thread also writes `status.json` beside it (the
//! number of records and the oldest one's `received_at`), which `hookline stats` reads, since
//! the database itself is locked by the process that owns it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use super::SpoolError;
use super::record::Spooled;

const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");

/// Most puts committed together.
const GROUP: usize = 256;

/// What `status.json` says.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpoolStatus {
    /// Records waiting.
    pub events: u64,
    /// The oldest record's `received_at`, ms since the epoch.
    pub oldest_received_at_ms: Option<u64>,
    /// The database file's size.
    pub bytes: u64,
}

impl SpoolStatus {
    /// Reads `status.json` under the spool directory `dir`.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join("status.json")).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Where the owner thread answers a request.
type Reply<T> = oneshot::Sender<Result<T, SpoolError>>;

/// A record to store.
struct Put {
    bytes: Vec<u8>,
    received_at_ms: u64,
    done: Reply<()>,
}

enum Command {
    Put(Put),
    Oldest(usize, Reply<Vec<(u64, Vec<u8>)>>),
    Remove(Vec<u64>, Reply<()>),
}

/// The spool; cheap to clone.
#[derive(Debug, Clone)]
pub struct DiskSpool {
    commands: mpsc::UnboundedSender<Command>,
    /// Records in the spool now.
    depth: Arc<AtomicU64>,
}

impl DiskSpool {
    /// Opens (creating) the spool under `dir`, holding at most `max_bytes` on disk.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, SpoolError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| SpoolError::Open(dir.display().to_string(), e.to_string()))?;
        let file = dir.join("spool.redb");
        let db = Database::create(&file)
            .map_err(|e| SpoolError::Open(file.display().to_string(), e.to_string()))?;
        let (depth, next, oldest) = {
            let read = db.begin_read().map_err(SpoolError::store)?;
            match read.open_table(RECORDS) {
                Ok(table) => {
                    let len = table.len().map_err(SpoolError::store)?;
                    let last = table
                        .last()
                        .map_err(SpoolError::store)?
                        .map(|(k, _)| k.value());
                    let oldest = table
                        .first()
                        .map_err(SpoolError::store)?
                        .and_then(|(_, v)| Spooled::decode(v.value()).ok())
                        .map(|s| s.unique.event.received_at_ms);
                    (len, last.map_or(0, |k| k + 1), oldest)
                }
                Err(redb::TableError::TableDoesNotExist(_)) => (0, 0, None),
                Err(e) => return Err(SpoolError::store(e)),
            }
        };
        let depth = Arc::new(AtomicU64::new(depth));
        let (commands, rx) = mpsc::unbounded_channel();
        let owner = Owner {
            db,
            file,
            status: dir.join("status.json"),
            max_bytes,
            next,
            depth: depth.clone(),
            oldest,
        };
        owner.write_status();
        std::thread::Builder::new()
            .name("hookline-spool".into())
            .spawn(move || owner.run(rx))
            .map_err(|e| SpoolError::Open(dir.display().to_string(), e.to_string()))?;
        Ok(Self { commands, depth })
    }

    /// Stores `record` durably (fsync) — or [`SpoolError::Full`].
    pub async fn put(&self, record: &Spooled) -> Result<(), SpoolError> {
        let (done, answer) = oneshot::channel();
        self.send(Command::Put(Put {
            bytes: record.encode(),
            received_at_ms: record.unique.event.received_at_ms,
            done,
        }))?;
        answer.await.map_err(|_| SpoolError::Stopped)?
    }

    /// Up to `n` records, oldest first, with their keys.
    pub async fn oldest(&self, n: usize) -> Result<Vec<(u64, Spooled)>, SpoolError> {
        let (done, answer) = oneshot::channel();
        self.send(Command::Oldest(n, done))?;
        let raw = answer.await.map_err(|_| SpoolError::Stopped)??;
        Ok(raw
            .into_iter()
            .filter_map(|(key, bytes)| match Spooled::decode(&bytes) {
                Ok(record) => Some((key, record)),
                Err(_) => {
                    tracing::error!(key, "unreadable spool record skipped");
                    None
                }
            })
            .collect())
    }

    /// Removes the records `keys` (once Redis has them).
    pub async fn remove(&self, keys: Vec<u64>) -> Result<(), SpoolError> {
        let (done, answer) = oneshot::channel();
        self.send(Command::Remove(keys, done))?;
        answer.await.map_err(|_| SpoolError::Stopped)?
    }

    /// Records waiting now.
    pub fn depth(&self) -> u64 {
        self.depth.load(Ordering::Relaxed)
    }

    fn send(&self, command: Command) -> Result<(), SpoolError> {
        self.commands.send(command).map_err(|_| SpoolError::Stopped)
    }
}

/// The thread that owns the database.
struct Owner {
    db: Database,
    file: PathBuf,
    status: PathBuf,
    max_bytes: u64,
    next: u64,
    depth: Arc<AtomicU64>,
    oldest: Option<u64>,
}

impl Owner {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        while let Some(first) = rx.blocking_recv() {
            match first {
                Command::Put(put) => {
                    let mut group = vec![put];
                    while group.len() < GROUP {
                        match rx.try_recv() {
                            Ok(Command::Put(put)) => group.push(put),
                            Ok(other) => {
                                self.put(group);
                                group = Vec::new();
                                self.handle(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if !group.is_empty() {
                        self.put(group);
                    }
                }
                other => self.handle(other),
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Put(put) => self.put(vec![put]),
            Command::Oldest(n, done) => {
                let _ = done.send(self.oldest_records(n));
            }
            Command::Remove(keys, done) => {
                let _ = done.send(self.remove(&keys));
            }
        }
    }

    /// Commits a group of puts in one transaction (one fsync); the ones that do not fit in
    /// `max_bytes` are refused.
    fn put(&mut self, group: Vec<Put>) {
        let mut room = self.max_bytes.saturating_sub(self.file_bytes());
        let mut accepted = Vec::new();
        for put in group {
            // A record costs about its size plus the tree's overhead; keep a page of margin.
            let cost = put.bytes.len() as u64 + 4096;
            if cost > room {
                let _ = put.done.send(Err(SpoolError::Full));
                continue;
            }
            room -= cost;
            accepted.push(put);
        }
        if accepted.is_empty() {
            return;
        }
        let committed = (|| {
            let write = self.db.begin_write().map_err(SpoolError::store)?;
            {
                let mut table = write.open_table(RECORDS).map_err(SpoolError::store)?;
                for (i, put) in accepted.iter().enumerate() {
                    table
                        .insert(self.next + i as u64, put.bytes.as_slice())
                        .map_err(SpoolError::store)?;
                }
            }
            write.commit().map_err(SpoolError::store)
        })();
        match committed {
            Ok(()) => {
                self.next += accepted.len() as u64;
                self.depth
                    .fetch_add(accepted.len() as u64, Ordering::Relaxed);
                let first = accepted.iter().map(|put| put.received_at_ms).min();
                self.oldest = self.oldest.or(first);
                for put in accepted {
                    let _ = put.done.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "the spool cannot write");
                for put in accepted {
                    let _ = put.done.send(Err(e.clone()));
                }
            }
        }
        self.write_status();
    }

    fn oldest_records(&self, n: usize) -> Result<Vec<(u64, Vec<u8>)>, SpoolError> {
        let read = self.db.begin_read().map_err(SpoolError::store)?;
        let table = match read.open_table(RECORDS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(SpoolError::store(e)),
        };
        let mut out = Vec::with_capacity(n);
        for item in table.iter().map_err(SpoolError::store)?.take(n) {
            let (key, value) = item.map_err(SpoolError::store)?;
            out.push((key.value(), value.value().to_vec()));
        }
        Ok(out)
    }

    fn remove(&mut self, keys: &[u64]) -> Result<(), SpoolError> {
        let write = self.db.begin_write().map_err(SpoolError::store)?;
        let (removed, left, oldest) = {
            let mut table = write.open_table(RECORDS).map_err(SpoolError::store)?;
            let mut removed = 0;
            for key in keys {
                if table.remove(key).map_err(SpoolError::store)?.is_some() {
                    removed += 1;
                }
            }
            let left = table.len().map_err(SpoolError::store)?;
            let oldest = table
                .first()
                .map_err(SpoolError::store)?
                .and_then(|(_, v)| Spooled::decode(v.value()).ok())
                .map(|s| s.unique.event.received_at_ms);
            (removed, left, oldest)
        };
        write.commit().map_err(SpoolError::store)?;
        self.depth.fetch_sub(removed, Ordering::Relaxed);
        self.oldest = oldest;
        if left == 0 {
            // Drained: give the space back.
            if let Err(e) = self.db.compact() {
                tracing::warn!(error = %e, "cannot compact the drained spool");
            }
        }
        self.write_status();
        Ok(())
    }

    fn file_bytes(&self) -> u64 {
        std::fs::metadata(&self.file).map_or(0, |m| m.len())
    }

    /// Writes `status.json` (beside, then renamed: readers never see half of it).
    fn write_status(&self) {
        let status = SpoolStatus {
            events: self.depth.load(Ordering::Relaxed),
            oldest_received_at_ms: self.oldest,
            bytes: self.file_bytes(),
        };
        let partial = self.status.with_extension("json.partial");
        let written = serde_json::to_vec(&status)
            .map_err(std::io::Error::other)
            .and_then(|text| std::fs::write(&partial, text))
            .and_then(|()| std::fs::rename(&partial, &self.status));
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot write the spool's status.json");
        }
    }
}
