#!/bin/bash
# measure-large.sh BIN OUTDIR [SIZES] [ETS]: issue 14's large clusters through the bench: cold up
# (with its breakdown), kill leader, kill half, propagate 1 and 100; 3 runs of each size x ET; a
# run times out after $TIMEOUT seconds (default 120).
set -u
BIN=$1; OUT=$2; SIZES=${3:-61,81}; ETS=${4:-1000,250}
mkdir -p "$OUT"
for et in ${ETS//,/ }; do
  common="--nodes $SIZES --election-timeout $et --runs 3 --timeout ${TIMEOUT:-120} --seed $et"
  $BIN up $common --breakdown --out "$OUT/up.csv" > "$OUT/up-$et.log" 2>&1
  $BIN kill --kill leader $common --out "$OUT/kill-leader.csv" > "$OUT/kill-leader-$et.log" 2>&1
  $BIN kill --kill half $common --out "$OUT/kill-half.csv" > "$OUT/kill-half-$et.log" 2>&1
  $BIN propagate --messages 1 $common --out "$OUT/propagate-1.csv" > "$OUT/propagate-1-$et.log" 2>&1
  $BIN propagate --messages 100 $common --out "$OUT/propagate-100.csv" > "$OUT/propagate-100-$et.log" 2>&1
done
