//! `hookline parity`: compares what the SQS mirror queue and Redis received over a window of
//! `received_at`, the check of a migration's dual-write phase before the cutover.
//!
//! The queue is read without consuming it (each message is invisible to its other readers
//! while the scan runs, at most `--visibility-timeout`, and visible again at its end); Redis
//! is read from every tier (hot, warm, cold) as
//! `replay` reads it. Differences are printed by event id; the exit code is 0 when there are
//! none, 1 when there are.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use hookline_jobs::replay::{self, ReplayRequest};
use hookline_shared::Context;
use hookline_shared::config::ConfigError;
use hookline_shared::sqs::message::{self, Message};
use hookline_shared::sqs::{Queue, Scan};
use hookline_shared::streams::Keys;

use crate::CliError;

/// What to compare.
#[derive(Debug, Clone)]
pub struct ParityRequest {
    /// The mirror queue.
    pub queue_url: String,
    /// Start of the window on `received_at`, ms since the epoch (inclusive).
    pub from_ms: u64,
    /// End (exclusive).
    pub to_ms: u64,
    /// How long a read message stays invisible to the queue's other readers.
    pub visibility: Duration,
}

/// Event ids (and their source) of each side, inside the window.
type Ids = BTreeMap<uuid::Uuid, String>;

/// Prints both sides' counts and every id only one side has; fails when there is one.
pub async fn parity(ctx: &Context, request: &ParityRequest) -> Result<(), CliError> {
    if request.from_ms >= request.to_ms {
        return Err(CliError::Usage("--from must be before --to".into()));
    }
    let in_window = |at: u64| (request.from_ms..request.to_ms).contains(&at);
    let queue = Queue::connect(&request.queue_url).await;
    let mut scan = Scan::new(&queue, request.visibility);
    let (mut mirrored, mut other) = (Ids::new(), 0u64);
    while let Some(batch) = scan.next().await.context("cannot read the queue")? {
        for received in &batch {
            match message::read(received) {
                Ok(Message::Mirrored(m)) if in_window(m.received_at_ms) => {
                    mirrored.insert(m.id, m.source);
                }
                Ok(Message::Mirrored(_)) => {}
                Ok(Message::Plain(_)) | Err(_) => other += 1,
            }
        }
    }
    scan.release().await;
    let config = &ctx.config;
    let archive = hookline_shared::objects::store_for(config)
        .await
        .map_err(|why| ConfigError::at("lifecycle.archive", why.to_string()))?;
    let window = ReplayRequest {
        from_ms: request.from_ms,
        to_ms: request.to_ms,
        source: None,
        event_type: None,
        to_stream: None,
        dry_run: true,
        suspects: false,
    };
    let events = replay::matching(
        &mut ctx.redis.shared(),
        &Keys::new(config.streams.prefix.clone()),
        config.streams.partitions,
        archive.as_deref(),
        &window,
    )
    .await
    .context("cannot read the events from Redis")?;
    let stored: Ids = events
        .iter()
        // Replays are copies, not events the mirror saw.
        .filter(|(_, e)| e.get("replay_of").is_none())
        .filter_map(|(_, e)| Some((e.text("id").parse().ok()?, e.text("source").to_owned())))
        .collect();
    let only_sqs: Vec<_> = mirrored
        .iter()
        .filter(|(id, _)| !stored.contains_key(id))
        .collect();
    let only_redis: Vec<_> = stored
        .iter()
        .filter(|(id, _)| !mirrored.contains_key(id))
        .collect();
    println!(
        "sqs: {} mirrored event(s) in the window ({other} other message(s)); redis: {} event(s)",
        mirrored.len(),
        stored.len()
    );
    for (id, source) in &only_sqs {
        println!("missing from redis: {id} ({source})");
    }
    for (id, source) in &only_redis {
        println!("missing from sqs: {id} ({source})");
    }
    if only_sqs.is_empty() && only_redis.is_empty() {
        println!("parity: no differences");
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "parity: {} event(s) missing from redis, {} missing from sqs",
        only_sqs.len(),
        only_redis.len()
    )
    .into())
}
