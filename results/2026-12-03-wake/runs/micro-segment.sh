#!/bin/bash
# micro.sh <bench-regexp> <benchtime> <pairs> <out>: alternates broker-base.test and
# broker-new.test (base first in odd pairs), load noted before each run.
set -u
re=$1 bt=$2 pairs=$3 out=$4
: > "$out"
for p in $(seq 1 "$pairs"); do
  if (( p % 2 == 1 )); then order="base new"; else order="new base"; fi
  for arm in $order; do
    dir=/work/wt/wake/segment; [[ $arm == base ]] && dir=/tmp/wake-base/segment
    echo "## pair $p $arm load $(cut -d' ' -f1 /proc/loadavg)" >> "$out"
    (cd $dir && /tmp/wake-bin/segment-$arm.test -test.run XXX -test.bench "$re" -test.benchtime "$bt" -test.count 1) 2>&1 | grep -E '^Benchmark' >> "$out"
  done
done
