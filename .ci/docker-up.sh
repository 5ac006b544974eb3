#!/usr/bin/env bash
# Make a Docker engine answer, for the docker launcher's tests (bench/tests/docker_engine.rs).
#
# - installs `docker.io` from apt when `docker` or `dockerd` is missing;
# - starts `dockerd` in the background when nothing answers (the Debian package does not start
#   it without systemd), logging to $DOCKERD_LOG and remembering its pid in $DOCKERD_PIDFILE so
#   .ci/docker-down.sh stops only a daemon this script started;
# - waits until the engine answers (at most $DOCKER_UP_TIMEOUT seconds) and prints its version;
# - makes the engine a one-node swarm manager (`docker swarm init --advertise-addr 127.0.0.1`)
#   for the swarm launcher's tests, unless it already is in a swarm; a swarm it made is
#   remembered in $SWARM_MARKER so .ci/docker-down.sh leaves it again.
#
# With CI=true a failure exits 1 (the docker tests must not skip silently there); otherwise it
# warns and exits 0, and the docker tests skip with a message.
# Idempotent: with an engine already answering it only prints the version.
# If DOCKER_HOST names a non-default engine, it is only checked, never started.
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/tmp/raftrtc-dockerd.log}"
DOCKERD_PIDFILE="${DOCKERD_PIDFILE:-/tmp/raftrtc-dockerd.pid}"
DOCKER_UP_TIMEOUT="${DOCKER_UP_TIMEOUT:-60}"
SWARM_MARKER="${SWARM_MARKER:-/tmp/raftrtc-swarm.ours}"

STARTED=0

say() { echo "docker-up: $*" >&2; }

fail() {
    say "$*"
    if [ "$STARTED" = 1 ] && [ -f "$DOCKERD_LOG" ]; then
        say "last lines of $DOCKERD_LOG:"
        tail -n 20 "$DOCKERD_LOG" >&2 || true
    fi
    if [ "${CI:-}" = "true" ]; then
        say "CI=true: failing (the Docker tests must run here)"
        exit 1
    fi
    say "WARNING: no Docker engine; the Docker tests will be skipped"
    exit 0
}

answers() { docker info >/dev/null 2>&1; }

print_version() {
    docker version --format 'docker-up: engine {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}' >&2 \
        || docker version >&2
}

# 1. The package.
if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
    say "installing docker.io from apt"
    if [ "$(id -u)" -ne 0 ]; then
        fail "docker.io is missing and installing it needs root"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || fail "apt-get update failed"
    apt-get install -y -qq docker.io >&2 || fail "apt-get install docker.io failed"
fi

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true; }

# A one-node swarm on loopback: overlay networks and service tasks, nothing reachable
# from outside.
ensure_swarm() {
    local state
    state="$(swarm_state)"
    if [ "$state" = "active" ]; then
        say "already in a swarm"
        return 0
    fi
    say "docker swarm init --advertise-addr 127.0.0.1 (was: ${state:-unknown})"
    if docker swarm init --advertise-addr 127.0.0.1 >&2; then
        touch "$SWARM_MARKER"
    else
        fail "docker swarm init failed"
    fi
}

# 2. Already answering?
if answers; then
    print_version
    ensure_swarm
    exit 0
fi

case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
    unix:///var/run/docker.sock | unix:///run/docker.sock) ;;
    *) fail "DOCKER_HOST=$DOCKER_HOST does not answer (not starting a local daemon for it)" ;;
esac

if [ "$(id -u)" -ne 0 ]; then
    fail "no engine answers and starting dockerd needs root"
fi

# 3. Start dockerd (once more without iptables if the first start dies early, e.g. in a
#    container without the netfilter modules: the benchmark's networks need no NAT).
start_dockerd() {
    STARTED=1
    say "starting dockerd $* (log: $DOCKERD_LOG)"
    # setsid + nohup: the daemon outlives this script and its caller's job control.
    setsid nohup dockerd "$@" >>"$DOCKERD_LOG" 2>&1 </dev/null &
    echo $! >"$DOCKERD_PIDFILE"
}

wait_answer() {
    local pid deadline
    pid="$(cat "$DOCKERD_PIDFILE")"
    deadline=$((SECONDS + DOCKER_UP_TIMEOUT))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if answers; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            say "dockerd (pid $pid) exited"
            rm -f "$DOCKERD_PIDFILE"
            return 2
        fi
        sleep 0.5
    done
    return 1
}

: >"$DOCKERD_LOG"
start_dockerd
status=0
wait_answer || status=$?
if [ "$status" -eq 2 ]; then
    start_dockerd --iptables=false --ip6tables=false
    status=0
    wait_answer || status=$?
    [ "$status" -eq 0 ] || fail "dockerd did not start (also tried --iptables=false)"
elif [ "$status" -ne 0 ]; then
    fail "dockerd did not answer within ${DOCKER_UP_TIMEOUT}s"
fi

say "dockerd running, pid $(cat "$DOCKERD_PIDFILE")"
print_version
ensure_swarm
