#!/bin/sh
# Alternated runs: for each round, rate and file kind, k1 (a) k2 (b) k4 (c) and the harness's
# inline floor loop, one after the other; one JSON line per run in raw/runs.jsonl.
# Usage: [RATES="10000 1000"] [FILES="falloc zeroed append"] [KS="1 2 4 0"] [OUT=file] run.sh ROUNDS [DUR]
set -e
bin=${BIN:-/tmp/overlap-bin/overlapsync}
out=${OUT:-$(dirname "$0")/raw/runs.jsonl}
dir=/tmp/overlap-data
mkdir -p "$dir"
rounds=${1:-3}
dur=${2:-10s}
for r in $(seq 1 "$rounds"); do
  for rate in ${RATES:-10000 1000}; do
    for file in ${FILES:-falloc zeroed append}; do
      for k in ${KS:-1 2 4 0}; do
        line=$("$bin" -k $k -rate $rate -file $file -dur "$dur" -dir "$dir")
        echo "{\"round\":$r,\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"at\":\"$(date +%T)\",\"run\":$line}" >>"$out"
        sync; sleep 1
      done
    done
  done
done
