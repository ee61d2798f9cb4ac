#!/bin/sh
# A/B: base and new alternating; $1 = scenario prefix, $2 = tag, $3 = pairs, $4.. extra flags
sc=$1; tag=$2; pairs=$3; shift 3
R=/tmp/loopwrite-runs
for i in $(seq 1 $pairs); do
  for arm in base new; do
    out=$R/$tag-$arm-$i
    rm -rf /tmp/loopwrite-work/*
    { date -u +%T; cat /proc/loadavg; } > $out.load
    /tmp/loopwrite-bin/runnel-bench --only $sc "$@" --runnel /tmp/loopwrite-bin/runnel-$arm --work-dir /tmp/loopwrite-work --out $out > $out.log 2>&1
    { date -u +%T; cat /proc/loadavg; } >> $out.load
  done
done
