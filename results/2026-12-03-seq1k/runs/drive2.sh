#!/bin/bash
# usage: drive2.sh <tag> <settle> <only> [override...]
tag=$1; settle=$2; only=$3; shift 3
ov=(); for o in "$@"; do ov+=(--override "$o"); done
out=/tmp/seq1k-runs/$tag; rm -rf $out
echo "$(date +%T) load=$(cut -d' ' -f1-3 /proc/loadavg) start $tag settle=$settle only=$only ${ov[*]}"
RUNNEL_BENCH_SETTLE=$settle RUNNEL_BENCH_TARGETS=runnel,disk-floor /tmp/seq1k-bin/runnel-bench --only "$only" "${ov[@]}" --runnel /tmp/seq1k-bin/runnel --out $out > $out.log 2>&1
echo "$(date +%T) load=$(cut -d' ' -f1-3 /proc/loadavg) end $tag rc=$?"
