#!/usr/bin/env bash
# Runs every test: unit tests, and integration tests against redis-servers (single and a
# three-node cluster) that the harness starts on free ports. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --workspace --all-targets --no-fail-fast "$@"
