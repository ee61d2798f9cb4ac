#!/bin/bash
# run.sh ARM OUT ONLY: one bench run of /tmp/smallpw-bin/runnel-ARM; for each broker it starts,
# 6 s after start, 10 s of perf record of its block_bio_queue and perf trace of its fdatasyncs.
ARM=$1; OUT=$2; ONLY=$3; mkdir -p $OUT
BIN=/tmp/smallpw-bin/runnel-$ARM
uptime > $OUT/load.txt
/work/wt/smallpw/bin/runnel-bench --only $ONLY --runnel $BIN --work-dir /tmp/smallpw-work $EXTRA --out $OUT > $OUT/bench.log 2>&1 &
BPID=$!
seen=""
k=0
while kill -0 $BPID 2>/dev/null; do
  P=$(pgrep -n -f "$BIN serve")
  if [ -z "$NOTRACE" ] && [ -n "$P" ] && [[ " $seen " != *" $P "* ]]; then
    seen="$seen $P"; k=$((k+1))
    ( sleep 6; kill -0 $P 2>/dev/null || exit 0
      timeout 10 perf record -q -e block:block_bio_queue -p $P -o $OUT/bio-$k.data >/dev/null 2>&1 &
      timeout 10 perf trace -p $P -e fdatasync -o $OUT/trace-$k.txt >/dev/null 2>&1
      wait
      perf script -i $OUT/bio-$k.data 2>/dev/null | awk '$7 ~ /^W/ {c++; s+=$10*512} END {print "bio_write", c+0, s+0}' > $OUT/bio-$k.txt; rm -f $OUT/bio-$k.data
    ) &
  fi
  sleep 0.5
done
wait
uptime >> $OUT/load.txt
