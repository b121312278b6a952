#!/usr/bin/env bash
# Compose v2, idempotently. Prints the command that runs it, one line on stdout: `docker compose`
# when the docker CLI has a recent enough plugin, else the path of a test-only copy.
#
#   docker/ensure-compose.sh          (make test-compose runs it through devtools/compose_check.py)
#
# The test-only copy is Debian's own Compose v2 (package docker-compose of a newer release than
# this machine's, $UIA_COMPOSE_SUITE, default trixie: a static Go binary depending on libc only),
# fetched from the machine's Debian mirror with apt (signatures checked against the archive keyring
# apt already trusts) and unpacked with `dpkg -x` into $UIA_COMPOSE_DIR (default
# ~/.cache/unlearning-inversion/compose-v2). Nothing is installed into the system: no other
# package sees it and apt's own state stays as it was. A later run finds it and changes nothing.
set -euo pipefail
cd "$(dirname "$0")"
# The oldest Compose the project's compose files are checked with (Debian trixie's); the features
# they use (profiles, pull_policy, depends_on conditions and `required`, device reservations)
# need 2.20 or later.
MIN_VERSION=2.20.0
SUITE="${UIA_COMPOSE_SUITE:-trixie}"
dir="${UIA_COMPOSE_DIR:-$HOME/.cache/unlearning-inversion/compose-v2}"

recent_enough() {  # VERSION: is it at least MIN_VERSION?
    local version="${1#v}"
    version="${version%%-*}"  # Debian's 2.26.1-4: the upstream part
    [[ "$version" =~ ^[0-9]+\.[0-9]+ ]] || return 1
    [[ "$(printf '%s\n%s\n' "$MIN_VERSION" "$version" | sort -V | head -n1)" == "$MIN_VERSION" ]]
}

if version="$(docker compose version --short 2>/dev/null)" && recent_enough "$version"; then
    echo "docker compose"
    exit 0
fi
if version="$("$dir/docker-compose" version --short 2>/dev/null)" && recent_enough "$version"; then
    echo "$dir/docker-compose"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "error: no Compose $MIN_VERSION or later; install Docker's compose plugin, or run this as root" \
         "to fetch Debian $SUITE's docker-compose into $dir" >&2
    exit 1
fi
mirror="$(./debian-mirror.sh)"
work="$(mktemp -d /tmp/uia-compose.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/unpacked"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $SUITE main" >"$work/sources.list"
# A private apt configuration: its own source list, package lists and cache; the system's are untouched.
apt_private=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
             -o "Dir::State::lists=$work/lists" -o "Dir::Cache=$work" -o "Dir::Cache::archives=$work/archives"
             -o "APT::Sandbox::User=root")
echo "fetching Debian $SUITE's docker-compose (Compose v2) from $mirror" >&2
apt-get "${apt_private[@]}" update -q >&2
(cd "$work" && apt-get "${apt_private[@]}" download -q docker-compose >&2)
dpkg -x "$work"/docker-compose_*.deb "$work/unpacked"
binary="$work/unpacked/usr/libexec/docker/cli-plugins/docker-compose"
version="$("$binary" version --short)"
if ! recent_enough "$version"; then
    echo "error: Debian $SUITE's docker-compose is $version, older than $MIN_VERSION" >&2
    exit 1
fi
mkdir -p "$dir"
install -m 0755 "$binary" "$dir/docker-compose.new"
mv "$dir/docker-compose.new" "$dir/docker-compose"  # atomic: a concurrent run sees the old or the new
echo "Compose $version in $dir" >&2
echo "$dir/docker-compose"
