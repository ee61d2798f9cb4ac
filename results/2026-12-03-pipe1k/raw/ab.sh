#!/bin/bash
# usage: pipe1k-ab.sh <tag> <only> <binA> <binB> <pairs>
tag=$1; only=$2; A=$3; B=$4; n=$5
cd /work/wt/pipe1k; BENCH=${BENCH:-./bin/runnel-bench}
for i in $(seq 1 $n); do
  for v in A B; do
    bin=$A; [ $v = B ] && bin=$B
    out=/tmp/pipe1k-out/$tag-$i-$v
    echo "$(date +%T) start $out load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/pipe1k-out/$tag.log
    $BENCH --only $only --runnel $bin --out $out --work-dir /tmp/pipe1k-runs > $out.stdout 2>&1
    echo "$(date +%T) end $out rc=$? load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/pipe1k-out/$tag.log
  done
done
