//! `rawconsume`: the baseline for the consumer benchmark — the tightest loop Redis allows a
//! consumer: `XREADGROUP COUNT 100` then one `XACK` of the whole batch, until the stream is
//! drained. Prints one JSON line with events/s.
#![forbid(unsafe_code)]

use std::time::Instant;

use clap::Parser;
use redis::Value;

/// Drains a stream through a fresh consumer group as fast as possible.
#[derive(Debug, Parser)]
struct Args {
    /// redis://host:port
    #[arg(long)]
    url: String,
    /// The stream to drain.
    #[arg(long)]
    stream: String,
    /// Entries per XREADGROUP.
    #[arg(long, default_value_t = 100)]
    batch: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut conn = redis::Client::open(args.url.as_str())?.get_connection()?;
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", &args.stream, "raw", "0"])
        .query(&mut conn)?;
    let started = Instant::now();
    let mut total = 0usize;
    loop {
        let reply: Value = redis::cmd("XREADGROUP")
            .arg(&[
                "GROUP",
                "raw",
                "c",
                "COUNT",
                &args.batch.to_string(),
                "STREAMS",
                &args.stream,
                ">",
            ])
            .query(&mut conn)?;
        let ids = entry_ids(reply);
        if ids.is_empty() {
            break;
        }
        total += ids.len();
        let _: usize = redis::cmd("XACK")
            .arg(&args.stream)
            .arg("raw")
            .arg(&ids)
            .query(&mut conn)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"events": total, "seconds": elapsed, "rate": total as f64 / elapsed})
    );
    Ok(())
}

/// The entry ids of an XREADGROUP reply for one stream.
fn entry_ids(reply: Value) -> Vec<Vec<u8>> {
    let Value::Array(streams) = reply else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for stream in streams {
        let Value::Array(mut parts) = stream else {
            continue;
        };
        let Some(Value::Array(entries)) = parts.pop() else {
            continue;
        };
        for entry in entries {
            if let Value::Array(mut fields) = entry
                && !fields.is_empty()
                && let Value::BulkString(id) = fields.swap_remove(0)
            {
                ids.push(id);
            }
        }
    }
    ids
}
