#!/usr/bin/env bash
# Swarm launcher against Docker launcher on this one machine: up, kill leader and propagate 1
# at 3..21:2 nodes, ET 250 ms, 3 runs each: every Docker launcher run first, then the swarm runs.
# Needs a Docker engine in a swarm (`.ci/docker-up.sh` makes a one-node swarm).
# Usage: results/swarm/measure.sh BIN OUTDIR
set -euo pipefail
BIN="${1:?the raftrtc binary}"
OUT="${2:?the output directory}"
mkdir -p "$OUT"
for launcher in docker swarm; do
    for test in "up" "kill --kill leader" "propagate --messages 1"; do
        # shellcheck disable=SC2086
        "$BIN" $test --launcher "$launcher" --nodes 3..21:2 --runs 3 --seed 1 \
            --out "$OUT/$launcher.csv" || true
    done
done
