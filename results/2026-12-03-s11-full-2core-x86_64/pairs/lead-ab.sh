#!/bin/bash
# usage: lead-ab.sh scenario pairs
sc=$1; n=$2
for i in $(seq 1 $n); do
  for b in $ORDER; do
    out=/tmp/lead-ab/$sc-$b-$i
    rm -rf $out
    /tmp/lead-bin/runnel-bench --only $sc --runnel /tmp/lead-bin/runnel-$b --out $out > $out.log 2>&1
    line=$(grep -m1 "^| runnel |" $out/report.md | cut -d'|' -f2-4,11)
    echo "$(date +%T) load=$(cut -d' ' -f1 /proc/loadavg) $b $i $line"
  done
done
