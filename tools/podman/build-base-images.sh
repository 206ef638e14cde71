#!/usr/bin/env bash
# Local stand-ins for the base images docker-compose.yml and the Dockerfile name, for machines that
# reach no image registry (these development machines: podman, Debian's packages, the npm registry).
# Debian bookworm from debootstrap; postgres:15 from Debian's postgresql-15 with a small entrypoint
# (initdb on first start, POSTGRES_PASSWORD / POSTGRES_DB); nats:2.10-alpine from the host's
# nats-server (2.9.10) with wget for its health check; node:20-bookworm-slim from the host's Node 20.
# Each is tagged with the name the compose file uses. Idempotent: what exists is kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${PARLEY_IMAGE_WORK:-/var/tmp/parley-images}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$work"

if ! podman image exists localhost/debian-base:bookworm; then
  [ -d "$work/rootfs/usr" ] || debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror"
  tar -C "$work/rootfs" -c . | podman import - localhost/debian-base:bookworm
fi

build() { # tag, context dir
  if podman image exists "$1"; then echo "have $1"; return; fi
  podman build --network host -t "$1" "$2"
}

ctx="$work/node" && mkdir -p "$ctx" && cp /usr/bin/node "$ctx/node" && rm -rf "$ctx/npm" && cp -r /usr/lib/node_modules/npm "$ctx/npm" \
  && cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt" && cp "$here/node.Containerfile" "$ctx/Containerfile"
build docker.io/library/node:20-bookworm-slim "$ctx"

ctx="$work/postgres" && mkdir -p "$ctx" && cp "$here/postgres.Containerfile" "$ctx/Containerfile" && cp "$here/postgres-entrypoint.sh" "$ctx/"
build docker.io/library/postgres:15 "$ctx"

ctx="$work/nats" && mkdir -p "$ctx" && cp /usr/sbin/nats-server "$ctx/nats-server" && cp "$here/nats.Containerfile" "$ctx/Containerfile"
build docker.io/library/nats:2.10-alpine "$ctx"
