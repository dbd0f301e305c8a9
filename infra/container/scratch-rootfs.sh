#!/usr/bin/env bash
# scratch-rootfs.sh DEST BINARY...
#
# Stages a minimal root filesystem in DEST for a `FROM scratch` image around dynamically
# linked host binaries (what distroless/cc gives, made from the host's own files):
#   DEST/usr/local/bin/NAME            each BINARY
#   DEST/<path of each library>        every shared library `ldd` resolves, and the loader
#   DEST/etc/ssl/certs/ca-certificates.crt   the host's CA bundle (S3 over HTTPS, https sinks)
#   DEST/etc/passwd, DEST/etc/group    root and nonroot (uid/gid 65532, as in distroless)
#   DEST/etc/nsswitch.conf             hosts: files dns (glibc's resolver order)
#   DEST/tmp                           mode 1777 (empty; mount a tmpfs where a program needs it)
# Used by build.sh (the hookline image) and test.sh (a local redis image). Needs ldd.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 DEST BINARY..." >&2
  exit 2
fi
dest=$1
shift
ca_bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

mkdir -p "$dest/usr/local/bin" "$dest/etc/ssl/certs" "$dest/tmp"
chmod 1777 "$dest/tmp"

for bin in "$@"; do
  [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 1; }
  install -m 0755 "$bin" "$dest/usr/local/bin/$(basename "$bin")"
  # `ldd` prints `name => /path (addr)` per library and `/path/to/loader (addr)`; the vDSO
  # has no path. A static binary prints "not a dynamic executable" (and needs nothing).
  if libs=$(ldd "$bin" 2>/dev/null); then
    while read -r lib; do
      [ -n "$lib" ] || continue
      mkdir -p "$dest$(dirname "$lib")"
      cp -L "$lib" "$dest$lib"
    done < <(printf '%s\n' "$libs" | grep -o '/[^ ]*' | sort -u)
  fi
done

if [ -f "$ca_bundle" ]; then
  install -m 0644 "$ca_bundle" "$dest/etc/ssl/certs/ca-certificates.crt"
else
  echo "warning: no CA bundle at $ca_bundle; TLS to S3 or https sinks will fail" >&2
fi

cat >"$dest/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$dest/etc/group" <<'GROUP'
root:x:0:
nonroot:x:65532:
GROUP
echo 'hosts: files dns' >"$dest/etc/nsswitch.conf"
chmod 0644 "$dest/etc/passwd" "$dest/etc/group" "$dest/etc/nsswitch.conf"
