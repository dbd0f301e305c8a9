#!/usr/bin/env bash
# Installs what hookline's quick start and tests need on Debian/Ubuntu, when missing:
# redis-server and redis-cli (Debian), and moto_server (PyPI `moto[server]`, the
# S3-compatible server of the archive tests). Rust itself must already be installed.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v cc >/dev/null || missing+=(build-essential)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v moto_server >/dev/null; then
  echo "installing: moto[server]"
  # Debian's own Python refuses system-wide pip installs unless told otherwise.
  python3 -m pip install --quiet 'moto[server]' 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages 'moto[server]'
fi

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust from https://rustup.rs, then run this again" >&2
  exit 1
fi
