#!/bin/bash
for arm in base rand; do
  uptime > /tmp/floor10k-runs/mp-$arm-2.load
  /work/wt/floor10k/bin/runnel-bench --only many-partitions --runnel /tmp/floor10k-bin/runnel-$arm --work-dir /tmp/floor10k-work --out /tmp/floor10k-runs/mp-$arm-2 > /tmp/floor10k-runs/mp-$arm-2.log 2>&1
  uptime >> /tmp/floor10k-runs/mp-$arm-2.load
  echo "mp $arm 2 done $(date -u +%T) $(cat /proc/loadavg)" >> /tmp/floor10k-runs/ab.log
done
