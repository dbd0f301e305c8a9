#!/usr/bin/env bash
# Quick start: installs what is missing, builds hookline and runs the pipeline locally with
# `hookline dev` (its own redis-server, an embedded config). Extra arguments go to `dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --bin hookline
exec target/release/hookline dev "$@"
