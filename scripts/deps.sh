# shellcheck shell=bash
# Sourced by the scripts that install what they need on Debian/Ubuntu, when it is missing.
# Each argument is COMMAND:PACKAGE — PACKAGE is installed when COMMAND is not on the PATH.

# apt_install [--no-recommends] COMMAND:PACKAGE...
apt_install() {
  local flags=() missing=() pair sudo=""
  if [ "${1:-}" = --no-recommends ]; then
    flags+=(--no-install-recommends)
    shift
  fi
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "installing: ${missing[*]}"
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${flags[@]}" "${missing[@]}" >/dev/null
}

# pip_install COMMAND:REQUIREMENT...
pip_install() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "installing: ${missing[*]}"
  # Debian's own Python refuses system-wide pip installs unless told otherwise.
  python3 -m pip install --quiet "${missing[@]}" 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages "${missing[@]}"
}
