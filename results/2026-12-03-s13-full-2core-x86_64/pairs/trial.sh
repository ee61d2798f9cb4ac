#!/bin/bash
# Quiet pairs, session 13: the flusher's inline tell (maxInlineTell=8, main) vs without (0), alternated.
# usage: trial.sh <scenario-prefix> <pairs> <tag>
prefix=$1; pairs=$2; tag=$3
for i in $(seq ${START:-1} $pairs); do
  for b in noinline s13; do
    out=/tmp/lead-ab/$tag-$b-$i; rm -rf $out
    /tmp/lead-bin/runnel-bench --only "$prefix" --runnel /tmp/lead-bin/runnel-$b --out $out > $out.log 2>&1
    echo "$(date +%T) load=$(cut -d' ' -f1 /proc/loadavg) $b $i"
    for sc in $(grep -o '^### [a-z0-9-]*' $out/report.md | cut -c5-); do
      awk -v sc="### $sc" '$0==sc{f=1;next} /^### /{f=0} f && /^\| (runnel|disk-floor) /' $out/report.md | cut -d'|' -f2-7,10 | sed "s/^/  $sc: /"
    done
  done
done
