#!/bin/bash
# wolf.sh BIN TAG TRIES: saves a baseline, then compares TRIES invocations of one build with it
BIN=$1; TAG=$2; TRIES=$3
D=/tmp/wolf2/$TAG; rm -rf $D; mkdir -p $D; cd $D
$BIN smoke --save-baseline base.csv --out runs.csv > save.log 2>&1
for i in $(seq 1 $TRIES); do
  s=$(date +%s.%N)
  $BIN smoke --baseline base.csv --out runs.csv > try$i.log 2>&1; rc=$?
  e=$(date +%s.%N)
  echo "try $i exit $rc $(echo "$e - $s" | bc) s" >> exits.txt
done
echo DONE >> exits.txt
