#!/bin/bash
# cpu.sh SECS: each running `raftrtc node` process's CPU over SECS seconds, in % of one core
# (from /proc/<pid>/stat), busiest first, with its --id; then the sum.
SECS=$1; HZ=$(getconf CLK_TCK)
pids=$(pgrep -f "raftrtc[^ ]* node --id")
declare -A a; for p in $pids; do a[$p]=$(awk '{print $14+$15}' /proc/$p/stat); done
sleep "$SECS"
for p in $pids; do
  b=$(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null) || continue
  id=$(tr '\0' ' ' < /proc/$p/cmdline | sed 's/.*--id \([^ ]*\).*/\1/')
  echo "$id $(echo "scale=2; ($b - ${a[$p]}) * 100 / $HZ / $SECS" | bc)"
done | sort -k2 -n -r | awk '{print; s += $2} END {printf "sum %.1f\n", s}'
