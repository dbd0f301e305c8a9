#!/usr/bin/env bash
# Builds the hookline runtime image from a release binary built on this host, FROM scratch:
# the binary, the shared libraries it links (ldd), CA certificates and a nonroot user
# (uid/gid 65532) — the same runtime as Containerfile, without pulling a base image.
#
#   infra/container/build.sh                          # cargo build --release --bin hookline, then the image
#   HOOKLINE_BIN=path/to/hookline infra/container/build.sh   # package that binary instead
#   IMAGE=registry.example.com/hookline:1.2.3 infra/container/build.sh
#
# Engine: docker when `docker info` works, else podman, else buildah. The environment is
# taken as given (CONTAINERS_CONF, STORAGE_DRIVER, BUILDAH_ISOLATION, ...). Prints the tag and
# the image size at the end. Where base images can be pulled, prefer the multi-stage build:
#   docker build -f infra/container/Containerfile -t hookline .
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
image=${IMAGE:-localhost/hookline:dev}

started=$(date +%s)
bin=${HOOKLINE_BIN:-}
if [ -z "$bin" ]; then
  echo "== cargo build --release --bin hookline"
  (cd "$root" && cargo build --release --bin hookline)
  bin="${CARGO_TARGET_DIR:-$root/target}/release/hookline"
fi
[ -x "$bin" ] || { echo "no executable at $bin (set HOOKLINE_BIN)" >&2; exit 1; }

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  engine=docker
elif command -v podman >/dev/null; then
  engine=podman
elif command -v buildah >/dev/null; then
  engine=buildah
else
  echo "no container engine: install docker, podman or buildah" >&2
  exit 1
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
# Named hookline in the image whatever the file is called (HOOKLINE_BIN=/tmp/hookline-1.2).
install -m 0755 "$bin" "$context/hookline"
"$here/scratch-rootfs.sh" "$context/rootfs" "$context/hookline"
rm "$context/hookline"
# /var/lib belongs to root; Containerfile.local adds /var/lib/hookline owned by 65532.
mkdir -p "$context/rootfs/var/lib" "$context/data"
cp "$here/Containerfile.local" "$context/Containerfile"

echo "== $engine build -t $image ($bin)"
case $engine in
  docker) docker build -q -t "$image" -f "$context/Containerfile" "$context" >/dev/null ;;
  podman) podman build -q -t "$image" -f "$context/Containerfile" "$context" >/dev/null ;;
  buildah) buildah build -q -t "$image" -f "$context/Containerfile" "$context" >/dev/null ;;
esac

case $engine in
  docker) size=$(docker image inspect --format '{{.Size}}' "$image") ;;
  podman) size=$(podman image inspect --format '{{.Size}}' "$image") ;;
  buildah) size=$(buildah inspect --type image --format '{{.ImageSize}}' "$image" 2>/dev/null || echo "") ;;
esac
echo "image: $image"
if [[ $size =~ ^[0-9]+$ ]]; then
  echo "size: $size bytes ($(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1000000 }'))"
else
  echo "size: $(buildah images --noheading --format '{{.Size}}' "$image" 2>/dev/null || echo unknown)"
fi
echo "built in $(($(date +%s) - started))s"
