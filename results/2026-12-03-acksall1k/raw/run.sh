#!/bin/bash
# run.sh NAME BIN [overrides...]: one produce-acksall-many bench run with metrics scraping
name=$1; bin=$2; shift 2
ov=(); for o in "$@"; do ov+=(--override "$o"); done
d=/tmp/acksall1k-runs/$name; rm -rf $d; mkdir -p $d
/tmp/acksall1k-runs/scrape.sh $d/metrics.txt & sp=$!
cd /work/wt/acksall1k && ./bin/runnel-bench --only ${ONLY:-produce-acksall-many} --runnel $bin --out $d/out --work-dir /tmp/acksall1k-runs "${ov[@]}" > $d/bench.log 2>&1
kill $sp
