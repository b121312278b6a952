#!/usr/bin/env bash
# Build a local base image (Debian bookworm, whose python3 is 3.11) without any container
# registry: debootstrap a minimal root file system from the apt mirror this machine uses and
# `docker import` it. Idempotent: an existing image of that tag is kept (a real one included).
#
#   docker/build-base.sh [TAG]        (default python:3.11-slim; needs root, debootstrap, docker)
#
# The default tag is the Dockerfile's default base: where no registry is reachable (`make
# test-compose`), this image stands in for the public python:3.11-slim under its name, so the
# images build through the Dockerfile's default path with no build argument a user would not
# pass. Its label says what it is (`docker image inspect`).
set -euo pipefail
cd "$(dirname "$0")"
TAG="${1:-python:3.11-slim}"
SUITE=bookworm

if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "base image $TAG exists" >&2
    exit 0
fi

mirror="$(./debian-mirror.sh)"
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
    --change "LABEL org.opencontainers.image.description=\"debootstrap $SUITE minbase + python3 from $mirror, standing in for $TAG (docker/build-base.sh)\"" \
    --message "debootstrap $SUITE minbase + python3 from $mirror" - "$TAG" >&2
echo "built $TAG" >&2
