#!/bin/bash
# traced.sh BIN OUT: latency-floor-10k with perf trace of the broker's fdatasyncs and its /proc/pid/io
BIN=$1; OUT=$2; mkdir -p $OUT
uptime > $OUT/load.txt
/work/wt/floor10k/bin/runnel-bench --only latency-floor-10k --runnel $BIN --work-dir /tmp/floor10k-work --out $OUT > $OUT/bench.log 2>&1 &
BPID=$!
for i in $(seq 1 100); do
  P=$(pgrep -n -f "$BIN serve")
  [ -n "$P" ] && break; sleep 0.3
done
echo broker $P >> $OUT/load.txt
sleep 6
cat /proc/$P/io > $OUT/io0.txt; cat /sys/block/vda/stat > $OUT/blk0.txt; date +%s.%N > $OUT/t0.txt
timeout 10 perf record -q -e block:block_bio_queue -p $P -o $OUT/bio.data 2>/dev/null &
timeout 10 perf trace -p $P -e fdatasync -o $OUT/trace.txt 2>/dev/null
wait %2 2>/dev/null; sleep 0.5
perf script -i $OUT/bio.data 2>/dev/null | awk '$7 ~ /^W/ {c++; s+=$10*512} END {print "bio_write", c, s}' > $OUT/bio.txt; rm -f $OUT/bio.data
cat /proc/$P/io > $OUT/io1.txt; cat /sys/block/vda/stat > $OUT/blk1.txt; date +%s.%N > $OUT/t1.txt
wait $BPID
uptime >> $OUT/load.txt
