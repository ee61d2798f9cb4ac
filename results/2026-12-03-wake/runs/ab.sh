#!/bin/bash
# ab.sh <tag> <new-binary> <pairs>: alternates the base binary and <new-binary> over
# `runnel-bench --only many-partitions` (8 / 1,000 / 10,000 partitions), base first in odd
# pairs, new first in even ones; each run's report in /tmp/wake-ab/<tag>/p<pair>-<arm>/,
# the 1-min load average before and after each in loads.txt.
set -u
tag=$1 new=$2 pairs=$3
base=/tmp/wake-bin/runnel-base
out=/tmp/wake-ab/$tag
mkdir -p "$out"
cd /work/wt/wake
for p in $(seq 1 "$pairs"); do
  if (( p % 2 == 1 )); then order="base new"; else order="new base"; fi
  for arm in $order; do
    bin=$base; [[ $arm == new ]] && bin=$new
    rm -rf /tmp/wake-work; mkdir -p /tmp/wake-work
    l0=$(cut -d' ' -f1 /proc/loadavg)
    ./bin/runnel-bench --only many-partitions --runnel "$bin" --work-dir /tmp/wake-work --out "$out/p$p-$arm" > "$out/p$p-$arm.log" 2>&1
    l1=$(cut -d' ' -f1 /proc/loadavg)
    echo "p$p $arm $(date -u +%H:%M:%S) load $l0 $l1 rc=$?" >> "$out/loads.txt"
  done
done
rm -rf /tmp/wake-work
