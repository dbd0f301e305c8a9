//! The `stream` sink: appends each event, fields unchanged, to the stream named by the
//! first routing rule it matches (by tenant, source, event type); unmatched events are
//! delivered nowhere and acknowledged.

use super::{Delivered, Sink, SinkError};
use crate::config::Route;
use crate::event::StoredEvent;
use crate::redis::{RedisConn, streams};

/// Fan-out by routing rules.
#[derive(Debug)]
pub struct StreamSink {
    routes: Vec<Route>,
    conn: RedisConn,
}

impl StreamSink {
    /// A sink with these rules, appending over `conn`.
    pub fn new(routes: Vec<Route>, conn: RedisConn) -> Self {
        Self { routes, conn }
    }

    /// The target stream of `event`, if a rule matches.
    pub fn route(&self, event: &StoredEvent) -> Option<&str> {
        self.routes
            .iter()
            .find(|r| event.matches(&r.tenants, &r.sources, &r.event_types))
            .map(|r| r.to.as_str())
    }
}

#[async_trait::async_trait]
impl Sink for StreamSink {
    async fn deliver(&self, event: &StoredEvent) -> Result<Delivered, SinkError> {
        let Some(target) = self.route(event) else {
            return Ok(Delivered::default());
        };
        let fields = event.fields.iter().map(|(n, v)| (n.as_str(), &v[..]));
        streams::add(&mut self.conn.clone(), target, fields)
            .await
            .map(|_| Delivered::default())
            .map_err(|e| SinkError::Failed(e.to_string()))
    }
}
