//! The test harness: real Redis servers on free loopback ports, started per test in temp
//! directories and stopped on drop, plus helpers to run `hookline serve` in-process (the
//! binary's own function), start the binary and read back where it listens, sign
//! requests, and receive what is delivered (webhooks, OTLP traces).
//!
//! Never touches the machine's shared Redis on 6379: every server here gets a port of its
//! own, so tests run in parallel without seeing each other's keys.

mod cluster;
mod entries;
mod github;
mod ingest;
mod lambda;
mod moto;
mod otlp;
mod process;
mod receiver;
mod sentinel;
mod server;
mod signing;
mod tls;
mod wait;

pub use cluster::RedisCluster;
pub use entries::{
    STREAM, TEST_WHSEC, append_entries, append_entry, append_entry_now, consumer_yaml, pending,
};
pub use github::{FAKE_HOOK, FakeDelivery, FakeGitHub, Scripted};
pub use ingest::{HttpClient, Reply, TestIngest, test_config};
pub use lambda::LambdaRuntimeApi;
pub use moto::MotoServer;
pub use otlp::{ExportedSpan, OtlpReceiver};
pub use process::{Process, peak_rss_mib, run_command, spawn_quiet};
pub use receiver::{Call, Policy, Receiver};
pub use sentinel::{MASTER_NAME, SentinelSet, info};
pub use server::RedisServer;
pub use signing::{github_headers, hmac_sha256_hex};
pub use tls::TestCerts;
pub use wait::{terminate, wait_until, wait_until_expired};

use std::path::PathBuf;

/// The GitHub corpus kept in the repository (`tests/corpus/github-examples.json`, see its
/// README): `(event name, compact JSON payload)` for every distinct example — five examples
/// repeat an earlier one byte for byte, and a repeat of a signed body is a duplicate, so they
/// are left out (324 of 329).
pub fn github_corpus() -> Vec<(String, Vec<u8>)> {
    let path = repo_root().join("tests/corpus/github-examples.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the corpus at {}: {e}", path.display()));
    let groups: Vec<serde_json::Value> = serde_json::from_str(&text).expect("corpus is JSON");
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for group in groups {
        let name = group["name"].as_str().unwrap_or("unknown").to_owned();
        for example in group["examples"].as_array().into_iter().flatten() {
            let body = serde_json::to_vec(example).expect("re-encodes");
            if seen.insert(body.clone()) {
                out.push((name.clone(), body));
            }
        }
    }
    out
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
