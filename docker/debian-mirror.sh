#!/usr/bin/env bash
# Print the Debian mirror apt is configured with (deb822 or one-line sources), the security archive
# aside; deb.debian.org when none is configured. $DEBIAN_MIRROR overrides it. One line on stdout.
#
# The project's build scripts fetch from it (docker/build-base.sh, docker/ensure-compose.sh): the
# machine's own mirror is the one source of Debian packages it is known to reach.
set -euo pipefail
mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    mirror="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)"
fi
if [[ -z "$mirror" ]]; then
    # the first URI of a `deb [options] URI suite ...` line
    mirror="$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
              | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) {print $i; break}}' \
              | grep -v security | head -n1 || true)"
fi
echo "${mirror:-http://deb.debian.org/debian}"
