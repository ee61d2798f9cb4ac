#!/bin/bash
# Session 14: SyncSoon (acks=1 flushes gathered for runnel.flush.max.delay.ms) against the base, alternated.
pairs=${PAIRS:-3}
for i in $(seq 1 $pairs); do
  for arm in base soon; do
    out=/tmp/lead-ab/soon2-$arm-$i; rm -rf $out
    RUNNEL_BENCH_TARGETS=runnel /work/main/bin/runnel-bench --only "${ONLY:-many-partitions-8\$,many-partitions\$,many-partitions-10k\$}" --runnel /tmp/lead-ab/runnel-$arm --out $out > $out.log 2>&1
    echo "$(date +%T) load=$(cut -d' ' -f1 /proc/loadavg) $arm $i"
    for sc in many-partitions-8 many-partitions many-partitions-10k; do
      row=$(awk -v sc="### $sc" '$0==sc{f=1;next} /^### /{f=0} f && /^\| runnel /' $out/report.md | head -1 | cut -d'|' -f3,4,5,11)
      sync=$(awk -v sc="### $sc" '$0==sc{f=1;next} /^### /{f=0} f && /^\| runnel /' $out/report.md | sed -n 2p | awk -F'|' '{print $(NF-1)}')
      echo "  $sc: $row | sync $sync"
    done
  done
done
