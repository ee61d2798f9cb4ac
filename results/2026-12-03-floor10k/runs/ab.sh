#!/bin/bash
# ab.sh PAIRS: base, rand, in turn
for i in $(seq 1 $1); do
  for arm in base rand; do
    ./traced.sh /tmp/floor10k-bin/runnel-$arm /tmp/floor10k-runs/ab-$arm-$i
    echo "$arm $i done $(date -u +%T) $(cat /proc/loadavg)" >> ab.log
  done
done
