#!/bin/bash
# ab.sh PREFIX ONLY PAIRS: base, pw in turn
cd /tmp/smallpw-runs
for i in $(seq 1 $3); do
  for arm in base pw; do
    ./run.sh $arm /tmp/smallpw-runs/$1-$arm-$i $2
    echo "$1 $arm $i done $(date -u +%T) $(cat /proc/loadavg)" >> ab.log
  done
done
