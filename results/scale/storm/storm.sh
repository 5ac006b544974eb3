#!/bin/bash
# storm.sh BIN N ET SECS OUT.jsonl [NODE FLAGS...]: N nodes, cold start (n0 bootstraps and adds
# the others), on a raftrtc signaling server; one subscriber (events.py) logs every node's events
# from launch for SECS seconds to OUT.jsonl; then every node is killed. summary.py reads the log.
set -u
BIN=$1; N=$2; ET=$3; SECS=$4; OUT=$5; shift 5; PORT=19700
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$(mktemp -d /tmp/storm.XXXX); cd "$DIR"
$BIN signaling --listen 127.0.0.1:$PORT > sig.log 2>&1 & SIG=$!
sleep 0.5
for i in $(seq 0 $((N-1))); do
  first=""; [ $i = 0 ] && first="--first"
  $BIN node --id n$i $first --start --signaling-url http://127.0.0.1:$PORT/ --cluster storm$N \
    --control $DIR/n$i.sock --log-level warn --election-timeout $ET "$@" > n$i.log 2>&1 &
  echo $! >> pids
done
python3 "$HERE/events.py" "$DIR" "$N" "$SECS" > "$OUT"
kill -9 $(cat pids) $SIG 2>/dev/null; wait 2>/dev/null
rm -rf "$DIR"
