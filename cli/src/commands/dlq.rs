//! `hookline dlq list|retry|purge`: operator access to the dead-letter streams.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use hookline_shared::Context;
use hookline_shared::consumer::dlq::{self, DlqFilter};
use hookline_shared::streams::Keys;
use serde_json::json;

use super::audit::Auditor;
use crate::CliError;

/// What to do with dead letters.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Print matching dead letters (metadata only, never payloads).
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Re-append matching dead letters to their hot streams (event ids preserved) and remove
    /// them from the DLQ. Every consumer group sees them again.
    Retry {
        #[command(flatten)]
        filter: FilterArgs,
        /// Also retry dead letters of events that were retried before and failed again.
        #[arg(long)]
        again: bool,
    },
    /// Delete matching dead letters; without --yes only counts them.
    Purge {
        #[command(flatten)]
        filter: FilterArgs,
        /// Really delete.
        #[arg(long)]
        yes: bool,
    },
}

/// Filters shared by the dlq commands.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only this partition.
    #[arg(long)]
    partition: Option<u16>,
    /// Only events of this source.
    #[arg(long)]
    source: Option<String>,
    /// Only events of this type.
    #[arg(long)]
    event_type: Option<String>,
    /// Only dead letters of this consumer group.
    #[arg(long)]
    group: Option<String>,
    /// Only dead letters of this event.
    #[arg(long)]
    event_id: Option<String>,
    /// At most this many.
    #[arg(long)]
    count: Option<usize>,
}

impl From<FilterArgs> for DlqFilter {
    fn from(a: FilterArgs) -> Self {
        Self {
            partition: a.partition,
            source: a.source,
            event_type: a.event_type,
            group: a.group,
            event_id: a.event_id,
            count: a.count,
        }
    }
}

/// Runs one dlq command; retries and purges are recorded by `auditor`.
pub async fn run(ctx: &Context, command: DlqCommand, auditor: &Auditor) -> Result<(), CliError> {
    let config = &ctx.config;
    let mut conn = ctx.redis.shared();
    let keys = Keys::new(config.streams.prefix.clone());
    let partitions = config.streams.partitions;
    match command {
        DlqCommand::List { filter, json } => {
            let letters = dlq::list(&mut conn, &keys, partitions, &filter.into())
                .await
                .context("cannot read the dead letters")?;
            if !json {
                println!(
                    "{:<4} {:<16} {:<12} {:<12} {:<24} {:<38} {:>4}  ERROR",
                    "PART", "DLQ ENTRY", "GROUP", "SOURCE", "EVENT TYPE", "EVENT ID", "TRIES"
                );
            }
            for l in &letters {
                let e = &l.event;
                if json {
                    let line = json!({
                        "partition": l.partition, "dlq_entry_id": l.dlq_entry_id, "group": l.group,
                        "source": e.text("source"), "event_type": e.text("event_type"), "event_id": e.text("id"),
                        "attempts": l.attempts, "failed_at": l.failed_at, "error": l.error,
                        "raw": l.raw,
                    });
                    println!("{line}");
                } else {
                    println!(
                        "{:<4} {:<16} {:<12} {:<12} {:<24} {:<38} {:>4}  {}",
                        l.partition,
                        l.dlq_entry_id,
                        l.group,
                        e.text("source"),
                        e.text("event_type"),
                        e.text("id"),
                        l.attempts,
                        l.error
                    );
                }
            }
        }
        DlqCommand::Retry { filter, again } => {
            let report = retry(ctx, filter.into(), again, auditor).await?;
            let mut line = format!(
                "re-appended {} dead letter(s) to their hot streams",
                report.moved
            );
            if report.retried_before > 0 {
                line.push_str(&format!(
                    "; {} were retried before and failed again: left in the DLQ (add --again \
                     to retry them once more)",
                    report.retried_before
                ));
            }
            if report.unreadable > 0 {
                line.push_str(&format!(
                    "; {} are entries that are not events (see `dlq list --json`, field raw): \
                     left in the DLQ, never retried; purge them once inspected",
                    report.unreadable
                ));
            }
            println!("{line}");
        }
        DlqCommand::Purge { filter, yes } => {
            let filter: DlqFilter = filter.into();
            if yes {
                let deleted = purge(ctx, filter, auditor).await?;
                println!("purged {deleted} dead letter(s)");
            } else {
                let n = dlq::list(&mut conn, &keys, partitions, &filter)
                    .await
                    .context("cannot read the dead letters")?
                    .len();
                println!("would purge {n} dead letter(s); add --yes to delete them");
            }
        }
    }
    Ok(())
}

/// Re-appends the dead letters `filter` matches (with `again`, also those retried before),
/// recorded by `auditor`.
pub async fn retry(
    ctx: &Context,
    filter: DlqFilter,
    again: bool,
    auditor: &Auditor,
) -> Result<dlq::Retried, CliError> {
    let keys = Keys::new(ctx.config.streams.prefix.clone());
    let partitions = ctx.config.streams.partitions;
    let retried = dlq::retry(&mut ctx.redis.shared(), &keys, partitions, &filter, again)
        .await
        .context("retry stopped");
    let args = json!({"filter": filter, "again": again});
    auditor
        .record(ctx, "dlq retry", args, retried, |r| json!(r))
        .await
}

/// Deletes the dead letters `filter` matches, recorded by `auditor`; returns how many.
pub async fn purge(ctx: &Context, filter: DlqFilter, auditor: &Auditor) -> Result<usize, CliError> {
    let keys = Keys::new(ctx.config.streams.prefix.clone());
    let partitions = ctx.config.streams.partitions;
    let purged = dlq::purge(&mut ctx.redis.shared(), &keys, partitions, &filter)
        .await
        .context("purge stopped");
    let args = json!({ "filter": filter });
    auditor
        .record(
            ctx,
            "dlq purge",
            args,
            purged,
            |n| json!({"dead_letters": n}),
        )
        .await
}
