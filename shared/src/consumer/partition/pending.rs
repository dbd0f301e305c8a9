//! Pending entries: retrying our own failed ones once their backoff has passed, taking over
//! those a dead consumer left (`XAUTOCLAIM`), and `hookline claim-pending`.

use std::sync::Arc;
use std::time::Duration;

use redis::RedisError;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::Worker;
use crate::consumer::acker::lock;
use crate::consumer::backoff;
use crate::redis::groups;
use crate::redis::streams::Entry;

/// How many pending entries one retry scan or claim looks at.
const SCAN: usize = 100;
/// How often pending entries are checked for due retries.
pub(super) const RETRY_SCAN_EVERY: Duration = Duration::from_millis(50);

impl Worker {
    /// Re-delivers our pending entries whose backoff has passed.
    pub(super) async fn retry_due(
        self: &Arc<Self>,
        slots: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
    ) {
        let backoff = self.config.backoff;
        let due = |id: &str, deliveries: u64, idle: Duration| {
            let wait = backoff::delay(&backoff, id, deliveries);
            (idle >= wait).then_some(wait)
        };
        let scanned = self
            .redeliver(Some(&self.consumer), due, slots, tasks)
            .await;
        self.health.retry.observe(scanned);
    }

    /// Delivers now, in this process, every entry of any consumer idle longer than
    /// `claim_idle` (`hookline claim-pending`), waiting for the deliveries; returns how many
    /// were taken.
    pub async fn claim_and_deliver(self: &Arc<Self>) -> Result<usize, RedisError> {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let mut tasks = JoinSet::new();
        let claim_idle = self.config.claim_idle.get();
        let mut taken = 0;
        loop {
            let due = |_: &str, _: u64, idle: Duration| (idle >= claim_idle).then_some(claim_idle);
            let n = self.redeliver(None, due, &slots, &mut tasks).await?;
            while tasks.join_next().await.is_some() {}
            self.settle().await;
            if n == 0 {
                return Ok(taken);
            }
            taken += n;
        }
    }

    /// Scans pending entries (of `owner`, or of every consumer), and for each that `due`
    /// names a minimum idle time for, claims it with `XCLAIM` (which succeeds only if it is
    /// still that idle, so a consumer that took it meanwhile keeps it, and bumps its delivery
    /// count) and delivers it within the byte budget. Returns how many were claimed.
    async fn redeliver(
        self: &Arc<Self>,
        owner: Option<&str>,
        due: impl Fn(&str, u64, Duration) -> Option<Duration>,
        slots: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
    ) -> Result<usize, RedisError> {
        let mut conn = self.conn.clone();
        let pending = groups::pending(&mut conn, &self.stream, &self.group, owner, SCAN).await?;
        let budget = &self.shared.budget;
        let mut claimed = 0;
        for entry in pending {
            if lock(&self.in_flight).contains(&entry.id) {
                continue;
            }
            let deliveries = entry.deliveries;
            let Some(min_idle) = due(&entry.id, deliveries, entry.idle) else {
                continue;
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                break;
            };
            let who = (
                self.stream.as_str(),
                self.group.as_str(),
                self.consumer.as_str(),
            );
            let Some(entry) = groups::claim(&mut conn, who, min_idle, &entry.id).await? else {
                continue;
            };
            claimed += 1;
            lock(&self.in_flight).insert(entry.id().to_owned());
            let size = entry.size();
            match entry {
                Entry::Event(event) => {
                    let bytes = budget.cover(budget.none(), size).await;
                    tasks.spawn(self.clone().deliver(event, deliveries + 1, (slot, bytes)));
                }
                Entry::Unreadable(raw) => self.pass_unreadable(&raw),
            }
        }
        Ok(claimed)
    }

    /// Takes over entries that another consumer left idle for `claim_idle`.
    pub(super) async fn claim_abandoned(&self) {
        let mut conn = self.conn.clone();
        let mut cursor = "0-0".to_owned();
        let who = (
            self.stream.as_str(),
            self.group.as_str(),
            self.consumer.as_str(),
        );
        let idle = self.config.claim_idle.get();
        for _ in 0..10 {
            match self
                .health
                .claim
                .observe(groups::take_over_ids(&mut conn, who, idle, &cursor, SCAN).await)
            {
                Some(page) => {
                    if !page.taken.is_empty() {
                        tracing::info!(group = %self.group, stream = %self.stream, entries = page.taken.len(), "claimed entries left by another consumer");
                    }
                    if page.next == "0-0" {
                        return;
                    }
                    cursor = page.next;
                }
                None => return,
            }
        }
    }
}
