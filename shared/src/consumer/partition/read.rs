//! Reading new entries within the process's byte budget.

use std::time::Duration;

use redis::RedisError;

use super::Worker;
use crate::consumer::budget::{Held, Read};
use crate::redis::streams::Entry;
use crate::redis::{RedisConn, groups};

/// How long one blocking XREADGROUP waits; also bounds how late a due retry or a shutdown
/// is noticed.
const BLOCK: Duration = Duration::from_millis(250);

impl Worker {
    /// The next new entries, at most `count`, each with its share of the byte budget; waits
    /// up to [`BLOCK`] on the worker's own connection `reader` when there are none.
    pub(super) async fn next_batch(
        &self,
        reader: &mut RedisConn,
        count: usize,
    ) -> Result<Vec<(Entry, Held)>, RedisError> {
        let read = Read {
            stream: &self.stream,
            who: (&self.group, &self.consumer),
            from: groups::NEW,
            count,
            block: BLOCK,
            waiting: &self.health.wait,
        };
        self.shared
            .budget
            .read(&mut self.conn.clone(), reader, read)
            .await
    }
}
