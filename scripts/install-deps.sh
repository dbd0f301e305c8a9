#!/usr/bin/env bash
# Installs what hookline's quick start and tests need on Debian/Ubuntu, when missing:
# redis-server, redis-cli and openssl (Debian; openssl makes the TLS tests' certificates),
# moto_server (PyPI `moto[server]`, the S3-compatible server of the archive tests), and for the
# console's browser test Debian's Chromium driven by Playwright (PyPI; its own browser
# download is not used).
# Rust itself must already be installed.
set -euo pipefail

# shellcheck source=scripts/deps.sh
source "$(dirname "$0")/deps.sh"
apt_install redis-server:redis-server redis-cli:redis-tools openssl:openssl cc:build-essential pip3:python3-pip chromium:chromium
pip_install 'moto_server:moto[server]' playwright:playwright

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust from https://rustup.rs, then run this again" >&2
  exit 1
fi
