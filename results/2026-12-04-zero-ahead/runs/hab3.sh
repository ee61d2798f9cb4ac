#!/bin/bash
ONLY='latency-max$,latency-floor-10k-raw$,latency-floor-10k$'
run() { echo "$(date +%T) start $1 load $(cut -d' ' -f1 /proc/loadavg)"; RUNNEL_BENCH_TARGETS=runnel,disk-floor /work/main/bin/runnel-bench --only "$ONLY" --runnel /tmp/fx/runnel-$2 --out /tmp/fx/h3-$1 > /tmp/fx/h3-$1.log 2>&1; echo "$(date +%T) end $1 load $(cut -d' ' -f1 /proc/loadavg)"; }
run base1 base; run z161 z16; run z162 z16; run base2 base
