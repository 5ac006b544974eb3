#!/bin/bash
# idle.sh BIN N [SECS]: N nodes (cold start, ET 250) on a raftrtc signaling server; once every node
# lists all N members, the nodes' CPU over SECS seconds of idleness and their RSS.
BIN=$1; N=$2; SECS=${3:-30}; PORT=19600
DIR=$(mktemp -d /tmp/idle/run.XXXX); cd $DIR
$BIN signaling --listen 127.0.0.1:$PORT > sig.log 2>&1 & SIG=$!
sleep 0.5
t0=$(date +%s.%N)
for i in $(seq 0 $((N-1))); do
  first=""; [ $i = 0 ] && first="--first"
  $BIN node --id n$i $first --start --signaling-url http://127.0.0.1:$PORT/ --cluster idle$N \
    --control $DIR/n$i.sock --log-level warn --election-timeout 250 > n$i.log 2>&1 &
  echo $! >> pids
done
status() { python3 - "$1" <<'PY'
import socket,sys,json
s=socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
s.sendall(b'{"cmd":"status"}\n'); buf=b''
while not buf.endswith(b'\n'): buf+=s.recv(65536)
st=json.loads(buf)['status']; print(len(st['applied_members']), len(st['peers']))
PY
}
while :; do
  ok=0; for i in $(seq 0 $((N-1))); do r=$(status $DIR/n$i.sock 2>/dev/null); [ "$r" = "$N $((N-1))" ] && ok=$((ok+1)); done
  [ $ok = $N ] && break
  [ $(echo "$(date +%s) - ${t0%.*} > 600" | bc) = 1 ] && { echo "not converged: $ok of $N"; break; }
  sleep 2
done
up=$(echo "$(date +%s.%N) - $t0" | bc)
sleep 5
ticks() { for p in $(cat pids); do awk '{print $14+$15}' /proc/$p/stat; done | paste -sd+ | bc; }
c0=$(ticks); s0=$(date +%s.%N); sleep $SECS; c1=$(ticks); s1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
cpu=$(echo "scale=3; ($c1 - $c0) / $hz / ($s1 - $s0) * 100" | bc)
rss=$(for p in $(cat pids); do awk '/VmRSS/{print $2}' /proc/$p/status; done | sort -n)
rss_max=$(echo "$rss" | tail -1); rss_med=$(echo "$rss" | awk '{a[NR]=$1}END{print a[int((NR+1)/2)]}')
sig_rss=$(awk '/VmRSS/{print $2}' /proc/$SIG/status)
echo "nodes $N: all listed all $N after ${up} s (status polled every 2 s); idle ${SECS} s: all nodes together ${cpu} % of one core (the machine has $(nproc)), RSS per node median ${rss_med} kB max ${rss_max} kB; signaling server RSS ${sig_rss} kB"
kill $(cat pids) $SIG 2>/dev/null; wait 2>/dev/null
