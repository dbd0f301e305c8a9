//! `hookline import sqs`: imports an existing SQS queue's backlog into the pipeline.
//!
//! Messages in the mirror format keep their id, source, event type, tenant and
//! `received_at`; plain messages (a legacy queue's raw webhook bodies) become events of
//! `--source` with `--event-type`, received when SQS received them. Each is appended through
//! the de-duplicating script under an identity that survives a rerun — the event id, or the
//! SQS message id of a plain message — so an import killed and rerun, or rerun without
//! `--delete`, stores nothing twice (within the source's `dedup_window`, and after it while
//! the bloom filter remembers). With `--delete` a message is deleted only after Redis
//! acknowledged its event.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use hookline_shared::Context;
use hookline_shared::config::{Config, SourceConfig};
use hookline_shared::dedup::{AppendOptions, Unique};
use hookline_shared::event::{Encoding, Event};
use hookline_shared::spool::Spooled;
use hookline_shared::spool::drain::{Moved, Target};
use hookline_shared::sqs::message::{self, Message};
use hookline_shared::sqs::{Queue, Received, Scan};
use hookline_shared::streams::{Keys, partition_of};

use crate::CliError;

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The queue.
    pub queue_url: String,
    /// The source plain messages belong to.
    pub source: String,
    /// Their event type.
    pub event_type: String,
    /// Delete each message once its event is in Redis.
    pub delete: bool,
    /// How long a received message stays invisible to other readers of the queue.
    pub visibility: Duration,
}

/// Imports the queue until it has no message left that this run has not seen, printing
/// progress on standard error once a second and a summary on standard output.
pub async fn import_sqs(ctx: &Context, request: &ImportRequest) -> Result<(), CliError> {
    let config = &ctx.config;
    if !config.sources.contains_key(&request.source) {
        return Err(CliError::Usage(format!(
            "--source {}: no such source in the config (sources.{0})",
            request.source
        )));
    }
    let queue = Queue::connect(&request.queue_url).await;
    let mut target = Target {
        conn: ctx.redis.shared(),
        keys: Keys::new(config.streams.prefix.clone()),
        options: AppendOptions::from_config(config),
        // Importing from a queue must not mirror back into one.
        mirror: None,
    };
    let mut scan = Scan::new(&queue, request.visibility);
    let (mut total, mut skipped) = (Moved::default(), 0u64);
    let mut said = Instant::now();
    while let Some(batch) = scan.next().await.context("cannot read the queue")? {
        let mut records = Vec::with_capacity(batch.len());
        let mut imported: Vec<&Received> = Vec::with_capacity(batch.len());
        for received in &batch {
            match record(config, request, received, ctx.clock.now_ms()) {
                Ok(record) => {
                    records.push(record);
                    imported.push(received);
                }
                Err(why) => {
                    tracing::warn!(message_id = %received.message_id, reason = %why, "message skipped (left in the queue)");
                    skipped += 1;
                }
            }
        }
        let refs: Vec<&Spooled> = records.iter().collect();
        let moved = target
            .append(&refs, ctx.clock.now_ms())
            .await
            .map_err(|e| anyhow::anyhow!("redis refused the import: {e}"))?;
        if request.delete {
            for chunk in imported.chunks(10) {
                let receipts: Vec<&str> = chunk.iter().map(|m| m.receipt.as_str()).collect();
                queue
                    .delete(&receipts)
                    .await
                    .context("cannot delete imported messages")?;
            }
        }
        total.new += moved.new;
        total.duplicates += moved.duplicates;
        if said.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "imported {} message(s): {} new, {} already there, {skipped} skipped…",
                total.new + total.duplicates,
                total.new,
                total.duplicates
            );
            said = Instant::now();
        }
    }
    if !request.delete {
        scan.release().await;
    } else if let Ok(n @ 1..) = queue.in_flight().await {
        eprintln!(
            "note: {n} message(s) are in flight (being read elsewhere, or by a killed run): \
             they become visible again within their visibility timeout; run the import again then"
        );
    }
    println!(
        "imported {} message(s) from {}: {} new event(s), {} already in Redis, {skipped} skipped{}",
        total.new + total.duplicates,
        request.queue_url,
        total.new,
        total.duplicates,
        if request.delete {
            "; imported messages deleted"
        } else {
            ""
        }
    );
    Ok(())
}

/// The event a message becomes, with its partition and identity.
fn record(
    config: &Config,
    request: &ImportRequest,
    received: &Received,
    now_ms: u64,
) -> Result<Spooled, String> {
    let (event, identity) = match message::read(received).map_err(|e| e.to_string())? {
        Message::Mirrored(m) => {
            let source = config
                .sources
                .get(&m.source)
                .ok_or_else(|| format!("source {:?} is not in the config", m.source))?;
            let identity = format!("{}:{}:event:{}", m.source, m.event_type, m.id);
            let event = Event {
                id: m.id,
                tenant: m.tenant,
                provider: source.provider.as_str(),
                event_type: m.event_type,
                delivery_id: None,
                received_at_ms: m.received_at_ms,
                content_type: content_type(&m.payload).into(),
                headers: "{}".into(),
                encoding: Encoding::Identity,
                payload: m.payload,
                traceparent: None,
                source: m.source,
            };
            (event, identity)
        }
        Message::Plain(payload) => {
            let source = &config.sources[&request.source];
            let identity = format!(
                "{}:{}:sqs:{}",
                request.source, request.event_type, received.message_id
            );
            (plain(request, source, received, payload, now_ms), identity)
        }
    };
    let window = config
        .effective(&config.sources[&event.source])
        .dedup_window;
    let partition = partition_of(
        &event.tenant,
        &event.source,
        None,
        config.streams.partitions,
    );
    Ok(Spooled {
        partition,
        unique: Unique {
            identity,
            window,
            event,
        },
    })
}

/// A legacy queue's raw body as an event of `--source`.
fn plain(
    request: &ImportRequest,
    source: &SourceConfig,
    received: &Received,
    payload: Bytes,
    now_ms: u64,
) -> Event {
    Event {
        id: uuid::Uuid::now_v7(),
        tenant: source.tenant.clone(),
        source: request.source.clone(),
        provider: source.provider.as_str(),
        event_type: request.event_type.clone(),
        delivery_id: Some(received.message_id.clone()),
        received_at_ms: received.sent_at_ms.unwrap_or(now_ms),
        content_type: content_type(&payload).into(),
        headers: "{}".into(),
        encoding: Encoding::Identity,
        payload,
        traceparent: None,
    }
}

/// `application/json` when the body is JSON, else `application/octet-stream`.
fn content_type(payload: &[u8]) -> &'static str {
    match serde_json::from_slice::<serde::de::IgnoredAny>(payload) {
        Ok(_) => "application/json",
        Err(_) => "application/octet-stream",
    }
}
