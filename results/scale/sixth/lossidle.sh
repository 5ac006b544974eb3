#!/bin/bash
# lossidle.sh BIN N SECS NET: N nodes cold (ET 250) with --net NET, info logs; from 15 s after
# launch, SECS seconds; prints the "peer down" lines logged then (each end of a link logs its own)
# and the "link failed" lines of the whole run.
BIN=$1; N=$2; SECS=$3; NET=$4; PORT=19700
DIR=$(mktemp -d /tmp/idle/loss.XXXX); cd $DIR
$BIN signaling --listen 127.0.0.1:$PORT > sig.log 2>&1 & SIG=$!
sleep 0.5
for i in $(seq 0 $((N-1))); do
  first=""; [ $i = 0 ] && first="--first"
  $BIN node --id n$i $first --start --signaling-url http://127.0.0.1:$PORT/ --cluster loss$N \
    --control $DIR/n$i.sock --log-level info --net "$NET" > n$i.log 2>&1 &
  echo $! >> pids
done
sleep 15
before=$(cat n*.log | grep -c "peer down")
sleep $SECS
after=$(cat n*.log | grep -c "peer down")
lf=$(cat n*.log | grep -c "link failed")
echo "$(basename $BIN) N=$N net=$NET: peer down lines in the first 15 s $before, in the next $SECS s $((after-before)); link failed lines in all $lf"
kill $(cat pids) $SIG 2>/dev/null; wait 2>/dev/null
