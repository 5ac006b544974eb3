#!/bin/bash
# wolfref.sh BIN REF TAG TRIES: TRIES invocations of smoke compared with a reference build run alongside
BIN=$1; REF=$2; TAG=$3; TRIES=$4
D=/tmp/wolf2/$TAG; rm -rf $D; mkdir -p $D; cd $D
for i in $(seq 1 $TRIES); do
  s=$(date +%s.%N)
  $BIN smoke --reference-binary $REF --out runs.csv > try$i.log 2>&1; rc=$?
  e=$(date +%s.%N)
  echo "try $i exit $rc $(echo "$e - $s" | bc) s" >> exits.txt
done
echo DONE >> exits.txt
