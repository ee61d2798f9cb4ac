#!/bin/bash
# usage: ab.sh <scenario-prefix> <pairs> ; base and new in turn
cd /work/wt/noprefault
scen=$1; pairs=$2
for i in $(seq 1 $pairs); do
  for arm in base new; do
    out=/tmp/noprefault-runs/$scen-$arm-$i
    rm -rf $out
    echo "$(date -u +%T) start $scen $arm $i $(uptime)" >> /tmp/noprefault-runs/log.txt
    ./bin/runnel-bench --only $scen --runnel /tmp/noprefault-bin/runnel-$arm --work-dir /tmp/noprefault-work --out $out > $out.stdout 2>&1
    echo "$(date -u +%T) end $scen $arm $i rc=$? $(uptime)" >> /tmp/noprefault-runs/log.txt
    rm -rf /tmp/noprefault-work/*
  done
done
