#!/bin/bash
# runnel.flush.max.delay.ms 5 (default) against 2, same binary, ABBA
n=0
for d in 5 2 2 5; do
  n=$((n+1))
  out=/tmp/lead-ab/delay-$d-$n; rm -rf $out
  RUNNEL_BENCH_TARGETS=runnel /work/main/bin/runnel-bench --only 'many-partitions$,many-partitions-10k$' --override runnel.flush.max.delay.ms=$d --runnel /work/main/bin/runnel --out $out > $out.log 2>&1
  echo "$(date +%T) load=$(cut -d' ' -f1 /proc/loadavg) delay=$d $n"
done
