#!/usr/bin/env bash
# Make docker usable here, idempotently: install Debian's docker.io and debootstrap when missing
# (as root, with apt), and start dockerd when none answers. Compose v2 is docker/ensure-compose.sh's.
# `make test-compose` runs it first; it changes nothing on a machine that is ready.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if ((${#need[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "error: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
        exit 1
    fi
    echo "installing ${need[*]}" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(printf '%s\n' "${need[@]}" | sort -u) >&2
fi

if docker info >/dev/null 2>&1; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "error: no docker daemon answers and only root can start one here" >&2
    exit 1
fi
log=/var/log/dockerd.log
pidfile=/var/run/docker.pid
# A daemon that is still starting or stopping holds the pid file; one that died left it behind.
for _ in $(seq 30); do
    [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    if docker info >/dev/null 2>&1; then exit 0; fi
    sleep 1
done
[[ -f $pidfile ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null && rm -f "$pidfile"
echo "starting dockerd (log: $log)" >&2
# setsid: the daemon outlives this script and make; later runs find it answering.
setsid dockerd >"$log" 2>&1 < /dev/null &
daemon=$!
for _ in $(seq 60); do
    if docker info >/dev/null 2>&1; then
        echo "dockerd is up" >&2
        exit 0
    fi
    kill -0 "$daemon" 2>/dev/null || break  # it exited: no point waiting
    sleep 1
done
echo "error: dockerd did not answer within 60 s; see $log" >&2
tail -n 20 "$log" >&2
exit 1
