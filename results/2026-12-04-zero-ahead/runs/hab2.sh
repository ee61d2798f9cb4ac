#!/bin/bash
ONLY='latency-max$,latency-25$,many-partitions-10k$'
run() { echo "$(date +%T) start $1 load $(cut -d' ' -f1 /proc/loadavg)"; RUNNEL_BENCH_TARGETS=runnel /work/main/bin/runnel-bench --only "$ONLY" --runnel /tmp/fx/runnel-$2 --out /tmp/fx/h2-$1 > /tmp/fx/h2-$1.log 2>&1; echo "$(date +%T) end $1 load $(cut -d' ' -f1 /proc/loadavg)"; }
run base1 base; run zf1 zf; run zf2 zf; run base2 base
