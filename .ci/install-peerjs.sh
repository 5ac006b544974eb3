#!/usr/bin/env bash
# Install the official PeerJS server (npm package `peer`) for the signaling
# interop test (signaling/tests/peerjs_interop.rs).
#
# Usage: .ci/install-peerjs.sh [DIR]     (default DIR: /tmp/raftrtc-peerjs)
# Prints the absolute path of the server CLI on stdout, ready for:
#   export PEERJS_SERVER_BIN="$(.ci/install-peerjs.sh)"
#
# Idempotent: a second run with the same pinned version installs nothing.
# Needs Node >= 16 and npm on PATH (Node 20 in CI).
set -euo pipefail

PEER_VERSION="${PEER_VERSION:-1.0.2}"
DIR="${1:-/tmp/raftrtc-peerjs}"
BIN="$DIR/node_modules/.bin/peerjs"

command -v node >/dev/null 2>&1 || { echo "install-peerjs: node not found on PATH" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "install-peerjs: npm not found on PATH" >&2; exit 1; }

installed_version() {
    local pkg="$DIR/node_modules/peer/package.json"
    [ -f "$pkg" ] || return 1
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$pkg"
}

if [ -x "$BIN" ] && [ "$(installed_version || true)" = "$PEER_VERSION" ]; then
    echo "install-peerjs: peer@$PEER_VERSION already in $DIR" >&2
else
    mkdir -p "$DIR"
    [ -f "$DIR/package.json" ] || printf '{ "name": "raftrtc-peerjs", "private": true }\n' >"$DIR/package.json"
    echo "install-peerjs: installing peer@$PEER_VERSION into $DIR" >&2
    npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error \
        --save-exact "peer@$PEER_VERSION" >&2
fi

[ -x "$BIN" ] || { echo "install-peerjs: $BIN missing after install" >&2; exit 1; }
cd "$(dirname "$BIN")" && echo "$(pwd -P)/$(basename "$BIN")"
