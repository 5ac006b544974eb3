#!/bin/bash
# measure.sh BIN: raftrtc load on this machine, loopback, ET 250 (results/load)
BIN=$1
rm -f *.csv *.log *.png *.svg exits.txt
$BIN load --nodes 5 --clients 1,4,16,64,128 --runs 3 --duration 10s --warmup 2s --seed 1000 --out closed.csv > closed-5.log 2>&1; echo "closed 5 exit $?" >> exits.txt
$BIN load --nodes 21 --clients 1,4,16,64,128 --duration 10s --warmup 2s --seed 2000 --out closed.csv > closed-21.log 2>&1; echo "closed 21 exit $?" >> exits.txt
$BIN load --nodes 5 --clients 64 --rate 1000,2000,4500,7000,9000,12000 --duration 10s --warmup 2s --seed 3000 --out open.csv > open-5.log 2>&1; echo "open 5 exit $?" >> exits.txt
echo DONE >> exits.txt
