#!/usr/bin/env bash
# Build a local base image (Debian bookworm, whose python3 is 3.11) without any container
# registry: debootstrap a minimal root file system from the apt mirror this machine uses and
# `docker import` it. Idempotent: an existing image of that tag is kept.
#
#   docker/build-base.sh [TAG]        (default uia-base:bookworm; needs root, debootstrap, docker)
#
# The Dockerfile's default base stays the public python:3.11-slim; this image replaces it only
# where no registry is reachable (`make test-compose` passes it as BASE_IMAGE).
set -euo pipefail
TAG="${1:-uia-base:bookworm}"
SUITE=bookworm

if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "base image $TAG exists" >&2
    exit 0
fi

# The mirror apt is configured with (deb822 or one-line sources); deb.debian.org otherwise.
mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    mirror="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)"
fi
if [[ -z "$mirror" ]]; then
    mirror="$(grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1 || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

root="$(mktemp -d /tmp/uia-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "debootstrap $SUITE from $mirror into $root" >&2
# python3-venv: the Dockerfile installs into a venv, the same way on this base and on python:3.11-slim.
debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$root" "$mirror" >&2

# Nothing an image needs: package caches, lists, documentation.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/tmp/*

tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --message "debootstrap $SUITE minbase + python3 from $mirror" - "$TAG" >&2
echo "built $TAG" >&2
