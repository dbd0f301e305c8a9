//! The `hookline` application: every role the binary runs, as library functions that take
//! what they need — a [`Context`](hookline_shared::Context) (config, Redis, clock), bound
//! listeners and a shutdown token — so tests run the very same code in-process on
//! `127.0.0.1:0`, and `main.rs` is only clap and dispatch.
//!
//! # Layout
//! - [`serve`]: the ingest router on the public listener ([`front_door`]: connection and
//!   header timeouts, a connection limit), the operational routes on theirs.
//! - [`consume`], [`schedule`]: the consumer groups and the job scheduler, with
//!   [`ops`] (`/healthz`, `/readyz`, `/metrics`) on `observability.listen`.
//! - [`dev`]: all of the above in one process, with a redis-server of its own.
//! - [`console`]: the web operator console (`hookline console`, or `/console` on
//!   `observability.listen`).
//! - [`commands`]: the operator commands (`stats`, `dlq`, `job`, `replay`, …).
//! - [`shutdown`]: SIGTERM and Ctrl-C as a cancellation token.
//! - [`error`]: the roles' error type and the CLI's, which decides the exit code.
#![forbid(unsafe_code)]

pub mod commands;
pub mod console;
pub mod consume;
pub mod dev;
pub mod error;
pub mod front_door;
pub mod loadtest;
pub mod ops;
pub mod schedule;
pub mod serve;
pub mod shutdown;

pub use error::{AppError, CliError};
