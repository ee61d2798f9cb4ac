#!/bin/bash
ONLY='produce-acksall$,produce-acksall-many$,latency-max$,latency-50$,many-partitions-8$,latency-floor-1k$'
run() { echo "$(date +%T) start $1 load $(cut -d' ' -f1 /proc/loadavg)"; RUNNEL_BENCH_TARGETS=runnel,disk-floor /work/main/bin/runnel-bench --only "$ONLY" --runnel /tmp/fx/runnel-$2 --out /tmp/fx/h-$1 > /tmp/fx/h-$1.log 2>&1; echo "$(date +%T) end $1 load $(cut -d' ' -f1 /proc/loadavg)"; }
run base1 base; run za1 za; run za2 za; run base2 base
