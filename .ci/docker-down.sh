#!/usr/bin/env bash
# Stop the dockerd that .ci/docker-up.sh started (its pid file), after sweeping whatever the
# benchmark left labelled `raftrtc.run`. A daemon this project did not start is left alone.
# Idempotent: without a pid file (or with a stale one) there is nothing to stop.
set -euo pipefail

DOCKERD_PIDFILE="${DOCKERD_PIDFILE:-/tmp/raftrtc-dockerd.pid}"
SWARM_MARKER="${SWARM_MARKER:-/tmp/raftrtc-swarm.ours}"

say() { echo "docker-down: $*" >&2; }

# Services of interrupted swarm runs, then the swarm .ci/docker-up.sh made (if it made one):
# the engine is left as it was found.
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    services="$(docker service ls -q --filter label=raftrtc.run 2>/dev/null || true)"
    [ -z "$services" ] || docker service rm $services >/dev/null 2>&1 || true
    if [ -f "$SWARM_MARKER" ]; then
        say "docker swarm leave --force (the swarm docker-up made)"
        docker swarm leave --force >&2 || true
        rm -f "$SWARM_MARKER"
    fi
fi

if [ ! -f "$DOCKERD_PIDFILE" ]; then
    say "no $DOCKERD_PIDFILE: no daemon of ours to stop"
    exit 0
fi
pid="$(cat "$DOCKERD_PIDFILE")"
if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null \
    || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "dockerd" ]; then
    say "pid file names no running dockerd; removing it"
    rm -f "$DOCKERD_PIDFILE"
    exit 0
fi

# Leftovers of interrupted runs (best effort; `raftrtc cleanup` does the same through the API).
if command -v docker >/dev/null 2>&1; then
    containers="$(docker ps -aq --filter label=raftrtc.run 2>/dev/null || true)"
    [ -z "$containers" ] || docker rm -f $containers >/dev/null 2>&1 || true
    networks="$(docker network ls -q --filter label=raftrtc.run 2>/dev/null || true)"
    [ -z "$networks" ] || docker network rm $networks >/dev/null 2>&1 || true
    volumes="$(docker volume ls -q --filter label=raftrtc.run 2>/dev/null || true)"
    [ -z "$volumes" ] || docker volume rm $volumes >/dev/null 2>&1 || true
fi

say "stopping dockerd (pid $pid)"
kill -TERM "$pid"
for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
    say "dockerd still running after 20s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$DOCKERD_PIDFILE"
say "stopped"
