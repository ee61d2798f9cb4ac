#!/bin/bash
# summ.sh NAME...: MB/s of each scenario, disk sustained rate, ratio
for n in "$@"; do
  r=$n/out/report.md
  sus=$(grep -m1 "disk sustained rate: sequential" $r | awk -F'|' '{print $3}' | tr -d ' ')
  each=$(grep -m1 "fdatasync each" $r | awk -F'|' '{print $3}' | tr -d ' ')
  for s in $(grep "^### produce-acksall" $r | awk '{print $2}'); do
    mb=$(sed -n "/^### $s\$/,/^### /p" $r | grep -m1 "^| runnel |" | awk -F'|' '{print $4}' | tr -d ' ')
    p99=$(sed -n "/^### $s\$/,/^### /p" $r | grep -m1 "^| runnel |" | awk -F'|' '{print $7}' | awk -F/ '{print $3}')
    echo "$n $s MB/s=$mb sustained=$sus each=$each ratio=$(echo "scale=3; $mb/$sus" | bc) p99=$p99"
  done
done
