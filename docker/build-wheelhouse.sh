#!/usr/bin/env bash
# Download every wheel the images install into a wheelhouse on the host, with the host's pip and
# its configuration (index, certificates): the images then install with `pip install --no-index
# --find-links`, and no registry setting ever enters an image. Versions: constraints.txt.
# Idempotent: wheels already there are kept, only missing ones are fetched.
#
#   docker/build-wheelhouse.sh [DIR]    (default $UIA_WHEELHOUSE or ~/.cache/unlearning-inversion/wheelhouse)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-${UIA_WHEELHOUSE:-$HOME/.cache/unlearning-inversion/wheelhouse}}"
python="${PYTHON:-.venv/bin/python}"
mkdir -p "$dir"
reqs="$(mktemp)"
trap 'rm -f "$reqs"' EXIT
# The plain dependencies are the attacker's; the ml extra adds the server's and developer's (torch);
# evaluation and ray add the grid image's (docker-compose.yml, profile grid).
python3 docker/requirements.py ml evaluation ray >"$reqs"
"$python" -m pip download --quiet --quiet --disable-pip-version-check --only-binary=:all: \
    -c constraints.txt -r "$reqs" -d "$dir" >&2
echo "wheelhouse $dir: $(ls "$dir" | wc -l) wheels, $(du -sh "$dir" | cut -f1)" >&2
