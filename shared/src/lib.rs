//! hookline's core library: everything between an HTTP request and a Redis stream entry.
//!
//! # Layout
//! - [`config`]: the YAML configuration, its types, loading and validation.
//! - [`context`]: what every role runs with (config, Redis, clock).
//! - [`providers`]: one signature scheme per sender behind the [`providers::Provider`] trait.
//! - [`event`]: the stream entry of schema 1.
//! - [`dedup`]: event identities and the atomic de-duplicating append (a Lua script).
//! - [`streams`]: key names and partitioning; the only place that formats a key.
//! - [`redis`]: the one module tree every Redis command goes through: connections (single,
//!   Cluster, Sentinel; TLS, ACL), typed commands and scripts, error classification.
//! - [`ingest`]: the axum router shared by the Lambda function and `hookline serve`.
//! - [`consumer`]: consumer groups over the partition streams, at-least-once.
//! - [`summary`]: the built-in group that counts events into daily summaries.
//! - [`supervise`]: how background loops report failures (logged once, counted, backed off).
//! - [`spool`]: where ingest keeps verified events while Redis cannot take them (a local
//!   redb store or an SQS FIFO queue), and their drain back.
//! - [`mirror`], [`sqs`]: the SQS mirror of a migration, and SQS messages and queues.
//! - [`objects`]: the archive's object store (`file://`, S3); [`aws`]: SDK error lines.
//! - [`sinks`]: where consumers deliver (`http`, `stream`, `log`, or your own).
//! - [`metrics`], [`telemetry`]: metric names and the Prometheus recorder; log set-up.
//! - [`secret`]: values that never reach a log; [`clock`]: where the time comes from.
//! - [`privacy`]: personal fields masked in the payloads shown to operators.
#![forbid(unsafe_code)]

pub use context::Context;

pub mod attempts;
pub mod audit;
pub mod aws;
pub mod batcher;
pub mod clock;
pub mod config;
pub mod consumer;
pub mod context;
pub mod dedup;
pub mod event;
pub mod ingest;
pub mod metrics;
pub mod mirror;
pub mod objects;
pub mod privacy;
pub mod providers;
pub mod redis;
pub mod secret;
pub mod sinks;
pub mod spool;
pub mod sqs;
pub mod streams;
pub mod summary;
pub mod supervise;
pub mod telemetry;
