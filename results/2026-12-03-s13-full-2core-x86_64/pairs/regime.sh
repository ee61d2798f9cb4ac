#!/bin/bash
# Session 13: the final broker's many-partitions 8 and 1,000, the default flusher against the
# per-partition path forced (syncfs.min.logs=0), alternated.
for i in 1 2; do
  for arm in default forced; do
    out=/tmp/lead-ab/regime-$arm-$i; rm -rf $out
    extra=""; [ $arm = forced ] && extra="--override runnel.flush.syncfs.min.logs=0"
    RUNNEL_BENCH_TARGETS=runnel /work/main/bin/runnel-bench --only 'many-partitions-8$,many-partitions$' $extra --runnel /work/main/bin/runnel --out $out > $out.log 2>&1
    echo "$(date +%T) load=$(cut -d' ' -f1 /proc/loadavg) $arm $i"
    for sc in many-partitions-8 many-partitions; do
      awk -v sc="### $sc" '$0==sc{f=1;next} /^### /{f=0} f && /^\| runnel /' $out/report.md | head -2 | cut -d'|' -f2-4,10,11 | sed "s/^/  $sc: /"
    done
  done
done
