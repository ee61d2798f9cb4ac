#!/bin/bash
# Extract: per run dir, per scenario: MB/s, consumed MB/s, produce latency, CPU s/GiB, sync split
for d in "$@"; do
  echo "$(basename $d)"
  for sc in many-partitions-8 many-partitions many-partitions-10k produce-acksall-many latency-floor-10k; do
    r=$(awk -v sc="### $sc" '$0==sc{f=1;next} /^### /{f=0} f && /^\| runnel /' $d/report.md | head -1)
    [ -z "$r" ] && continue
    sync=$(awk -v sc="### $sc" '$0==sc{f=1;next} /^### /{f=0} f && /^\| runnel /' $d/report.md | sed -n 2p | awk -F'|' '{print $(NF-1)}')
    echo "  $sc: $(echo "$r" | awk -F'|' '{printf "MB/s %s | cons %s | lat %s | e2e %s | cpu %s", $4,$6,$7,$8,$10}') | sync $sync"
  done
done
