#!/bin/bash
# alternated pairs: base then inline, N pairs
cd /work/wt/floor
for i in $(seq $1 $2); do
  for arm in base ${ARM:-inline}; do
    echo "$(date -u +%T) pair $i $arm load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/floor-runs/ab.log
    ./bin/runnel-bench --only latency-floor-10k --runnel /tmp/floor-bin/runnel-$arm --out /tmp/floor-runs/ab-$i-$arm --work-dir /tmp/floor-runs > /tmp/floor-runs/ab-$i-$arm.log 2>&1
    echo "$(date -u +%T) pair $i $arm done load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/floor-runs/ab.log
  done
done
