#!/bin/bash
# measure.sh BIN: up, kill leader, propagate 1 at 3, 5 and 9 nodes on the embedded server and on the official PeerJS server
BIN=$1; URL=http://127.0.0.1:19555/   # the official server, started as results/peerjs/README.md says
rm -f *.csv *.log exits.txt
cpu() { awk '{print $14+$15}' /proc/$(pgrep -f "peerjs --port 19555" | head -1)/stat; }
for sig in embedded peerjs; do
  flags=""; [ $sig = peerjs ] && flags="--signaling-url $URL"
  c0=$(cpu); t0=$(date +%s.%N)
  $BIN up --nodes 3,5,9 --runs 10 --seed 1000 $flags --out $sig.csv > $sig-up.log 2>&1; echo "$sig up exit $?" >> exits.txt
  $BIN kill --kill leader --nodes 3,5,9 --runs 10 --seed 2000 $flags --out $sig.csv > $sig-kill.log 2>&1; echo "$sig kill exit $?" >> exits.txt
  $BIN propagate --messages 1 --nodes 3,5,9 --runs 10 --seed 3000 $flags --out $sig.csv > $sig-prop.log 2>&1; echo "$sig prop exit $?" >> exits.txt
  c1=$(cpu); t1=$(date +%s.%N)
  echo "$sig peerjs-server cpu ticks $((c1-c0)) over $(echo "$t1 - $t0" | bc) s" >> exits.txt
done
for poll in 20ms 500ms; do
  $BIN up --nodes 5 --runs 10 --seed 4000 --signaling-url $URL --peers-poll $poll --out poll-$poll.csv > poll-$poll-up.log 2>&1; echo "poll $poll up exit $?" >> exits.txt
  $BIN kill --kill leader --nodes 5 --runs 10 --seed 5000 --signaling-url $URL --peers-poll $poll --out poll-$poll.csv > poll-$poll-kill.log 2>&1; echo "poll $poll kill exit $?" >> exits.txt
done
echo DONE >> exits.txt
