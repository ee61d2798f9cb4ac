#!/bin/bash
# ab2.sh <tag> <base-binary> <new-binary> <pairs>: ab.sh with the base binary given.
set -u
tag=$1 base=$2 new=$3 pairs=$4
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
    rc=$?
    l1=$(cut -d' ' -f1 /proc/loadavg)
    echo "p$p $arm $(date -u +%H:%M:%S) load $l0 $l1 rc=$rc" >> "$out/loads.txt"
  done
done
rm -rf /tmp/wake-work
