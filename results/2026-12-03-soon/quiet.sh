#!/bin/bash
# quiet pairs: many-partitions 8 / 1000 / 10k, ABBA order
n=0
for arm in base soon soon base; do
  n=$((n+1))
  out=/tmp/lead-ab/quiet-$arm-$n; rm -rf $out
  RUNNEL_BENCH_TARGETS=runnel /work/main/bin/runnel-bench --only 'many-partitions-8$,many-partitions$,many-partitions-10k$' --runnel /tmp/lead-ab/runnel-$arm --out $out > $out.log 2>&1
  echo "$(date +%T) load=$(cut -d' ' -f1 /proc/loadavg) $arm $n"
done
