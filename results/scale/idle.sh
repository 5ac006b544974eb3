#!/bin/bash
# idle.sh BIN N [SECS] [ET]: N nodes (cold start, ET 250 unless given) on a raftrtc signaling
# server; once every node lists all N members, the nodes' CPU over SECS seconds of idleness, their
# wake-ups, the host's UDP datagrams and the nodes' RSS.
BIN=$1; N=$2; SECS=${3:-30}; ET=${4:-250}; PORT=19600
DIR=$(mktemp -d /tmp/idle/run.XXXX); cd $DIR
$BIN signaling --listen 127.0.0.1:$PORT > sig.log 2>&1 & SIG=$!
sleep 0.5
t0=$(date +%s.%N)
for i in $(seq 0 $((N-1))); do
  first=""; [ $i = 0 ] && first="--first"
  $BIN node --id n$i $first --start --signaling-url http://127.0.0.1:$PORT/ --cluster idle$N \
    --control $DIR/n$i.sock --log-level warn --election-timeout $ET > n$i.log 2>&1 &
  echo $! >> pids
done
# One poller for all nodes (a process per node and round was itself a load at 101 nodes):
# every 2 s, each node's status; done when every node lists all N members and N-1 peers.
python3 - "$DIR" "$N" <<'PY'
import json, socket, sys, time
d, n = sys.argv[1], int(sys.argv[2])
def status(i):
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(f"{d}/n{i}.sock")
    s.sendall(b'{"cmd":"status"}\n'); buf = b''
    while not buf.endswith(b'\n'):
        chunk = s.recv(1 << 20)
        if not chunk: break
        buf += chunk
    s.close()
    st = json.loads(buf)['status']
    return len(st['applied_members']), len(st['peers'])
start = time.time()
while True:
    ok = 0
    for i in range(n):
        try:
            ok += status(i) == (n, n - 1)
        except Exception:
            pass
    if ok == n or time.time() - start > 900:
        print(f"{ok} of {n} nodes list all after {time.time() - start:.1f} s", file=sys.stderr)
        break
    time.sleep(2)
PY
up=$(echo "$(date +%s.%N) - $t0" | bc)
sleep 5
ticks() { for p in $(cat pids); do awk '{print $14+$15}' /proc/$p/stat; done | paste -sd+ | bc; }
# Wake-ups: the nodes' main threads' voluntary context switches (each is one sleep that ended).
wakes() { for p in $(cat pids); do awk '/^voluntary_ctxt_switches/{print $2}' /proc/$p/status; done | paste -sd+ | bc; }
# Datagrams: the host's UDP InDatagrams (the nodes' links are all on this host's loopback).
dgrams() { awk '/^Udp:/{n++; if (n==2) print $2}' /proc/net/snmp; }
c0=$(ticks); w0=$(wakes); d0=$(dgrams); s0=$(date +%s.%N); sleep $SECS; c1=$(ticks); w1=$(wakes); d1=$(dgrams); s1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
cpu=$(echo "scale=3; ($c1 - $c0) / $hz / ($s1 - $s0) * 100" | bc)
rss=$(for p in $(cat pids); do awk '/VmRSS/{print $2}' /proc/$p/status; done | sort -n)
rss_max=$(echo "$rss" | tail -1); rss_med=$(echo "$rss" | awk '{a[NR]=$1}END{print a[int((NR+1)/2)]}')
sig_rss=$(awk '/VmRSS/{print $2}' /proc/$SIG/status)
wps=$(echo "scale=0; ($w1 - $w0) / ($s1 - $s0)" | bc)
dps=$(echo "scale=0; ($d1 - $d0) / ($s1 - $s0)" | bc)
echo "nodes $N, ET $ET: all listed all $N after ${up} s (status polled every 2 s); idle ${SECS} s: all nodes together ${cpu} % of one core (the machine has $(nproc)), ${wps} wake-ups/s, ${dps} UDP datagrams/s, RSS per node median ${rss_med} kB max ${rss_max} kB; signaling server RSS ${sig_rss} kB"
kill $(cat pids) $SIG 2>/dev/null; wait 2>/dev/null
