#!/bin/bash
# micro.sh ARM SUB N: one sub-benchmark of BenchmarkAppendSyncedSmall under perf record of block_bio_queue
T=$1; SB=$2; N=${3:-5000}
D=/tmp/smallpw-tmp/bio-$$.data
perf record -q -e block:block_bio_queue -o $D -- /tmp/smallpw-bin/seg-$T.test -test.run '^$' -test.bench "BenchmarkAppendSyncedSmall/$SB" -test.benchtime ${N}x 2>&1 | grep Benchmark | sed "s/^/$T /"
perf script -i $D 2>/dev/null | awk -v n=$N '$7 ~ /^W/ {k=$7; c[k]++; s[k]+=$10*512} END { for (k in c) printf "    %s %.2f bios/op %.1f KiB/op\n", k, c[k]/n, s[k]/n/1024}'
rm -f $D
