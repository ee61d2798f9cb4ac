#!/bin/bash
# usage: drive.sh <tag> <settle 0|1> <only-list>
tag=$1; settle=$2; only=$3
out=/tmp/seq1k-runs/$tag; rm -rf $out
echo "$(date +%T) load=$(cut -d' ' -f1-3 /proc/loadavg) start $tag settle=$settle only=$only"
RUNNEL_BENCH_SETTLE=$settle RUNNEL_BENCH_TARGETS=runnel,disk-floor /tmp/seq1k-bin/runnel-bench --only "$only" --runnel /tmp/seq1k-bin/runnel --out $out > $out.log 2>&1
echo "$(date +%T) load=$(cut -d' ' -f1-3 /proc/loadavg) end $tag rc=$?"
grep -A3 "many-partitions" $out.log | grep -E "^\[|settle|produced" | head -20
