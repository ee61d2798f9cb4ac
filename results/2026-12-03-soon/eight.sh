#!/bin/bash
# many-partitions-8 alone, soon first then base, alternated
for i in 1 2 3; do
  for arm in soon base; do
    out=/tmp/lead-ab/eight-$arm-$i; rm -rf $out
    RUNNEL_BENCH_TARGETS=runnel /work/main/bin/runnel-bench --only 'many-partitions-8$' --runnel /tmp/lead-ab/runnel-$arm --out $out > $out.log 2>&1
    echo "$(date +%T) load=$(cut -d' ' -f1 /proc/loadavg) $arm $i"
  done
done
