#!/bin/sh
# Entrypoint of the grid's driver (docker-compose.yml, profile grid): join the Ray cluster at
# $RAY_ADDRESS as a node that offers no CPUs, then run the command.
#
#   uia-ray-driver python -m evaluation evaluation/configs/tiny.toml --executor ray --workers 2
#
# `ray.init(address=RAY_ADDRESS)` connects a driver through a Ray node on its own machine (Ray
# Client, `ray://`, would need grpcio, which the project does not install); on a real cluster
# that is the head or any node. Here the driver's container becomes such a node, with no CPUs, so
# that every task still runs on the workers.
set -eu
: "${RAY_ADDRESS:?RAY_ADDRESS must name the Ray head (host:port)}"
ray start --address="$RAY_ADDRESS" --num-cpus=0 --disable-usage-stats >&2
exec "$@"
