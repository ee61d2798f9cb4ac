#!/bin/bash
for i in 1 2; do
  for b in main nopf; do
    out=/tmp/lead-ab/mp-$b-$i; rm -rf $out
    /tmp/lead-bin/runnel-bench --only many-partitions --runnel /tmp/lead-bin/runnel-$b --out $out > $out.log 2>&1
    echo "$(date +%T) load=$(cut -d' ' -f1 /proc/loadavg) $b $i"
    for sc in many-partitions-8 many-partitions many-partitions-10k; do awk -v sc="### $sc" '$0==sc{f=1;next} /^### /{f=0} f && /^\| runnel /' $out/report.md | head -1 | cut -d'|' -f2-6,10 | sed "s/^/  $sc: /"; done
  done
done
