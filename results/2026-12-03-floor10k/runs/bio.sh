#!/bin/bash
# bio.sh VARIANT: the probe's one layout at 10k/s for 3 s under perf record of block_bio_queue; bytes per fdatasync by kind
V=$1
ONLY="$V" perf record -q -e block:block_bio_queue -o bio-$$.data -- ./wpath10k /tmp/floor10k-probe 10000 3 1 2>&1 | grep round > out-$$.txt
N=$(grep -o 'fdatasync n *[0-9]*' out-$$.txt | awk '{print $3}')
perf script -i bio-$$.data 2>/dev/null | awk -v n=$N -v v="$V" '$7 ~ /^W/ || $7 ~ /^F/ {k=$7; c[k]++; s[k]+=$10*512} END {printf "%-22s syncs %d:", v, n; for (k in c) printf "  %s %.2f bios %.1f KiB", k, c[k]/n, s[k]/n/1024; printf "\n"}'
cat out-$$.txt
rm -f bio-$$.data out-$$.txt
