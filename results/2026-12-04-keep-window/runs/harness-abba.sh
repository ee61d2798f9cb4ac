#!/bin/bash
cd /work/main
for arm in A:/tmp/p10k/runnel-base B:/tmp/p10k/runnel-k64 B2:/tmp/p10k/runnel-k64 A2:/tmp/p10k/runnel-base; do
  n=${arm%%:*}; b=${arm#*:}
  echo "$n start $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  RUNNEL_BENCH_TARGETS=runnel bin/runnel-bench --only 'many-partitions-8$,many-partitions-10k$' --runnel $b --out /tmp/hk/$n > /tmp/hk/$n.log 2>&1
  echo "$n end $(date +%T) rc=$? load $(cut -d' ' -f1-3 /proc/loadavg)"
done
