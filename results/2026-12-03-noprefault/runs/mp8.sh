#!/bin/bash
# many-partitions-8 for base, new, fix in turn, 2 rounds, after the A/B above has ended
until grep -q 'end produce-acksall-many new 3' /tmp/noprefault-runs/log.txt; do sleep 5; done
cd /work/wt/noprefault
for i in 1 2; do
  for arm in base new fix; do
    out=/tmp/noprefault-runs/mp8-$arm-$i
    rm -rf $out
    echo "$(date -u +%T) start mp8 $arm $i $(uptime)" >> /tmp/noprefault-runs/log.txt
    ./bin/runnel-bench --only many-partitions-8 --runnel /tmp/noprefault-bin/runnel-$arm --work-dir /tmp/noprefault-work --out $out > $out.stdout 2>&1
    echo "$(date -u +%T) end mp8 $arm $i rc=$? $(uptime)" >> /tmp/noprefault-runs/log.txt
    rm -rf /tmp/noprefault-work/*
  done
done
